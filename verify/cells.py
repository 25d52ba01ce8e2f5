"""Recurrent cells stepping ``h_{t+1}`` from the input ``x_{t+1}`` and the mixed state ``s_t``
(THEORY.md section 1): a vanilla cell ``h_{t+1} = phi(V s_t + U x_{t+1} + b)`` and an LSTM cell
whose recurrent input is ``s_t`` (the cell state is carried, never attended).

Every cell has ``initial(batch, like)`` (its carried state at t = 0) and
``forward(x, s, carry) -> (h, a, carry)`` with ``a`` the pre-activation of a vanilla cell
(None for the LSTM). Recurrent weights start orthogonal (THEORY.md section 8).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from verify import nonlin
from verify.spectra import build_spectrum


def check_inputs(x: Tensor, probe: Tensor | None, inputs: int, hidden: int) -> None:
    """A ValueError unless ``x`` is a finite (B, T, inputs) with T >= 1 and ``probe`` is None
    or (B, T+1, hidden) (the probe convention of :mod:`verify.rollout`)."""
    if x.ndim != 3 or x.shape[2] != inputs:
        raise ValueError(f"parameter 'x' must have shape (B, T >= 1, {inputs}), "
                         f"got {tuple(x.shape)}")
    if x.shape[1] < 1:
        raise ValueError("parameter 'T' (x.shape[1]) must be an integer >= 1, got 0")
    if not torch.isfinite(x).all():
        raise ValueError("parameter 'x' must be finite (found NaN or inf)")
    want = (x.shape[0], x.shape[1] + 1, hidden)
    if probe is not None and tuple(probe.shape) != want:
        raise ValueError(f"parameter 'probe' must have shape {want}, got {tuple(probe.shape)}")


def step_jacobians(phi: nonlin.Nonlinearity, V: Tensor, a: Tensor) -> Tensor:
    """``J_k = diag(phi'(a_k)) V`` (THEORY.md section 2) for pre-activations ``a`` (T, n):
    (T, n, n), detached."""
    return phi.derivative(a.detach()).unsqueeze(-1) * V.detach()


class VanillaCell(nn.Module):
    """``h = phi(V s + U x + b)``, initialised as :class:`verify.model.SelfAttentiveRNN` with
    the ``orthogonal`` spectrum and the same ``seed``: V Haar orthogonal, U entries
    N(0, 1/inputs), b = 0, so a vanilla rnn, memrnn and relrnn start from the same cell."""

    def __init__(self, hidden: int, inputs: int, *, phi: str | nonlin.Nonlinearity = "tanh",
                 seed: int = 0, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.inputs = inputs
        self.phi = nonlin.get(phi)
        U = np.random.default_rng(seed).standard_normal((hidden, inputs)) / np.sqrt(inputs)
        V = build_spectrum("orthogonal", hidden, seed=seed)
        kw = {"dtype": dtype, "device": device}
        self.V = nn.Parameter(torch.as_tensor(V, **kw))
        self.U = nn.Parameter(torch.as_tensor(U, **kw))
        self.b = nn.Parameter(torch.zeros(hidden, **kw))

    def initial(self, batch: int, like: Tensor) -> None:
        return None

    def forward(self, x: Tensor, s: Tensor, carry: None) -> tuple[Tensor, Tensor, None]:
        a = s @ self.V.T + x @ self.U.T + self.b
        return self.phi(a), a, None

    def jacobians(self, a: Tensor) -> Tensor:
        """:func:`step_jacobians` of this cell for pre-activations ``a`` (T, n)."""
        return step_jacobians(self.phi, self.V, a)


class LSTMCell(nn.Module):
    """An LSTM cell fed ``s_t`` in place of ``h_t``: gates from ``(x_{t+1}, s_t)``, cell state
    ``c`` carried; the four recurrent gate blocks start orthogonal."""

    def __init__(self, hidden: int, inputs: int, *, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.inputs = inputs
        self.cell = nn.LSTMCell(inputs, hidden, dtype=dtype, device=device)
        for block in self.cell.weight_hh.data.chunk(4, dim=0):
            nn.init.orthogonal_(block)

    def initial(self, batch: int, like: Tensor) -> Tensor:
        return like.new_zeros(batch, self.cell.hidden_size)

    def forward(self, x: Tensor, s: Tensor, carry: Tensor) -> tuple[Tensor, None, Tensor]:
        h, c = self.cell(x, (s, carry))
        return h, None, c
