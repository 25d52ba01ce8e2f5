"""Each catalog entry (THEORY.md section 4, B0-B7) against a direct evaluation of its statement,
and the matrix claims of B1, B2, B2+ and B3 against brute-force Lemma 1 path sums of random
matrices.

Tolerances: closed forms vs the same formula evaluated term by term in float64, rtol 1e-12
(a handful of roundings); Gamma ratios via exp(loggamma) lose ~|log| ulps, rtol 1e-10. The
bound inequalities hold with margin >= 0 exactly in real arithmetic; float64 round-off of an
n x n product sum is ~1e-15 relative, so inequalities are checked with a 1e-12 relative slack.
Per-step lambda_k, mu_k and the scalar mu, lam may be 0 (THEORY.md section 9): the random
Jacobians include dead steps, and zeros must give 0 / log10 -inf without numpy warnings.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import exact_inputs, jacobian_path_sum, log10_exact, weighted_paths
from strategies import random_patterns

from bounds import CATALOG, HYPOTHESES, get, patterns
from bounds.hypotheses import has_strong_paths, is_aligned, is_nonnegative, is_uniform_full

SLACK = 1e-12

NAMES = ["rnn_upper", "path_sum_upper", "aligned_exact", "nonneg_lower", "dominant_path_lower",
         "uniform_lower", "uniform_exact", "sparse_lower", "window_lower", "relevancy_lower"]
IDS = {"rnn_upper": "B0", "path_sum_upper": "B1", "aligned_exact": "B2", "nonneg_lower": "B2+",
       "dominant_path_lower": "B3", "uniform_lower": "B4", "uniform_exact": "B4",
       "sparse_lower": "B5", "window_lower": "B6", "relevancy_lower": "B7"}

unit = st.floats(0.05, 1.0)
positive = st.floats(0.05, 3.0)


def test_catalog_names_and_ids():
    assert sorted(CATALOG) == sorted(NAMES)
    assert {n: get(n).theory_id for n in NAMES} == IDS


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_is_complete(name):
    b = get(name)
    info = b.describe()
    assert info["statement"] and info["latex"] and info["hypotheses"]
    assert b.kind in {"upper", "lower", "exact"}
    assert all(k in HYPOTHESES for k in b.hypotheses)
    for p in b.params:
        if p.domain is not None:
            assert p.symbol.is_real


def test_symbols_carry_assumptions():
    syms = {p.name: p.symbol for p in get("window_lower").params}
    assert syms["T"].is_integer and syms["T"].is_positive
    assert syms["nu"].is_integer and syms["gamma"].is_positive and syms["mu"].is_nonnegative
    rho = {p.name: p.symbol for p in get("relevancy_lower").params}["rho"]
    assert rho.is_integer and rho.is_nonnegative
    # 0 is allowed (a dead step, an empty relevant set): nonnegative, not known positive
    assert syms["mu"].is_positive is None and rho.is_positive is None


@given(st.floats(0.0, 1.0), st.one_of(st.just(0.0), positive), st.integers(1, 60), st.data())
def test_rnn_upper(beta, lam, T, data):
    """Against (beta*lam)^(T-t) in exact Fractions. Linear: rtol 1e-12 (beta*lam rounds once,
    relative 2^-53, raised to k = T - t <= 60) plus atol 1e-320 for subnormal results, where
    that relative error is an absolute <= 60 * 2^-53 * 2.2e-308 ~ 1.5e-322 plus half a
    subnormal ulp. log10: from log10 beta + log10 lam, never from the rounded product (at
    beta = 5e-324 the product itself rounds by up to 50%)."""
    t = data.draw(st.integers(0, T - 1))
    b = get("rnn_upper")
    exact = (Fraction(beta) * Fraction(lam)) ** (T - t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = b.evaluate(beta=beta, lam=lam, T=T, t=t)
        log = b.log10(beta=beta, lam=lam, T=T, t=t)
    np.testing.assert_allclose(value, float(exact), rtol=1e-12, atol=1e-320)
    if exact == 0:
        assert value == 0 and log == -np.inf
    else:
        np.testing.assert_allclose(log, log10_exact(exact), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,kw", [
    ("rnn_upper", {"beta": 0.5, "lam": 0.0, "T": 5, "t": 2}),
    ("uniform_lower", {"gamma": 0.5, "mu": 0.0, "T": 5}),
    ("sparse_lower", {"gamma": 0.5, "mu": 0.0, "kappa": 3, "d": 2}),
    ("window_lower", {"gamma": 0.5, "mu": 0.0, "nu": 2, "T": 5, "t": 4}),
    ("relevancy_lower", {"gamma": 0.5, "mu": 0.0, "nu": 2, "rho": 0}),
])
def test_closed_forms_at_zero_are_zero(name, kw):
    """THEORY.md section 9: mu = 0 (lam = 0 for B0, t < T) gives the value 0, log10 -inf."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert get(name).evaluate(**kw) == 0.0
        assert get(name).log10(**kw) == -np.inf


