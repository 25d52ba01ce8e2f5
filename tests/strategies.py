"""Hypothesis strategies shared by the tests: random causal patterns and per-step arrays."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from bounds import patterns


@st.composite
def random_patterns(draw: st.DrawFn, max_T: int = 7, uniform_weights: bool = False):
    """A random fixed pattern: row t a non-empty support within 0..t with random positive
    weights summing to 1 (or uniform on the support)."""
    T = draw(st.integers(1, max_T))
    rows = np.zeros((T, T))
    for t in range(T):
        support = draw(st.sets(st.integers(0, t), min_size=1, max_size=t + 1))
        idx = sorted(support)
        if uniform_weights:
            rows[t, idx] = 1.0 / len(idx)
        else:
            w = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=len(idx),
                                       max_size=len(idx))))
            rows[t, idx] = w / w.sum()
    return patterns.from_matrix(rows)


def step_values(T: int, lo: float = 0.1, hi: float = 3.0):
    """Per-step positive values x_1..x_T."""
    return st.lists(st.floats(lo, hi), min_size=T, max_size=T).map(np.array)


coefficients = st.floats(0.0, 1.0)
