"""The attention's tanh (THEORY.md section 1, ``e = v^T tanh(W_s s + W_h h)``): numpy's
vectorised ufunc on a float32 or float64 CPU tensor's memory, torch's elsewhere.

On the recorded CPU torch's tanh took 84 to 117 us over one relevant-set step's (10, 25, 128)
float32 values and numpy's 12 to 14 us (170 against 57 us in float64), within 1.4 ulp of the
exact value in float32 and 1.2 in float64 (torch's: 0.5 and 0.7). On an AVX2 CPU without
AVX-512 numpy's tanh is not vectorised: 86 to 95 us in float32 against torch's 108 to 136, but
440 in float64 against torch's 190 (the measurements' dtype, where the attention's values are
few: one sequence). The attention's tanh is most of a memrnn step (B n t values at step t)
and a fifth of a relrnn one. The simple loop (:class:`verify.models.attention.AdditiveAttention`)
and the fused path (:mod:`verify.models.fused`, by :func:`tanh_values`) compute it alike, so
they stay equal bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def tanh_values(x: Tensor) -> Tensor:
    """``tanh(x)`` as a new tensor with no autograd graph (the fused path's own backward
    needs none; :func:`tanh`'s values, bit for bit, without its 20 us of autograd)."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return torch.tanh(x.detach())
    a = x.detach().numpy()
    return torch.from_numpy(np.tanh(a, out=np.empty(a.shape, a.dtype)))  # 0-d: an array too


class _Tanh(torch.autograd.Function):
    """tanh with ``d tanh(x) = (1 - tanh(x)^2) dx`` in reverse and forward mode, usable under
    torch.func (under vmap it is torch's own tanh)."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return tanh_values(x)

    @staticmethod
    def setup_context(ctx, inputs: tuple[Tensor], output: Tensor) -> None:
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)

    @staticmethod
    def vmap(info, in_dims: tuple[int | None], x: Tensor) -> tuple[Tensor, int | None]:
        return torch.tanh(x), in_dims[0]

    @staticmethod
    def jvp(ctx, tangent: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(tangent, y)


def tanh(x: Tensor) -> Tensor:
    """``tanh(x)``, differentiable (module docstring)."""
    return _Tanh.apply(x)
