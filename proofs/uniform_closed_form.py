"""B4's exact closed form for uniform full attention, beta = 0, J_k = cI (THEORY.md section 4).

Every edge into node j weighs ``gamma*alpha[j-1, i] = gamma/j``, so the scalar recursion is
``P(T) = 1``, ``P(t) = sum_{j=t+1}^{T} (c gamma / j) P(j)``. Subtracting consecutive steps,
it is equivalent to ``P(T-1) = c gamma / T`` and ``P(t-1) = (1 + c gamma / t) P(t)`` for
1 <= t <= T-1: a closed form F satisfying both equals P for every 0 <= t < T by induction.
The certificates check the catalog's ``get("uniform_exact").expr`` by default (not a copy).
"""

from __future__ import annotations

from collections.abc import Sequence

import mpmath
import sympy as sp

from bounds import get, path_sum, patterns
from proofs.certificate import (
    Certificate,
    catalog_symbols,
    positive_ints,
    register_certificate,
    substitute,
)

NAME = "uniform_exact"
_S = catalog_symbols(NAME)
c, gamma, T, t = _S["c"], _S["gamma"], _S["T"], _S["t"]
#: c*gamma, for the growth limit (the closed form depends on c and gamma through it).
s = sp.Symbol("s", positive=True)


def _catalog_expr() -> sp.Expr:
    return get(NAME).expr


def _limit(expr: sp.Expr, x: sp.Symbol) -> sp.Expr | str:
    """``lim_{x->oo} expr`` simplified, or the reason sympy could not decide it."""
    try:
        return sp.simplify(sp.limit(expr, x, sp.oo))
    except NotImplementedError as err:
        return f"undecided by sympy: {err}"


#: sympy's ``limit`` is not trusted alone: in sympy 1.14,
#: ``limit(gamma(T+s)/((T+1)*gamma(T)*T**(s-1)), T, oo)`` returns 0 where the limit is 1.
#: So the limit is compared with F / T^(s-1) evaluated by mpmath at T = LARGE_T. The ratio
#: approaches its limit with relative error ~ s(s-1)/(2T) (Stirling), <= 1e-8 at T = 1e8 for
#: s <= 2, and mpmath works at 30 digits, so LIMIT_RTOL = 1e-6 leaves a wide safety margin
#: while any wrong limit (a different constant, 0 or oo) misses it by orders of magnitude.
LARGE_T = 10**8
LIMIT_RTOL = 1e-6
_S_VALUES = ("1/3", "1/2", "1", "2")
_T_VALUES = (0, 1, 5)


def _numeric_limit_error(F: sp.Expr, L: sp.Expr) -> float:
    """Largest relative error of ``L`` against ``F / T^(s-1)`` at T = LARGE_T (mpmath)."""
    ratio = sp.lambdify((T, s, t), F / T ** (s - 1), "mpmath")
    limit = sp.lambdify((s, t), L, "mpmath")
    worst = 0.0
    with mpmath.workdps(30):
        for sv in map(sp.Rational, _S_VALUES):
            for tv in _T_VALUES:
                exact = limit(mpmath.mpf(sv.p) / sv.q, tv)
                value = ratio(mpmath.mpf(LARGE_T), mpmath.mpf(sv.p) / sv.q, tv)
                worst = max(worst, float(abs(value / exact - 1)))
    return worst


def check_recursion(expr: sp.Expr | None = None) -> Certificate:
    """``F(T-1) = c gamma/T`` and ``F(t-1)/F(t) = 1 + c gamma/t`` (gammasimp), so F is the
    path sum P_c(t) of the beta = 0 uniform pattern; and ``F = 1/(t+1)`` when c gamma = 1."""
    F = _catalog_expr() if expr is None else expr
    last = sp.simplify(sp.gammasimp(F.subs(t, T - 1)) - c * gamma / T)
    ratio = sp.simplify(sp.gammasimp(F.subs(t, t - 1) / F) - (1 + c * gamma / t))
    unit = sp.simplify(sp.gammasimp(F.subs(c, 1 / gamma)) - 1 / (t + 1))
    passed = last == 0 and ratio == 0 and unit == 0
    return Certificate("B4", "sympy gammasimp: closed form solves P(t-1) = (1 + c*gamma/t) "
                       "P(t), P(T-1) = c*gamma/T; c*gamma = 1 gives 1/(t+1)", passed, {
                           "summary": (f"residuals: P(T-1) {last}, step ratio {ratio}, "
                                       f"c*gamma=1 vs 1/(t+1) {unit}"),
                           "closed_form": str(F),
                           "residual_last_step": last,
                           "residual_step_ratio": ratio,
                           "residual_unit_case": unit,
                       })


