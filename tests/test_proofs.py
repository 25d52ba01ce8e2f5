"""Tests of the certificates (``proofs/``) and of ``untangle check``.

Three kinds: every certificate passes (THEORY.md Lemma 1, the path count, B0-B7, "B3 is
needed") and requires the equalities where its bound is attained; the output shapes (JSON
list, table, exit code); and non-vacuity: each checker, given a formula or bound wrong in just
one respect, fails, and by the check meant to catch it: a wrong bound that still holds (loose)
must fail an equality, a violated one the inequality. References in the tests are computed
independently of the code under test (hand-derived path weights, Fractions, numpy SVD).
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from itertools import pairwise

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import proofs
from bounds import dominant_path, max_path, path_sum, patterns
from proofs import (
    catalog_bounds,
    counterexample,
    lemma1,
    lower_bounds,
    path_count,
    uniform_closed_form,
)
from proofs.certificate import (
    Certificate,
    Equalities,
    SmallestMargin,
    catalog_symbols,
    jsonable,
)
from proofs.paths import adjoint, edge_weights, path_sum_matrix, paths
from verify import cli

NAMES = [fn.__name__ for fn in proofs.certificates()]


@pytest.fixture(scope="module")
def results() -> dict[str, Certificate]:
    """Every certificate, run once for the whole module."""
    return {fn.__name__: fn() for fn in proofs.certificates()}


# ---------------------------------------------------------------- every certificate passes


@pytest.mark.parametrize("name", NAMES)
def test_every_certificate_passes(results, name):
    cert = results[name]
    assert cert.passed, f"{cert.claim} ({cert.method}): {cert.evidence}"
    json.dumps(cert.to_json())  # JSON-ready as is, no default= needed


def test_registry_covers_the_claims_in_a_stable_order(results):
    claims = [c.claim for c in results.values()]
    for claim in ("Lemma 1", "paths", "B0", "B1", "B2", "B2+", "B3", "B4", "B5", "B6", "B7",
                  "B3 is needed"):
        assert claim in claims
    assert [fn.__name__ for fn in proofs.certificates()] == NAMES
    assert claims[0] == "Lemma 1" and claims[-1] == "B3 is needed"


def test_exact_certificates_report_exact_margins(results):
    for name in ("rnn_upper", "uniform_lower", "sparse_lower", "window_lower",
                 "relevancy_lower"):
        ev = results[name].evidence
        assert ev["cases"] > 100
        margin = sp.Rational(ev["smallest_margin"])  # a rational written as a string
        assert margin >= 0 and float(margin) == pytest.approx(ev["smallest_margin_float"])


EQUALITY_CERTIFICATES = ("rnn_upper", "uniform_lower", "sparse_lower", "window_lower",
                         "relevancy_lower", "path_sum_upper", "nonneg_lower", "dominant_lower")


@pytest.mark.parametrize("name", EQUALITY_CERTIFICATES)
def test_equalities_are_required_met_and_reported(results, name):
    ev = results[name].evidence
    assert ev["equality"]["required"] > 10
    assert ev["equality"]["met"] == ev["equality"]["required"]
    assert f"equality required in {ev['equality']['required']} cases" in ev["summary"]


def test_b3_is_compared_with_its_definition_on_every_case(results):
    ev = results["dominant_lower"].evidence
    cases = ev["cases"] + ev["cases_with_both_sides_0"]
    assert ev["definition"]["required"] == ev["definition"]["met"] == cases


def test_draws_include_dead_steps(results):
    # THEORY.md section 9: some draws have a step with mu_k = 0, where every path through
    # it contributes 0; cases where every path is dead are counted apart.
    for name in ("path_sum_upper", "nonneg_lower", "dominant_lower"):
        ev = results[name].evidence
        assert ev.get("spectral", ev)["cases_with_both_sides_0"] > 0


def test_sparse_lower_hypothesis_is_not_idle(results):
    # Where has_strong_paths fails, B5's bound does fail in some cases: the skip matters.
    ev = results["sparse_lower"].evidence
    assert ev["hypothesis_held_patterns"] > 0 and ev["of_which_bound_fails"] > 0


# ---------------------------------------------------------------- CLI and JSON shape


def test_check_json_shape_and_exit_code(results, monkeypatch, capsys):
    monkeypatch.setattr(proofs, "run_all", lambda progress: list(results.values()))
    assert cli.main(["check", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out, list) and len(out) == len(results)
    for item in out:
        assert set(item) == {"claim", "method", "passed", "evidence"}
        assert isinstance(item["passed"], bool) and isinstance(item["evidence"], dict)


def test_check_table_prints_the_counterexample_and_fails_with_exit_1(results, monkeypatch,
                                                                     capsys):
    failing = Certificate("B9", "made up", False, {"summary": "deliberately failing"})
    monkeypatch.setattr(proofs, "run_all",
                        lambda progress: [*results.values(), failing])
    assert cli.main(["check"]) == 1
    out = capsys.readouterr().out
    assert "B9" in out and "NO" in out and "deliberately failing" in out
    assert "J_1 = [" in out and "G_0 = [" in out
    assert f"{len(results)}/{len(results) + 1} certificates passed" in out


# ---------------------------------------------------------------- certificate record


def test_certificate_evidence_is_made_json_ready():
    cert = Certificate("B0", "m", np.bool_(True),
                       {"r": sp.Rational(1, 3), "i": np.int64(2), "a": np.arange(2),
                        "t": (sp.Integer(4), 0.5)})
    assert cert.passed is True
    assert cert.evidence == {"r": "1/3", "i": 2, "a": [0, 1], "t": [4, 0.5]}
    assert jsonable({1: sp.Float(0.5)}) == {"1": "0.500000000000000"}


def test_smallest_margin_needs_a_case_and_keeps_the_worst():
    m = SmallestMargin()
    assert not m.holds
    m.add(sp.Rational(1, 2), t=0)
    m.add(sp.Rational(1, 5), t=1)
    m.add(sp.Rational(3, 4), t=2)
    assert m.holds and m.value == sp.Rational(1, 5) and m.at == {"t": 1}
    m.add(sp.Rational(-1, 9), t=3)
    assert not m.holds


@pytest.mark.parametrize("bad", [sp.zoo, sp.nan, float("nan")])
def test_an_undefined_margin_fails_and_is_reported(bad):
    m = SmallestMargin()
    m.add(sp.Rational(1, 2), t=0)
    m.add(bad, t=1)
    assert not m.holds
    assert m.evidence()["undefined_margins"] == 1 and m.evidence()["first_undefined_at"] == {
        "t": 1}


def test_equalities_need_a_case_and_keep_the_failures():
    e = Equalities("somewhere")
    assert not e.holds
    e.require(True, t=0)
    assert e.holds and e.summary() == "equality required in 1 cases (somewhere), met in 1"
    e.require(False, t=1)
    assert not e.holds and e.evidence()["failures"] == [{"t": 1}]


# ---------------------------------------------------------------- explicit paths (Lemma 1)


@settings(max_examples=20)
@given(T=st.integers(1, 7), seed=st.integers(0, 2**32 - 1))
def test_adjoint_equals_enumerated_path_sum_numerically(T, seed):
    # Lemma 1's two forms, computed independently in proofs.paths, agree in float64 (sums of
    # at most 64 products of 7 3x3 matrices: 1e-12 relative is ~100x their round-off).
    rng = np.random.default_rng(seed)
    a = np.tril(rng.random((T, T)))
    alpha = patterns.from_matrix(a / a.sum(axis=1, keepdims=True))
    edges = edge_weights(alpha.dense(), rng.random(), rng.random(), T)
    J = {k: rng.standard_normal((3, 3)) for k in range(1, T + 1)}
    G = adjoint(edges, J, T, np.eye(3))
    for t in range(T + 1):
        ref = path_sum_matrix(edges, J, t, T, np.eye(3)) if t < T else np.eye(3)
        np.testing.assert_allclose(G[t], ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


@given(T=st.integers(1, 10), data=st.data())
def test_uniform_graph_has_every_edge_and_2_pow_paths(T, data):
    t = data.draw(st.integers(0, T - 1))
    edges = edge_weights(patterns.uniform(T).dense(), 0.5, 0.5, T)
    assert set(edges) == {(i, j) for j in range(1, T + 1) for i in range(j)}
    assert sum(1 for _ in paths(edges, t, T)) == 2 ** (T - t - 1)


# ---------------------------------------------------------------- non-vacuity: Lemma 1


def _reversed_products(edges, J, t, T, identity):
    """A wrong 'Lemma 1': J_{k_1} ... J_{k_m} instead of J_{k_m} ... J_{k_1}."""
    total = 0 * identity
    for xi in paths(edges, t, T):
        weight, product = 1, identity
        for i, j in pairwise(xi):
            weight, product = weight * edges[i, j], product @ J[j]
        total = total + weight * product
    return total


def _recurrent_path_only(edges, J, t, T, identity):
    """A wrong 'Lemma 1' that ignores the attention (skip) edges."""
    product = identity
    for j in range(t + 1, T + 1):
        product = edges.get((j - 1, j), 0) * J[j] @ product
    return product


@pytest.mark.parametrize("formula", [_reversed_products, _recurrent_path_only])
def test_lemma1_fails_for_a_wrong_path_formula(formula):
    cert = lemma1.check_lemma1(lemma1.generic_cases((2, 3)), "wrong formula", formula)
    assert not cert.passed
    assert cert.evidence["failures"]


def test_drawn_rational_patterns_have_random_supports_and_weights_0_to_3():
    """Row t of a drawn pattern is integer weights 0..3 over 0..t, normalised exactly: across
    seeds some rows leave states out (a zero below the diagonal) and the ratios of the
    nonzero weights in a row reach 3 and never exceed it."""
    from proofs import draws

    zeros, ratios = 0, set()
    for seed in range(30):
        p = draws.rational_pattern(np.random.default_rng(seed), 5)
        A = sp.Matrix(p.dense())
        for t in range(5):
            row = [A[t, i] for i in range(t + 1)]
            assert all(isinstance(x, sp.Rational) for x in row) and sum(row) == 1
            assert all(A[t, i] == 0 for i in range(t + 1, 5))
            zeros += row[:-1].count(0)
            nonzero = [x for x in row if x != 0]
            ratios.add(max(nonzero) / min(nonzero))
    assert zeros > 0
    assert max(ratios) == 3 and {1, 2, sp.Rational(3, 2)} <= ratios


def test_aligned_cases_are_exact_with_documented_weights_and_one_dead_step():
    """Every aligned case is exact (Rational pattern entries, beta in {0, 1/4, .., 1}, gamma
    in {1/4, .., 1}, c_k in 1/2 x {1, 5/4, 3/2, 2}); each kind comes once per seed, and with
    ``dead`` again with exactly one step's c_k set to 0."""
    from proofs import draws

    cases = list(draws.aligned_cases((4,), (0, 1, 2), dead=True))
    kinds = (*draws.ALIGNED_KINDS, "rational")
    assert len(cases) == 2 * 3 * len(kinds)
    quarters = {sp.Rational(i, 4) for i in range(5)}
    for (label, p, beta, gamma, c), (dead_label, q, beta2, gamma2, dead) in zip(
            cases[::2], cases[1::2], strict=True):
        assert label.split()[0] in kinds
        assert all(isinstance(x, sp.Rational) for x in sp.Matrix(p.dense()))
        assert beta in quarters and gamma in quarters - {0}
        assert {2 * x for x in c} <= {1, sp.Rational(5, 4), sp.Rational(3, 2), 2}
        assert (q, beta2, gamma2) == (p, beta, gamma)
        changed = [k for k in range(4) if dead[k] != c[k]]
        assert len(changed) == 1 and dead[changed[0]] == 0
        assert dead_label == f"{label} dead step {changed[0] + 1}"


