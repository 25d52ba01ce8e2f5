"""The catalog's closed-form bounds follow from the path-sum recursions (THEORY.md section 4).

Exact rational arithmetic throughout: patterns built with ``exact=True``, beta, gamma and the
per-step values sympy Rationals, the scalar path sum from :func:`bounds.path_sum`, and each
catalog expression evaluated by exact substitution. With ``J_k = mu_k I`` (aligned, B2) the
Jacobian norm *is* ``P_mu(t)``, so ``P_mu(t) >= bound`` for every case of a grid certifies the
lower bounds B4, B5, B6, B7 on the aligned family with ``mu_k >= mu``; B0 is an upper bound on
``P_lambda`` for gamma = 0. B2 itself is certified by multiplying out Lemma 1's adjoint
recursion on ``J_k = c_k I`` exactly. Each certificate reports the smallest margin (value -
bound, or bound - value for B0) and where it occurs. Every checker takes the bound to check,
defaulting to the catalog's expression, so a wrong bound can be shown to fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import sympy as sp

from bounds import dependency_depth, get, path_sum, patterns, sparsity
from bounds.hypotheses import has_strong_paths
from proofs.certificate import (
    Certificate,
    SmallestMargin,
    catalog_symbols,
    positive_ints,
    register_certificate,
    substitute,
)
from proofs.draws import rational_pattern, rational_steps
from proofs.paths import adjoint, edge_weights

Q = sp.Rational


def _expr(name: str, bound: sp.Expr | None) -> sp.Expr:
    return get(name).expr if bound is None else bound


def _certificate(claim: str, method: str, margin: SmallestMargin, grid: dict,
                 extra: dict | None = None, ok: bool = True) -> Certificate:
    ev = margin.evidence()
    return Certificate(claim, method, ok and margin.holds, {
        "summary": f"{ev['cases']} exact cases; smallest margin {ev['smallest_margin']} "
                   f"(~{ev['smallest_margin_float']:.3g}) at {ev['at']}",
        "grid": grid, **ev, **(extra or {})})


def check_rnn_upper(bound: sp.Expr | None = None, Ts: Sequence[int] = range(1, 13),
                    betas: Sequence[str] = ("1/4", "1/2", "1"),
                    seeds: Sequence[int] = (0, 1, 2)) -> Certificate:
    """B0: with gamma = 0 (``patterns.none``), ``P_lambda(t) = prod_{k=t+1..T} beta*lambda_k``
    (checked against the plain product) and ``<= (beta*lambda_max)^(T-t)``, where lambda_max
    is the largest lambda_k, k = t+1..T."""
    Ts = positive_ints("Ts", Ts)
    expr, sym = _expr("rnn_upper", bound), catalog_symbols("rnn_upper")
    margin, mismatches = SmallestMargin(), []
    for T in Ts:
        for beta in map(Q, betas):
            for seed in seeds:
                lam = rational_steps(Q(1, 2), T, seed)
                P = path_sum(patterns.none(T), beta, sp.Integer(0), lam)
                for t in range(T):
                    if P[t] != sp.prod(beta * x for x in lam[t:]):
                        mismatches.append({"T": T, "t": t, "beta": beta, "seed": seed})
                    top = max(lam[t:])
                    value = substitute(expr, sym, beta=beta, lam=top, T=T, t=t)
                    margin.add(value - P[t], T=T, t=t, beta=beta, lam_max=top, seed=seed)
    return _certificate("B0", "exact: bounds.path_sum(none, gamma=0) = prod beta*lambda_k "
                        "<= catalog rnn_upper", margin,
                        {"T": list(Ts), "beta": list(betas), "lambda_k": "1/2 * {1, 5/4, 3/2, 2}",
                         "seeds": list(seeds)},
                        {"product_mismatches": mismatches[:5]}, ok=not mismatches)


def check_aligned_exact(scalar: Callable[..., np.ndarray] = path_sum,
                        Ts: Sequence[int] = range(1, 8), seeds: Sequence[int] = (0, 1)
                        ) -> Certificate:
    """B2: for ``J_k = c_k I`` the adjoint recursion of Lemma 1, multiplied out exactly
    (2x2 sympy matrices), gives ``G_t = P_c(t) I``, so ``||dh_T/dh_t|| = P_c(t)``, where
    ``P_c = scalar(pattern, beta, gamma, c)`` (:func:`bounds.path_sum` by default)."""
    Ts = positive_ints("Ts", Ts)
    kinds = ("uniform", "window", "strided", "sparse", "events")
    cases, failures = 0, []
    for T in Ts:
        for kind in kinds:
            for seed in seeds:
                rng = np.random.default_rng([T, seed])
                p = patterns.build(kind, T, nu=2, k=2, kappa=2, seed=seed,
                                   E=sorted(set(rng.integers(0, T, size=2).tolist())),
                                   exact=True)
                beta, gamma = Q(int(rng.integers(0, 5)), 4), Q(int(rng.integers(1, 5)), 4)
                cvals = rational_steps(Q(1, 2), T, seed)
                J = {k: cvals[k - 1] * sp.eye(2) for k in range(1, T + 1)}
                G = adjoint(edge_weights(p.dense(), beta, gamma, T), J, T, sp.eye(2))
                P = scalar(p, beta, gamma, cvals)
                for t in range(T):
                    cases += 1
                    if G[t] != P[t] * sp.eye(2):
                        failures.append({"kind": kind, "T": T, "t": t, "seed": seed})
    return Certificate("B2", "exact: Lemma 1 adjoint recursion on J_k = c_k I (sympy) vs "
                       "bounds.path_sum", cases > 0 and not failures, {
                           "summary": f"{cases} exact (pattern, T, t) cases, "
                                      f"{len(failures)} with G_t != P_c(t) I",
                           "grid": {"T": list(Ts), "kinds": list(kinds), "seeds": list(seeds),
                                    "c_k": "1/2 * {1, 5/4, 3/2, 2}"},
                           "cases": cases, "failures": failures[:5]})


def _lower_cases(pattern: patterns.Pattern, beta: sp.Rational, gamma: sp.Rational,
                 mu: sp.Rational, seeds: Sequence[int | None]
                 ) -> Iterator[tuple[int | None, np.ndarray]]:
    """``(seed, P_mu(0..T-1))`` for constant mu_k = mu and for seeded mu_k >= mu."""
    for seed in seeds:
        yield seed, path_sum(pattern, beta, gamma, rational_steps(mu, pattern.T, seed))


def check_uniform_lower(bound: sp.Expr | None = None, Ts: Sequence[int] = range(1, 13),
                        betas: Sequence[str] = ("0", "1/4", "1/2", "1"),
                        gammas: Sequence[str] = ("1/4", "1/2", "1"),
                        mus: Sequence[str] = ("1/2", "1")) -> Certificate:
    """B4 (lower): uniform full attention, any beta: ``P_mu(t) >= gamma*mu/T``."""
    Ts = positive_ints("Ts", Ts)
    expr, sym = _expr("uniform_lower", bound), catalog_symbols("uniform_lower")
    margin = SmallestMargin()
    for T in Ts:
        p = patterns.uniform(T, exact=True)
        for beta in map(Q, betas):
            for gamma in map(Q, gammas):
                for mu in map(Q, mus):
                    value = substitute(expr, sym, gamma=gamma, mu=mu, T=T)
                    for seed, P in _lower_cases(p, beta, gamma, mu, (None, T)):
                        for t in range(T):
                            margin.add(P[t] - value, T=T, t=t, beta=beta, gamma=gamma, mu=mu,
                                       seed=seed)
    return _certificate("B4", "exact: bounds.path_sum(uniform) >= catalog uniform_lower",
                        margin, {"T": list(Ts), "beta": list(betas), "gamma": list(gammas),
                                 "mu": list(mus), "mu_k": "mu, or mu * {1, 5/4, 3/2, 2}"})


def _sparse_family(T: int) -> Iterator[tuple[str, patterns.Pattern]]:
    for nu in (2, 3):
        yield f"window nu={nu}", patterns.window(T, nu, exact=True)
    for k in (2, 3):
        yield f"strided k={k}", patterns.strided(T, k, exact=True)
    for kappa, seed in ((2, 0), (3, 1)):
        yield f"sparse kappa={kappa} seed={seed}", patterns.sparse(T, kappa, seed, exact=True)
    E = [0, T // 2] if T > 2 else [0]
    yield f"events E={E} nu=2", patterns.events(T, E, 2, exact=True)
    for seed in (0, 1):
        yield f"random rational seed={seed}", rational_pattern(np.random.default_rng([T, seed]), T)


def check_sparse_lower(bound: sp.Expr | None = None, Ts: Sequence[int] = range(2, 13),
                       betas: Sequence[str] = ("0", "1/4", "1/2", "1"),
                       gammas: Sequence[str] = ("1/4", "1/2", "1"),
                       mu: str = "1/2") -> Certificate:
    """B5: on window/strided/sparse/events and random rational patterns where the hypothesis
    holds (a shortest path t -> T with every edge >= gamma/kappa:
    :func:`bounds.hypotheses.has_strong_paths`), ``P_mu(t) >= (gamma*mu/kappa)^d`` with
    kappa = sparsity, d = dependency_depth (t with T unreachable have no d and are left out).
    Where the hypothesis fails the case is skipped, and the evidence counts how often the
    bound then fails (the hypothesis is not idle)."""
    Ts = positive_ints("Ts", Ts)
    expr, sym = _expr("sparse_lower", bound), catalog_symbols("sparse_lower")
    margin, held, skipped, violated = SmallestMargin(), 0, 0, 0
    m = Q(mu)
    for T in Ts:
        for label, p in _sparse_family(T):
            kappa = sparsity(p)
            for beta in map(Q, betas):
                for gamma in map(Q, gammas):
                    strong = has_strong_paths(p, beta, gamma)
                    held += strong
                    depth = dependency_depth(p, beta, gamma)
                    for seed, P in _lower_cases(p, beta, gamma, m, (None, T)):
                        for t in map(int, np.flatnonzero(np.isfinite(depth))):
                            d = int(depth[t])
                            value = substitute(expr, sym, gamma=gamma, mu=m, kappa=kappa, d=d)
                            if not strong:
                                skipped += 1
                                violated += bool(P[t] < value)
                                continue
                            margin.add(P[t] - value, pattern=label, T=T, t=t, beta=beta,
                                       gamma=gamma, kappa=kappa, d=d, seed=seed)
    return _certificate("B5", "exact: bounds.path_sum >= catalog sparse_lower (kappa = "
                        "sparsity, d = dependency_depth) where the strong-path hypothesis "
                        "holds", margin,
                        {"T": list(Ts), "beta": list(betas), "gamma": list(gammas), "mu": mu,
                         "patterns": [lbl for lbl, _ in _sparse_family(12)]},
                        {"hypothesis_held_patterns": held,
                         "hypothesis_failed_cases_skipped": skipped,
                         "of_which_bound_fails": violated})


def check_window_lower(bound: sp.Expr | None = None, Ts: Sequence[int] = range(1, 13),
                       nus: Sequence[int] = (1, 2, 3, 4),
                       betas: Sequence[str] = ("0", "1/4", "1"),
                       gammas: Sequence[str] = ("1/4", "1/2", "1"),
                       mu: str = "1/2") -> Certificate:
    """B6: sliding window nu, any beta >= 0 (every edge weighs >= gamma/nu):
    ``P_mu(t) >= (gamma*mu/nu)^ceil((T-t)/nu)``."""
    Ts = positive_ints("Ts", Ts)
    nus = positive_ints("nus", nus)
    expr, sym = _expr("window_lower", bound), catalog_symbols("window_lower")
    margin = SmallestMargin()
    m = Q(mu)
    for T in Ts:
        for nu in nus:
            p = patterns.window(T, nu, exact=True)
            for beta in map(Q, betas):
                for gamma in map(Q, gammas):
                    for seed, P in _lower_cases(p, beta, gamma, m, (None, T)):
                        for t in range(T):
                            value = substitute(expr, sym, gamma=gamma, mu=m, nu=nu, T=T, t=t)
                            margin.add(P[t] - value, T=T, t=t, nu=nu, beta=beta, gamma=gamma,
                                       seed=seed)
    return _certificate("B6", "exact: bounds.path_sum(window) >= catalog window_lower",
                        margin, {"T": list(Ts), "nu": list(nus), "beta": list(betas),
                                 "gamma": list(gammas), "mu": mu})


def check_relevancy_lower(bound: sp.Expr | None = None, Ts: Sequence[int] = range(2, 13),
                          nus: Sequence[int] = (1, 2, 3), rhos: Sequence[int] = (1, 2, 3),
                          betas: Sequence[str] = ("0", "1/2", "1"),
                          gammas: Sequence[str] = ("1/4", "1"), mu: str = "1/2",
                          seed: int = 0) -> Certificate:
    """B7: events pattern with |E| <= rho (so |S_t| <= nu + rho): for every event i < T,
    ``P_mu(i) >= gamma*mu/(nu+rho)`` (the direct hop i -> T). E is drawn with ``seed``."""
    Ts = positive_ints("Ts", Ts)
    nus = positive_ints("nus", nus)
    rhos = positive_ints("rhos", rhos)
    expr, sym = _expr("relevancy_lower", bound), catalog_symbols("relevancy_lower")
    margin = SmallestMargin()
    m = Q(mu)
    rng = np.random.default_rng(seed)
    for T in Ts:
        for nu in nus:
            for rho in rhos:
                size = int(rng.integers(1, min(rho, T) + 1))
                E = sorted(rng.choice(T, size=size, replace=False).tolist())
                p = patterns.events(T, E, nu, exact=True)
                for beta in map(Q, betas):
                    for gamma in map(Q, gammas):
                        value = substitute(expr, sym, gamma=gamma, mu=m, nu=nu, rho=rho)
                        for s, P in _lower_cases(p, beta, gamma, m, (None, T)):
                            for i in E:
                                margin.add(P[i] - value, T=T, i=i, E=E, nu=nu, rho=rho,
                                           beta=beta, gamma=gamma, seed=s)
    return _certificate("B7", "exact: bounds.path_sum(events) at each event >= catalog "
                        "relevancy_lower", margin,
                        {"T": list(Ts), "nu": list(nus), "rho": list(rhos),
                         "beta": list(betas), "gamma": list(gammas), "mu": mu,
                         "E": f"seeded subsets of 0..T-1 of size 1..rho (seed {seed})"})


@register_certificate
def rnn_upper() -> Certificate:
    """B0 on an exact grid."""
    return check_rnn_upper()


@register_certificate
def aligned_exact() -> Certificate:
    """B2 on exact random patterns."""
    return check_aligned_exact()


@register_certificate
def uniform_lower() -> Certificate:
    """B4 (lower) on an exact grid."""
    return check_uniform_lower()


@register_certificate
def sparse_lower() -> Certificate:
    """B5 on an exact grid."""
    return check_sparse_lower()


@register_certificate
def window_lower() -> Certificate:
    """B6 on an exact grid."""
    return check_window_lower()


@register_certificate
def relevancy_lower() -> Certificate:
    """B7 on an exact grid."""
    return check_relevancy_lower()