def test_rnn_upper_log_is_finite_at_long_horizon():
    b = get("rnn_upper")
    assert b.evaluate(beta=1, lam=0.5, T=100_000, t=0) == 0.0
    np.testing.assert_allclose(b.log10(beta=1, lam=0.5, T=100_000, t=0), 1e5 * math.log10(0.5),
                               rtol=1e-12)


@given(unit, positive, st.integers(1, 100))
def test_uniform_lower(gamma, mu, T):
    np.testing.assert_allclose(get("uniform_lower").evaluate(gamma=gamma, mu=mu, T=T),
                               gamma * mu / T, rtol=1e-12)


@given(positive, unit, st.integers(1, 40), st.data())
def test_uniform_exact_is_the_product(c, gamma, T, data):
    """THEORY B4: P_c(t) = (c gamma / T) prod_{k=t+1..T-1} (1 + c gamma / k)."""
    t = data.draw(st.integers(0, T - 1))
    cg = c * gamma
    want = cg / T * math.prod(1 + cg / k for k in range(t + 1, T))
    np.testing.assert_allclose(get("uniform_exact").evaluate(c=c, gamma=gamma, T=T, t=t), want,
                               rtol=1e-10)


@given(st.integers(1, 10_000), st.data())
def test_uniform_exact_unit_case(T, data):
    t = data.draw(st.integers(0, T - 1))
    np.testing.assert_allclose(get("uniform_exact").evaluate(c=2.0, gamma=0.5, T=T, t=t),
                               1 / (t + 1), rtol=1e-10)


def test_uniform_exact_log_finite_for_huge_T():
    """For T -> oo, P_c(t) ~ c*gamma T^(c*gamma - 1) Gamma(t+1)/Gamma(t+1+c*gamma); THEORY's
    (t+1)^(-c*gamma) is the large-t form of the last ratio (relative error O(1/T)).
    Tolerance: loggamma(T + c*gamma) - loggamma(T) cancels two numbers of size T log T, so the
    absolute error is a few ulps of loggamma(T) (~5e-6 at T = 1e9)."""
    cg, T, t = 0.25, 10**9, 0
    val = get("uniform_exact").log10(c=0.5, gamma=0.5, T=T, t=t)
    want = (math.log(cg) + (cg - 1) * math.log(T) + math.lgamma(t + 1) - math.lgamma(t + 1 + cg))
    atol = 8 * np.finfo(float).eps * math.lgamma(T) / math.log(10)
    np.testing.assert_allclose(val, want / math.log(10), rtol=0, atol=atol)


@given(unit, positive, st.integers(1, 20), st.integers(1, 30))
def test_sparse_lower(gamma, mu, kappa, d):
    np.testing.assert_allclose(get("sparse_lower").evaluate(gamma=gamma, mu=mu, kappa=kappa, d=d),
                               (gamma * mu / kappa) ** d, rtol=1e-12)