def test_lemma1_checks_every_t_through_every_step_and_needs_a_case():
    """Each (pattern, T) is checked at every t < T, and sympy's Jacobian there went through
    phi' at every step t+1..T (N atoms a step: the certificate is not vacuous); with no case
    at all it does not pass."""
    cert = lemma1.check_lemma1(lemma1.generic_cases((2, 3)), "generic")
    assert cert.passed and not cert.evidence["failures"]
    rows = cert.evidence["cases"]
    assert [(r["T"], r["t"]) for r in rows] == [(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
    for r in rows:
        assert r["derivative_atoms"] == lemma1.N * (r["T"] - r["t"])
        assert r["jacobian_terms"] > 0 and r["nonzero_entries_of_difference"] == 0
    assert not lemma1.check_lemma1([], "nothing").passed


def test_lemma1_rational_cases_draw_each_T_per_draw_with_documented_weights():
    cases = lemma1.rational_cases((2, 3), draws=3, seed=5)
    assert [T for *_, T in cases] == [2, 3] * 3
    quarters = {sp.Rational(i, 4) for i in range(5)}
    for label, alpha, beta, gamma, T in cases:
        assert beta in quarters and gamma in quarters - {0}
        assert label.endswith(f"T={T} beta={beta} gamma={gamma}")
        assert sp.Matrix(alpha).shape == (T, T)
        assert all(sum(sp.Matrix(alpha).row(k)) == 1 for k in range(T))


@settings(max_examples=4)
@given(seed=st.integers(0, 10**6), T=st.integers(2, 3))
def test_lemma1_holds_on_drawn_rational_patterns(seed, T):
    assert lemma1.check_lemma1(lemma1.rational_cases((T,), 1, seed), "drawn").passed


# ---------------------------------------------------------------- non-vacuity: path count


@pytest.mark.parametrize("formula", [2 ** (path_count.T_ - path_count.t_),
                                     path_count.T_ - path_count.t_])
def test_path_count_fails_for_a_wrong_formula(formula):
    cert = path_count.check_path_count(formula, T_max=6)
    assert not cert.passed and cert.evidence["mismatches"]


def test_path_count_needs_the_induction_as_well_as_the_enumeration():
    """2^(T-t-1) + (T-1)(T-2)...(T-6) agrees with every count for T = 1..6 (the product
    vanishes there) but is not the count: its base case N(T-1) = 1 fails, so the
    certificate must fail although no enumerated case mismatches."""
    T, t = path_count.T_, path_count.t_
    formula = 2 ** (T - t - 1) + sp.Mul(*(T - k for k in range(1, 7)))
    cert = path_count.check_path_count(formula, T_max=6)
    assert cert.evidence["mismatches"] == [] and cert.evidence["base_case_residual"] != 0
    assert not cert.passed


def test_registered_path_count_covers_T_1_to_10(results):
    """The module's claim: enumeration for T = 1..10 and every t, 55 cases."""
    cert = results["path_count"]
    assert cert.evidence["cases"] == 55 and "T = 1..10" in cert.method


@pytest.mark.parametrize("T_max", [1, 4])
def test_path_count_covers_every_t_below_every_T_from_1(T_max):
    """Every (T, t) with 1 <= T <= T_max and 0 <= t < T is counted: T_max (T_max + 1) / 2
    cases holding sum_T (2^T - 1) paths, counted by hand here."""
    cert = path_count.check_path_count(T_max=T_max)
    assert cert.passed
    assert cert.evidence["cases"] == T_max * (T_max + 1) // 2
    assert cert.evidence["paths_enumerated"] == sum(2**T - 1 for T in range(1, T_max + 1))
    assert f"T = 1..{T_max}" in cert.method


# ---------------------------------------------------------------- non-vacuity: B4 closed form

_c, _g, _T, _t = (uniform_closed_form.c, uniform_closed_form.gamma, uniform_closed_form.T,
                  uniform_closed_form.t)
_CATALOG_B4 = uniform_closed_form.get("uniform_exact").expr
#: A plausible typo: Gamma(t + c*gamma) for Gamma(t + 1 + c*gamma).
_SHIFTED_B4 = _CATALOG_B4.subs(sp.gamma(_t + 1 + _c * _g), sp.gamma(_t + _c * _g))


@pytest.mark.parametrize("check", [uniform_closed_form.check_recursion,
                                   uniform_closed_form.check_against_recursion])
@pytest.mark.parametrize("wrong", [_SHIFTED_B4, _CATALOG_B4 * _T / (_T + 1)])
def test_b4_fails_for_a_wrong_closed_form(check, wrong):
    assert not check(wrong).passed


def test_b4_grid_checks_every_case_from_T_1_and_needs_one():
    """Every (c, gamma, T, t) with 1 <= T <= T_max and t < T is compared; an empty grid
    certifies nothing; a wrong closed form reports its largest difference over all cases,
    worked out here from the product form."""
    cert = uniform_closed_form.check_against_recursion(cs=(1, "1/2"), gammas=("1/2",), T_max=3)
    assert cert.passed and cert.evidence["cases"] == 2 * 1 * 6
    assert cert.evidence["largest_difference"] == 0
    assert not uniform_closed_form.check_against_recursion(cs=()).passed
    wrong = uniform_closed_form.check_against_recursion(2 * _CATALOG_B4, cs=(1,), gammas=(1,),
                                                        T_max=3)
    # c gamma = 1: the exact value is 1/(t+1), so 2F is off by 1/(t+1): most at t = 0
    assert not wrong.passed and wrong.evidence["largest_difference"] == 1


def test_b4_growth_fails_for_a_wrong_rate():
    cert = uniform_closed_form.check_growth(_CATALOG_B4 * _T)
    assert not cert.passed and not cert.evidence["limit_T_finite_positive"]


def test_b4_growth_certifies_the_prefactor_not_only_its_large_t_shape():
    """THEORY.md section 4: for fixed t, P_c(t) ~ c gamma T^(c gamma - 1) Gamma(t+1) /
    Gamma(t+1+c gamma); the (t+1)^(-c gamma) shape holds for large t only. A closed form off
    by (t+2)/(t+1) has the right T-rate and the right large-t shape, and fails; at t = 0,
    c gamma = 1/2 the prefactor is Gamma(1) / (2 Gamma(3/2)) = 1/sqrt(pi), not 1/2."""
    good = uniform_closed_form.check_growth()
    assert good.passed and good.evidence["limit_T_is_prefactor"]
    assert good.evidence["prefactor_t0_s_half"] == pytest.approx(1 / math.sqrt(math.pi),
                                                                rel=1e-15)
    wrong = uniform_closed_form.check_growth(_CATALOG_B4 * (_t + 2) / (_t + 1))
    assert wrong.evidence["limit_T_finite_positive"]
    assert not wrong.evidence["limit_T_is_prefactor"] and not wrong.passed


@settings(max_examples=15)
@given(p=st.integers(1, 6), q=st.integers(1, 6), g=st.sampled_from(["1/4", "1/2", "1"]),
       T=st.integers(1, 9), data=st.data())
def test_b4_catalog_matches_the_product_form(p, q, g, T, data):
    # THEORY's product form (c*gamma/T) prod_{k=t+1}^{T-1} (1 + c*gamma/k), in Fractions,
    # against the catalog expression the certificate certifies (float64 evaluation: 1e-12).
    t = data.draw(st.integers(0, T - 1))
    cg = Fraction(p, q) * Fraction(g)
    ref = cg / T
    for k in range(t + 1, T):
        ref *= 1 + cg / k
    got = uniform_closed_form.get("uniform_exact").evaluate(c=p / q, gamma=float(Fraction(g)),
                                                            T=T, t=t)
    assert float(got) == pytest.approx(float(ref), rel=1e-12)


# ---------------------------------------------------------------- non-vacuity: B0-B7 exact


def _wrong(name, build):
    return build(catalog_symbols(name))


def _B0(exponent):
    return _wrong("rnn_upper", lambda s: (s["beta"] * s["lam"]) ** exponent(s["T"], s["t"]))


def _B4(denominator):
    return _wrong("uniform_lower", lambda s: s["gamma"] * s["mu"] / denominator(s["T"]))


def _B5(transform):
    return _wrong("sparse_lower", lambda s: transform(s["gamma"] * s["mu"], s["kappa"], s["d"]))


def _B6(transform):
    return _wrong("window_lower", lambda s: transform(s["gamma"] * s["mu"], s["nu"],
                                                      s["T"] - s["t"]))


def _B7(denominator):
    return _wrong("relevancy_lower", lambda s: s["gamma"] * s["mu"] / denominator(s["nu"],
                                                                                 s["rho"]))


B0, B4, B5 = (catalog_bounds.check_rnn_upper, catalog_bounds.check_uniform_lower,
              catalog_bounds.check_sparse_lower)
B6, B7 = catalog_bounds.check_window_lower, catalog_bounds.check_relevancy_lower
SMALL = {"Ts": range(1, 6)}

#: (id, checker, wrong bound, grid, how it must fail). "loose": the wrong bound still holds on
#: every case (smallest margin >= 0) and only the equality requirement catches it;
#: "violated": it fails the inequality somewhere (smallest margin < 0).
WRONG_CLOSED_FORMS = [
    ("B0 exponent T-t-1, beta*lam <= 1", B0, _B0(lambda T, t: T - t - 1),
     {**SMALL, "lams": ("0", "1/2")}, "loose"),
    ("B0 exponent T-t-1, beta*lam up to 3", B0, _B0(lambda T, t: T - t - 1), SMALL,
     "violated"),
    ("B0 exponent T-t+1, beta*lam >= 1", B0, _B0(lambda T, t: T - t + 1),
     {**SMALL, "betas": ("1",), "lams": ("3/2",)}, "loose"),
    ("B0 exponent T-t+1, beta*lam < 1", B0, _B0(lambda T, t: T - t + 1), SMALL, "violated"),
    ("B0 halved", B0, _B0(lambda T, t: T - t) / 2, SMALL, "violated"),
    ("B4 denominator T+1", B4, _B4(lambda T: T + 1), SMALL, "loose"),
    ("B4 denominator T-1", B4, _B4(lambda T: T - 1), {"Ts": range(2, 6)}, "violated"),
    ("B4 doubled", B4, 2 * _B4(lambda T: T), SMALL, "violated"),
    ("B5 depth d-1", B5, _B5(lambda g, k, d: (g / k) ** (d - 1)), {"Ts": range(2, 6)},
     "violated"),
    ("B5 depth d+1", B5, _B5(lambda g, k, d: (g / k) ** (d + 1)), {"Ts": range(2, 6)},
     "loose"),
    ("B5 kappa+1", B5, _B5(lambda g, k, d: (g / (k + 1)) ** d), {"Ts": range(2, 6)}, "loose"),
    ("B6 depth floor", B6, _B6(lambda g, nu, n: (g / nu) ** sp.floor(n / nu)), SMALL,
     "violated"),
    ("B6 depth ceil+1", B6, _B6(lambda g, nu, n: (g / nu) ** (sp.ceiling(n / nu) + 1)), SMALL,
     "loose"),
    ("B6 width nu+1", B6, _B6(lambda g, nu, n: (g / (nu + 1)) ** sp.ceiling(n / nu)), SMALL,
     "loose"),
    ("B7 nu+rho+1", B7, _B7(lambda nu, rho: nu + rho + 1), {"Ts": range(2, 6)}, "loose"),
    ("B7 nu+rho-1", B7, _B7(lambda nu, rho: nu + rho - 1), {"Ts": range(2, 6)}, "violated"),
    ("B7 rho alone", B7, _B7(lambda nu, rho: rho), {"Ts": range(2, 6)}, "violated"),
]


@pytest.mark.parametrize("label, check, wrong, grid, how", WRONG_CLOSED_FORMS,
                         ids=[w[0] for w in WRONG_CLOSED_FORMS])
def test_catalog_certificates_fail_for_a_wrong_bound(label, check, wrong, grid, how):
    cert = check(wrong, **grid)
    ev = cert.evidence
    assert not cert.passed
    if how == "loose":
        assert ev["smallest_margin_float"] >= 0 and not ev.get("undefined_margins")
        assert ev["equality"]["met"] < ev["equality"]["required"]
    else:
        assert ev["smallest_margin_float"] < 0
    assert check(None, **grid).passed  # the catalog's formula passes on the same grid


def test_b7_with_a_zero_denominator_is_reported_undefined():
    # nu + rho - 1 = 0 at nu = 1, rho = 0 (an equality case): zoo is no margin.
    cert = B7(_B7(lambda nu, rho: nu + rho - 1), Ts=range(2, 4), nus=(1,), rhos=(1,))
    assert not cert.passed and cert.evidence["undefined_margins"] > 0
    assert "undefined" in cert.evidence["summary"]


def test_b0_fails_when_the_path_sum_is_not_the_product(monkeypatch):
    monkeypatch.setattr(catalog_bounds, "path_sum", lambda *a: 2 * path_sum(*a))
    cert = B0(None, Ts=range(1, 4))
    assert not cert.passed and cert.evidence["product_mismatches"]


def test_b5_fails_when_the_single_path_construction_is_broken(monkeypatch):
    # A window pattern has many paths from t: the construction's premises fail and the
    # certificate says so instead of requiring a false equality.
    monkeypatch.setattr(catalog_bounds, "single_path_pattern",
                        lambda kappa, gaps: (patterns.window(kappa + sum(gaps) + 1, 2,
                                                             exact=True), kappa))
    cert = B5(None, Ts=range(2, 4))
    assert not cert.passed and cert.evidence["single_path_constructions_broken"] > 0


def test_b2_fails_when_the_scalar_recursion_is_the_max_path():
    assert not catalog_bounds.check_aligned_exact(max_path, Ts=range(1, 5)).passed


# ---------------------------------------------------------------- B1, B2+, B3 numeric


@settings(max_examples=8)
@given(seed=st.integers(0, 2**32 - 1))
def test_numeric_bounds_hold_on_drawn_seeds(seed):
    kw = {"seed": seed, "count": 8, "exact_Ts": (1, 3)}
    assert lower_bounds.check_nonneg_lower(**kw).passed
    assert lower_bounds.check_path_sum_upper(**kw).passed
    assert lower_bounds.check_dominant_lower(**kw).passed


def _p_lambda(pattern, beta, gamma, mu, lam):
    return path_sum(pattern, beta, gamma, lam)


def _m_mu(pattern, beta, gamma, mu, lam):
    return max_path(pattern, beta, gamma, mu)


def _b3_parts(pattern, beta, gamma, mu, lam):
    """(A, B) = (W(xi*) prod mu, W(xi*) prod lambda), linear (exact for exact inputs)."""
    return dominant_path(pattern, beta, gamma, mu, lam, log10=False)


def _max_lambda(pattern, beta, gamma, mu, lam):
    """B1 with lambda_max for every step instead of the per-step lambda_k."""
    return path_sum(pattern, beta, gamma, np.full_like(lam, max(lam)))


#: (id, checker, wrong bound, the checks that must fail, and only they). "margin": the
#: inequality on the draws; "equality": the exact attained cases (aligned J); "definition":
#: B3's value against its definition over the enumerated paths. A wrong bound that still
#: holds (loose) fails only an equality or the definition.
WRONG_NUMERIC = [
    ("B1 times 2", lower_bounds.check_path_sum_upper, lambda *a: 2 * _p_lambda(*a),
     {"equality"}),
    ("B1 with lambda_max", lower_bounds.check_path_sum_upper, _max_lambda, {"equality"}),
    ("B1 times 0.9", lower_bounds.check_path_sum_upper, lambda *a: 0.9 * _p_lambda(*a),
     {"margin", "equality"}),
    ("B2+ halved", lower_bounds.check_nonneg_lower, lambda *a: _m_mu(*a) / 2, {"equality"}),
    ("B2+ as P_lambda", lower_bounds.check_nonneg_lower, _p_lambda, {"margin"}),
    ("B3 without the subtracted term", lower_bounds.check_dominant_lower,
     lambda *a: _b3_parts(*a)[0], {"definition"}),
    ("B3 with P_mu for P_lambda", lower_bounds.check_dominant_lower,
     lambda p, b, g, mu, lam: _b3_parts(p, b, g, mu, lam)[0]
     - (path_sum(p, b, g, mu) - _b3_parts(p, b, g, mu, lam)[1]), {"margin", "definition"}),
    ("B3 as M_lambda", lower_bounds.check_dominant_lower,
     lambda p, b, g, mu, lam: max_path(p, b, g, lam), {"margin", "definition"}),
    ("B3 halved", lower_bounds.check_dominant_lower,
     lambda *a: (_b3_parts(*a)[0] - (_p_lambda(*a) - _b3_parts(*a)[1])) / 2,
     {"definition", "equality"}),
]


def _failed_parts(ev):
    margin = ev["spectral"] if "spectral" in ev else ev
    parts = {"margin": margin["smallest_margin_float"] < -lower_bounds.RTOL,
             "equality": ev["equality"]["met"] < ev["equality"]["required"]}
    if "definition" in ev:
        parts["definition"] = ev["definition"]["met"] < ev["definition"]["required"]
    return {k for k, failed in parts.items() if failed}


@pytest.mark.parametrize("label, check, wrong, parts", WRONG_NUMERIC,
                         ids=[w[0] for w in WRONG_NUMERIC])
def test_numeric_certificates_fail_for_a_wrong_bound(label, check, wrong, parts):
    cert = check(wrong, count=60)
    assert not cert.passed
    assert _failed_parts(cert.evidence) == parts
    assert not _failed_parts(check(None, count=60).evidence)


def test_b2plus_fails_when_the_frobenius_path_terms_are_wrong(monkeypatch):
    # The Frobenius half of B2+ does not use the bound; doubling every path's weight makes
    # sum_xi ||A_xi||_F^2 exceed ||G_t||_F^2 and must fail it.
    original = lower_bounds.path_products

    def doubled(*args):
        for xi, w, A in original(*args):
            yield xi, 2 * w, A

    monkeypatch.setattr(lower_bounds, "path_products", doubled)
    cert = lower_bounds.check_nonneg_lower(count=20)
    assert not cert.passed and cert.evidence["frobenius"]["smallest_margin_float"] < 0
    assert cert.evidence["spectral"]["smallest_margin_float"] >= 0


# ---------------------------------------------------------------- B3 is needed


def _hand_G0_and_M(J):
    """G_0 = dh_3/dh_0 for uniform attention, T = 3, beta = gamma = 1/2, from the four paths
    with weights w(i->j) = [i == j-1]/2 + 1/(2j) worked out by hand, and M_mu(0)."""
    J1, J2, J3 = J
    w01, w02, w12, w03, w13, w23 = 1.0, 0.25, 0.75, 1 / 6, 1 / 6, 2 / 3
    G0 = w03 * J3 + w01 * w13 * J3 @ J1 + w02 * w23 * J3 @ J2 + w01 * w12 * w23 * J3 @ J2 @ J1
    mu = [np.linalg.svd(Jk, compute_uv=False)[-1] for Jk in J]
    M = max(w03 * mu[2], w01 * w13 * mu[0] * mu[2], w02 * w23 * mu[1] * mu[2],
            w01 * w12 * w23 * mu[0] * mu[1] * mu[2])
    return G0, M, min(mu)


def _violates(J) -> bool:
    G0, M, smallest = _hand_G0_and_M(J)
    return smallest > 1e-12 and np.linalg.norm(G0, 2) < (1 - 1e-9) * M


def test_counterexample_is_real_and_locally_minimal(results):
    ev = results["naive_bound_fails"].evidence
    J = [np.array([[float(Fraction(x)) for x in row] for row in m])
         for m in ev["counterexample"]["J"].values()]
    assert any((Jk < 0).any() for Jk in J)
    G0, M, _ = _hand_G0_and_M(J)
    assert np.linalg.norm(G0, 2) < M
    assert float(ev["counterexample"]["M_mu0"]) == pytest.approx(M, rel=1e-12)
    simpler = [float(v) for v in counterexample.GRID]
    for k in range(3):
        for pos in np.ndindex(2, 2):
            for v in simpler[: simpler.index(J[k][pos])]:
                cand = [m.copy() for m in J]
                cand[k][pos] = v
                assert not _violates(cand), (k, pos, v)


@settings(max_examples=5)
@given(seed=st.integers(0, 10**6))
def test_search_and_shrink_keep_a_genuine_violation(seed):
    found, _ = counterexample.search(seed=seed)
    assert found is not None
    shrunk, _ = counterexample.shrink(found)
    values = np.array([float(v) for v in counterexample.GRID])
    assert _violates(list(values[shrunk])) and shrunk.sum() <= found.sum()


def test_no_counterexample_with_nonnegative_entries(monkeypatch):
    # B2+: with entries in {0, 1/2, 1, 2} no violation exists, so the certificate must fail.
    grid = [sp.Rational(v) for v in ("0", "1/2", "1", "2")]
    drawn = []
    violates = counterexample.violates

    def counted(J: np.ndarray) -> np.ndarray:
        drawn.append(len(J))
        return violates(J)

    monkeypatch.setattr(counterexample, "violates", counted)
    cert = counterexample.check_naive_bound_fails(grid=grid)
    assert not cert.passed
    assert cert.evidence["summary"] == f"no counterexample in {sum(drawn)} draws"
    assert cert.evidence["trials"] == sum(drawn) and len(drawn) > 1


def test_two_distinct_grid_values_are_enough_to_search():
    cert = counterexample.check_naive_bound_fails(grid=[sp.Integer(0), sp.Integer(1)])
    assert not cert.passed and cert.evidence["grid"] == [0, 1]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, name", [
    (lambda: path_count.check_path_count(T_max=0), "T_max"),
    (lambda: lemma1.generic_cases((2, 0)), "Ts"),
    (lambda: lower_bounds.check_nonneg_lower(count=0), "count"),
    (lambda: catalog_bounds.check_window_lower(nus=(0,)), "nus"),
    (lambda: counterexample.check_naive_bound_fails(grid=[sp.Integer(1)]), "grid"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=f"parameter '{name}'"):
        call()


def test_check_table_keeps_its_columns_aligned():
    """A method longer than the method column is cut to exactly its width, ending in '...';
    a shorter one is padded: the evidence column starts at the same place on every row,
    under its header, after a rule as wide as the columns."""
    from verify.commands.check import METHOD_WIDTH, table

    certs = [Certificate("B1", "m" * (METHOD_WIDTH + 20), True, {"summary": "long"}),
             Certificate("B12", "m" * METHOD_WIDTH, True, {"summary": "exact"}),
             Certificate("B0", "short", False, {"summary": "short"})]
    head, rule, *rows = table(certs).splitlines()
    start = head.index("evidence")
    assert [row[start:] for row in rows] == ["long", "exact", "short"]
    assert rows[0].split()[2] == "m" * (METHOD_WIDTH - 3) + "..."
    assert rows[1].split()[2] == "m" * METHOD_WIDTH
    assert set(rule) == {"-"} and len(rule) >= start


def test_counterexample_matrices_are_right_aligned_to_their_widest_entry():
    """Each printed matrix pads every entry to its widest one, so its columns line up."""
    from verify.commands.check import counterexamples

    found = {"J": {"J_1": [["1", "-0.25"], ["10", "0"]]}, "G_0": [["2", "3"], ["-4", "5"]]}
    found.update({k: "0" for k in ("norm_G0", "M_mu0", "gap", "max_product_path",
                                   "B3_dominant_lower", "B1_path_sum_upper")})
    text = counterexamples([Certificate("B3", "m", False, {"counterexample": found})])
    assert "  J_1 = [    1  -0.25;    10      0]" in text.splitlines()
    assert "  G_0 = [ 2   3; -4   5]" in text.splitlines()
