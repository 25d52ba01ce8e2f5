"""Step Jacobians kept factored (THEORY.md section 2): a vanilla cell's
``J_k = diag(phi'(a_k)) V`` held as the derivatives (T, n) and the one matrix V (n, n), T n + n^2
numbers in place of T n^2.

:class:`DiagTimes` answers what measurement asks of a (T, n, n) tensor of step Jacobians: its
shape, dtype and device, and any step or run of steps as a dense tensor, built when asked
(entry for entry the product ``phi'(a_k)_i V_ij`` that the dense form holds). So Lemma 1's
adjoint (:func:`verify.measurement.adjoint.blocked_adjoint`, a block at a time) and the norms
(:func:`verify.measurement.norms.norms`, a chunk at a time) never hold every J_k at once, and
a measurement's memory is the profile's (T + 1) n^2 and little more.
"""

from __future__ import annotations

import torch
from torch import Tensor


class DiagTimes:
    """``J[k] = diag(d[k]) V`` for k = 0..T-1 (``J[k-1]`` is THEORY.md's J_k): ``d`` (T, n),
    ``V`` (n, n), same dtype and device, both detached."""

    ndim = 3

    def __init__(self, d: Tensor, V: Tensor) -> None:
        if d.ndim != 2 or V.shape != (d.shape[1], d.shape[1]):
            raise ValueError(f"parameters 'd' and 'V' must have shapes (T, n) and (n, n), got "
                             f"{tuple(d.shape)} and {tuple(V.shape)}")
        if d.dtype != V.dtype or d.device != V.device:
            raise ValueError("parameters 'd' and 'V' must share one dtype and device")
        self.d, self.V = d.detach(), V.detach()

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.d.shape[0], self.V.shape[0], self.V.shape[0]))

    @property
    def dtype(self) -> torch.dtype:
        return self.V.dtype

    @property
    def device(self) -> torch.device:
        return self.V.device

    def __len__(self) -> int:
        return self.d.shape[0]

    def __getitem__(self, k: int | slice) -> Tensor:
        """``J[k]`` (n, n), or the steps of a slice (m, n, n), dense and new."""
        return self.d[k].unsqueeze(-1) * self.V

    def dense(self) -> Tensor:
        """Every step: (T, n, n)."""
        return self[:]


#: What measurement takes as step Jacobians: a dense (T, n, n) tensor or the factored form.
StepJacobians = Tensor | DiagTimes
