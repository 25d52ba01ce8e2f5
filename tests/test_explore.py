"""bounds.explore: a catalog bound over a parameter grid (THEORY.md section 4) against direct
evaluation: closed forms against the formulas written out here, profile bounds against a naive
path-sum loop over the dense pattern, and the grid's bookkeeping (axes, select, rows, plot)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bounds import get, patterns
from bounds.explore import BoundGrid, grid

# log10 of float64 closed forms: the catalog's log form and math.log10 of the product differ
# by a few ulps of the log's magnitude (at most ~40 here)
ATOL = 1e-12


@given(kappas=st.lists(st.integers(1, 64), min_size=1, max_size=6, unique=True),
       ds=st.lists(st.integers(1, 12), min_size=1, max_size=4, unique=True),
       gamma=st.floats(0.05, 1.0), mu=st.floats(0.05, 2.0))
def test_sparse_lower_grid_is_the_formula_at_every_point(kappas, ds, gamma, mu):
    g = grid(get("sparse_lower"), kappa=kappas, d=ds, gamma=gamma, mu=mu)
    assert g.shape == (len(kappas), len(ds))
    assert list(g.axes) == ["kappa", "d"] and g.fixed == {"gamma": gamma, "mu": mu}
    for i, k in enumerate(kappas):
        for j, d in enumerate(ds):
            assert g.values[i, j] == pytest.approx((gamma * mu / k) ** d, rel=1e-12)
            assert g.log10[i, j] == pytest.approx(d * math.log10(gamma * mu / k), abs=ATOL)


@given(Ts=st.lists(st.integers(2, 400), min_size=1, max_size=5, unique=True),
       cs=st.lists(st.floats(0.1, 1.5), min_size=1, max_size=3, unique=True),
       gamma=st.floats(0.1, 1.0))
def test_three_axes_broadcast_in_order(Ts, cs, gamma):
    """uniform_exact over (T, c) with t = 0 fixed: each point against B4's Gamma-function
    form written out with math.lgamma (axis order must follow the keyword order)."""
    g = grid(get("uniform_exact"), T=Ts, c=cs, gamma=gamma, t=0)
    assert g.shape == (len(Ts), len(cs))
    for i, T in enumerate(Ts):
        for j, c in enumerate(cs):
            cg = c * gamma
            ln = (math.log(cg / T) + math.lgamma(T + cg) + math.lgamma(1)
                  - math.lgamma(T) - math.lgamma(1 + cg))
            # the catalog evaluates Gamma ratios through their logs: 1e-10 relative
            assert g.log10[i, j] == pytest.approx(ln / math.log(10), abs=1e-10)
            assert g.values[i, j] == pytest.approx(math.exp(ln), rel=1e-10)


def _naive_path_sum(pattern: patterns.Pattern, beta: float, gamma: float,
                    lam: np.ndarray) -> np.ndarray:
    """P_lambda(t) by the recursion written out over the dense pattern, t = 0..T-1."""
    T = pattern.T
    alpha = pattern.dense()
    p = np.zeros(T + 1)
    p[T] = 1.0
    for i in range(T - 1, -1, -1):
        for j in range(i + 1, T + 1):
            w = beta * (i == j - 1) + gamma * alpha[j - 1, i]
            p[i] += w * lam[j - 1] * p[j]
    return p[:T]


@given(T=st.integers(2, 12), nu=st.integers(1, 5),
       lams=st.lists(st.floats(0.1, 2.0), min_size=1, max_size=3, unique=True))
def test_profile_bound_adds_an_axis_over_t(T, nu, lams):
    pattern = patterns.window(T, nu)
    g = grid(get("path_sum_upper"), pattern=pattern, beta=0.5, gamma=0.5, lam=lams)
    assert list(g.axes) == ["lam", "t"] and g.shape == (len(lams), T)
    assert g.axes["t"].tolist() == list(range(T))
    for i, lam in enumerate(lams):
        want = _naive_path_sum(pattern, 0.5, 0.5, np.full(T, lam))
        np.testing.assert_allclose(g.values[i], want, rtol=1e-12)
        np.testing.assert_allclose(g.log10[i], np.log10(want), rtol=0, atol=1e-12)


def test_a_numpy_array_of_a_profile_bound_is_per_step_values_not_an_axis():
    pattern = patterns.uniform(5)
    lam = np.array([0.5, 1.0, 1.5, 0.7, 0.9])
    g = grid(get("path_sum_upper"), pattern=pattern, beta=0.5, gamma=0.5, lam=lam)
    assert list(g.axes) == ["t"]
    np.testing.assert_allclose(g.values, _naive_path_sum(pattern, 0.5, 0.5, lam), rtol=1e-12)
    # the same values as a list are an axis of scalars
    assert list(grid(get("path_sum_upper"), pattern=pattern, beta=0.5, gamma=0.5,
                     lam=lam.tolist()).axes) == ["lam", "t"]


def test_a_numpy_array_of_a_closed_form_is_an_axis():
    g = grid(get("relevancy_lower"), gamma=0.5, mu=np.array([0.2, 0.4]), nu=10, rho=[0, 5])
    assert g.shape == (2, 2)
    assert g.values[1, 1] == pytest.approx(0.5 * 0.4 / 15, rel=1e-15)


def test_select_rows_and_plot():
    g = grid(get("sparse_lower"), kappa=range(1, 9), d=[1, 2, 4], gamma=0.5, mu=0.9)
    sub = g.select(d=2)
    assert isinstance(sub, BoundGrid) and sub.shape == (8,) and sub.fixed["d"] == 2
    np.testing.assert_array_equal(sub.log10, g.log10[:, 1])
    rows = g.rows()
    assert len(rows) == 24 and rows[1] == {"kappa": 1, "d": 2, "value": g.values[0, 1],
                                           "log10": g.log10[0, 1]}
    fig = g.plot(x="kappa", lines="d")
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.get_xlabel() == "kappa"
    for line, j in zip(ax.lines, range(3), strict=True):
        np.testing.assert_array_equal(line.get_ydata(), g.log10[:, j])
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 9))
    assert "log10" in ax.get_ylabel() and ax.get_legend() is not None
    one = sub.plot(x="kappa").axes[0]
    assert len(one.lines) == 1 and one.get_legend() is None
    # x on a log scale by default where it is positive and spans more than a decade
    assert ax.get_xscale() == "linear"
    for kappas, scale in (([1, 10], "linear"), ([1, 11], "log")):
        wide = grid(get("sparse_lower"), kappa=kappas, d=2, gamma=0.5, mu=0.9)
        assert wide.plot(x="kappa").axes[0].get_xscale() == scale, kappas
    from_zero = grid(get("sparse_lower"), kappa=2, d=2, gamma=0.5, mu=[0.0, 100.0])
    assert from_zero.plot(x="mu").axes[0].get_xscale() == "linear"
    assert sub.plot(x="kappa", logx=True).axes[0].get_xscale() == "log"


def test_bad_use_is_a_clear_error():
    g = grid(get("sparse_lower"), kappa=[1, 2], d=[1, 2], gamma=[0.5, 0.25], mu=0.9)
    with pytest.raises(ValueError, match="'gamma' has 2 values"):
        g.plot(x="kappa", lines="d")
    with pytest.raises(ValueError, match="'mu' is not an axis"):
        g.plot(x="mu")
    with pytest.raises(ValueError, match="different axes"):
        g.plot(x="d", lines="d")
    with pytest.raises(ValueError, match="not on the axis"):
        g.select(kappa=3)
    with pytest.raises(ValueError, match="'kappa' must be an integer >= 1"):
        grid(get("sparse_lower"), kappa=[0, 1], d=1, gamma=0.5, mu=0.9)
    with pytest.raises(ValueError, match="missing parameter 'mu'"):
        grid(get("sparse_lower"), kappa=[1, 2], d=1, gamma=0.5)
    with pytest.raises(ValueError, match="non-empty"):
        grid(get("sparse_lower"), kappa=[], d=1, gamma=0.5, mu=0.9)


def test_a_grid_beyond_memory_is_refused_naming_its_longest_axis(monkeypatch):
    """10^7 x 10^7 points are refused up front (numpy's allocation failure came after the
    axes were built), naming the longest axis; with the memory pretended to be exactly 16
    bytes a point, the grid is built."""
    with pytest.raises(ValueError, match=r"^parameter 'd' = an axis of 9999999 values is too "
                                         r"large: a grid of 1e\+14 points"):
        grid(get("sparse_lower"), kappa=range(1, 10**7 - 1), d=range(1, 10**7), gamma=0.5,
             mu=0.9)
    monkeypatch.setattr("bounds.domains.physical_memory", lambda: 16 * 6)
    assert grid(get("sparse_lower"), kappa=[1, 2, 3], d=[1, 2], gamma=0.5, mu=0.9).shape \
        == (3, 2)
    monkeypatch.setattr("bounds.domains.physical_memory", lambda: 16 * 6 - 1)
    with pytest.raises(ValueError, match=r"^parameter 'kappa' = an axis of 3 values"):
        grid(get("sparse_lower"), kappa=[1, 2, 3], d=[1, 2], gamma=0.5, mu=0.9)


def test_select_names_a_parameter_that_is_no_axis():
    g = grid(get("sparse_lower"), kappa=[1, 2], d=[1, 2], gamma=0.5, mu=0.9)
    with pytest.raises(ValueError, match="parameter 'gamma' is not an axis of this grid; "
                                         "axes: kappa, d"):
        g.select(gamma=0.5)  # held fixed, not an axis
    with pytest.raises(ValueError, match="parameter 'nu' is not an axis of this grid"):
        g.select(nu=1)  # not a parameter of B5 at all


def test_plot_title_names_each_held_parameter_briefly():
    """Held numbers print in %g, an array of per-step values by its size, a pattern by its
    kind and T."""
    T = 6
    g = grid(get("path_sum_upper"), pattern=patterns.window(T, 2), beta=[0.25, 0.5],
             gamma=0.5, lam=np.full(T, 0.9))
    title = g.select(t=2).plot(x="beta").axes[0].get_title()
    assert title.startswith("B1 path_sum_upper (upper): ")
    held = title.split(": ", 1)[1]
    assert "pattern=window pattern (T=6)" in held
    assert "gamma=0.5" in held and "lam=array[6]" in held


def test_a_bound_may_be_named_and_anything_else_is_refused():
    by_name = grid("B5", kappa=[1, 2, 4], d=2, gamma=0.5, mu=0.9)
    assert by_name.bound is get("sparse_lower")
    np.testing.assert_array_equal(by_name.values, [(0.5 * 0.9 / k) ** 2 for k in (1, 2, 4)])
    with pytest.raises(ValueError, match="parameter 'bound' must be a catalog bound or its "
                                         "name, got int"):
        grid(5, kappa=[1, 2], d=2, gamma=0.5, mu=0.9)
    with pytest.raises(ValueError, match="unknown bound 'B9'"):
        grid("B9", kappa=[1, 2])
