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


@st.composite
def step_values(draw: st.DrawFn, T: int, lo: float = 0.1, hi: float = 3.0,
                zeros: bool = False) -> np.ndarray:
    """Per-step values x_1..x_T in [lo, hi]; with ``zeros``, a drawn subset of the steps
    (possibly empty, possibly all) is set to exactly 0 (dead steps, THEORY.md section 9)."""
    x = np.array(draw(st.lists(st.floats(lo, hi), min_size=T, max_size=T)))
    if zeros:
        x[sorted(draw(st.sets(st.integers(0, T - 1), max_size=T)))] = 0.0
    return x


coefficients = st.floats(0.0, 1.0)
