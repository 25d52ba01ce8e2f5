"""What every recurrent model of ``verify`` returns, and the probe convention that lets
``measure`` take ``dh_T/dh_t`` of any of them (THEORY.md sections 2 and 5).

Probe convention: ``model(x, probe=p)`` with ``p`` a zero tensor of shape (B, T+1, n) that
requires grad adds ``p[:, t]`` to ``h_t`` right after ``h_t`` is computed (``h_0`` included)
and before anything reads it. Then ``d h_T / d p[:, t]`` is the total derivative
``d h_T / d h_t`` of THEORY.md section 2, whatever the cell (vanilla, LSTM, screening).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from torch import Tensor


@dataclass
class Rollout:
    """One forward pass over T steps.

    ``h``: (B, T+1, n), the states h_0..h_T (probes added).
    ``alpha``: (B, T, T), the attention weights used (``alpha[b, t, i]`` on h_i at step t;
    zero off S_t), or None when the model attends nowhere or was asked not to record them.
    ``a``: (B, T, n), pre-activations a_1..a_T of a vanilla cell, else None.
    ``extra``: model-specific traces (e.g. relevant-set membership and scores).
    """

    h: Tensor
    alpha: Tensor | None = None
    a: Tensor | None = None
    extra: dict[str, Tensor] = field(default_factory=dict)


class RecurrentModel(Protocol):
    """The interface ``measure`` and ``train`` rely on."""

    hidden: int
    beta: float
    gamma: float

    def __call__(self, x: Tensor, *, probe: Tensor | None = None,
                 detach_attention: bool = False) -> Rollout:
        """Run on inputs ``x`` (B, T, m). ``detach_attention`` holds the attention weights
        fixed (no gradient through the scores): Lemma 1's setting."""
        ...
