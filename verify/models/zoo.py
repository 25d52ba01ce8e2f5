"""Every model of the toolkit as a composition of a cell and a memory (THEORY.md sections 1, 6,
7 and 8), and the read-out the tasks train.

* :func:`controlled`: THEORY.md section 1's network with a controlled spectrum V, a
  nonlinearity, and a fixed pattern or learned attention (``untangle measure``);
  :func:`vanilla` the same with V given.
* :func:`build`: the paper's models by name (:data:`MODELS`):

  ======== =========================================== ===============
  name     cell + memory                               attended per step
  ======== =========================================== ===============
  rnn      vanilla tanh + none (beta = 1, gamma = 0)   0
  memrnn   vanilla tanh + learned attention, S_t={1..t} t
  relrnn   vanilla tanh + relevant set (nu, rho)        <= nu + rho
  lstm     LSTM + none                                 0
  rellstm  LSTM fed s_t + relevant set                 <= nu + rho
  ======== =========================================== ===============

  Vanilla cells are tanh with a Haar-orthogonal V (THEORY.md section 8); the same ``seed``
  gives rnn, memrnn and relrnn the same V and U.
* :class:`Classifier`: a model with logits ``W h_t + c`` at every step t = 1..T.

Every parameter comes from a generator made from ``seed`` (:mod:`verify.models.seeding`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from bounds.domains import NONNEGATIVE, POSITIVE_INT, check_fits
from bounds.patterns import Pattern, as_pattern
from verify.device import resolve_device, resolve_dtype
from verify.models import nonlin, relevance, seeding
from verify.models.cells import LSTMCell, VanillaCell
from verify.models.memories import FixedPattern, LearnedAttention, NoMemory, RelevantSet
from verify.models.rollout import Recurrent, Rollout
from verify.models.spectra import build_spectrum
from verify.progress import Tick

MODELS = ("rnn", "memrnn", "relrnn", "lstm", "rellstm")
#: Models with a relevant set (their builders take ``nu``, ``rho`` and ``score``).
SCREENED = ("relrnn", "rellstm")
#: Models whose cell is the vanilla tanh cell (the others are LSTMs, with four gates).
TANH = ("rnn", "memrnn", "relrnn")


def _matrix(name: str, value: object, n: int | None = None) -> np.ndarray:
    arr = np.asarray(value.detach().cpu() if isinstance(value, Tensor) else value, dtype=float)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or (n is not None and arr.shape[0] != n):
        want = "(n, n)" if n is None else f"({n}, {n})"
        raise ValueError(f"parameter {name!r} must have shape {want}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"parameter {name!r} must be finite (found NaN or inf)")
    return arr


def vanilla(V: object, inputs: int, phi: str | nonlin.Nonlinearity = "tanh", *,
            pattern: Pattern | object | None = None, learned: bool = False,
            include_h0: bool = False, relevant_set: tuple[int, int] | None = None,
            score: str | relevance.ScoreFn = "accumulated", beta: float | None = None,
            gamma: float | None = None, input_scale: float = 1.0, bias_scale: float = 0.0,
            seed: int = 0, device: str | torch.device = "auto",
            dtype: str | torch.dtype = "float64", name: str | None = None) -> Recurrent:
    """THEORY.md section 1's network with recurrent matrix ``V`` (n x n, given), U and b drawn
    from ``seed`` (:class:`verify.models.cells.VanillaCell`).

    ``pattern`` (a :class:`bounds.Pattern` or a user's T x T matrix, validated by
    :func:`bounds.patterns.from_matrix`) is the fixed attention; with ``learned=True`` it is
    only the support of learned additive attention (all of 1..t when None; h_0 is attended
    only with ``include_h0``). ``relevant_set=(nu, rho)``: relevancy screening run online
    instead (THEORY.md section 7, :class:`~verify.models.memories.RelevantSet` with score
    function ``score``; learned attention, h_0 never attended). ``beta``/``gamma`` default
    to 1/0 for the plain RNN (no pattern, or the ``none`` pattern, and not learned) and to
    1/2, 1/2 otherwise."""
    V = _matrix("V", V)
    hidden, inputs = _sizes(V.shape[0], inputs)
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    p = None if pattern is None else as_pattern(pattern)
    if learned and p is not None and p.empty:
        raise ValueError("parameter 'pattern': learned attention needs a non-empty support; "
                         "use uniform (full attention), window, strided, sparse or events")
    if relevant_set is not None:
        if p is not None or include_h0:
            raise ValueError(f"parameter {'pattern' if p is not None else 'include_h0'!r} "
                             f"does not go with relevant_set: relevancy screening chooses "
                             f"the states attended, and never h_0 (THEORY.md section 7)")
        if not isinstance(relevant_set, tuple | list) or len(relevant_set) != 2:
            raise ValueError(f"parameter 'relevant_set' must be a pair (nu, rho), got "
                             f"{relevant_set!r}")
        nu, rho = relevant_set
        memory = RelevantSet(hidden, nu=nu, rho=rho, score=score, seed=seed, dtype=dtype,
                             device=device)
    elif learned:
        memory = LearnedAttention(hidden, p, include_h0=include_h0, seed=seed, dtype=dtype,
                                  device=device)
    elif p is None or p.empty:
        memory = NoMemory()
    else:
        memory = FixedPattern(p)
    attends = not isinstance(memory, NoMemory)
    cell = VanillaCell(V, inputs, phi,
                       input_scale=float(NONNEGATIVE.check("input_scale", input_scale)),
                       bias_scale=float(NONNEGATIVE.check("bias_scale", bias_scale)),
                       seed=seed, dtype=dtype, device=device)
    return Recurrent(cell, memory,
                     beta=(0.5 if attends else 1.0) if beta is None else beta,
                     gamma=(0.5 if attends else 0.0) if gamma is None else gamma,
                     name=name or _describe(p, learned, relevant_set))


def _sizes(hidden: object, inputs: object, gates: int = 1) -> tuple[int, int]:
    """``hidden`` and ``inputs`` as ints >= 1 whose weights (``gates`` n x n and n x inputs
    float64 matrices: 4 for an LSTM) fit in memory, or a ValueError naming the one that
    does not."""
    hidden = int(POSITIVE_INT.check("hidden", hidden))
    inputs = int(POSITIVE_INT.check("inputs", inputs))
    check_fits("hidden", hidden, 8.0 * gates * hidden * hidden, "the recurrent weights")
    check_fits("inputs", inputs, 8.0 * gates * hidden * inputs, "the input weights")
    return hidden, inputs


def _describe(pattern: Pattern | None, learned: bool,
              relevant_set: tuple[int, int] | None) -> str:
    if relevant_set is not None:
        return "relevancy screening (nu={}, rho={})".format(*relevant_set)
    kind = "none" if pattern is None else pattern.kind
    return f"{'learned ' if learned else ''}{kind}"


def controlled(spectrum: str, hidden: int, inputs: int,
               phi: str | nonlin.Nonlinearity = "tanh", *, scale: float = 1.0,
               gain: float = 1.0, sigma: Sequence[float] | None = None,
               eigenvalues: Sequence[complex] | None = None, nonnormal: float = 0.0,
               seed: int = 0, **kw: object) -> Recurrent:
    """:func:`vanilla` with ``V = build_spectrum(spectrum, hidden, ...)`` (same ``seed``):
    THEORY.md section 6's controlled-spectrum networks."""
    hidden, _ = _sizes(hidden, inputs)
    V = build_spectrum(spectrum, hidden, scale=scale, gain=gain, sigma=sigma,
                       eigenvalues=eigenvalues, nonnormal=nonnormal, seed=seed)
    return vanilla(V, inputs, phi, seed=seed, **kw)


