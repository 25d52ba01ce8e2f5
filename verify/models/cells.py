"""Recurrent cells: one step ``h_{t+1} = cell(x_{t+1}, s_t)`` from the mixed state ``s_t``
(THEORY.md section 1).

* :class:`VanillaCell`: ``h_{t+1} = phi(V s_t + U x_{t+1} + b)``; its step Jacobians are
  ``J_k = diag(phi'(a_k)) V`` (THEORY.md section 2).
* :class:`LSTMCell`: an LSTM whose recurrent input is ``s_t`` (the cell state is carried, never
  attended); it has no J_k of that form, so ``jacobians`` returns None.

Every cell has ``drive(x)``, the input part of every step at once, (B, T, width);
``initial(batch, like)``, its carried state at t = 0; ``step(drive_t, s, carry) ->
(h, a, carry)`` with ``a`` the pre-activation of a vanilla cell (None for the LSTM); and
``jacobians(a, factored)`` (dense, or as :class:`verify.models.jacobians.DiagTimes`).
Parameters come from :mod:`verify.models.seeding`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from verify.models import nonlin, seeding
from verify.models.jacobians import DiagTimes
from verify.models.spectra import haar_orthogonal


def check_inputs(x: Tensor, probe: Tensor | None, inputs: int, hidden: int) -> None:
    """A ValueError unless ``x`` is a finite real (B, T, inputs) with T >= 1 (integers and
    booleans, one-hot codes, are taken as the numbers they are; a complex tensor is refused,
    as the cast would drop its imaginary part) and ``probe`` is None or (B, T+1, hidden) (the
    probe convention of :mod:`verify.models.rollout`)."""
    if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[2] != inputs:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"parameter 'x' must be a tensor of shape (B, T >= 1, {inputs}), "
                         f"got {shape}")
    if x.is_complex():
        raise ValueError(f"parameter 'x' must be a real tensor, got dtype {x.dtype}")
    if x.shape[0] < 1:
        raise ValueError("parameter 'x' must hold at least one sequence (B >= 1), got 0")
    if x.shape[1] < 1:
        raise ValueError("parameter 'T' (x.shape[1]) must be an integer >= 1, got 0")
    if not torch.isfinite(x).all():
        raise ValueError("parameter 'x' must be finite (found NaN or inf)")
    want = (x.shape[0], x.shape[1] + 1, hidden)
    if probe is not None and tuple(probe.shape) != want:
        raise ValueError(f"parameter 'probe' must have shape {want}, got {tuple(probe.shape)}")


class VanillaCell(nn.Module):
    """``h = phi(V s + U x + b)`` with ``V`` given (n, n) and ``U``, ``b`` drawn from ``seed``:
    U entries N(0, input_scale^2 / inputs), b entries N(0, bias_scale^2). Large scales push
    tanh into saturation (small phi'), small ones keep it linear (THEORY.md section 6)."""

    def __init__(self, V: np.ndarray, inputs: int, phi: str | nonlin.Nonlinearity = "tanh", *,
                 input_scale: float = 1.0, bias_scale: float = 0.0, seed: int = 0,
                 dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        n = V.shape[0]
        self.hidden, self.inputs = n, inputs
        self.phi = nonlin.get(phi)
        U = seeding.generator(seed, "U").standard_normal((n, inputs)) * (input_scale
                                                                        / np.sqrt(inputs))
        b = seeding.generator(seed, "b").standard_normal(n) * bias_scale
        self.V = seeding.parameter(V, dtype, device)
        self.U = seeding.parameter(U, dtype, device)
        self.b = seeding.parameter(b, dtype, device)

    def extra_repr(self) -> str:
        return f"hidden={self.hidden}, inputs={self.inputs}, phi={self.phi.name}"

    def drive(self, x: Tensor) -> Tensor:
        """``U x_{t+1} + b`` for every step: (B, T, n)."""
        return x @ self.U.T + self.b

    def initial(self, batch: int, like: Tensor) -> None:
        return None

    def step(self, drive: Tensor, s: Tensor, carry: None) -> tuple[Tensor, Tensor, None]:
        a = drive + s @ self.V.T
        return self.phi(a), a, None

    def jacobians(self, a: Tensor, factored: bool = False) -> Tensor | DiagTimes:
        """``J_k = diag(phi'(a_k)) V`` (THEORY.md section 2) for pre-activations ``a`` (T, n):
        (T, n, n), detached; with ``factored``, the same entries kept as phi'(a) and V."""
        J = DiagTimes(self.phi.derivative(a.detach()), self.V.detach())
        return J if factored else J.dense()


class LSTMCell(nn.Module):
    """An LSTM step fed ``s_t`` in place of ``h_t``: gates ``i, f, g, o`` from
    ``W x_{t+1} + R s_t + b`` (torch's gate order and equations), ``c' = f c + i g``,
    ``h' = o tanh(c')``. Weights start as torch's LSTM (Uniform(+-1/sqrt(n))) with the four
    recurrent blocks of R Haar orthogonal (THEORY.md section 8), all drawn from ``seed``."""

    def __init__(self, hidden: int, inputs: int, *, seed: int = 0,
                 dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.hidden, self.inputs = hidden, inputs
        rng = seeding.generator(seed, "lstm")
        bound = hidden ** -0.5
        W = seeding.uniform(rng, (4 * hidden, inputs), bound)
        R = np.concatenate([haar_orthogonal(hidden, rng) for _ in range(4)])
        b = seeding.uniform(rng, (4 * hidden,), bound)
        self.W = seeding.parameter(W, dtype, device)
        self.R = seeding.parameter(R, dtype, device)
        self.b = seeding.parameter(b, dtype, device)

    def extra_repr(self) -> str:
        return f"hidden={self.hidden}, inputs={self.inputs}"

    def drive(self, x: Tensor) -> Tensor:
        """``W x_{t+1} + b`` for every step: (B, T, 4n)."""
        return x @ self.W.T + self.b

    def initial(self, batch: int, like: Tensor) -> Tensor:
        return like.new_zeros(batch, self.hidden)

    def step(self, drive: Tensor, s: Tensor, carry: Tensor) -> tuple[Tensor, None, Tensor]:
        i, f, g, o = (drive + s @ self.R.T).chunk(4, dim=-1)
        c = torch.sigmoid(f) * carry + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), None, c

    def jacobians(self, a: Tensor | None, factored: bool = False) -> None:
        """An LSTM step has no ``diag(phi') V`` Jacobian: None (measure uses autograd)."""
        return None
