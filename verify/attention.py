"""Learned additive attention (THEORY.md section 1):
``e[t, i] = v^T tanh(W_s s_{t-1} + W_h h_i)``, ``alpha[t, .] = softmax(e[t, .])`` over S_t.

Keys ``W_h h_i`` are computed once per state (:meth:`AdditiveAttention.key`) and reused at
every later step, so a step over ``S`` attended slots costs O(S n + n^2).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention over a masked set of slots, batch-first."""

    def __init__(self, hidden: int, *, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        kw = {"dtype": dtype, "device": device, "bias": False}
        self.W_s = nn.Linear(hidden, hidden, **kw)
        self.W_h = nn.Linear(hidden, hidden, **kw)
        self.v = nn.Linear(hidden, 1, **kw)

    def key(self, h: Tensor) -> Tensor:
        """``W_h h`` for states ``h`` of shape (..., n)."""
        return self.W_h(h)

    def forward(self, s_prev: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
        """Weights (B, S) over slots: ``s_prev`` (B, n), ``keys`` (B, S, n), ``mask`` (B, S)
        True where a slot is attended. Every row of ``mask`` must have a True entry."""
        e = self.v(torch.tanh(self.W_s(s_prev).unsqueeze(1) + keys)).squeeze(-1)
        return torch.softmax(e.masked_fill(~mask, float("-inf")), dim=-1)
