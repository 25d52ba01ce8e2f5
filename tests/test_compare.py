"""Verdicts (THEORY.md section 9): every catalog bound on the runs it covers, its value against
an independent computation written here (enumerated paths, closed forms, breadth-first depth),
applicability and the failed hypothesis on mixed settings, the rounding allowance, findings,
zeros, plots and JSON."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from reference import path_terms

from bounds import patterns
from verify.measurement import measure
from verify.measurement.compare import Verdict, compare
from verify.measurement.plots import figure
from verify.models import build, controlled

DT = torch.float64
LN10 = math.log(10.0)


def run(pattern, *, spectrum="identity", phi="linear", scale=0.8, n=3, beta=None, gamma=None,
        learned=False, mode="fixed", seed=0, **kw):
    model = controlled(spectrum, n, 2, phi, scale=scale, pattern=pattern, learned=learned,
                       beta=beta, gamma=gamma, seed=seed, device="cpu", **kw)
    x = torch.randn(1, pattern.T, 2, dtype=DT, generator=torch.Generator().manual_seed(seed))
    return model, measure(model, x, mode=mode)


def jacobians(model, m) -> np.ndarray:
    """J_k = diag(phi'(a_k)) V written out in numpy from the run's pre-activations."""
    r = model(torch.randn(1, m.T, 2, dtype=DT, generator=torch.Generator().manual_seed(0)))
    a, V = r.a[0].detach().numpy(), model.cell.V.detach().numpy()
    d = {"linear": np.ones_like(a), "tanh": 1 - np.tanh(a) ** 2}[model.cell.phi.name]
    return d[:, :, None] * V


def suffix_min(v: np.ndarray) -> np.ndarray:
    return np.array([v[t:].min() for t in range(v.size)])


def bfs_depth(alpha: np.ndarray, beta: float, gamma: float) -> np.ndarray:
    """Fewest edges t -> T, by breadth-first search over the edges of THEORY.md section 2."""
    T = alpha.shape[0]
    dist = {T: 0}
    frontier = [T]
    while frontier:
        nxt = []
        for j in frontier:
            for i in range(j):
                w = beta * (i == j - 1) + gamma * alpha[j - 1, i]
                if w != 0 and i not in dist:
                    dist[i] = dist[j] + 1
                    nxt.append(i)
        frontier = nxt
    return np.array([dist.get(t, np.inf) for t in range(T)])


def assert_verdict(m, name, want_log10, applicable=None):
    v = m.verdicts[name]
    where = np.ones(m.T, bool) if applicable is None else applicable
    np.testing.assert_array_equal(v.applicable, where)
    np.testing.assert_allclose(v.log10_bound[where], np.asarray(want_log10)[where], rtol=1e-12,
                               atol=1e-12)
    assert v.holds_at == v.applicable_at == where.sum() and not v.violations.size
    assert not m.findings()


# ------------------------------------------------- every catalog bound on the runs it covers

T = 9


def test_b0_on_an_rnn():
    model, m = run(patterns.none(T), spectrum="gaussian", phi="tanh", bias_scale=0.3)
    lam = np.linalg.svd(jacobians(model, m), compute_uv=False)[:, 0]
    want = [(T - t) * math.log10(1.0 * lam[t:].max()) for t in range(T)]
    assert_verdict(m, "rnn_upper", want)


def test_b1_and_b3_under_fixed_attention_against_enumerated_paths():
    p = patterns.sparse(T, 3, seed=2)
    model, m = run(p, spectrum="gaussian", phi="tanh", bias_scale=0.3)
    sv = np.linalg.svd(jacobians(model, m), compute_uv=False)
    lam, mu = sv[:, 0], sv[:, -1]
    alpha = p.dense()
    P = [sum(path_terms(alpha, 0.5, 0.5, lam, t)) for t in range(T)]
    assert_verdict(m, "path_sum_upper", np.log10(P))
    b3 = []
    for t in range(T):
        lead = max(path_terms(alpha, 0.5, 0.5, mu, t))
        k = int(np.argmax(path_terms(alpha, 0.5, 0.5, mu, t)))
        along = path_terms(alpha, 0.5, 0.5, lam, t)[k]
        b3.append(lead - (P[t] - along))
    v = m.verdicts["dominant_path_lower"]
    assert v.applicable.all() and v.holds_at == T
    with np.errstate(divide="ignore"):
        want = np.where(np.array(b3) > 0, np.log10(np.maximum(b3, 1e-300)), -np.inf)
    np.testing.assert_allclose(v.log10_bound, want, rtol=1e-9)
    assert not m.verdicts["aligned_exact"].applicable.any()
    assert "not a multiple of I" in m.verdicts["aligned_exact"].why_not


def test_b2_aligned_and_b2plus_nonnegative():
    p = patterns.window(T, 3)
    _, m = run(p, scale=0.7)
    P = [sum(path_terms(p.dense(), 0.5, 0.5, [0.7] * T, t)) for t in range(T)]
    assert_verdict(m, "aligned_exact", np.log10(P))
    model, m = run(p, spectrum="nonneg", phi="tanh", scale=0.9)
    mu = np.linalg.svd(jacobians(model, m), compute_uv=False)[:, -1]
    want = [math.log10(max(path_terms(p.dense(), 0.5, 0.5, mu, t))) for t in range(T)]
    assert_verdict(m, "nonneg_lower", want)


def test_b4_on_uniform_attention_lower_and_exact():
    c, gamma = 0.8, 0.5
    _, m = run(patterns.uniform(T), scale=c)
    assert_verdict(m, "uniform_lower", np.full(T, math.log10(gamma * c / T)))
    assert not m.verdicts["uniform_exact"].applicable.any()
    assert m.verdicts["uniform_exact"].why_not == "beta = 0.5"
    _, m = run(patterns.uniform(T), scale=c, beta=0.0, gamma=gamma)
    s = c * gamma
    want = [math.log10(s / T) + (math.lgamma(T + s) + math.lgamma(t + 1) - math.lgamma(T)
                                 - math.lgamma(t + 1 + s)) / math.log(10) for t in range(T)]
    assert_verdict(m, "uniform_exact", want)
    np.testing.assert_allclose(m.log10_norm2, want, rtol=1e-12)  # attained: B4 is exact


@pytest.mark.parametrize("pattern", [patterns.sparse(T, 3, seed=5), patterns.strided(T, 3)])
def test_b5_on_sparse_and_strided_patterns(pattern):
    c, gamma = 0.9, 0.5
    _, m = run(pattern, scale=c)
    d = bfs_depth(pattern.dense(), 0.5, gamma)
    kappa = pattern.support_sizes().max()
    assert m.kappa == kappa and np.array_equal(m.depth, d)
    assert_verdict(m, "sparse_lower", d * math.log10(gamma * c / kappa))


def test_b6_on_windows():
    nu, c, gamma = 3, 0.9, 0.5
    _, m = run(patterns.window(T, nu), scale=c)
    assert_verdict(m, "window_lower",
                   [math.ceil((T - t) / nu) * math.log10(gamma * c / nu) for t in range(T)])
    _, m = run(patterns.events(T, [2], nu), scale=c)
    assert "not a sliding window" in m.verdicts["window_lower"].why_not


def test_b7_on_the_retained_events_of_a_relevancy_model():
    """V = 0.5 I, tanh near linear (J_k nonnegative diagonal), zero attention parameters
    (uniform weights over the <= nu + rho slots): B7 applies exactly at the events this test
    finds in the trace (in the set from step i + nu to the end)."""
    nu, rho, steps = 3, 2, 40
    model = build("relrnn", 2, hidden=3, nu=nu, rho=rho, dtype=DT)
    with torch.no_grad():
        model.cell.V.copy_(0.5 * torch.eye(3, dtype=DT))
        model.cell.U.mul_(0.1)
        for p in model.memory.parameters():
            p.zero_()
    x = torch.randn(1, steps, 2, dtype=DT, generator=torch.Generator().manual_seed(1))
    m = measure(model, x)
    held = model(x).trace.relevant_time[0].tolist()
    events = [i for i in range(1, steps) if i + nu < steps
              and all(i in held[s] for s in range(i + nu, steps))]
    assert events
    where = np.isin(np.arange(steps), events)
    a = model(x).a[0].detach().numpy()
    mu = (1 - np.tanh(a) ** 2).min(axis=1) * 0.5
    want = np.log10(0.5 * suffix_min(mu) / (nu + rho))
    assert_verdict(m, "relevancy_lower", want, applicable=where)
    assert "not a relevant event" in m.verdicts["relevancy_lower"].why_not
    # B7 reads the weight of the last step T-1 from the trace: lowering the first event's
    # weight there (and only there) below 1/(nu + rho) takes it out; lowering it at T-2 not.
    e = events[0]
    for row, out in ((-1, True), (-2, False)):
        alpha = m.trace.alpha.clone()
        alpha[0, row, e] = 0.5 / (nu + rho)
        v = compare(dataclasses.replace(m, trace=dataclasses.replace(m.trace, alpha=alpha)),
                    "B7")["relevancy_lower"]
        np.testing.assert_array_equal(v.applicable, where & (np.arange(steps) != e) if out
                                      else where)


# ------------------------------------------------------ applicability on mixed settings


def test_gamma_zero_with_a_non_empty_pattern_is_an_rnn():
    _, m = run(patterns.uniform(T), gamma=0.0, beta=1.0)
    assert m.verdicts["rnn_upper"].applicable.all()
    lower = m.verdicts["uniform_lower"]
    assert not lower.applicable.any() and "'gamma'" in lower.why_not


def test_a_fixed_pattern_in_full_mode_is_still_fixed():
    _, m = run(patterns.window(T, 3), mode="full")
    assert m.verdicts["window_lower"].applicable.all()
    assert m.hypotheses["fixed_alpha"]


def test_live_learned_attention_makes_every_bound_inapplicable():
    _, m = run(patterns.window(T, 3), spectrum="orthogonal", phi="tanh", learned=True,
               mode="full")
    for v in m.verdicts.values():
        assert not v.applicable.any() and "fixed_alpha" in v.failed
        assert "score terms" in v.why_not
    _, m = run(patterns.window(T, 3), spectrum="orthogonal", phi="tanh", learned=True)
    assert m.verdicts["path_sum_upper"].applicable.all()


def test_a_cell_without_step_jacobians_has_no_verdict():
    core = build("lstm", 2, hidden=3, dtype=DT)
    m = measure(core, torch.ones(1, 6, 2, dtype=DT))
    for v in m.verdicts.values():
        assert not v.applicable.any() and "J_k is not defined" in v.why_not
        assert "step_jacobians" in v.failed or "fixed_alpha" in v.failed


def test_beta_outside_the_domain_of_b0():
    _, m = run(patterns.none(T), beta=1.5)
    v = m.verdicts["rnn_upper"]
    assert not v.applicable.any() and "'beta'" in v.why_not and v.failed == ("parameters",)


def test_b4_exact_holds_at_a_long_horizon_where_log_gammas_cancel():
    """beta = 0, J_k = 2 I, gamma = 1/2 (c gamma = 1): ||dh_T/dh_t|| = 1/(t+1) exactly at
    T = 3000, and B4's exact form must agree to rounding at every t (its log-Gamma ratios are
    about 8 against log-Gammas of about 2e4)."""
    steps = 3000
    model = controlled("identity", 2, 1, "linear", scale=2.0, pattern=patterns.uniform(steps),
                       beta=0.0, device="cpu")
    m = measure(model, torch.zeros(1, steps, 1, dtype=DT))
    np.testing.assert_allclose(m.log10_norm2, -np.log10(np.arange(steps) + 1.0), atol=1e-12)
    v = m.verdicts["uniform_exact"]
    assert v.applicable_at == v.holds_at == steps and not m.findings()


# ----------------------------------------------------------- holds, allowance, findings


def test_a_violation_beyond_the_allowance_is_a_finding():
    _, m = run(patterns.window(T, 3), spectrum="gaussian", phi="tanh", seed=3)
    m.source = "untangle measure --made-up"
    b1 = m.verdicts["path_sum_upper"].log10_bound
    t = 4
    over = m.log10_norm2.copy()
    over[t] = b1[t] + 1e-6
    v = compare(dataclasses.replace(m, log10_norm2=over), "B1")["path_sum_upper"]
    assert v.violations.tolist() == [t] and v.holds_at == T - 1
    (f,) = v.findings()
    assert f.t == t and f.bound == "path_sum_upper" and "--made-up" in f.reproduce
    assert "VIOLATED at t = 4" in v.summary()
    # A tenth of the rounding allowance above the bound is rounding, not a finding.
    within = m.log10_norm2.copy()
    within[t] = b1[t] + 0.1 * v.allowance[t] / math.log(10)
    assert compare(dataclasses.replace(m, log10_norm2=within), "B1")["path_sum_upper"].holds[t]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_allowance_follows_the_dtype_and_the_length(dtype):
    """The allowance applied (relative to 10^S) is the one each verdict states, 4 u (T - t)
    (n + ln10 |S|) with S = max(log10 measured, log10 bound, log10 P_lambda(t)), and u the
    dtype's unit roundoff: numpy's eps / 2, not the module's table."""
    u = float(np.finfo(dtype).eps) / 2
    model = controlled("identity", 3, 2, "linear", scale=0.8, pattern=patterns.window(T, 3),
                       device="cpu", dtype=dtype)
    m = measure(model, torch.zeros(1, T, 2))
    v = m.verdicts["aligned_exact"]
    assert "<= 4 u (T - t)(n + ln10 |S|) 10^S" in v.tolerance
    assert f"u = {u:.3g} ({dtype})" in v.tolerance and v.holds_at == T
    S = np.maximum.reduce([v.log10_measured, v.log10_bound,
                           m.verdicts["path_sum_upper"].log10_bound])  # B1's bound: P_lambda
    # the allowance is float64 arithmetic on these inputs: equal to a few ulps
    np.testing.assert_allclose(v.allowance, 4 * u * (T - np.arange(T)) * (3 + LN10 * abs(S)),
                               rtol=1e-13)