def check_growth(expr: sp.Expr | None = None) -> Certificate:
    """``L(t) = lim_{T->oo} F / T^(c gamma - 1)`` is finite and positive (sympy limit), so F
    grows like T^(c gamma - 1), and equals THEORY's prefactor ``c gamma Gamma(t+1) /
    Gamma(t+1+c gamma)`` exactly; ``lim_{t->oo} L(t) (t+1)^(c gamma) = c gamma``, so the
    ``(t+1)^(-c gamma)`` shape holds for large t only (at t = 0, c gamma = 1/2, L is
    1/sqrt(pi) = 0.564, not c gamma = 0.5; the evidence says so)."""
    F = (_catalog_expr() if expr is None else expr).subs(c, s / gamma)
    L = _limit(F / T ** (s - 1), T)
    finite = isinstance(L, sp.Expr) and bool(L.is_finite) and bool(L.is_positive)
    prefactor = s * sp.gamma(t + 1) / sp.gamma(t + 1 + s)
    exact = finite and sp.simplify(sp.gammasimp(L - prefactor)) == 0
    at_0 = float(L.subs({t: 0, s: sp.Rational(1, 2)})) if finite else float("nan")
    tail = _limit(L * (t + 1) ** s, t) if finite else "not computed"
    worst = _numeric_limit_error(F, L) if finite else float("inf")
    passed = (exact and worst <= LIMIT_RTOL and isinstance(tail, sp.Expr)
              and sp.simplify(tail - s) == 0)
    return Certificate("B4", "sympy limit of F / T^(c*gamma - 1) as T -> oo (cross-checked "
                       f"with mpmath at T = {LARGE_T:.0e}), then of the constant times "
                       "(t+1)^(c*gamma) as t -> oo", passed, {
                           "summary": f"lim F/T^(s-1) = {L} (s = c*gamma; the prefactor: "
                                      f"{'yes' if exact else 'NO'}; {at_0:.3f} at t = 0, "
                                      f"s = 1/2), mpmath rel. error {worst:.1e}; times "
                                      f"(t+1)^s -> {tail}",
                           "limit_T": L,
                           "limit_T_finite_positive": finite,
                           "limit_T_is_prefactor": exact,
                           "prefactor": prefactor,
                           "prefactor_t0_s_half": at_0,
                           "mpmath_check": {"T": LARGE_T, "s": list(_S_VALUES),
                                            "t": list(_T_VALUES), "worst_rel_error": worst,
                                            "tolerance": LIMIT_RTOL},
                           "limit_t_of_limit_times_(t+1)^s": tail,
                       })


def check_against_recursion(expr: sp.Expr | None = None,
                            cs: Sequence[int | str] = (1, 3, "1/2", "3/2"),
                            gammas: Sequence[int | str] = (1, "1/2", "1/3"),
                            T_max: int = 12) -> Certificate:
    """F, substituted exactly and gammasimp-ed, equals :func:`bounds.path_sum` on
    ``patterns.uniform(T, exact=True)`` with beta = 0 (exact Rationals) on a grid."""
    (T_max,) = positive_ints("T_max", T_max)
    F = _catalog_expr() if expr is None else expr
    cases, mismatches = 0, []
    for cv in map(sp.Rational, cs):
        for gv in map(sp.Rational, gammas):
            for TT in range(1, T_max + 1):
                exact = path_sum(patterns.uniform(TT, exact=True), sp.Integer(0), gv, cv)
                for tt in range(TT):
                    value = sp.gammasimp(substitute(F, _S, c=cv, gamma=gv, T=TT, t=tt))
                    cases += 1
                    if not (value.is_Rational and value == exact[tt]):
                        mismatches.append({"c": cv, "gamma": gv, "T": TT, "t": tt,
                                           "closed_form": value, "recursion": exact[tt]})
    return Certificate("B4", "exact: closed form vs bounds.path_sum on uniform(T, exact) "
                       "with beta = 0, sympy Rationals", cases > 0 and not mismatches, {
                           "summary": f"{cases} (c, gamma, T, t) cases up to T = {T_max}, "
                                      f"{len(mismatches)} mismatches",
                           "grid": {"c": list(cs), "gamma": list(gammas),
                                    "T": f"1..{T_max}", "t": "0..T-1"},
                           "cases": cases,
                           "mismatches": mismatches[:5],
                           "largest_difference": max(
                               (abs(m["closed_form"] - m["recursion"]) for m in mismatches),
                               default=sp.Integer(0)),
                       })


@register_certificate
def uniform_closed_form_recursion() -> Certificate:
    """B4: the Gamma closed form solves the recursion; 1/(t+1) at c*gamma = 1."""
    return check_recursion()


@register_certificate
def uniform_closed_form_growth() -> Certificate:
    """B4: growth T^(c*gamma - 1)."""
    return check_growth()


@register_certificate
def uniform_closed_form_grid() -> Certificate:
    """B4: closed form equals the exact recursion on a rational grid."""
    return check_against_recursion()