@given(unit, positive, st.integers(1, 10), st.integers(1, 80), st.data())
def test_window_lower(gamma, mu, nu, T, data):
    t = data.draw(st.integers(0, T - 1))
    got = get("window_lower").evaluate(gamma=gamma, mu=mu, nu=nu, T=T, t=t)
    np.testing.assert_allclose(got, (gamma * mu / nu) ** math.ceil((T - t) / nu), rtol=1e-12)


@given(unit, positive, st.integers(1, 50), st.integers(0, 50))
def test_relevancy_lower(gamma, mu, nu, rho):
    got = get("relevancy_lower").evaluate(gamma=gamma, mu=mu, nu=nu, rho=rho)
    np.testing.assert_allclose(got, gamma * mu / (nu + rho), rtol=1e-12)


def test_closed_forms_broadcast_over_arrays():
    t = np.arange(10)
    got = get("window_lower").evaluate(gamma=0.5, mu=1.0, nu=3, T=10, t=t)
    assert got.shape == (10,)
    np.testing.assert_allclose(get("window_lower").log10(gamma=0.5, mu=1.0, nu=3, T=10, t=t),
                               np.log10(got), rtol=1e-12)


# --- pattern bounds: the matrix claims, against brute-force Lemma 1 ---------------------------

@st.composite
def matrix_cases(draw, kind="any"):
    """(pattern, beta, gamma, J, lam, mu): random J_k, some of them dead: J_k = 0
    (lambda_k = mu_k = 0), or, for n >= 2, J_k with a zero row (singular: mu_k = 0 exactly,
    set so, since the SVD returns ~1e-17 for it)."""
    p = draw(random_patterns(max_T=5))
    n = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    J = rng.normal(size=(p.T, n, n))
    if kind == "nonneg":
        J = np.abs(J)
    elif kind == "aligned":
        J = rng.uniform(0.1, 2.0, size=p.T)[:, None, None] * np.eye(n)
    dead = sorted(draw(st.sets(st.integers(0, p.T - 1), max_size=2)))
    singular = [k for k in dead if kind != "aligned" and n >= 2 and draw(st.booleans())]
    J[[k for k in dead if k not in singular]] = 0.0
    J[singular, 0, :] = 0.0
    s = np.linalg.svd(J, compute_uv=False)
    lam, mu = s[:, 0], s[:, -1]
    mu[singular] = 0.0
    beta = draw(st.floats(0.0, 1.0))
    gamma = draw(st.floats(0.0, 1.0))
    return p, beta, gamma, J, lam, mu


def measured(p, beta, gamma, J):
    """||dh_T/dh_t||_2 for every t by enumeration of Lemma 1's path sum."""
    alpha = p.dense()
    return np.array([np.linalg.norm(jacobian_path_sum(alpha, beta, gamma, J, t), 2)
                     for t in range(p.T)])


@given(matrix_cases())
def test_B1_path_sum_upper_bounds_random_products(case):
    p, beta, gamma, J, lam, _ = case
    upper = get("path_sum_upper").evaluate(pattern=p, beta=beta, gamma=gamma, lam=lam)
    assert np.all(measured(p, beta, gamma, J) <= upper * (1 + SLACK))


@given(matrix_cases("aligned"))
def test_B2_aligned_is_exact(case):
    p, beta, gamma, J, _, _ = case
    c = J[:, 0, 0]
    exact = get("aligned_exact").evaluate(pattern=p, beta=beta, gamma=gamma, c=c)
    np.testing.assert_allclose(measured(p, beta, gamma, J), exact, rtol=1e-12, atol=1e-300)
    if np.all(c > 0):
        assert is_aligned(J)


@given(matrix_cases("nonneg"))
def test_B2plus_nonneg_lower(case):
    p, beta, gamma, J, _, mu = case
    lower = get("nonneg_lower").evaluate(pattern=p, beta=beta, gamma=gamma, mu=mu)
    got = measured(p, beta, gamma, J)
    assert np.all(got >= lower * (1 - SLACK))