def test_zero_steps_make_lower_bounds_vacuous_not_invalid():
    """A relu RNN whose units all die at step 4: mu_4 = lambda_4 = 0, so every path from
    t < 4 is 0 (THEORY.md section 9): G_t = 0 there, lower bounds 0, upper bounds valid; no
    substitute values, no notes."""
    steps = 8
    model = controlled("identity", 2, 1, "relu", scale=0.9, pattern=patterns.none(steps),
                       device="cpu")
    x = torch.zeros(1, steps, 1, dtype=DT)
    x[0, 3] = -100.0  # a_4 < 0 everywhere: J_4 = 0
    with torch.no_grad():
        model.cell.U.fill_(1.0)
        model.cell.b.fill_(0.1)
    m = measure(model, x)
    assert m.mu[3] == 0 and m.lam[3] == 0 and not m.notes
    for name in ("rnn_upper", "path_sum_upper", "aligned_exact", "nonneg_lower",
                 "dominant_path_lower"):
        v = m.verdicts[name]
        assert v.applicable.all() and v.holds_at == steps, (name, v.summary())
    assert np.all(m.log10_norm2[:4] == -np.inf) and np.all(np.isfinite(m.log10_norm2[4:]))
    # where measured, bound and P_lambda are all 0 (S = -inf) the allowance is the stated
    # one with |S| read as 0: 4 u (T - t) n
    left = 4 * np.finfo(np.float64).eps / 2 * (steps - np.arange(4)) * 2
    for name in ("nonneg_lower", "dominant_path_lower", "aligned_exact"):
        assert np.all(m.verdicts[name].log10_bound[:4] == -np.inf)
        np.testing.assert_allclose(m.verdicts[name].allowance[:4], left, rtol=1e-15)
    assert np.all(np.isfinite(m.verdicts["path_sum_upper"].log10_bound[4:]))


