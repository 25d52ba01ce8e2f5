"""Seeded random inputs for the certificates: patterns (exact or float) and per-step values.

Every pattern goes through the constructors of :mod:`bounds.patterns` (``build`` or the
validating ``from_matrix``); nothing here re-implements one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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


#: Named kinds of the exact aligned cases (:func:`aligned_cases`), beside a random rational one.
ALIGNED_KINDS = ("uniform", "window", "strided", "sparse", "events")

AlignedCase = tuple[str, patterns.Pattern, sp.Rational, sp.Rational, np.ndarray]


def aligned_cases(Ts: Sequence[int], seeds: Sequence[int], dead: bool = False
                  ) -> Iterator[AlignedCase]:
    """Exact cases ``(label, pattern, beta, gamma, c_1..c_T)`` for ``J_k = c_k I``: for every T
    and seed, each kind of :data:`ALIGNED_KINDS` (nu = k = kappa = 2, two drawn events) and a
    random rational pattern, with beta in {0, 1/4, .., 1} and gamma in {1/4, .., 1} drawn from
    the generator seeded ``[T, seed]`` and ``c_k = rational_steps(1/2, T, seed)``; with
    ``dead``, every case again with one drawn step dead (c_k = 0)."""
    for T in Ts:
        for kind in (*ALIGNED_KINDS, "rational"):
            for seed in seeds:
                rng = np.random.default_rng([T, seed])
                E = sorted(set(rng.integers(0, T, size=2).tolist()))
                if kind == "rational":
                    p = rational_pattern(rng, T)
                else:
                    p = patterns.build(kind, T, nu=2, k=2, kappa=2, seed=seed, E=E, exact=True)
                beta = sp.Rational(int(rng.integers(0, 5)), 4)
                gamma = sp.Rational(int(rng.integers(1, 5)), 4)
                c = rational_steps(sp.Rational(1, 2), T, seed)
                yield f"{kind} seed={seed}", p, beta, gamma, c
                if dead:
                    k = int(rng.integers(1, T + 1))
                    c = c.copy()
                    c[k - 1] = sp.Integer(0)
                    yield f"{kind} seed={seed} dead step {k}", p, beta, gamma, c


def single_path_pattern(kappa: int, gaps: Sequence[int]) -> tuple[patterns.Pattern, int]:
    """An exact pattern of sparsity kappa and the node t = kappa from which, with beta = 0,
    the only path to T = t + sum(gaps) is ``t = k_0 < k_1 < ... < k_d = T`` with
    ``k_m - k_{m-1} = gaps[m-1]``, every edge of weight exactly gamma/kappa (B5 attained).

    Row ``k_m - 1`` attends ``{k_{m-1}}`` and the kappa - 1 states ``0..kappa-2`` (all before
    t); every other row r >= t attends state 0 alone, so its node r + 1 is attended by no row
    and leads nowhere; rows r < t attend their window of kappa. Built by
    :func:`bounds.patterns.from_supports` (uniform on each support)."""
    t = kappa
    nodes = np.cumsum([t, *gaps])
    T = int(nodes[-1])
    supports: list[list[int]] = []
    hops = {int(b) - 1: int(a) for a, b in zip(nodes[:-1], nodes[1:], strict=True)}
    for r in range(T):
        if r in hops:
            supports.append([hops[r], *range(kappa - 1)])
        elif r >= t:
            supports.append([0])
        else:
            supports.append(list(range(max(0, r - kappa + 1), r + 1)))
    return patterns.from_supports(T, supports, "single path", exact=True), t


def full_relevant_set(T: int, nu: int, rho: int, rng: np.random.Generator) -> list[int]:
    """rho distinct states drawn from ``0..T-nu-1``, all outside row T-1's window of nu, so
    that ``events(T, E, nu)`` has ``|S_{T-1}| = nu + rho`` (needs T >= nu + rho)."""
    if T < nu + rho:
        raise ValueError(f"parameter 'T' must be >= nu + rho = {nu + rho}, got {T}")
    return sorted(rng.choice(T - nu, size=rho, replace=False).tolist())