@given(matrix_cases())
def test_B3_dominant_path_lower(case):
    p, beta, gamma, J, lam, mu = case
    lower = get("dominant_path_lower").evaluate(pattern=p, beta=beta, gamma=gamma, mu=mu,
                                                lam=lam)
    got = measured(p, beta, gamma, J)
    upper = get("path_sum_upper").evaluate(pattern=p, beta=beta, gamma=gamma, lam=lam)
    assert np.all(got >= lower - SLACK * upper)


@given(matrix_cases())
def test_B3_matches_its_definition(case):
    """B3's value is W(xi*) prod mu - (P_lambda - W(xi*) prod lambda) for a path xi* that
    maximises W prod mu, found here by enumeration in exact Fractions (so a path whose float
    weight underflows, beta = 1e-199 twice, still counts); near-ties (within 1e-12 relative,
    or all 0 when every path crosses a step with mu_k = 0) admit each maximiser. Linear: rtol
    1e-9 of P_lambda (differences of sums of <= 16 products), atol 1e-300 for underflow.
    log10: to 1e-6 where the value exceeds 1e-6 P_lambda (below, A - D cancels), -inf where
    the value is <= 0."""
    p, beta, gamma, J, lam, mu = case
    alpha, b, g, mus, lams = exact_inputs(p.dense(), beta, gamma, mu, lam)
    kw = {"pattern": p, "beta": beta, "gamma": gamma, "mu": mu, "lam": lam}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = get("dominant_path_lower").evaluate(**kw)
        got_log = get("dominant_path_lower").log10(**kw)
    for t in range(p.T):
        scored = [(w * math.prod(mus[k - 1] for k in xi[1:]),
                   w * math.prod(lams[k - 1] for k in xi[1:]))
                  for xi, w in weighted_paths(alpha, b, g, t)]
        if not scored:
            assert got[t] == 0 and got_log[t] == -np.inf
            continue
        P = sum(q for _, q in scored)
        top = max(a for a, _ in scored)
        values = [a - (P - q) for a, q in scored if a >= top * (1 - Fraction(1, 10**12))]
        assert any(math.isclose(got[t], float(v), rel_tol=1e-9, abs_tol=1e-12 * float(P) + 1e-300)
                   for v in values), (t, got[t], values)
        if all(v <= 0 for v in values):
            assert got_log[t] == -np.inf
        elif all(v > P / 10**6 for v in values):
            assert any(got_log[t] == pytest.approx(log10_exact(v), abs=1e-6) for v in values)


def _agrees(got: float, v: Fraction, P: Fraction, top: Fraction) -> bool:
    """``got`` is the float of the exact ``v``: anything (not nan) where |v| <= 1e-9 P (the
    cancellation zone), +-inf past the float range ``top``, else to 1e-9."""
    if abs(v) <= P / 10**9:
        return True
    if abs(v) > top:
        return got == (math.inf if v > 0 else -math.inf)
    return math.isclose(got, float(v), rel_tol=1e-9)