@pytest.mark.parametrize(("name", "kind"), [("nonneg_lower", "lower"),
                                           ("aligned_exact", "exact"),
                                           ("path_sum_upper", "upper")])
def test_the_allowance_is_the_stated_one_for_every_kind(name, kind):
    """A departure of 0.5 allowance holds, 1.5 allowances is a violation, on the side the
    kind forbids (below a lower bound, above an upper one, either side of an exact one).
    The allowance is relative to 10^S, S = the largest of log10 measured, log10 bound and
    log10 P_lambda(t) (the module's statement), so the departure is k allowance 10^S."""
    _, m = run(patterns.window(T, 3))  # aligned: J_k = 0.8 I, every bound here applies
    v = m.verdicts[name]
    assert v.applicable.all() and v.holds.all()
    t = 3
    S = max(v.log10_bound[t], m.verdicts["path_sum_upper"].log10_bound[t])
    sides = {"lower": (-1,), "upper": (1,), "exact": (-1, 1)}[kind]
    for side in sides:
        for k, holds in ((0.5, True), (1.5, False)):
            moved = m.log10_norm2.copy()
            moved[t] = S + math.log10(10.0 ** (v.log10_bound[t] - S) + side * k * v.allowance[t])
            w = compare(dataclasses.replace(m, log10_norm2=moved), name)[name]
            assert w.holds[t] == holds, (side, k)
    allowed = {"lower": 1, "upper": -1, "exact": None}[kind]
    if allowed is not None:  # far on the allowed side: holds, with that margin
        moved = m.log10_norm2.copy()
        moved[t] = v.log10_bound[t] + allowed * 3.0
        w = compare(dataclasses.replace(m, log10_norm2=moved), name)[name]
        assert w.holds[t] and w.margin[t] == pytest.approx(allowed * 3.0)


