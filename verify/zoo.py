"""The models of the paper's experiments by name (THEORY.md sections 1, 7, 8), each a
recurrent core obeying :mod:`verify.rollout` plus a linear read-out at every step.

* ``rnn``: :class:`verify.model.SelfAttentiveRNN`, no attention (beta = 1, gamma = 0);
* ``memrnn``: the same with learned additive attention over all of h_0..h_t (full attention);
* ``relrnn`` / ``rellstm``: relevancy screening (:mod:`verify.relrnn`), buffer nu, set rho;
* ``lstm``: :class:`verify.lstm.LSTM`.

Vanilla cells are tanh with a Haar-orthogonal V (THEORY.md section 8), and the same ``seed``
gives rnn, memrnn and relrnn the same V and U.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bounds.domains import POSITIVE_INT
from verify.lstm import LSTM
from verify.model import SelfAttentiveRNN
from verify.relrnn import RelLSTM, RelRNN
from verify.rollout import Rollout

MODELS = ("rnn", "memrnn", "relrnn", "lstm", "rellstm")
#: Models whose constructor takes ``nu``, ``rho`` and ``score``.
SCREENED = ("relrnn", "rellstm")


def build(name: str, inputs: int, *, hidden: int = 128, nu: int = 10, rho: int = 15,
          score: str = "accumulated", seed: int = 0, dtype: torch.dtype = torch.float32,
          device: torch.device | str = "cpu") -> nn.Module:
    """The recurrent core ``name`` (one of :data:`MODELS`), seeded by ``seed``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    hidden = int(POSITIVE_INT.check("hidden", hidden))
    device = torch.device(device)
    torch.manual_seed(seed)
    if name in ("rnn", "memrnn"):
        return SelfAttentiveRNN.from_spectrum("orthogonal", hidden, inputs, "tanh", seed=seed,
                                              learned=name == "memrnn", dtype=dtype,
                                              device=device)
    if name == "lstm":
        return LSTM(hidden, inputs, dtype=dtype, device=device)
    kw = {"nu": nu, "rho": rho, "score": score, "dtype": dtype, "device": device}
    return RelRNN(hidden, inputs, seed=seed, **kw) if name == "relrnn" else RelLSTM(
        hidden, inputs, **kw)


class Classifier(nn.Module):
    """A recurrent ``core`` with logits ``W h_t + c`` at every step t = 1..T."""

    def __init__(self, core: nn.Module, classes: int) -> None:
        super().__init__()
        like = next(core.parameters())
        self.core = core
        self.head = nn.Linear(core.hidden, classes, dtype=like.dtype, device=like.device)

    def forward(self, x: Tensor, *, probe: Tensor | None = None, detach_attention: bool = False,
                record_alpha: bool = False) -> tuple[Tensor, Rollout]:
        """Logits (B, T, classes) and the core's Rollout (``record_alpha`` off by default: the
        training path needs neither alpha nor screening traces)."""
        rollout = self.core(x, probe=probe, detach_attention=detach_attention,
                            record_alpha=record_alpha)
        return self.head(rollout.h[:, 1:]), rollout
