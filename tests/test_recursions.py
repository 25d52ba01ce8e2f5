"""The O(edges) recursions of THEORY.md section 4 against brute-force path enumeration.

Tolerances: the linear-domain recursions and the enumeration add the same positive terms in
different orders, so they agree to a few ulps times the number of paths (< 2^7 here): rtol
1e-12. Log-domain vs linear-domain: log-sum-exp and plain sums differ by round-off only, so
1e-10 absolute on log10 values of moderate size.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from reference import edge_weight, path_terms
from strategies import coefficients, random_patterns, step_values

from bounds import dependency_depth, max_path, path_sum, patterns, sparsity


@st.composite
def cases(draw):
    p = draw(random_patterns())
    return p, draw(coefficients), draw(coefficients), draw(step_values(p.T))


@given(cases())
def test_path_sum_equals_enumeration(case):
    p, beta, gamma, x = case
    alpha = p.dense()
    want = [sum(path_terms(alpha, beta, gamma, x, t)) for t in range(p.T)]
    np.testing.assert_allclose(path_sum(p, beta, gamma, x), want, rtol=1e-12, atol=0)


@given(cases())
def test_max_path_equals_enumeration(case):
    p, beta, gamma, x = case
    alpha = p.dense()
    want = [max(path_terms(alpha, beta, gamma, x, t), default=0.0) for t in range(p.T)]
    np.testing.assert_allclose(max_path(p, beta, gamma, x), want, rtol=1e-12, atol=0)


@given(cases())
def test_log_domain_agrees_with_linear(case):
    p, beta, gamma, x = case
    for fn in (path_sum, max_path):
        lin = fn(p, beta, gamma, x)
        log = fn(p, beta, gamma, x, log10=True)
        finite = lin > 0
        np.testing.assert_allclose(log[finite], np.log10(lin[finite]), rtol=0, atol=1e-10)
        assert np.all(np.isneginf(log[~finite]))


@given(random_patterns(), coefficients, coefficients, st.sampled_from([0.0, 0.1, 0.3]))
def test_depth_is_breadth_first_distance(p, beta, gamma, m):
    """BFS over the edges of weight > 0 (and >= min_weight m when m > 0)."""
    alpha = p.dense()
    T = p.T
    want = []
    for t in range(T):
        frontier, seen, d = {t}, {t}, 0
        while frontier and T not in frontier:
            frontier = {j for i in frontier for j in range(i + 1, T + 1)
                        if (w := edge_weight(alpha, beta, gamma, i, j)) != 0 and w >= m} - seen
            seen |= frontier
            d += 1
        want.append(d if T in frontier else math.inf)
    np.testing.assert_array_equal(dependency_depth(p, beta, gamma, min_weight=m), want)


@given(random_patterns(max_T=6, uniform_weights=True), st.integers(0, 4), st.integers(1, 4))
def test_exact_rational_path_sum(p, b, g):
    """Exact inputs give exact outputs, equal to enumeration in Fractions."""
    exact = patterns.from_supports(p.T, [p.row(t)[0] for t in range(p.T)], exact=True)
    beta, gamma = sp.Rational(b, 4), sp.Rational(g, 4)
    x = np.array([sp.Rational(k + 2, 3) for k in range(p.T)], dtype=object)
    alpha = np.array([[Fraction(str(v)) for v in row] for row in exact.dense()], dtype=object)
    xf = [Fraction(k + 2, 3) for k in range(p.T)]
    got = path_sum(exact, beta, gamma, x)
    for t in range(p.T):
        want = sum(path_terms(alpha, Fraction(b, 4), Fraction(g, 4), xf, t), Fraction(0))
        assert sp.Rational(want.numerator, want.denominator) == got[t]


def test_rnn_product_over_100000_steps_stays_finite():
    """B0-like product 0.5^100000 underflows to 0 linearly; the log domain gives its log10.

    rtol 1e-10: a running sum of 10^5 logarithms accrues ~sqrt(T)..T ulps of rounding."""
    T = 100_000
    log = path_sum(patterns.none(T), 1.0, 0.0, 0.5, log10=True)
    assert path_sum(patterns.none(T), 1.0, 0.0, 0.5)[0] == 0.0
    np.testing.assert_allclose(log[[0, T // 2, T - 1]],
                               np.array([T, T - T // 2, 1]) * math.log10(0.5), rtol=1e-10)


def test_sparsity_counts_largest_support():
    assert sparsity(patterns.window(9, 4)) == 4
    assert sparsity(patterns.uniform(7)) == 7
    assert sparsity(patterns.sparse(20, 3, seed=1)) == 3
    assert sparsity(patterns.none(5)) == 0


def test_window_depth_is_ceiling():
    """THEORY.md section 3: sliding window of width nu has d = ceil((T - t)/nu)."""
    T, nu = 23, 4
    d = dependency_depth(patterns.window(T, nu), 0.5, 0.5)
    np.testing.assert_array_equal(d, [math.ceil((T - t) / nu) for t in range(T)])


def test_rnn_depth_is_distance():
    T = 9
    np.testing.assert_array_equal(dependency_depth(patterns.none(T), 1.0, 0.0), T - np.arange(T))


@pytest.mark.parametrize("x", [-1.0, 0.0, np.inf, np.nan])
def test_bad_steps_are_refused(x):
    with pytest.raises(ValueError, match="parameter 'x'"):
        path_sum(patterns.uniform(3), 0.5, 0.5, x)


def test_wrong_length_steps_are_refused():
    with pytest.raises(ValueError, match="length T = 3"):
        path_sum(patterns.uniform(3), 0.5, 0.5, [1.0, 2.0])


@pytest.mark.parametrize("name,value", [("beta", -0.1), ("gamma", np.nan)])
def test_bad_coefficients_are_refused(name, value):
    kw = {"beta": 0.5, "gamma": 0.5, name: value}
    with pytest.raises(ValueError, match=f"parameter '{name}'"):
        dependency_depth(patterns.uniform(3), **kw)


def test_python_ints_stay_exact_and_floats_are_refused_in_exact_arithmetic():
    exact = patterns.uniform(3, exact=True)
    got = path_sum(exact, 0, sp.Rational(1, 2), 1)
    assert list(got) == [sp.Rational(5, 16), sp.Rational(5, 24), sp.Rational(1, 6)]
    with pytest.raises(ValueError, match="parameter 'beta' must be an int or a sympy number"):
        path_sum(exact, 0.3, sp.Rational(1, 2), 1)
    with pytest.raises(ValueError, match="parameter 'x' must be an int or a sympy number"):
        path_sum(exact, 0, sp.Rational(1, 2), 1.5)