def test_a_bound_value_that_is_not_a_number_does_not_apply(monkeypatch):
    from verify.measurement import compare as module

    _, m = run(patterns.window(T, 3))
    evaluate = module.EVALUATE["window_lower"]

    def holed(m, ctx):
        out = np.array(evaluate(m, ctx), dtype=float)
        out[2] = np.nan
        return out

    monkeypatch.setitem(module.EVALUATE, "window_lower", holed)
    v = compare(m, "B6")["window_lower"]
    assert not v.applicable[2] and v.applicable_at == T - 1 and v.holds_at == T - 1
    assert not v.violations.size


@pytest.mark.parametrize(("kind", "margins", "worst", "tightest"), [
    ("upper", [-3.0, 0.5, -0.1, -4.0], 1, 2),
    ("lower", [3.0, -0.5, 0.1, 4.0], 1, 2),
    ("exact", [-3.0, -0.5, 0.1, 4.0], 3, 2)])
def test_worst_and_tightest_points(kind, margins, worst, tightest):
    """Margins are log10 measured - log10 bound: an upper bound comes closest to failing (or
    fails most) at the largest margin, a lower one at the smallest, an exact one at the
    largest |margin|; the tightest point has the least |margin|."""
    margins, measured = np.array(margins), np.zeros(4)
    v = Verdict("x", "B?", kind, np.ones(4, bool), "", (), measured, measured - margins,
                np.zeros(4), np.ones(4, bool), "")
    assert v.worst == (worst, pytest.approx(margins[worst]))
    assert v.tightest == (tightest, pytest.approx(margins[tightest]))


