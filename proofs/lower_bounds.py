"""B1, B2+ and B3 over seeded random Jacobians and patterns, and where attained, exactly
(THEORY.md section 4).

Each draw: T in 2..6, n in 2..4, a random pattern (:func:`proofs.draws.float_pattern`), beta
in [0.05, 1], gamma in [0, 1], and Jacobians J_1..J_T (entrywise uniform on [0, 2) for B2+,
standard normal for B1 and B3); in one draw of four a drawn step is dead (THEORY.md section 9):
J_k = 0, or J_k with a zero row, whose mu_k = sigma_min(J_k) is then exactly 0. The exact
Jacobians ``G_t = dh_T/dh_t`` come from Lemma 1's adjoint recursion multiplied out in float64
(:func:`proofs.paths.adjoint`, independent of :mod:`bounds.recursions`); the bounds come from
the catalog (``get(name).evaluate``) unless a checker is given another bound, so that a wrong
bound can be shown to fail.

The inequalities do not pin a formula (a looser bound holds as well), so each certificate also
requires EQUALITY where its bound is attained, in exact arithmetic on ``J_k = c_k I`` with
``c_k > 0`` (sympy, :func:`proofs.paths.aligned_scalars`): B1's P_lambda equals the norm on
every pattern of :func:`proofs.draws.aligned_cases`; B2+'s M_mu and B3 equal it on the plain
RNN pattern, where the path is unique. B3 is moreover recomputed from its definition over the
enumerated paths of every draw (:func:`proofs.paths.paths`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import sympy as sp

from bounds import Pattern, get, patterns
from proofs.certificate import (
    Certificate,
    Equalities,
    SmallestMargin,
    positive_ints,
    register_certificate,
)
from proofs.draws import AlignedCase, aligned_cases, float_pattern, rational_steps
from proofs.paths import adjoint, aligned_scalars, edge_weights, path_products, paths

#: float64 round-off tolerance, relative to the scale of the compared quantities (the norm for
#: B2+, P_lambda(t) for B1 and B3): G_t is a sum of at most 2^5 products of at most 6 small
#: matrices, so its rounding error is a few hundred ulps of P_lambda(t) at most, ~1e-13;
#: 1e-10 is far above that and far below any margin a wrong bound leaves.
RTOL = 1e-10
DRAWS = 400
#: One draw in DEAD_EVERY has a dead step.
DEAD_EVERY = 4
#: Grid of the exact equality cases (``exact_Ts`` of the checkers): T and the seeds of
#: :func:`proofs.draws.aligned_cases`.
EXACT_TS = range(1, 7)
EXACT_SEEDS = (0, 1)
RNN_BETAS = ("1/4", "1/2", "1")

#: ``bound(pattern, beta, gamma, mu, lam) -> array over t``; called with float64 inputs on the
#: draws and with exact sympy inputs on the equality grid.
BoundFn = Callable[[Pattern, object, object, np.ndarray, np.ndarray], np.ndarray]


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
        dead = int(rng.integers(1, T + 1)) if rng.integers(DEAD_EVERY) == 0 else 0
        zero_row = dead > 0 and bool(rng.integers(2))
        if dead:
            J[dead - 1, 0 if zero_row else slice(None)] = 0.0
            label += f", dead step {dead}" + (" (zero row)" if zero_row else "")
        Js = {k: J[k - 1] for k in range(1, T + 1)}
        G = adjoint(edge_weights(p.dense(), beta, gamma, T), Js, T, np.eye(n))
        sv = np.linalg.svd(J, compute_uv=False)
        mu, lam = sv[:, -1], sv[:, 0]
        if zero_row:
            mu[dead - 1] = 0.0  # J_k is singular; the SVD returns ~1e-17 for it
        yield Draw(label, p, beta, gamma, J, G, mu, lam)


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


@dataclass
class Margins:
    """Relative margins ``diff / scale`` (a :class:`SmallestMargin`), with the cases where the
    scale is 0 (every path crosses a dead step, so both sides are 0) counted apart: they hold
    with equality and would only hide the informative worst case. A nonzero diff at scale 0 is
    a margin of +-inf."""

    margin: SmallestMargin = field(default_factory=SmallestMargin)
    dead: int = 0

    def add(self, diff: float, scale: float, **case: object) -> None:
        if scale > 0:
            self.margin.add(diff / scale, **case)
        elif diff == 0:
            self.dead += 1
        else:
            self.margin.add(float(np.copysign(np.inf, diff)), **case)

    @property
    def passes(self) -> bool:
        m = self.margin
        return m.cases > 0 and not m.undefined and m.value is not None and m.value >= -RTOL

    def summary(self, what: str) -> str:
        ev = self.margin.evidence()
        worst = ev["smallest_margin_float"]
        worst = "undefined" if worst is None else f"{worst:.3g}"
        return (f"{ev['cases'] + self.dead} (draw, t) cases; worst relative margin of {what} "
                f"{worst} at {ev['at']} ({self.dead} cases with both sides 0)")

    def evidence(self) -> dict[str, object]:
        return {**self.margin.evidence(), "cases_with_both_sides_0": self.dead}


def _rnn_cases(Ts: Sequence[int], seeds: Sequence[int]) -> Iterator[AlignedCase]:
    """The plain RNN (one path from every t), beta in :data:`RNN_BETAS`, gamma = 0,
    ``c_k = rational_steps(1/2, T, seed)`` (positive)."""
    for T in Ts:
        for beta in map(sp.Rational, RNN_BETAS):
            for seed in seeds:
                yield (f"none beta={beta} seed={seed}", patterns.none(T), beta, sp.Integer(0),
                       rational_steps(sp.Rational(1, 2), T, seed))


def _attained(bound: BoundFn, cases: Iterator[AlignedCase], where: str) -> Equalities:
    """Require ``bound(p, beta, gamma, mu=c, lam=c)[t] == ||G_t||`` exactly for every case and
    t, with ``G_t = s_t I`` from :func:`proofs.paths.aligned_scalars` on ``J_k = c_k I``."""
    equal = Equalities(where)
    for label, p, beta, gamma, c in cases:
        s = aligned_scalars(edge_weights(p.dense(), beta, gamma, p.T), c, p.T)
        value = bound(p, beta, gamma, c, c)
        for t in range(p.T):
            norm = None if s[t] is None else abs(s[t])
            equal.require(norm is not None and sp.sympify(value[t]) == norm, pattern=label,
                          T=p.T, t=t, bound=value[t], norm=norm)
    return equal


def check_nonneg_lower(lower: BoundFn | None = None, seed: int = 0, count: int = DRAWS,
                       exact_Ts: Sequence[int] = EXACT_TS) -> Certificate:
    """B2+: for entrywise nonnegative J_k, ``||G_t||_2 >= M_mu(t)`` (catalog nonneg_lower)
    and ``||G_t||_F^2 >= sum_xi ||A_xi||_F^2`` over the enumerated paths; on the plain RNN with
    ``J_k = c_k I`` (c_k > 0, exact) the one path makes ``M_mu(t) = ||G_t||`` and equality is
    required."""
    bound = lower or _catalog("nonneg_lower")
    spectral, frobenius = Margins(), Margins()
    for d in draws(seed, count, nonnegative=True):
        M = np.asarray(bound(d.pattern, d.beta, d.gamma, d.mu, d.lam), dtype=float)
        Js = {k: d.J[k - 1] for k in range(1, d.T + 1)}
        edges = edge_weights(d.pattern.dense(), d.beta, d.gamma, d.T)
        eye = np.eye(d.J.shape[1])
        for t in range(d.T):
            norm = np.linalg.norm(d.G[t], 2)
            spectral.add(norm - M[t], norm, **d.where(t))
            terms = sum(np.sum((w * A) ** 2) for _, w, A in path_products(edges, Js, t, d.T, eye))
            fro = np.sum(d.G[t] ** 2)
            frobenius.add(fro - terms, fro, **d.where(t))
    equal = _attained(bound, _rnn_cases(positive_ints("exact_Ts", exact_Ts), EXACT_SEEDS),
                      "plain RNN, J_k = c_k I, exact")
    passed = spectral.passes and frobenius.passes and equal.holds
    return Certificate("B2+", f"float64, {count} seeded draws (seed {seed}): Lemma 1 adjoint "
                       "vs M_mu (catalog nonneg_lower) and the Frobenius path sum; = on the "
                       "plain RNN (exact)", passed, {
                           "summary": spectral.summary("||G||_2 >= M_mu") + "; Frobenius "
                           f"worst {frobenius.margin.value:.3g}; {equal.summary()}",
                           "draws": count, "seed": seed, "T": "2..6", "n": "2..4",
                           "J": "entrywise uniform [0, 2), a dead step in 1 draw of "
                                f"{DEAD_EVERY}", "tolerance": RTOL,
                           "spectral": spectral.evidence(), "frobenius": frobenius.evidence(),
                           "equality": equal.evidence(),
                       })


def check_path_sum_upper(upper: BoundFn | None = None, seed: int = 1, count: int = DRAWS,
                         exact_Ts: Sequence[int] = EXACT_TS) -> Certificate:
    """B1: for any J_k, ``||G_t||_2 <= P_lambda(t)`` (catalog path_sum_upper); for aligned
    ``J_k = c_k I`` with c_k > 0 (lambda_k = c_k) the bound is attained and equality
    ``P_lambda(t) = ||G_t||`` is required exactly, on every pattern of
    :func:`proofs.draws.aligned_cases`."""
    bound = upper or _catalog("path_sum_upper")
    margin = Margins()
    for d in draws(seed, count, nonnegative=False):
        P = np.asarray(bound(d.pattern, d.beta, d.gamma, d.mu, d.lam), dtype=float)
        for t in range(d.T):
            margin.add(P[t] - np.linalg.norm(d.G[t], 2), P[t], **d.where(t))
    equal = _attained(bound, aligned_cases(positive_ints("exact_Ts", exact_Ts), EXACT_SEEDS),
                      "J_k = c_k I, c_k > 0, exact, 6 pattern kinds")
    return Certificate("B1", f"float64, {count} seeded draws (seed {seed}), Gaussian J: "
                       "Lemma 1 adjoint vs P_lambda (catalog path_sum_upper); = on aligned J "
                       "(exact)", margin.passes and equal.holds, {
                           "summary": margin.summary("P_lambda >= ||G||_2")
                           + f"; {equal.summary()}",
                           "draws": count, "seed": seed, "T": "2..6", "n": "2..4",
                           "J": f"standard normal, a dead step in 1 draw of {DEAD_EVERY}",
                           "tolerance": RTOL, **margin.evidence(),
                           "equality": equal.evidence(),
                       })


def dominant_by_enumeration(d: Draw, t: int) -> tuple[float, list[float]]:
    """B3 from its definition over the enumerated paths from t (:func:`proofs.paths.paths`):
    ``(P_lambda(t), [W(xi) prod mu - (P_lambda(t) - W(xi) prod lambda) for every xi that
    maximises W(xi) prod mu])``, maximisers up to :data:`RTOL` (float ties); ``(0, [0])``
    where T is unreachable from t."""
    edges = edge_weights(d.pattern.dense(), d.beta, d.gamma, d.T)
    scored = []
    for xi in paths(edges, t, d.T):
        w = np.prod([edges[e] for e in pairwise(xi)])
        scored.append((w * np.prod(d.mu[np.array(xi[1:]) - 1]),
                       w * np.prod(d.lam[np.array(xi[1:]) - 1])))
    if not scored:
        return 0.0, [0.0]
    P = sum(b for _, b in scored)
    top = max(a for a, _ in scored)
    return P, [a - (P - b) for a, b in scored if a >= top * (1 - RTOL)]


def check_dominant_lower(lower: BoundFn | None = None, seed: int = 1, count: int = DRAWS,
                         exact_Ts: Sequence[int] = EXACT_TS) -> Certificate:
    """B3: for any J_k, ``||G_t||_2 >= W(xi*) prod mu_k - (P_lambda(t) - W(xi*) prod
    lambda_k)`` (catalog dominant_path_lower); margins relative to P_lambda(t). The bound
    itself must equal its definition recomputed over the enumerated paths
    (:func:`dominant_by_enumeration`, to RTOL of P_lambda), and on the plain RNN with
    ``J_k = c_k I`` (one path: the bound is ``prod beta c_k``) it must equal ``||G_t||``
    exactly. Also counts the cases where the bound is informative (positive)."""
    bound = lower or _catalog("dominant_path_lower")
    margin, informative = Margins(), 0
    definition = Equalities("bound = its definition over the enumerated paths, to RTOL")
    for d in draws(seed, count, nonnegative=False):
        L = np.asarray(bound(d.pattern, d.beta, d.gamma, d.mu, d.lam), dtype=float)
        for t in range(d.T):
            P, values = dominant_by_enumeration(d, t)
            margin.add(np.linalg.norm(d.G[t], 2) - L[t], P, **d.where(t))
            informative += bool(L[t] > 0)
            gap = min(abs(L[t] - v) for v in values)
            definition.require(gap <= RTOL * P, **d.where(t), bound=L[t], definition=values)
    equal = _attained(bound, _rnn_cases(positive_ints("exact_Ts", exact_Ts), EXACT_SEEDS),
                      "plain RNN, J_k = c_k I, exact")
    passed = margin.passes and definition.holds and equal.holds
    return Certificate("B3", f"float64, {count} seeded draws (seed {seed}), Gaussian J: "
                       "Lemma 1 adjoint vs catalog dominant_path_lower, which must equal its "
                       "definition over the enumerated paths; = on the plain RNN (exact)",
                       passed, {
                           "summary": margin.summary("||G||_2 >= dominant-path bound")
                           + f"; bound informative (> 0) in {informative} cases; "
                           f"{definition.summary()}; {equal.summary()}",
                           "draws": count, "seed": seed, "T": "2..6", "n": "2..4",
                           "J": f"standard normal, a dead step in 1 draw of {DEAD_EVERY}",
                           "tolerance": RTOL,
                           "informative_cases": informative, **margin.evidence(),
                           "definition": definition.evidence(),
                           "equality": equal.evidence(),
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