@given(random_patterns(), st.floats(0.1, 1.0), st.floats(0.1, 1.0), st.data())
def test_B3_past_float64_range_is_its_definition_never_nan(p, beta, gamma, data):
    """Steps of 1e100..1e300 (some mu_k dead, lam_k = mu_k times 1..2): P_lambda overflows
    float64, where P - B was inf - inf = nan. Against the exact enumeration (Fractions): +-inf
    where |A - D| is past the float range, the value to 1e-9 where it is in range, and in
    the cancellation zone |A - D| <= 1e-9 P any non-nan value (the logs of A, B and P carry
    absolute errors of order 1e-13 P); no warning."""
    big = st.floats(1e100, 1e300)
    mu = np.array(data.draw(st.lists(big | st.just(0.0), min_size=p.T, max_size=p.T)))
    lam = mu * np.array(data.draw(st.lists(st.floats(1.0, 2.0), min_size=p.T,
                                           max_size=p.T)))
    lam[mu == 0] = data.draw(big)
    alpha, b, g, mus, lams = exact_inputs(p.dense(), beta, gamma, mu, lam)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = get("dominant_path_lower").evaluate(pattern=p, beta=beta, gamma=gamma, mu=mu,
                                                  lam=lam)
    top_float = Fraction(np.finfo(float).max)
    for t in range(p.T):
        scored = [(w * math.prod(mus[k - 1] for k in xi[1:]),
                   w * math.prod(lams[k - 1] for k in xi[1:]))
                  for xi, w in weighted_paths(alpha, b, g, t)]
        assert not math.isnan(got[t])
        P = sum(q for _, q in scored)
        top = max(a for a, _ in scored)
        values = [a - (P - q) for a, q in scored if a >= top * (1 - Fraction(1, 10**12))]
        assert any(_agrees(got[t], v, P, top_float) for v in values), \
            (t, got[t], [log10_exact(abs(v)) for v in values])


@given(st.one_of(st.just(-math.inf), st.floats(-300.0, 320.0)),
       st.one_of(st.just(-math.inf), st.floats(-300.0, 320.0)))
def test_B3_difference_of_logs_against_mpmath(a, d):
    """B3's ``10^a - 10^d`` from the logs (where P_lambda overflows) against mpmath at 60
    digits more than a - d has leading zeros (so that 10^a and 10^d are told apart): +-inf
    past float64's range, 0 where both are -inf, else within 1e-15 (20 + 5 e) relative, e
    the largest of |a|, |d| and |log10 |10^a - 10^d||: the result is 10^x with x formed at
    those magnitudes, and 10^x turns x's rounding, about |x| 1.1e-16, into a relative error
    ln 10 times as large (the difference of the logs is exact where they are close)."""
    import mpmath

    from bounds.catalog import _difference

    got = float(_difference(np.array([a]), np.array([d]))[0])
    gap = abs(a - d) if math.isfinite(a) and math.isfinite(d) and a != d else 1.0
    with mpmath.workdps(60 + max(0, -math.floor(math.log10(gap)))):
        want = sum(sign * mpmath.power(10, mpmath.mpf(x)) for sign, x in ((1, a), (-1, d))
                   if x != -math.inf)
        if abs(want) > np.finfo(float).max:
            assert got == (math.inf if want > 0 else -math.inf)
            return
        e = max([abs(x) for x in (a, d) if math.isfinite(x)]
                + ([abs(float(mpmath.log10(abs(want))))] if want else [0.0]))
        want = float(want)
    assert math.isclose(got, want, rel_tol=1e-15 * (20 + 5 * e), abs_tol=1e-300)


@given(st.sampled_from([("path_sum_upper", "lam"), ("aligned_exact", "c"),
                        ("nonneg_lower", "mu"), ("dominant_path_lower", "mu"),
                        ("dominant_path_lower", "lam")]),
       st.integers(1, 8), st.lists(st.integers(0, 9), min_size=1, max_size=2))
def test_per_step_values_of_the_wrong_length_name_their_parameter(which, T, shape):
    """A profile bound's lam, mu or c must be one number or T of them; the refusal names the
    bound's own parameter (the recursion under it called every one 'x', and B3's check of
    mu <= lam raised numpy's nameless broadcast error)."""
    name, bad = which
    if tuple(shape) == (T,):
        shape = [T + 1]
    kw = {"pattern": patterns.window(T, 2), "beta": 0.5, "gamma": 0.5,
          **{k: 1.0 for k in ("lam", "mu", "c") if k in get(name).param_names()}}
    kw[bad] = np.ones(shape)
    with pytest.raises(ValueError, match=rf"^parameter '{bad}' must be a scalar or have "
                                         rf"length T = {T} \({bad}_1..{bad}_T\)"):
        get(name).evaluate(**kw)