# ------------------------------------------------------------ what the user sees


def test_repr_json_and_plot():
    _, m = run(patterns.window(T, 3), spectrum="gaussian", phi="tanh", seed=3)
    text = repr(m)
    assert "\n" not in text and len(text) < 400 and "B1 9/9" in text
    json.dumps(m.to_json(), allow_nan=False)
    over = m.log10_norm2.copy()
    over[2] = m.verdicts["path_sum_upper"].log10_bound[2] + 0.5
    bad = dataclasses.replace(m, log10_norm2=over)
    bad.verdicts = compare(bad)
    labels = [line.get_label() for line in figure(bad).axes[0].lines]
    assert any("violated at 1 t" in label for label in labels)
    assert not any("violated" in label for label in
                   (line.get_label() for line in figure(m).axes[0].lines))


# ----------------------------------------------------------- a verdict's report

#: margins on a coarse grid, so that ties between t occur (first t wins) and +-inf appear
report_values = st.sampled_from([-np.inf, -3.0, -0.5, 0.0, 0.5, 2.0, np.inf])


@st.composite
def verdicts(draw: st.DrawFn) -> Verdict:
    """A verdict of drawn kind over T <= 20 steps: which t apply, hold, and the two log10s."""
    T = draw(st.integers(1, 20))
    mask = st.lists(st.booleans(), min_size=T, max_size=T).map(np.array)
    applicable, holds = draw(mask), draw(mask)
    measured = np.array(draw(st.lists(report_values, min_size=T, max_size=T)))
    bound = np.where(applicable, np.array(draw(st.lists(report_values, min_size=T,
                                                        max_size=T))), np.nan)
    return Verdict("b", "B9", draw(st.sampled_from(["upper", "lower", "exact"])), applicable,
                   "" if applicable.all() else "no reason", ("h",) if not applicable.all()
                   else (), measured, bound, np.zeros(T), holds, "tol")


