"""The plain LSTM baseline (THEORY.md sections 1 and 8): no attention, so ``s_t = h_t``
(beta = 1, gamma = 0), following the probe convention of :mod:`verify.rollout` on ``h``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from verify.cells import LSTMCell, check_inputs
from verify.rollout import Rollout


class LSTM(nn.Module):
    """``(h_{t+1}, c_{t+1}) = LSTM(x_{t+1}, (h_t, c_t))`` from ``h_0 = c_0 = 0``."""

    beta = 1.0
    gamma = 0.0

    def __init__(self, hidden: int, inputs: int, *, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.hidden = hidden
        self.cell = LSTMCell(hidden, inputs, dtype=dtype, device=device)

    def forward(self, x: Tensor, *, probe: Tensor | None = None,
                detach_attention: bool = False, record_alpha: bool = True) -> Rollout:
        """``detach_attention`` and ``record_alpha`` are accepted for the common interface; there is
        no attention to detach or record."""
        check_inputs(x, probe, self.cell.inputs, self.hidden)
        B, T, _ = x.shape
        h = x.new_zeros(B, self.hidden)
        if probe is not None:
            h = h + probe[:, 0]
        carry = self.cell.initial(B, h)
        hs = [h]
        for t in range(T):
            h, _, carry = self.cell(x[:, t], h, carry)
            if probe is not None:
                h = h + probe[:, t + 1]
            hs.append(h)
        return Rollout(h=torch.stack(hs, 1))
