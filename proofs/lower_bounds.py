"""B1, B2+ and B3 numerically, over seeded random Jacobians and patterns (THEORY.md section 4).

Each draw: T in 2..6, n in 2..4, a random pattern (:func:`proofs.draws.float_pattern`), beta
in [0.05, 1], gamma in [0, 1], and Jacobians J_1..J_T (entrywise uniform on [0, 2) for B2+,
standard normal for B1 and B3). The exact Jacobians ``G_t = dh_T/dh_t`` come from Lemma 1's
adjoint recursion multiplied out in float64 (:func:`proofs.paths.adjoint`, independent of
:mod:`bounds.recursions`); the bounds come from the catalog (``get(name).evaluate``) unless a
checker is given another bound, so that a wrong bound can be shown to fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from bounds import Pattern, get
from proofs.certificate import Certificate, SmallestMargin, positive_ints, register_certificate
from proofs.draws import float_pattern
from proofs.paths import adjoint, edge_weights, path_products

#: float64 round-off tolerance, relative to the scale of the compared quantities (the norm for
#: B2+, P_lambda(t) for B1 and B3): G_t is a sum of at most 2^5 products of at most 6 small
#: matrices, so its rounding error is a few hundred ulps of P_lambda(t) at most, ~1e-13;
#: 1e-10 is far above that and far below any margin a wrong bound leaves.
RTOL = 1e-10
DRAWS = 400

#: ``bound(pattern, beta, gamma, mu, lam) -> array over t``
BoundFn = Callable[[Pattern, float, float, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Draw:
    """One random case with its exact Jacobians ``G[t] = dh_T/dh_t`` (t = 0..T)."""

    label: str
    pattern: Pattern
    beta: float
    gamma: float
    J: np.ndarray
    G: list[np.ndarray]
    mu: np.ndarray
    lam: np.ndarray

    @property
    def T(self) -> int:
        return self.pattern.T

    def where(self, t: int) -> dict[str, object]:
        return {"pattern": self.label, "T": self.T, "n": self.J.shape[1], "t": t,
                "beta": round(self.beta, 6), "gamma": round(self.gamma, 6)}


def draws(seed: int, count: int, nonnegative: bool) -> Iterator[Draw]:
    """``count`` seeded random cases; J_k entrywise nonnegative when ``nonnegative``."""
    (count,) = positive_ints("count", count)
    return _draws(seed, count, nonnegative)


def _draws(seed: int, count: int, nonnegative: bool) -> Iterator[Draw]:
    rng = np.random.default_rng(seed)
    for _ in range(count):
        T, n = int(rng.integers(2, 7)), int(rng.integers(2, 5))
        label, p = float_pattern(rng, T)
        beta, gamma = float(rng.uniform(0.05, 1.0)), float(rng.uniform(0.0, 1.0))
        J = rng.uniform(0.0, 2.0, (T, n, n)) if nonnegative else rng.standard_normal((T, n, n))
        Js = {k: J[k - 1] for k in range(1, T + 1)}
        G = adjoint(edge_weights(p.dense(), beta, gamma, T), Js, T, np.eye(n))
        sv = np.linalg.svd(J, compute_uv=False)
        yield Draw(label, p, beta, gamma, J, G, sv[:, -1], sv[:, 0])


def _catalog(name: str) -> BoundFn:
    bound = get(name)
    if name == "path_sum_upper":
        return lambda p, beta, gamma, mu, lam: bound.evaluate(pattern=p, beta=beta,
                                                              gamma=gamma, lam=lam)
    if name == "nonneg_lower":
        return lambda p, beta, gamma, mu, lam: bound.evaluate(pattern=p, beta=beta,
                                                              gamma=gamma, mu=mu)
    return lambda p, beta, gamma, mu, lam: bound.evaluate(pattern=p, beta=beta, gamma=gamma,
                                                          mu=mu, lam=lam)


def _summary(margin: SmallestMargin, what: str) -> str:
    ev = margin.evidence()
    return (f"{ev['cases']} (draw, t) cases; worst relative margin of {what} "
            f"{ev['smallest_margin_float']:.3g} at {ev['at']}")


def _passes(margin: SmallestMargin) -> bool:
    return margin.cases > 0 and margin.value >= -RTOL


def check_nonneg_lower(lower: BoundFn | None = None, seed: int = 0,
                       count: int = DRAWS) -> Certificate:
    """B2+: for entrywise nonnegative J_k, ``||G_t||_2 >= M_mu(t)`` (catalog nonneg_lower)
    and ``||G_t||_F^2 >= sum_xi ||A_xi||_F^2`` over the enumerated paths."""
    bound = lower or _catalog("nonneg_lower")
    spectral, frobenius = SmallestMargin(), SmallestMargin()
    for d in draws(seed, count, nonnegative=True):
        M = np.asarray(bound(d.pattern, d.beta, d.gamma, d.mu, d.lam), dtype=float)
        Js = {k: d.J[k - 1] for k in range(1, d.T + 1)}
        edges = edge_weights(d.pattern.dense(), d.beta, d.gamma, d.T)
        eye = np.eye(d.J.shape[1])
        for t in range(d.T):
            norm = np.linalg.norm(d.G[t], 2)
            spectral.add((norm - M[t]) / norm, **d.where(t))
            terms = sum(np.sum((w * A) ** 2) for _, w, A in path_products(edges, Js, t, d.T, eye))
            frobenius.add((np.sum(d.G[t] ** 2) - terms) / np.sum(d.G[t] ** 2), **d.where(t))
    passed = _passes(spectral) and _passes(frobenius)
    return Certificate("B2+", f"float64, {count} seeded draws (seed {seed}): Lemma 1 adjoint "
                       "vs M_mu (catalog nonneg_lower) and the Frobenius path sum", passed, {
                           "summary": _summary(spectral, "||G||_2 >= M_mu") + "; Frobenius "
                           f"worst {frobenius.value:.3g}",
                           "draws": count, "seed": seed, "T": "2..6", "n": "2..4",
                           "J": "entrywise uniform [0, 2)", "tolerance": RTOL,
                           "spectral": spectral.evidence(), "frobenius": frobenius.evidence(),
                       })


def check_path_sum_upper(upper: BoundFn | None = None, seed: int = 1,
                         count: int = DRAWS) -> Certificate:
    """B1: for any J_k, ``||G_t||_2 <= P_lambda(t)`` (catalog path_sum_upper)."""
    bound = upper or _catalog("path_sum_upper")
    margin = SmallestMargin()
    for d in draws(seed, count, nonnegative=False):
        P = np.asarray(bound(d.pattern, d.beta, d.gamma, d.mu, d.lam), dtype=float)
        for t in range(d.T):
            margin.add((P[t] - np.linalg.norm(d.G[t], 2)) / P[t], **d.where(t))
    return Certificate("B1", f"float64, {count} seeded draws (seed {seed}), Gaussian J: "
                       "Lemma 1 adjoint vs P_lambda (catalog path_sum_upper)", _passes(margin), {
                           "summary": _summary(margin, "P_lambda >= ||G||_2"),
                           "draws": count, "seed": seed, "T": "2..6", "n": "2..4",
                           "J": "standard normal", "tolerance": RTOL, **margin.evidence(),
                       })


def check_dominant_lower(lower: BoundFn | None = None, seed: int = 1,
                         count: int = DRAWS) -> Certificate:
    """B3: for any J_k, ``||G_t||_2 >= W(xi*) prod mu_k - (P_lambda(t) - W(xi*) prod
    lambda_k)`` (catalog dominant_path_lower); margins relative to P_lambda(t). Also counts
    the cases where the bound is informative (positive)."""
    bound = lower or _catalog("dominant_path_lower")
    scale = _catalog("path_sum_upper")
    margin, informative = SmallestMargin(), 0
    for d in draws(seed, count, nonnegative=False):
        L = np.asarray(bound(d.pattern, d.beta, d.gamma, d.mu, d.lam), dtype=float)
        P = scale(d.pattern, d.beta, d.gamma, d.mu, d.lam)
        for t in range(d.T):
            margin.add((np.linalg.norm(d.G[t], 2) - L[t]) / P[t], **d.where(t))
            informative += bool(L[t] > 0)
    return Certificate("B3", f"float64, {count} seeded draws (seed {seed}), Gaussian J: "
                       "Lemma 1 adjoint vs catalog dominant_path_lower", _passes(margin), {
                           "summary": _summary(margin, "||G||_2 >= dominant-path bound")
                           + f"; bound informative (> 0) in {informative} cases",
                           "draws": count, "seed": seed, "T": "2..6", "n": "2..4",
                           "J": "standard normal", "tolerance": RTOL,
                           "informative_cases": informative, **margin.evidence(),
                       })


@register_certificate
def nonneg_lower() -> Certificate:
    """B2+ over seeded random nonnegative Jacobians."""
    return check_nonneg_lower()


@register_certificate
def path_sum_upper() -> Certificate:
    """B1 over seeded random Gaussian Jacobians."""
    return check_path_sum_upper()


@register_certificate
def dominant_lower() -> Certificate:
    """B3 over seeded random Gaussian Jacobians."""
    return check_dominant_lower()
