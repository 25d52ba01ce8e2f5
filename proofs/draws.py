"""Seeded random inputs for the certificates: patterns (exact or float) and per-step values.

Every pattern goes through the constructors of :mod:`bounds.patterns` (``build`` or the
validating ``from_matrix``); nothing here re-implements one.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from bounds import patterns

#: Multipliers for non-constant exact per-step values: x_k = floor * one of these.
STEP_FACTORS = (sp.Integer(1), sp.Rational(5, 4), sp.Rational(3, 2), sp.Integer(2))


def rational_steps(floor: sp.Rational, T: int, seed: int | None) -> np.ndarray:
    """x_1..x_T as an object array of Rationals: all equal to ``floor`` when seed is None
    (the tight case), else ``floor`` times seeded draws from :data:`STEP_FACTORS`."""
    if seed is None:
        return np.array([floor] * T, dtype=object)
    picks = np.random.default_rng(seed).integers(0, len(STEP_FACTORS), size=T)
    return np.array([floor * STEP_FACTORS[i] for i in picks], dtype=object)


def rational_pattern(rng: np.random.Generator, T: int) -> patterns.Pattern:
    """A random row-stochastic rational pattern with random supports: row t has integer
    weights drawn from 0..3 over 0..t (the diagonal bumped to 1 if all are 0), normalised
    exactly and validated by :func:`bounds.patterns.from_matrix`."""
    rows = []
    for t in range(T):
        w = rng.integers(0, 4, size=t + 1)
        w[-1] += w.sum() == 0
        rows.append([sp.Rational(int(x), int(w.sum())) for x in w] + [0] * (T - t - 1))
    return patterns.from_matrix(sp.Matrix(rows))


def float_pattern(rng: np.random.Generator, T: int) -> tuple[str, patterns.Pattern]:
    """A random float64 pattern and its label: one of the named kinds with random parameters
    (:func:`bounds.patterns.build`), or a random row-stochastic matrix with random supports."""
    kind = str(rng.choice(["none", "uniform", "window", "strided", "sparse", "events",
                           "matrix"]))
    if kind == "matrix":
        a = np.tril(rng.random((T, T)) * (rng.random((T, T)) < 0.6))
        a[np.arange(T), np.arange(T)] += a.sum(axis=1) == 0
        return kind, patterns.from_matrix(a / a.sum(axis=1, keepdims=True))
    nu, k, kappa = (int(x) for x in rng.integers(1, 4, size=3))
    seed = int(rng.integers(1000))
    E = sorted(set(rng.integers(0, T, size=2).tolist()))
    p = patterns.build(kind, T, nu=nu, k=k, kappa=kappa, seed=seed, E=E)
    params = {"window": f" nu={nu}", "strided": f" k={k}", "sparse": f" kappa={kappa} seed={seed}",
              "events": f" E={E} nu={nu}"}
    return kind + params.get(kind, ""), p