def _naive_pick(v: Verdict, key) -> tuple[int, float] | None:
    """The first t, among those that apply with a finite margin, of the largest key(margin)."""
    best = None
    for t in range(v.applicable.size):
        if not v.applicable[t]:
            continue
        with np.errstate(invalid="ignore"):  # inf - inf: no finite margin
            margin = v.log10_measured[t] - v.log10_bound[t]
        if np.isfinite(margin) and (best is None or key(margin) > key(best[1])):
            best = (t, float(margin))
    return best


@given(verdicts())
def test_a_verdicts_summary_and_json_report_its_arrays(v):
    """Counts, worst and tightest points, violations and the summary line against a loop
    over t written here."""
    T = v.applicable.size
    applies = [t for t in range(T) if v.applicable[t]]
    violated = [t for t in applies if not v.holds[t]]
    worst = _naive_pick(v, {"upper": lambda m: m, "lower": lambda m: -m,
                            "exact": abs}[v.kind])
    tightest = _naive_pick(v, lambda m: -abs(m))
    got = v.to_json()
    assert got["applicable"] == bool(applies) and got["applicable_at"] == len(applies)
    assert got["holds_at"] == len(applies) - len(violated)
    assert got["violations"] == violated
    assert got["why_not"] == (None if len(applies) == T else "no reason")
    assert got["failed_hypotheses"] == ([] if len(applies) == T else ["h"])
    for key, want in (("worst", worst), ("tightest", tightest)):
        assert got[key] == (None if want is None else {"t": want[0], "margin": want[1]})
    line = v.summary()
    if not applies:
        assert line.endswith("not applicable: no reason")
        return
    assert f"holds at {len(applies) - len(violated)} of {len(applies)} t" in line
    assert ("(applies at" in line) == (len(applies) < T)
    if worst is None:
        assert "worst margin" not in line and "tightest" not in line
    else:
        assert f"; worst margin {worst[1]:+.3g} at t={worst[0]}" in line
        assert f"; tightest at t={tightest[0]} ({tightest[1]:+.3g} decades)" in line
    assert ("VIOLATED" in line) == bool(violated)
    if violated:
        shown = ", ".join(map(str, violated[:8]))
        tail = f", ... ({len(violated)} in all)" if len(violated) > 8 else ""
        assert line.endswith(f"VIOLATED at t = {shown}{tail}")
