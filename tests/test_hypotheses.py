"""The predicates of bounds/hypotheses.py (THEORY.md sections 4 and 9), each against a check
written here from the statement: exact multiples of I and small departures from them, signs,
naive loops over steps, a breadth-first search over the edges of THEORY.md section 2, and a
relevant set's membership replayed step by step.

Departures are drawn well above the predicates' stated tolerances (1e-12 relative), so a
loosened tolerance or a dropped condition fails here."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import random_patterns

from bounds import patterns
from bounds.hypotheses import HYPOTHESES, factored_step_summary, step_summary, window_width
from bounds.recursions import sparsity

#: Relative departures from a hypothesis, far above the 1e-12 it tolerates.
departures = st.floats(1e-9, 1e-2)
sizes = st.integers(1, 5)
coefficients = st.floats(0.05, 2.0)


def outcome(key: str, **context):
    return HYPOTHESES[key].evaluate(**context)


@st.composite
def multiples_of_identity(draw: st.DrawFn) -> np.ndarray:
    """J_k = c_k I, k = 1..T, with c_k > 0."""
    T, n = draw(sizes), draw(sizes)
    c = draw(st.lists(coefficients, min_size=T, max_size=T))
    return np.array([ck * np.eye(n) for ck in c])


# ------------------------------------------------------------- per-step Jacobian hypotheses


@given(multiples_of_identity(), st.data())
def test_aligned_holds_on_multiples_of_identity_and_names_the_first_departure(J, data):
    assert outcome("aligned", jac=J).holds and outcome("aligned_or_nonnegative", jac=J).holds
    T, n = J.shape[:2]
    k = data.draw(st.integers(0, T - 1))
    bent = J.copy()
    if n > 1:
        bent[k, 0, n - 1] = data.draw(departures) * J[k, 0, 0]
        out = outcome("aligned", jac=bent)
        assert not out.holds and f"k = {k + 1})" in out.why_not
    negative = J.copy()
    negative[k] *= -1
    out = outcome("aligned", jac=negative)
    assert not out.holds and f"k = {k + 1})" in out.why_not and "c_k < 0" in out.why_not


@given(multiples_of_identity(), st.data())
def test_aligned_constant_needs_one_constant(J, data):
    T = J.shape[0]
    same = J[:1].repeat(T, axis=0)
    assert outcome("aligned_constant", jac=same).holds
    if T > 1:
        k = data.draw(st.integers(1, T - 1))
        moved = same.copy()
        moved[k] *= 1 + data.draw(departures)
        assert outcome("aligned", jac=moved).holds
        assert not outcome("aligned_constant", jac=moved).holds
    assert not outcome("aligned_constant", jac=0.0 * same).holds  # c = 0 is not c > 0


@given(sizes, sizes, st.data())
def test_nonnegative_refuses_any_negative_entry(T, n, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    J = rng.uniform(0.0, 1.0, (T, n, n))
    assert outcome("nonnegative", jac=J).holds and outcome("aligned_or_nonnegative", jac=J).holds
    k, i, j = (data.draw(st.integers(0, m - 1)) for m in (T, n, n))
    J[k, i, j] = -data.draw(departures)
    out = outcome("nonnegative", jac=J)
    assert not out.holds and f"k = {k + 1})" in out.why_not
    if n > 1:  # neither aligned nor nonnegative: paths may cancel
        J[k, (i + 1) % n, j] = 0.5
        assert not outcome("aligned_or_nonnegative", jac=J).holds


def test_step_summary_is_the_statement():
    J = np.array([[[2.0, 0.0], [0.0, 2.0]], [[1.0, 1e-6], [0.0, 1.0]], [[-1.0, 0.0], [0.0, -1.0]],
                  [[0.5, 0.2], [0.1, 0.0]]])
    s = step_summary(J)
    np.testing.assert_array_equal(s["aligned"], [True, False, True, False])
    np.testing.assert_array_equal(s["c"], [2.0, 1.0, -1.0, 0.25])
    np.testing.assert_array_equal(s["nonnegative"], [True, True, False, True])


#: entries of the factors: zeros, both signs, and magnitudes whose products underflow to a
#: signed zero or a subnormal (1e-200 * 1e-200), where a sign test could go wrong
factor_entries = st.sampled_from([0.0, 1.0, -1.0]).flatmap(
    lambda sign: st.just(0.0) if sign == 0 else st.one_of(
        st.floats(0.05, 3.0), st.sampled_from([1e-200, 1e-160, 2.0**-1074])).map(
        lambda x: sign * x))


@st.composite
def factored_steps(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """d (T, n) and V (n, n) in float32 or float64: generic, diagonal V with one d per step
    (so J_k = c_k I, aligned), or V >= 0 (so nonnegativity turns on the signs of d)."""
    T, n = draw(sizes), draw(sizes)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    d = np.array(draw(st.lists(factor_entries, min_size=T * n, max_size=T * n))).reshape(T, n)
    V = np.array(draw(st.lists(factor_entries, min_size=n * n, max_size=n * n))).reshape(n, n)
    kind = draw(st.sampled_from(["generic", "aligned", "nonnegative"]))
    if kind == "aligned":
        V = np.diag(np.full(n, draw(st.floats(0.05, 3.0)))) * draw(st.sampled_from([1, -1]))
        d = np.repeat(d[:, :1], n, axis=1)
    elif kind == "nonnegative":
        V = np.abs(V)
    return d.astype(dtype), V.astype(dtype)


@given(factored_steps())
def test_factored_step_summary_is_the_dense_one(factors):
    """From diag(d_k) V's factors, the summary of the dense fl(d_ki V_ij) (built here, cast to
    float64 as measure casts it) bit for bit: aligned, c and nonnegative."""
    d, V = factors
    dense = (d[:, :, None] * V[None]).astype(np.float64)
    want, got = step_summary(dense), factored_step_summary(d, V)
    for key, value in want.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_factored_step_summary_refuses_what_it_cannot_take():
    with pytest.raises(ValueError, match="'d' and 'V' must have shapes"):
        factored_step_summary(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="one dtype"):
        factored_step_summary(np.ones((3, 2)), np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="must be finite"):
        factored_step_summary(np.array([[np.inf, 1.0]]), np.ones((2, 2)))


# ------------------------------------------------------------------ scalars and patterns


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.integers(1, 8))
def test_rnn_is_gamma_zero_or_no_attention(beta, gamma, T):
    assert outcome("rnn", gamma=0.0, pattern=patterns.uniform(T)).holds
    assert outcome("rnn", gamma=gamma, pattern=patterns.none(T)).holds
    assert bool(outcome("rnn", gamma=gamma, pattern=patterns.window(T, 1)).holds) == (gamma == 0)
    assert bool(outcome("beta_zero", beta=beta).holds) == (beta == 0)


@given(st.integers(2, 9), st.data())
def test_uniform_full_and_window_need_their_weights_not_only_their_supports(T, data):
    assert outcome("uniform_full", pattern=patterns.uniform(T)).holds
    nu = data.draw(st.integers(1, T))
    assert window_width(patterns.window(T, nu)) == nu
    assert outcome("window", pattern=patterns.window(T, nu)).holds
    for p in (patterns.uniform(T), patterns.window(T, nu)):
        a = p.dense()
        t = data.draw(st.integers(1, T - 1))
        if np.count_nonzero(a[t]) < 2:
            continue
        i = int(np.flatnonzero(a[t])[0])
        e = data.draw(departures) * a[t, i]
        a[t, i] += e
        a[t, t] -= e  # same support, still on the simplex, no longer uniform
        skewed = patterns.from_matrix(a)
        assert not outcome("uniform_full", pattern=skewed).holds
        assert window_width(skewed) is None and not outcome("window", pattern=skewed).holds
    assert not outcome("uniform_full", pattern=patterns.window(T, T - 1)).holds


#: Edits of a window or uniform pattern's rows that keep them increasing within 0..t: a
#: weight scaled by 1 + f around the tolerance 1e-12, the support moved one step back, an
#: entry dropped or one added (the rest reweighted uniformly)
EDITS = ("none", "scale", "shift", "drop", "add")
#: the f of a scaled weight: within and beyond the tolerance, on both sides
SCALES = (-5e-12, -2e-12, -5e-13, 5e-13, 2e-12, 5e-12)


@st.composite
def near_windows(draw: st.DrawFn) -> patterns.Pattern:
    """A sliding window (uniform full attention when nu = T), maybe with one edited row."""
    T = draw(st.integers(1, 9))
    p = patterns.window(T, draw(st.integers(1, T)))
    rows = [list(p.row(t)[0]) for t in range(T)]
    weights = [list(p.row(t)[1]) for t in range(T)]
    t, edit = draw(st.integers(0, T - 1)), draw(st.sampled_from(EDITS))
    r = rows[t]
    if edit == "scale":
        k = draw(st.integers(0, len(r) - 1))
        weights[t][k] *= 1 + draw(st.sampled_from(SCALES))
    elif edit == "shift" and r[0] > 0:
        rows[t] = [i - 1 for i in r]
    elif edit == "drop" and len(r) > 1:
        del r[draw(st.integers(0, len(r) - 1))]
        weights[t] = [1.0 / len(r)] * len(r)
    elif edit == "add" and r[0] > 0:
        rows[t] = [r[0] - 1, *r]
        weights[t] = [1.0 / len(rows[t])] * len(rows[t])
    sizes = [len(r) for r in rows]
    return patterns.Pattern(T, np.concatenate([[0], np.cumsum(sizes)]),
                            np.array([i for r in rows for i in r], dtype=np.int64),
                            np.array([w for ws in weights for w in ws]), "matrix")


def _naive_uniform_on(p: patterns.Pattern, support) -> bool:
    """Every row t is ``support(t)`` with each weight 1/|support(t)| to 1e-12 relative."""
    for t in range(p.T):
        idx, w = p.row(t)
        want = list(support(t))
        if list(idx) != want or any(abs(x - 1 / len(want)) > 1e-12 / len(want) for x in w):
            return False
    return True


@given(near_windows())
def test_window_and_uniform_full_against_a_loop_over_the_rows(p):
    """window_width and uniform_full (O(T) memory beside the pattern) against the statement
    checked row by row: S_t = {t-nu+1..t} (or {0..t}) with weights 1/|S_t| to 1e-12."""
    nu = int(max(len(p.row(t)[0]) for t in range(p.T)))
    window = _naive_uniform_on(p, lambda t: range(max(0, t - nu + 1), t + 1))
    assert window_width(p) == (nu if window else None)
    assert bool(outcome("window", pattern=p).holds) == window
    full = _naive_uniform_on(p, lambda t: range(t + 1))
    assert bool(outcome("uniform_full", pattern=p).holds) == full


@given(st.integers(1, 9), st.floats(0.01, 2.0), st.data())
def test_mu_floor_against_a_loop_over_the_steps(T, mu, data):
    mu_steps = np.array(data.draw(st.lists(st.floats(0.0, 2.0), min_size=T, max_size=T)))
    got = outcome("mu_floor", mu=mu, mu_steps=mu_steps).holds
    want = [all(mu <= mu_steps[k - 1] for k in range(t + 1, T + 1)) for t in range(T)]
    np.testing.assert_array_equal(got, want)


def depth_by_search(alpha: np.ndarray, beta: float, gamma: float, least: float) -> np.ndarray:
    """Fewest edges t -> T over the edges of weight >= ``least`` (and > 0), breadth first from
    T along the edges i -> j of weight w = beta [i = j-1] + gamma alpha[j-1, i]."""
    T = alpha.shape[0]
    dist, frontier = {T: 0}, [T]
    while frontier:
        nxt = []
        for j in frontier:
            for i in range(j):
                w = beta * (i == j - 1) + gamma * alpha[j - 1, i]
                if w > 0 and w >= least and i not in dist:
                    dist[i] = dist[j] + 1
                    nxt.append(i)
        frontier = nxt
    return np.array([dist.get(t, np.inf) for t in range(T)])


@given(random_patterns(max_T=7), st.floats(0.0, 1.0),
       st.one_of(st.just(0.0), st.floats(0.05, 1.0)))
def test_strong_path_against_breadth_first_search(p, beta, gamma):
    """B5's hypothesis: a path of d(t, T) edges whose every weight is >= gamma/kappa (with
    gamma = 0, any path: the search then walks the recurrent edges alone)."""
    alpha, kappa = p.dense(), sparsity(p)
    d = depth_by_search(alpha, beta, gamma, 0.0)
    strong = depth_by_search(alpha, beta, gamma, gamma / kappa * (1 - 1e-12))
    want = np.isfinite(d) & (strong == d)
    np.testing.assert_array_equal(outcome("strong_path", pattern=p, beta=beta,
                                          gamma=gamma).holds, want)


def test_strong_path_with_a_weak_shortest_path():
    """T = 3, kappa = 2: the hop 0 -> 3 has weight gamma * 0.45 < gamma/2, so t = 0 has no
    strong path of d = 1 edge (a strong path of 3 recurrent edges does not count); with
    weight 0.55 it has one."""
    for w, want in ((0.45, False), (0.55, True)):
        a = np.array([[1.0, 0, 0], [0, 1.0, 0], [w, 0, 1 - w]])
        got = outcome("strong_path", pattern=patterns.from_matrix(a), beta=1.0, gamma=1.0)
        assert got.holds[0] == want and got.holds[1:].all()


# --------------------------------------------------------------------------------- B7


@st.composite
def relevancy_histories(draw: st.DrawFn):
    """A relevant set's history, simulated here: each state i >= 1 leaves the buffer at step
    i + nu and is admitted or not; a full set evicts a drawn member. Returns (relevant_time,
    alpha_last, nu, rho, held), held[s] the states in the set at step s."""
    T, nu, rho = draw(st.integers(2, 16)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    members: list[int] = []
    held, relevant_time = [], np.full((T, rho), -1)
    for s in range(T):
        leaving = s - nu
        if leaving >= 1 and draw(st.booleans()):
            if len(members) == rho:
                members.pop(draw(st.integers(0, rho - 1)))
            members.append(leaving)
        held.append(set(members))
        relevant_time[s, :len(members)] = members
    floor = 1.0 / (nu + rho)
    alpha_last = np.array(draw(st.lists(st.sampled_from([0.0, 0.5 * floor, floor, 2 * floor]),
                                        min_size=T, max_size=T)))
    return relevant_time, alpha_last, nu, rho, held


@given(relevancy_histories())
def test_retained_event_against_the_replayed_history(history):
    """B7 at t: h_t entered the set (step t + nu) and is held at every step to T - 1, and step
    T - 1 gives it weight >= 1/(nu + rho)."""
    relevant_time, alpha_last, nu, rho, held = history
    T = len(held)
    got = outcome("retained_event", relevant_time=relevant_time, alpha_last=alpha_last, nu=nu,
                  rho=rho).holds
    want = [t >= 1 and t + nu <= T - 1 and all(t in held[s] for s in range(t + nu, T))
            and alpha_last[t] >= 1.0 / (nu + rho) for t in range(T)]
    np.testing.assert_array_equal(got, want)


def test_an_evicted_and_readmitted_state_is_not_retained():
    """State 1 is in the set at steps 2 and 4 but not 3: present at the end, yet evicted on
    the way, so it has no hop to every later T."""
    relevant_time = np.array([[-1], [-1], [1], [2], [1]])
    got = outcome("retained_event", relevant_time=relevant_time, alpha_last=np.ones(5), nu=1,
                  rho=1).holds
    np.testing.assert_array_equal(got, [False] * 5)


@pytest.mark.parametrize("key", sorted(HYPOTHESES))
def test_a_hypothesis_without_its_context_is_unknown_not_false(key):
    out = HYPOTHESES[key].evaluate()
    assert out.holds is None and out.why_not


@pytest.mark.parametrize(("mode", "learned", "holds"), [
    ("fixed", False, True), ("fixed", True, True), ("full", False, True), ("full", True, False)])
def test_fixed_alpha_fails_only_with_live_learned_attention(mode, learned, holds):
    out = outcome("fixed_alpha", mode=mode, learned=learned)
    assert out.holds == holds and (holds or "score terms" in out.why_not)


def test_step_summary_by_chunks_is_the_statement(monkeypatch):
    """Many steps are summarised a few at a time (bounded temporaries): the same per-step
    facts as a loop over the steps written here."""
    from bounds import hypotheses

    rng = np.random.default_rng(3)
    J = rng.uniform(-0.1, 1.0, (23, 3, 3))
    J[::4] = rng.uniform(0.5, 2.0, (6, 1, 1)) * np.eye(3)
    monkeypatch.setattr(hypotheses, "SUMMARY_ENTRIES", 9 * 5)  # five matrices at a time
    s = step_summary(J)
    for k, j in enumerate(J):
        c = np.trace(j) / 3
        assert s["c"][k] == pytest.approx(c)
        off = max(abs(j[a, b] - c * (a == b)) for a in range(3) for b in range(3))
        assert s["aligned"][k] == (off <= 1e-12 * np.abs(j).max())  # the stated tolerance
        assert s["nonnegative"][k] == bool((j >= 0).all())


@pytest.mark.parametrize("shape", [(3, 2, 3), (3, 3, 2), (2, 2), (2, 2, 2, 2)])
def test_step_summary_needs_square_step_jacobians(shape):
    with pytest.raises(ValueError, match=r"parameter 'jac' must have shape \(T, n, n\)"):
        step_summary(np.zeros(shape))
