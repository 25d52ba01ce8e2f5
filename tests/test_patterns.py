"""Attention patterns of THEORY.md section 6: supports as specified, validation of user input."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from bounds import patterns


def supports(p: patterns.Pattern) -> list[set[int]]:
    return [set(np.nonzero(row)[0].tolist()) for row in p.dense().astype(float)]


@given(st.integers(1, 30), st.integers(1, 8))
def test_named_supports_match_theory(T, w):
    assert supports(patterns.uniform(T)) == [set(range(t + 1)) for t in range(T)]
    assert supports(patterns.window(T, w)) == [
        set(range(max(0, t - w + 1), t + 1)) for t in range(T)]
    assert supports(patterns.strided(T, w)) == [
        {i for i in range(t + 1) if (t - i) % w == 0} for t in range(T)]
    assert supports(patterns.none(T)) == [set() for _ in range(T)]


@given(st.integers(1, 30), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_sparse_support(T, kappa, seed):
    p = patterns.sparse(T, kappa, seed)
    for t, s in enumerate(supports(p)):
        if t < kappa:
            assert s == set(range(t + 1))
        else:
            assert t in s and len(s) == kappa and max(s) == t
    assert supports(patterns.sparse(T, kappa, seed)) == supports(p)


@given(st.integers(1, 25), st.sets(st.integers(0, 24), max_size=5), st.integers(1, 5))
def test_events_support(T, E, nu):
    E = {e for e in E if e < T}
    want = [{e for e in E if e <= t} | set(range(max(0, t - nu + 1), t + 1)) for t in range(T)]
    assert supports(patterns.events(T, sorted(E), nu)) == want


@given(st.sampled_from(["uniform", "window", "strided", "sparse", "events"]), st.integers(1, 20))
def test_weights_uniform_on_support_and_stochastic(kind, T):
    p = patterns.build(kind, T, nu=3, k=2, kappa=3, E=[0])
    a = p.dense()
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    for t, s in enumerate(supports(p)):
        np.testing.assert_array_equal(a[t, sorted(s)], 1.0 / len(s))


def test_exact_weights_are_rationals():
    a = patterns.uniform(4, exact=True).dense()
    assert a[3, 0] == sp.Rational(1, 4) and isinstance(a[3, 0], sp.Rational)
    assert all(sum(row) == 1 for row in a)


def test_from_matrix_round_trip():
    rng = np.random.default_rng(0)
    a = np.tril(rng.random((6, 6)))
    a /= a.sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(patterns.from_matrix(a).dense(), a)


def test_from_matrix_keeps_sympy_exact():
    m = sp.Matrix([[1, 0], [sp.Rational(1, 3), sp.Rational(2, 3)]])
    assert patterns.from_matrix(m).exact


@pytest.mark.parametrize("matrix,match", [
    ([[1.0, 0.0], [0.5, 0.4]], "row 1 must lie on the simplex"),
    ([[0.9, 0.1], [0.5, 0.5]], "causal"),
    ([[1.0, 0.0], [1.5, -0.5]], ">= 0"),
    ([[1.0, 0.0], [np.nan, 1.0]], "finite"),
    ([[1.0, 0.0], [np.inf, 1.0]], "finite"),
    ([[1.0, 0.0, 0.0]], "square"),
    ([[1.0, 0.0], [0.0, 0.0]], "simplex"),
    (np.zeros((0, 0)), "T >= 1"),
    ([["a"]], "numeric"),
])
def test_from_matrix_refuses(matrix, match):
    with pytest.raises(ValueError, match=match):
        patterns.from_matrix(matrix)


def test_from_matrix_rows_not_renormalised():
    """A row off the simplex by more than the tolerance is refused, not renormalised."""
    a = np.array([[1.0, 0.0], [0.5, 0.5 + 1e-8]])
    with pytest.raises(ValueError, match="row 1"):
        patterns.from_matrix(a)


def test_all_zero_matrix_is_the_rnn():
    assert patterns.from_matrix(np.zeros((3, 3))).empty


@pytest.mark.parametrize("call,name", [
    (lambda: patterns.uniform(0), "T"),
    (lambda: patterns.window(5, 0), "nu"),
    (lambda: patterns.strided(5, -1), "k"),
    (lambda: patterns.sparse(5, 0), "kappa"),
    (lambda: patterns.events(5, [7], 2), "E"),
    (lambda: patterns.events(5, [-1], 2), "E"),
    (lambda: patterns.events(5, [10**20], 2), "E"),  # beyond int64: still a ValueError
    (lambda: patterns.events(5, [1.5], 2), "E"),
    (lambda: patterns.events(5, 3, 2), "E"),  # one step, not a sequence of them
    (lambda: patterns.events(5, None, 2), "E"),
    (lambda: patterns.events(5, "12", 2), "E"),  # characters are no time steps
    (lambda: patterns.build("diagonal", 5), "kind"),
])
def test_constructors_name_the_bad_parameter(call, name):
    with pytest.raises(ValueError, match=f"parameter '{name}'"):
        call()


@given(st.integers(1, 12), st.data())
def test_from_supports_and_mask_keep_the_supports_given(T, data):
    """Any causal supports, each row non-empty, give alpha[t, i] = 1/|S_t| on S_t, and mask()
    is exactly S_t (a naive loop over the given sets here)."""
    rows = [sorted(data.draw(st.sets(st.integers(0, t), min_size=1))) for t in range(T)]
    p = patterns.from_supports(T, rows, exact=True)
    mask, dense = p.mask(), sp.Matrix(p.dense())
    for t in range(T):
        for i in range(T):
            assert mask[t, i] == (i in rows[t])
            assert dense[t, i] == (sp.Rational(1, len(rows[t])) if i in rows[t] else 0)


@pytest.mark.parametrize("T, rows, match", [
    (3, [[0], [0, 1]], "must have T = 3 rows, got 2"),
    (2, [[0], [2]], "row 1 must lie within 0..1"),
    (2, [[0], [-1, 0]], "row 1 must lie within 0..1"),
    (3, [[0], [], [1]], "row 1 is empty while others are not"),
])
def test_from_supports_refuses_what_no_pattern_is(T, rows, match):
    with pytest.raises(ValueError, match=f"parameter 'supports'.*{match}"):
        patterns.from_supports(T, rows)


def test_all_empty_supports_are_the_rnn():
    p = patterns.from_supports(3, [[], [], []])
    assert not p.mask().any() and not p.dense().any()


def test_entries_of_an_unknown_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="parameter 'kind' must be one of .*got 'diagonal'"):
        patterns.entries("diagonal", 5)


def test_pattern_files_are_npy_csv_or_json_and_npy_2_0_headers_load(tmp_path):
    """Any other suffix is refused by name (the contents unread); a .npy file written with a
    version 2.0 header (numpy's format for large headers) loads like a 1.0 one."""
    a = np.array([[1.0, 0.0], [0.25, 0.75]])
    (tmp_path / "p.txt").write_text("1,0\n0.25,0.75\n")
    with pytest.raises(ValueError, match=r"file must end in \.npy, \.csv or \.json, got "
                                          f"'{tmp_path / 'p.txt'}'"):
        patterns.load(tmp_path / "p.txt")
    with open(tmp_path / "p.npy", "wb") as f:
        np.lib.format.write_array(f, a, version=(2, 0))
    assert (tmp_path / "p.npy").read_bytes()[6:8] == b"\x02\x00"
    loaded = patterns.load(tmp_path / "p.npy")
    np.testing.assert_array_equal(loaded.dense(), a)
    np.testing.assert_array_equal(loaded.mask(), a != 0)


#: Every constructor with an ``exact`` flag, as (name, call taking exact=...).
CONSTRUCTORS = [
    ("uniform", lambda **kw: patterns.uniform(5, **kw)),
    ("window", lambda **kw: patterns.window(5, 2, **kw)),
    ("strided", lambda **kw: patterns.strided(5, 2, **kw)),
    ("sparse", lambda **kw: patterns.sparse(5, 2, seed=3, **kw)),
    ("events", lambda **kw: patterns.events(5, [1], 2, **kw)),
    ("from_supports", lambda **kw: patterns.from_supports(3, [[0], [0, 1], [2]], **kw)),
]


@pytest.mark.parametrize("name, make", CONSTRUCTORS, ids=[c[0] for c in CONSTRUCTORS])
def test_patterns_are_float_by_default_and_rational_when_exact(name, make):
    """float64 weights unless asked (the measurement's kind); ``exact=True`` gives sympy
    Rationals 1/|S_t| on the same supports, equal to the float weights to rounding."""
    p, q = make(), make(exact=True)
    assert not p.exact and p.weights.dtype == np.float64
    assert q.exact and all(isinstance(w, sp.Rational) for w in q.weights)
    np.testing.assert_array_equal(p.indptr, q.indptr)
    np.testing.assert_array_equal(p.indices, q.indices)
    np.testing.assert_allclose(p.weights, q.weights.astype(float), rtol=1e-15)
    sizes = np.repeat(np.diff(q.indptr), np.diff(q.indptr))
    assert all(w == sp.Rational(1, int(s)) for w, s in zip(q.weights, sizes, strict=True))