@pytest.mark.parametrize("T", [20, 20_000])
def test_B3_on_a_lone_path_is_the_mu_product(T):
    """With gamma = 0 there is one path, so B3 = prod mu_k exactly (D = 0): the log form must
    keep it at T = 20000, where A = 0.4^T is far below B = 0.5^T."""
    b = get("dominant_path_lower")
    kw = {"pattern": patterns.none(T), "beta": 1.0, "gamma": 0.0, "mu": 0.4, "lam": 0.5}
    want = (T - np.arange(T)) * math.log10(0.4)
    np.testing.assert_allclose(b.log10(**kw), want, rtol=1e-10)
    if T == 20:
        np.testing.assert_allclose(b.evaluate(**kw), 10.0**want, rtol=1e-12)


DEAD = np.where(np.arange(12) == 6, 0.0, 1.0)  # step k = 7 dead


@pytest.mark.parametrize("name,steps", [("path_sum_upper", {"lam": 0.7}),
                                        ("aligned_exact", {"c": 1.3}),
                                        ("nonneg_lower", {"mu": 0.6}),
                                        ("dominant_path_lower", {"mu": 0.9, "lam": 1.0}),
                                        ("path_sum_upper", {"lam": 0.7 * DEAD}),
                                        ("aligned_exact", {"c": 1.3 * DEAD}),
                                        ("nonneg_lower", {"mu": 0.6 * DEAD}),
                                        ("dominant_path_lower", {"mu": 0.9 * DEAD, "lam": 1.0})])
def test_profile_log10_agrees_with_linear(name, steps):
    b = get(name)
    kw = {"pattern": patterns.window(12, 3), "beta": 0.5, "gamma": 0.5, **steps}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lin = b.evaluate(**kw)
        log = b.log10(**kw)
    pos = lin > 0
    assert pos.any()
    np.testing.assert_allclose(log[pos], np.log10(lin[pos]), rtol=0, atol=1e-10)
    assert np.all(np.isneginf(log[~pos]))


