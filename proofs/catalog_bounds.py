"""The catalog's closed-form bounds follow from the path-sum recursions (THEORY.md section 4).

Exact rational arithmetic throughout: patterns built with ``exact=True``, beta, gamma and the
per-step values sympy Rationals, the scalar path sum from :func:`bounds.path_sum`, and each
catalog expression evaluated by exact substitution. With ``J_k = mu_k I`` (aligned, B2) the
Jacobian norm *is* ``P_mu(t)``, so ``P_mu(t) >= bound`` for every case of a grid certifies the
lower bounds B4, B5, B6, B7 on the aligned family with ``mu_k >= mu``; B0 is an upper bound on
``P_lambda`` for gamma = 0. B2 itself is certified by multiplying out Lemma 1's adjoint
recursion on ``J_k = c_k I`` exactly.

An inequality alone does not pin a formula: a looser one passes too. So where a bound is
attained the certificate requires EQUALITY, exactly: B0 with constant lambda_k; B4 at beta = 0,
t = T - 1 (the hop T-1 -> T is the only path); B5 on a pattern whose only path from t is d edges
of weight gamma/kappa; B6 at width 1, and at t = T - 1, with beta = 0; B7 on the lone hop
T-1 -> T with a full relevant set (|S_{T-1}| = nu + rho). Each certificate reports the smallest
margin (value - bound, or bound - value for B0) with where it occurs, and which equalities were
required and met. Every checker takes the bound to check, defaulting to the catalog's
expression, so a wrong bound can be shown to fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import sympy as sp

from bounds import dependency_depth, get, path_sum, patterns, sparsity
from bounds.hypotheses import has_strong_paths
from proofs.certificate import (
    Certificate,
    Equalities,
    SmallestMargin,
    catalog_symbols,
    positive_ints,
    register_certificate,
    substitute,
)
from proofs.draws import (
    aligned_cases,
    full_relevant_set,
    rational_pattern,
    rational_steps,
    single_path_pattern,
)
from proofs.paths import aligned_scalars, edge_weights, paths

Q = sp.Rational


def _expr(name: str, bound: sp.Expr | None) -> sp.Expr:
    return get(name).expr if bound is None else bound


def _certificate(claim: str, method: str, margin: SmallestMargin, grid: dict,
                 equal: Equalities, extra: dict | None = None, ok: bool = True) -> Certificate:
    ev = margin.evidence()
    worst = ("none defined" if ev["smallest_margin"] is None else
             f"{ev['smallest_margin']} (~{ev['smallest_margin_float']:.3g}) at {ev['at']}")
    undefined = f"; {margin.undefined} undefined" if margin.undefined else ""
    return Certificate(claim, method, ok and margin.holds and equal.holds, {
        "summary": f"{ev['cases']} exact cases; smallest margin {worst}{undefined}; "
                   f"{equal.summary()}",
        "grid": grid, **ev, "equality": equal.evidence(), **(extra or {})})


def check_rnn_upper(bound: sp.Expr | None = None, Ts: Sequence[int] = range(1, 13),
                    betas: Sequence[str] = ("1/4", "1/2", "1"),
                    lams: Sequence[str] = ("0", "1/2", "3/2"),
                    seeds: Sequence[int | None] = (None, 0, 1, 2)) -> Certificate:
    """B0: with gamma = 0 (``patterns.none``), ``P_lambda(t) = prod_{k=t+1..T} beta*lambda_k``
    (checked against the plain product) and ``<= (beta*lambda_max)^(T-t)``, where lambda_max
    is the largest lambda_k, k = t+1..T. With constant lambda_k = lambda (seed None) the bound
    is attained, and equality ``P_lambda(t) = (beta*lambda)^(T-t)`` is required. The floors
    ``lams`` include 0 (every J_k = 0: both sides 0) and 3/2 (beta*lambda > 1 for beta = 1)."""
    Ts = positive_ints("Ts", Ts)
    expr, sym = _expr("rnn_upper", bound), catalog_symbols("rnn_upper")
    margin, mismatches = SmallestMargin(), []
    equal = Equalities("constant lambda_k")
    for T in Ts:
        for beta in map(Q, betas):
            for floor in map(Q, lams):
                for seed in seeds:
                    lam = rational_steps(floor, T, seed)
                    P = path_sum(patterns.none(T), beta, sp.Integer(0), lam)
                    for t in range(T):
                        if P[t] != sp.prod(beta * x for x in lam[t:]):
                            mismatches.append({"T": T, "t": t, "beta": beta, "seed": seed})
                        top = max(lam[t:])
                        value = substitute(expr, sym, beta=beta, lam=top, T=T, t=t)
                        case = {"T": T, "t": t, "beta": beta, "lam_max": top, "seed": seed}
                        margin.add(value - P[t], **case)
                        if seed is None:
                            equal.require(value == P[t], **case, bound=value, value=P[t])
    return _certificate("B0", "exact: bounds.path_sum(none, gamma=0) = prod beta*lambda_k "
                        "<= catalog rnn_upper, = at constant lambda_k", margin,
                        {"T": list(Ts), "beta": list(betas),
                         "lambda_k": f"floor in {list(lams)}, times 1 or {{1, 5/4, 3/2, 2}}",
                         "seeds": list(seeds)}, equal,
                        {"product_mismatches": mismatches[:5]}, ok=not mismatches)


def check_aligned_exact(scalar: Callable[..., np.ndarray] = path_sum,
                        Ts: Sequence[int] = range(1, 8), seeds: Sequence[int] = (0, 1)
                        ) -> Certificate:
    """B2: for ``J_k = c_k I`` the adjoint recursion of Lemma 1, multiplied out exactly
    (2x2 sympy matrices), gives ``G_t = P_c(t) I``, so ``||dh_T/dh_t|| = P_c(t)``, where
    ``P_c = scalar(pattern, beta, gamma, c)`` (:func:`bounds.path_sum` by default). The cases
    (:func:`proofs.draws.aligned_cases`) include a dead step c_k = 0 each."""
    Ts = positive_ints("Ts", Ts)
    cases, failures = 0, []
    for label, p, beta, gamma, c in aligned_cases(Ts, seeds, dead=True):
        s = aligned_scalars(edge_weights(p.dense(), beta, gamma, p.T), c, p.T)
        P = scalar(p, beta, gamma, c)
        for t in range(p.T):
            cases += 1
            if s[t] is None or s[t] != P[t]:
                failures.append({"pattern": label, "T": p.T, "t": t})
    return Certificate("B2", "exact: Lemma 1 adjoint recursion on J_k = c_k I (sympy) vs "
                       "bounds.path_sum", cases > 0 and not failures, {
                           "summary": f"{cases} exact (pattern, T, t) cases (half of them "
                                      f"with a dead step c_k = 0), {len(failures)} with "
                                      "G_t != P_c(t) I",
                           "grid": {"T": list(Ts), "kinds": "uniform, window, strided, "
                                    "sparse, events, random rational", "seeds": list(seeds),
                                    "c_k": "1/2 * {1, 5/4, 3/2, 2}, and again with one c_k = 0"},
                           "cases": cases, "failures": failures[:5]})


def _lower_cases(pattern: patterns.Pattern, beta: sp.Rational, gamma: sp.Rational,
                 mu: sp.Rational, seeds: Sequence[int | None]
                 ) -> Iterator[tuple[int | None, np.ndarray]]:
    """``(seed, P_mu(0..T-1))`` for constant mu_k = mu (seed None) and for seeded mu_k >= mu."""
    for seed in seeds:
        yield seed, path_sum(pattern, beta, gamma, rational_steps(mu, pattern.T, seed))


def check_uniform_lower(bound: sp.Expr | None = None, Ts: Sequence[int] = range(1, 13),
                        betas: Sequence[str] = ("0", "1/4", "1/2", "1"),
                        gammas: Sequence[str] = ("1/4", "1/2", "1"),
                        mus: Sequence[str] = ("1/2", "1")) -> Certificate:
    """B4 (lower): uniform full attention, any beta: ``P_mu(t) >= gamma*mu/T``. At beta = 0,
    t = T - 1 and constant mu_k = mu the only path is the hop T-1 -> T of weight gamma/T, so
    equality ``P_mu(T-1) = gamma*mu/T`` is required."""
    Ts = positive_ints("Ts", Ts)
    expr, sym = _expr("uniform_lower", bound), catalog_symbols("uniform_lower")
    margin = SmallestMargin()
    equal = Equalities("beta = 0, t = T-1, constant mu_k")
    for T in Ts:
        p = patterns.uniform(T, exact=True)
        for beta in map(Q, betas):
            for gamma in map(Q, gammas):
                for mu in map(Q, mus):
                    value = substitute(expr, sym, gamma=gamma, mu=mu, T=T)
                    for seed, P in _lower_cases(p, beta, gamma, mu, (None, T)):
                        for t in range(T):
                            case = {"T": T, "t": t, "beta": beta, "gamma": gamma, "mu": mu,
                                    "seed": seed}
                            margin.add(P[t] - value, **case)
                            if beta == 0 and t == T - 1 and seed is None:
                                equal.require(P[t] == value, **case, bound=value, value=P[t])
    return _certificate("B4", "exact: bounds.path_sum(uniform) >= catalog uniform_lower, = on "
                        "the lone hop T-1 -> T", margin,
                        {"T": list(Ts), "beta": list(betas), "gamma": list(gammas),
                         "mu": list(mus), "mu_k": "mu, or mu * {1, 5/4, 3/2, 2}"}, equal)


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


def _single_paths(expr: sp.Expr, sym: dict[str, sp.Symbol], kappas: Sequence[int],
                  depths: Sequence[int], gammas: Sequence[str], mus: Sequence[str],
                  seed: int, equal: Equalities, margin: SmallestMargin) -> int:
    """B5's equality cases: on :func:`proofs.draws.single_path_pattern` (gaps drawn with
    ``seed``), beta = 0, J_k = mu I: the only path from t has d edges of weight gamma/kappa, so
    ``P_mu(t) = (gamma*mu/kappa)^d`` with kappa = sparsity and d = dependency_depth, and the
    bound must equal it. Returns the number of constructions whose premises failed."""
    rng = np.random.default_rng(seed)
    broken = 0
    for kappa in kappas:
        for depth in depths:
            gaps = rng.integers(1, 4, size=depth).tolist()
            p, t = single_path_pattern(kappa, gaps)
            for gamma in map(Q, gammas):
                kap = sparsity(p)
                d = dependency_depth(p, 0, gamma)[t]
                strong = dependency_depth(p, 0, gamma, min_weight=float(gamma / kap))[t]
                lone = sum(1 for _ in paths(edge_weights(p.dense(), 0, gamma, p.T), t, p.T))
                if not (kap == kappa and d == depth == strong and lone == 1):
                    broken += 1
                    continue
                for mu in map(Q, mus):
                    P = path_sum(p, 0, gamma, mu)[t]
                    value = substitute(expr, sym, gamma=gamma, mu=mu, kappa=kap, d=int(d))
                    case = {"pattern": f"single path gaps={gaps}", "T": p.T, "t": t,
                            "beta": 0, "gamma": gamma, "mu": mu, "kappa": kap, "d": int(d)}
                    margin.add(P - value, **case)
                    equal.require(P == value, **case, bound=value, value=P)
    return broken


def check_sparse_lower(bound: sp.Expr | None = None, Ts: Sequence[int] = range(2, 13),
                       betas: Sequence[str] = ("0", "1/4", "1/2", "1"),
                       gammas: Sequence[str] = ("1/4", "1/2", "1"),
                       mu: str = "1/2", kappas: Sequence[int] = (1, 2, 3),
                       depths: Sequence[int] = (1, 2, 3, 4),
                       mus: Sequence[str] = ("1/2", "1"), seed: int = 0) -> Certificate:
    """B5: on window/strided/sparse/events and random rational patterns where the hypothesis
    holds (a shortest path t -> T with every edge >= gamma/kappa:
    :func:`bounds.hypotheses.has_strong_paths`), ``P_mu(t) >= (gamma*mu/kappa)^d`` with
    kappa = sparsity, d = dependency_depth (t with T unreachable have no d and are left out).
    Where the hypothesis fails the case is skipped, and the evidence counts how often the
    bound then fails (the hypothesis is not idle). Equality is required on single strong
    paths (:func:`proofs.draws.single_path_pattern`, beta = 0, kappa in ``kappas``, d in
    ``depths``, mu in ``mus``)."""
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
                    for s, P in _lower_cases(p, beta, gamma, m, (None, T)):
                        for t in map(int, np.flatnonzero(np.isfinite(depth))):
                            d = int(depth[t])
                            value = substitute(expr, sym, gamma=gamma, mu=m, kappa=kappa, d=d)
                            if not strong:
                                skipped += 1
                                violated += bool(P[t] < value)
                                continue
                            margin.add(P[t] - value, pattern=label, T=T, t=t, beta=beta,
                                       gamma=gamma, kappa=kappa, d=d, seed=s)
    equal = Equalities("single strong path, beta = 0, J_k = mu I")
    broken = _single_paths(expr, sym, kappas, depths, gammas, mus, seed, equal, margin)
    return _certificate("B5", "exact: bounds.path_sum >= catalog sparse_lower (kappa = "
                        "sparsity, d = dependency_depth) where the strong-path hypothesis "
                        "holds, = on single strong paths", margin,
                        {"T": list(Ts), "beta": list(betas), "gamma": list(gammas), "mu": mu,
                         "patterns": [lbl for lbl, _ in _sparse_family(12)],
                         "single_paths": {"kappa": list(kappas), "d": list(depths),
                                          "mu": list(mus), "gaps": f"1..3, seed {seed}"}},
                        equal,
                        {"hypothesis_held_patterns": held,
                         "hypothesis_failed_cases_skipped": skipped,
                         "of_which_bound_fails": violated,
                         "single_path_constructions_broken": broken}, ok=not broken)


def check_window_lower(bound: sp.Expr | None = None, Ts: Sequence[int] = range(1, 13),
                       nus: Sequence[int] = (1, 2, 3, 4),
                       betas: Sequence[str] = ("0", "1/4", "1"),
                       gammas: Sequence[str] = ("1/4", "1/2", "1"),
                       mu: str = "1/2") -> Certificate:
    """B6: sliding window nu, any beta >= 0 (every edge weighs >= gamma/nu):
    ``P_mu(t) >= (gamma*mu/nu)^ceil((T-t)/nu)``. With beta = 0 and constant mu_k = mu the
    bound is attained, and equality is required, where the path is unique with every edge of
    weight gamma/nu: at nu = 1 (the chain t -> t+1 -> ... -> T) for every t, and at
    t = T - 1 for any nu <= T (the hop T-1 -> T, |S_{T-1}| = nu)."""
    Ts = positive_ints("Ts", Ts)
    nus = positive_ints("nus", nus)
    expr, sym = _expr("window_lower", bound), catalog_symbols("window_lower")
    margin = SmallestMargin()
    equal = Equalities("beta = 0, constant mu_k; nu = 1, or t = T-1 with T >= nu")
    m = Q(mu)
    for T in Ts:
        for nu in nus:
            p = patterns.window(T, nu, exact=True)
            for beta in map(Q, betas):
                for gamma in map(Q, gammas):
                    for seed, P in _lower_cases(p, beta, gamma, m, (None, T)):
                        for t in range(T):
                            value = substitute(expr, sym, gamma=gamma, mu=m, nu=nu, T=T, t=t)
                            case = {"T": T, "t": t, "nu": nu, "beta": beta, "gamma": gamma,
                                    "seed": seed}
                            margin.add(P[t] - value, **case)
                            lone = nu == 1 or (t == T - 1 and T >= nu)
                            if beta == 0 and seed is None and lone:
                                equal.require(P[t] == value, **case, bound=value, value=P[t])
    return _certificate("B6", "exact: bounds.path_sum(window) >= catalog window_lower, = on "
                        "lone paths", margin, {"T": list(Ts), "nu": list(nus),
                                               "beta": list(betas), "gamma": list(gammas),
                                               "mu": mu}, equal)


def check_relevancy_lower(bound: sp.Expr | None = None, Ts: Sequence[int] = range(2, 13),
                          nus: Sequence[int] = (1, 2, 3), rhos: Sequence[int] = (1, 2, 3),
                          betas: Sequence[str] = ("0", "1/2", "1"),
                          gammas: Sequence[str] = ("1/4", "1"), mu: str = "1/2",
                          seed: int = 0) -> Certificate:
    """B7: events pattern with |E| <= rho (so |S_t| <= nu + rho): for every event i < T,
    ``P_mu(i) >= gamma*mu/(nu+rho)`` (the direct hop i -> T). E is drawn with ``seed``.

    Equality is required where the hop is the only path and the relevant set is full: beta = 0,
    i = T - 1, E a drawn set of rho states outside row T-1's window
    (:func:`proofs.draws.full_relevant_set`, so |S_{T-1}| = nu + rho), constant mu_k = mu:
    ``P_mu(T-1) = gamma*mu/(nu+rho)``, for rho in ``0..max(rhos)`` and T = nu + rho, + 2.
    (An event retained in the relevant set is attended at every later row, so from i < T-1
    other paths always exist and the bound is strict there.)"""
    Ts = positive_ints("Ts", Ts)
    nus = positive_ints("nus", nus)
    rhos = positive_ints("rhos", rhos)
    expr, sym = _expr("relevancy_lower", bound), catalog_symbols("relevancy_lower")
    margin = SmallestMargin()
    equal = Equalities("beta = 0, lone hop T-1 -> T, |S_{T-1}| = nu + rho, constant mu_k")
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
    for nu in nus:
        for rho in range(max(rhos) + 1):
            for T in (nu + rho, nu + rho + 2):
                E = full_relevant_set(T, nu, rho, rng)
                p = patterns.events(T, E, nu, exact=True)
                for gamma in map(Q, gammas):
                    P = path_sum(p, 0, gamma, m)[T - 1]
                    value = substitute(expr, sym, gamma=gamma, mu=m, nu=nu, rho=rho)
                    case = {"T": T, "i": T - 1, "E": E, "nu": nu, "rho": rho, "beta": 0,
                            "gamma": gamma, "S_T-1": int(p.support_sizes()[T - 1])}
                    margin.add(P - value, **case)
                    equal.require(P == value, **case, bound=value, value=P)
    return _certificate("B7", "exact: bounds.path_sum(events) at each event >= catalog "
                        "relevancy_lower, = on the lone hop with a full relevant set", margin,
                        {"T": list(Ts), "nu": list(nus), "rho": list(rhos),
                         "beta": list(betas), "gamma": list(gammas), "mu": mu,
                         "E": f"seeded subsets of 0..T-1 of size 1..rho (seed {seed})"}, equal)


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
