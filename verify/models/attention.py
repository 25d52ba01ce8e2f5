"""Learned additive attention (THEORY.md section 1):
``e[t, i] = v^T tanh(W_s s_{t-1} + W_h h_i)``, ``alpha[t, .] = softmax(e[t, .])`` over S_t.

Keys ``W_h h_i`` are computed once per state (:meth:`AdditiveAttention.key`) and reused at
every later step, so a step over ``S`` attended slots costs O(S n + n^2).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from verify.models import seeding
from verify.models.tanh import tanh


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention over a masked set of slots, batch-first. ``W_s``, ``W_h``
    (n x n) and ``v`` (1 x n) have entries N(0, 1/n), drawn from ``seed``."""

    def __init__(self, hidden: int, *, seed: int = 0, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        rng = seeding.generator(seed, "attention")

        def draw(rows: int) -> nn.Parameter:
            return seeding.parameter(rng.standard_normal((rows, hidden)) / np.sqrt(hidden),
                                     dtype, device)

        self.W_s, self.W_h, self.v = draw(hidden), draw(hidden), draw(1)

    def key(self, h: Tensor) -> Tensor:
        """``W_h h`` for states ``h`` of shape (..., n)."""
        return h @ self.W_h.T

    def forward(self, s_prev: Tensor, keys: Tensor, mask: Tensor | None = None) -> Tensor:
        """Weights (B, S) over slots: ``s_prev`` (B, n), ``keys`` (B, S, n), ``mask`` (B, S)
        True where a slot is attended (None: all are). Every row must attend some slot."""
        e = (tanh((s_prev @ self.W_s.T).unsqueeze(1) + keys) @ self.v.T).squeeze(-1)
        if mask is not None:
            e = e.masked_fill(~mask, float("-inf"))
        return torch.softmax(e, dim=-1)