def test_dead_steps_zero_the_lower_bounds_and_not_the_upper():
    """Window nu = 3, T = 12: hops are at most 3 long, so from t <= 5 every path crosses one of
    the steps 6, 7, 8; with mu_k = 0 there B2+ and B3 are 0 (log10 -inf) for t <= 5 and
    positive after (B3 only where it is informative: t = 10, 11 here). A lone dead step
    (lambda_7 = 0) can be hopped over: B1 stays positive."""
    kw = {"pattern": patterns.window(12, 3), "beta": 0.5, "gamma": 0.5}
    mu = np.where(np.isin(np.arange(1, 13), [6, 7, 8]), 0.0, 0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = get("nonneg_lower").evaluate(**kw, mu=mu)
        b3 = get("dominant_path_lower").log10(**kw, mu=mu, lam=1.0)
        up = get("path_sum_upper").evaluate(**kw, lam=DEAD)
    assert np.all(m[:6] == 0) and np.all(m[6:] > 0)
    assert np.all(np.isneginf(b3[:6])) and np.all(np.isfinite(b3[10:]))
    assert np.all(up > 0)


def test_profile_bound_accepts_a_plain_matrix():
    a = patterns.uniform(4).dense()
    np.testing.assert_allclose(
        get("path_sum_upper").evaluate(pattern=a, beta=0.5, gamma=0.5, lam=1.0),
        get("path_sum_upper").evaluate(pattern=patterns.uniform(4), beta=0.5, gamma=0.5, lam=1.0))


# --- hypotheses -------------------------------------------------------------------------------

def test_hypothesis_predicates():
    rng = np.random.default_rng(3)
    assert is_aligned(np.stack([2.0 * np.eye(3), 0.5 * np.eye(3)]))
    assert not is_aligned(rng.normal(size=(2, 3, 3)))
    assert is_nonnegative(np.abs(rng.normal(size=(2, 3, 3))))
    assert not is_nonnegative(-np.ones((1, 2, 2)))
    assert is_uniform_full(patterns.uniform(6))
    assert not is_uniform_full(patterns.window(6, 2))
    assert has_strong_paths(patterns.window(20, 4), 0.5, 0.5)
    assert not has_strong_paths(patterns.none(5), 1.0, 0.0)


def test_check_hypotheses_reports_unknown_as_none():
    b = get("nonneg_lower")
    assert b.check_hypotheses() == {"fixed_alpha": None, "nonnegative": None}
    assert b.check_hypotheses(jac=np.ones((2, 2, 2)))["nonnegative"] is True
    assert get("rnn_upper").check_hypotheses(gamma=0.0) == {"fixed_alpha": None, "rnn": True}


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kw,match", [
    ("rnn_upper", {"beta": 1, "lam": 0.5, "T": 0, "t": 0}, "parameter 'T'"),
    ("rnn_upper", {"beta": 1, "lam": 0.5, "T": 4, "t": 4}, "parameter 't'"),
    ("rnn_upper", {"beta": 1, "lam": 0.5, "T": 2.5, "t": 0}, "parameter 'T'"),
    ("sparse_lower", {"gamma": 0.5, "mu": 1, "kappa": 0, "d": 1}, "parameter 'kappa'"),
    ("sparse_lower", {"gamma": 0.5, "mu": -2, "kappa": 1, "d": 1},
     r"parameter 'mu' must be a real number in \[0, inf\)"),
    ("rnn_upper", {"beta": 1, "lam": -0.5, "T": 4, "t": 0},
     r"parameter 'lam' must be a real number in \[0, inf\)"),
    ("path_sum_upper", {"pattern": patterns.uniform(3), "beta": 0.5, "gamma": 0.5,
                        "lam": [1.0, -1.0, 1.0]},
     r"parameter 'lam' must be a real number in \[0, inf\), got -1"),
    ("dominant_path_lower", {"pattern": patterns.uniform(3), "beta": 0.5, "gamma": 0.5,
                             "mu": [0.0, 0.5, 0.0], "lam": [1.0, 0.0, 1.0]},
     "parameter 'mu' must satisfy mu_k <= lam_k.*k = 2"),
    ("relevancy_lower", {"gamma": 0.5, "mu": 1, "nu": 0, "rho": 1}, "parameter 'nu'"),
    ("relevancy_lower", {"gamma": 0.5, "mu": 1, "nu": 1, "rho": -1}, "parameter 'rho'"),
    ("uniform_lower", {"gamma": 1.5, "mu": 1, "T": 3}, "parameter 'gamma'"),
    ("uniform_lower", {"gamma": 0.5, "mu": np.nan, "T": 3}, "parameter 'mu'"),
    ("uniform_lower", {"gamma": 0.5, "mu": 1}, "missing parameter 'T'.*expected: gamma, mu, T"),
    ("uniform_lower", {"gamma": 0.5, "mu": 1, "T": 3, "x": 1}, "unknown parameter 'x'"),
    ("nonneg_lower", {"pattern": [[0.5, 0.5], [0.5, 0.5]], "beta": 0.5, "gamma": 0.5, "mu": 1},
     "causal"),
    ("nonneg_lower", {"pattern": [[1.0, 0.0], [0.3, 0.3]], "beta": 0.5, "gamma": 0.5, "mu": 1},
     "simplex"),
    ("dominant_path_lower", {"pattern": patterns.uniform(3), "beta": 0.5, "gamma": 0.5,
                             "mu": 2.0, "lam": 1.0}, "parameter 'mu' must satisfy mu_k <= lam_k"),
])
def test_bad_input_names_the_parameter(name, kw, match):
    with pytest.raises(ValueError, match=match):
        get(name).evaluate(**kw)


def test_unknown_bound_lists_the_catalog():
    with pytest.raises(ValueError, match="unknown bound 'b9'.*rnn_upper"):
        get("b9")