def build(name: str, inputs: int, *, hidden: int = 128, nu: int = 10, rho: int = 15,
          score: str | relevance.ScoreFn = "accumulated", include_h0: bool = False,
          seed: int = 0, dtype: str | torch.dtype = torch.float32,
          device: str | torch.device = "cpu") -> Recurrent:
    """The model ``name`` (one of :data:`MODELS`, this module's table), seeded by ``seed``;
    ``include_h0`` lets memrnn attend h_0 (no other model attends over 0..t: refused there,
    as :func:`controlled` refuses it without learned attention)."""
    if name not in MODELS:
        raise ValueError(f"parameter 'name': unknown model {name!r}; known: {', '.join(MODELS)}")
    if include_h0 and name != "memrnn":
        raise ValueError(f"parameter 'include_h0' goes with memrnn (the learned attention over "
                         f"0..t); model {name!r} has none that could attend h_0")
    hidden, inputs = _sizes(hidden, inputs, gates=1 if name in TANH else 4)
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    kw = {"seed": seed, "dtype": dtype, "device": device}
    if name == "rnn":
        return controlled("orthogonal", hidden, inputs, "tanh", name=name, **kw)
    if name == "memrnn":
        return controlled("orthogonal", hidden, inputs, "tanh", learned=True,
                          include_h0=include_h0, name=name, **kw)
    if name == "relrnn":
        cell = VanillaCell(build_spectrum("orthogonal", hidden, seed=seed), inputs, "tanh",
                           **kw)
    else:
        cell = LSTMCell(hidden, inputs, **kw)
    if name == "lstm":
        return Recurrent(cell, NoMemory(), beta=1.0, gamma=0.0, name=name)
    memory = RelevantSet(hidden, nu=nu, rho=rho, score=score, **kw)
    return Recurrent(cell, memory, beta=0.5, gamma=0.5, name=name)


class Classifier(nn.Module):
    """A recurrent ``core`` with logits ``W h_t + c`` at every step t = 1..T; W and c start
    Uniform(+-1/sqrt(n)) (torch's linear default), drawn from ``seed``."""

    def __init__(self, core: Recurrent, classes: int, *, seed: int = 0) -> None:
        super().__init__()
        classes = int(POSITIVE_INT.check("classes", classes))
        like = next(core.parameters())
        rng = seeding.generator(seed, "read-out")
        bound = core.hidden ** -0.5
        self.core = core
        self.W = seeding.parameter(seeding.uniform(rng, (classes, core.hidden), bound),
                                   like.dtype, like.device)
        self.c = seeding.parameter(seeding.uniform(rng, (classes,), bound), like.dtype,
                                   like.device)

    def forward(self, x: Tensor, *, probe: Tensor | None = None, detach_attention: bool = False,
                trace: bool = False, tick: Tick | None = None) -> tuple[Tensor, Rollout]:
        """Logits (B, T, classes) and the core's Rollout (``trace`` off by default: the
        training path needs no trace; ``tick`` as in :mod:`verify.models.rollout`)."""
        rollout = self.core(x, probe=probe, detach_attention=detach_attention, trace=trace,
                            tick=tick)
        return rollout.h[:, 1:] @ self.W.T + self.c, rollout