def test_exact_inputs_give_exact_values():
    got = get("aligned_exact").evaluate(pattern=patterns.uniform(3, exact=True),
                                        beta=sp.Rational(1, 2), gamma=sp.Rational(1, 2),
                                        c=sp.Rational(3, 2))
    assert all(isinstance(v, sp.Rational) for v in got)


def test_exact_inputs_with_zero_steps_stay_exact():
    """Hand-computed on the plain RNN, T = 3, beta = 1/2, mu = (1/2, 0, 1/3), lam = (1, 1/2,
    1/2): one path from t, so B1 = prod beta*lam, B2+ = B3 = prod beta*mu (0 across step 2)."""
    kw = {"pattern": patterns.none(3), "beta": sp.Rational(1, 2), "gamma": 0}
    mu = np.array([sp.Rational(1, 2), 0, sp.Rational(1, 3)], dtype=object)
    lam = np.array([1, sp.Rational(1, 2), sp.Rational(1, 2)], dtype=object)
    want_mu = [0, 0, sp.Rational(1, 6)]
    assert list(get("nonneg_lower").evaluate(**kw, mu=mu)) == want_mu
    assert list(get("dominant_path_lower").evaluate(**kw, mu=mu, lam=lam)) == want_mu
    assert list(get("aligned_exact").evaluate(**kw, c=mu)) == want_mu
    assert list(get("path_sum_upper").evaluate(**kw, lam=lam)) == [
        sp.Rational(1, 32), sp.Rational(1, 16), sp.Rational(1, 4)]
    for b in ("nonneg_lower", "dominant_path_lower"):
        extra = {"lam": lam} if b == "dominant_path_lower" else {}
        assert all(isinstance(v, sp.Rational | int) for v in get(b).evaluate(**kw, mu=mu,
                                                                            **extra))


@given(st.floats(0.0, 12.0) | st.floats(150.0, 300.0), st.floats(0.0, 0.5),
       st.floats(0.01, 4.0), st.floats(0.01, 1.0))
def test_uniform_exact_log10_against_mpmath_at_any_horizon(log_T, frac, c, gamma):
    """B4's exact form in log10 to 1e-13 relative for T up to 10^12 and from 10^150 to 10^300
    (where x^2 in the Stirling remainder overflows; no warning): the log-Gamma ratios at
    large T are formed without cancellation (the plain difference of log-Gammas loses about
    log10(T log T) digits). Reference: mpmath at 40 digits more than T has (its own
    difference of log-Gammas cancels them). t <= T/2, so that t < T survives T's rounding to
    a float."""
    import mpmath

    T = int(10**log_T) + 1
    t = min(T - 1, int(frac * T))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = float(get("uniform_exact").log10(c=c, gamma=gamma, T=T, t=t))
    with mpmath.workdps(40 + len(str(T))):
        cg = mpmath.mpf(c) * mpmath.mpf(gamma)
        want = (mpmath.log(cg / T) + mpmath.loggamma(T + cg) - mpmath.loggamma(T)
                - mpmath.loggamma(t + 1 + cg) + mpmath.loggamma(t + 1)) / mpmath.log(10)
    assert abs(got - float(want)) <= 1e-13 * max(1.0, abs(float(want)))


@settings(max_examples=200)
@given(st.floats(1.0, 1e12), st.floats(0.0, 60.0))
def test_lgamma_ratio_is_accurate_against_mpmath(x, s):
    """log Gamma(x + s) - log Gamma(x), both sides of STIRLING_FROM, against mpmath's loggamma
    at 50 digits: within 1e-13 relative to the result (the documented few units of roundoff,
    with room for the log1p and log terms), or 1e-15 absolute where the result is near 0."""
    import mpmath

    from bounds.catalog import lgamma_ratio

    with mpmath.workdps(50):
        want = float(mpmath.loggamma(mpmath.mpf(x) + mpmath.mpf(s)) - mpmath.loggamma(x))
    got = float(lgamma_ratio(x, s))
    assert abs(got - want) <= 1e-13 * abs(want) + 1e-15, (x, s, got, want)
