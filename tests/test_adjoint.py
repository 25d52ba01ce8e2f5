"""The blocked adjoint (Lemma 1, THEORY.md sections 2 and 5) against independent references:
the node-at-a-time recursion ``adjoint``, Lemma 1's path sum written out (tests/reference.py),
the log-domain scalar recursion of B2 on aligned Jacobians, and a closed form at T = 100000."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import jacobian_path_sum
from strategies import random_patterns

from bounds import patterns
from bounds.recursions import Graph, graph, path_sum
from verify.measurement.adjoint import BLOCK_LONG, _schedule, adjoint, blocked_adjoint

LN10 = math.log(10.0)
U32 = float(np.finfo(np.float32).eps) / 2
U64 = float(np.finfo(np.float64).eps) / 2


@st.composite
def named_patterns(draw: st.DrawFn, max_T: int = 40) -> patterns.Pattern:
    """A pattern of any kind of bounds.patterns, or a random user matrix."""
    kind = draw(st.sampled_from(patterns.KINDS + ("matrix",)))
    if kind == "matrix":
        return draw(random_patterns(max_T=min(max_T, 12)))
    T = draw(st.integers(1, max_T))
    return patterns.build(
        kind, T, nu=draw(st.integers(1, 6)), k=draw(st.integers(1, 6)),
        kappa=draw(st.integers(1, 5)), seed=draw(st.integers(0, 9)),
        E=sorted(draw(st.sets(st.integers(0, T - 1), max_size=4))))


# No subnormal beta, gamma: the reference multiplies w K_j, which loses bits when w is
# subnormal (the blocked recursion takes log w, so it does not).
coefficient = st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0.0, 2.0, allow_subnormal=False)


def jacobians(T: int, n: int, seed: int) -> torch.Tensor:
    """Random step Jacobians of spectral size about 1 (sign-indefinite: paths cancel)."""
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.standard_normal((T, n, n)) / math.sqrt(n))


def undo(M: torch.Tensor, s: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """``M[i] exp(s[i] - unit[i])``: G_i in units of ``exp(unit[i])`` (0 where s = -inf)."""
    with np.errstate(over="ignore"):
        return M.double().cpu().numpy() * np.exp(s - unit)[:, None, None]


def assert_same_adjoint(g: Graph, J: torch.Tensor, got: tuple[torch.Tensor, np.ndarray],
                        ref: tuple[torch.Tensor, np.ndarray], rtol: float) -> None:
    """``max |G_got - G_ref| <= (rtol + 2 (T+1) u |s_A|) max |A|`` at every node, where A is
    the path sum of |J| (the reference recursion on |W|, |J|: an entrywise bound on every
    path's term, so the tolerance is relative to what is summed, and exact cancellation
    between paths cannot make it unattainable) and ``s_A`` its log-scale (a scale is a
    logarithm: each of up to T+1 additions rounds it by u |s|, a relative error of G). Where
    no path reaches T both are exactly 0 (s = -inf); elsewhere the mantissa of ``got`` is
    normalised (max |M_i| = 1 unless G_i = 0)."""
    (M, s), (Mr, sr) = got, ref
    Ma, sa = adjoint(g, J.abs().double().cpu())
    none = np.isneginf(sa)
    assert np.all(np.isneginf(s[none])) and np.all(np.isneginf(sr[none]))
    assert not M[torch.as_tensor(none)].any()
    live = torch.as_tensor(~none)
    err = np.abs(undo(M[live], s[~none], sa[~none]) - undo(Mr[live], sr[~none], sa[~none]))
    tol = rtol + 2 * len(s) * U64 * np.abs(sa[~none])
    np.testing.assert_array_less(err.max(axis=(1, 2)), tol * (1 + 1e-9))
    finite = torch.as_tensor(np.isfinite(s))
    np.testing.assert_array_equal(M[finite].abs().amax(dim=(1, 2)).double().numpy(), 1.0)


@given(named_patterns(), coefficient, coefficient, st.integers(1, 4), st.integers(0, 2**31),
       st.data())
def test_blocked_equals_reference_recursion(p, beta, gamma, n, seed, data):
    """float64: 1e-12 relative per node in the max norm (relative to the path sum of |J|,
    which is max |G| itself when no paths cancel; both sides are O(T n) ulps from the exact
    G_i on these O(1) matrices, summation order being the only difference). Block sizes from
    1 to beyond T + 1, dividing T + 1 or not, up to 2^80 (one block of every node)."""
    block = data.draw(st.integers(1, p.T + 3) | st.integers(p.T + 1, 2**80), label="block")
    g = graph(p, beta, gamma)
    J = jacobians(p.T, n, seed)
    assert_same_adjoint(g, J, blocked_adjoint(g, J, block=block), adjoint(g, J), 1e-12)


@given(named_patterns(), coefficient, coefficient, st.integers(1, 4), st.integers(0, 2**31),
       st.sampled_from([torch.float64, torch.float32]), st.data())
def test_factored_jacobians_give_the_dense_adjoint(p, beta, gamma, n, seed, dtype, data):
    """J_k = diag(d_k) V kept factored (built a block at a time) against the reference
    recursion on the dense J: 1e-12 relative in float64 as above; in float32 the tolerance of
    the float32 test below (8 (T+1) n u_32 of the path sum of |J|). d in (0, 1] like
    tanh', V sign-indefinite, block sizes dividing T + 1 or not."""
    from verify.models.jacobians import DiagTimes
    block = data.draw(st.integers(1, p.T + 3), label="block")
    rng = np.random.default_rng(seed)
    d = torch.as_tensor(rng.uniform(0.0, 1.0, (p.T, n)) + 1e-3, dtype=dtype)
    V = torch.as_tensor(rng.standard_normal((n, n)) / math.sqrt(n), dtype=dtype)
    g = graph(p, beta, gamma)
    Jd = d.unsqueeze(-1) * V
    tol = 1e-12 if dtype == torch.float64 else 8 * (p.T + 1) * n * U32
    got = blocked_adjoint(g, DiagTimes(d, V), block=block)
    assert got[0].dtype == dtype
    assert_same_adjoint(g, Jd.double(), got, adjoint(g, Jd.double()), tol)


@given(random_patterns(max_T=6), coefficient, coefficient, st.integers(1, 3),
       st.integers(0, 2**31), st.integers(1, 8))
def test_blocked_equals_enumerated_path_sum(p, beta, gamma, n, seed, block):
    """Lemma 1's right-hand side, every path multiplied out (no graph, no recursion)."""
    J = jacobians(p.T, n, seed)
    M, s = blocked_adjoint(graph(p, beta, gamma), J, block=block)
    alpha = p.dense()
    for t in range(p.T):
        want = jacobian_path_sum(alpha, beta, gamma, J.numpy(), t)
        got = M[t].numpy() * math.exp(s[t]) if s[t] > -math.inf else np.zeros_like(want)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * max(1.0, np.abs(want).max()))


@given(named_patterns(max_T=30), coefficient, coefficient, st.integers(1, 4),
       st.integers(0, 2**31), st.data())
def test_float32_matches_float64_within_rounding(p, beta, gamma, n, seed, data):
    """float32 against the float64 reference, per node up to ``8 (T+1) n u32`` times the path
    sum of |J|: a product of m matrices carries a relative error of order m n u (THEORY.md
    section 9), and bounding against the absolute path sum covers cancellation between
    paths."""
    block = data.draw(st.integers(1, p.T + 3), label="block")
    g = graph(p, beta, gamma)
    J = jacobians(p.T, n, seed)
    got = blocked_adjoint(g, J.float(), block=block)
    assert got[0].dtype == torch.float32
    assert_same_adjoint(g, J, got, adjoint(g, J), 8 * (p.T + 1) * n * U32)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-3)])
@pytest.mark.parametrize("p", [patterns.window(3000, 7), patterns.strided(3000, 13),
                               patterns.events(3000, [0, 5, 700, 2100], 4)],
                         ids=["window", "strided", "events"])
def test_long_horizon_aligned_equals_log_path_sum(p, dtype, tol):
    """J_k = c_k I: G_t = P_c(t) I exactly (B2), so log10 ||G_t||_2 is the log-domain scalar
    path sum. c_k in [0.05, 0.8] puts the window's P_c(0) below the float range (log10 < -308).
    Tolerance on log10: float64 ~3000 ulps of rounding (1e-10);
    float32 ~3000 u32 (1e-3). The mantissa must stay a multiple of I."""
    c = np.random.default_rng(p.T).uniform(0.05, 0.8, p.T)
    J = (torch.as_tensor(c)[:, None, None] * torch.eye(3, dtype=torch.float64)).to(dtype)
    M, s = blocked_adjoint(graph(p, 0.5, 0.5), J)
    want = path_sum(p, 0.5, 0.5, c, log10=True)
    got = s[:p.T] / LN10 + np.log10(torch.linalg.matrix_norm(M[:p.T].double(), 2).numpy())
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    assert (M - torch.diag_embed(torch.diagonal(M, dim1=1, dim2=2))).abs().max() == 0
    if p.kind == "window":
        assert want[0] < -308


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_rnn_over_100000_steps(dtype):
    """Plain RNN, J = 0.5 I: G_t = 0.5^(T-t) I, which underflows float64 after 1075 steps and
    float32 after 150; the carried scale gives log10 ||G_t|| = (T - t) log10 0.5 to 1e-9
    relative (a running sum of 10^5 logarithms of exact powers of two)."""
    T = 100_000
    J = torch.full((T, 1, 1), 0.5, dtype=dtype)
    M, s = blocked_adjoint(graph(patterns.none(T), 1.0, 0.0), J)
    assert np.all(np.isfinite(s)) and torch.all(M == 1)
    np.testing.assert_allclose(s / LN10, (T - np.arange(T + 1)) * math.log10(0.5), rtol=1e-9)


def test_uniform_and_sparse_take_their_fast_paths():
    """The cases the equality tests must cover exist: uniform attention runs on the prefix sum
    (no pushes but the recurrent edge into each block), a kappa-sparse pattern pushes through
    sparse products, a window through dense ones; each still equals the reference, with the
    given block and with the default one (short for these, long for dense attention)."""
    dense = np.tril(np.random.default_rng(0).uniform(0.1, 1.0, (150, 150)))
    cases = [(patterns.uniform(200), 16), (patterns.sparse(300, 4, seed=2), 32),
             (patterns.window(300, 20), 32), (patterns.from_matrix(dense / dense.sum(1)[:, None]),
                                              None)]
    for p, block in cases:
        g = graph(p, 0.5, 0.5)
        sc = _schedule(g, block)
        pushed = np.diff(sc.push_off)
        if p.kind == "uniform":
            assert sc.r_update.sum() > 0 and pushed.max() == 1
        if p.kind == "sparse":
            assert (~sc.dense[pushed > 0]).any()
        if p.kind == "window":
            assert sc.dense[pushed > 0].all()
        if p.kind == "matrix":
            assert sc.B == BLOCK_LONG
        J = jacobians(p.T, 3, p.T)
        ref = adjoint(g, J)
        assert_same_adjoint(g, J, blocked_adjoint(g, J, block=block), ref, 1e-12)
        assert_same_adjoint(g, J, blocked_adjoint(g, J), ref, 1e-12)


@given(st.integers(1, 300), st.integers(1, 40), coefficient, st.integers(0, 2**31))
def test_a_chain_takes_the_lean_path(T, block, beta, seed):
    """A plain RNN's chain: every node but T and the last node of each block (whose one
    successor lies in the block done before, so it pulls its pushed accumulator) has a
    single pull into an empty slot and takes the lean path, G_i = w K_{i+1}; the result
    equals the reference recursion."""
    g = graph(patterns.none(T), beta, 0.0)
    sc = _schedule(g, block)
    pushed = set(sc.push_rows.tolist()) if beta > 0 else set()
    assert set(np.flatnonzero(sc.lean < 0).tolist()) == ({T} | pushed if beta > 0
                                                         else set(range(T + 1)))
    J = jacobians(T, 2, seed)
    assert_same_adjoint(g, J, blocked_adjoint(g, J, block=block), adjoint(g, J), 1e-12)


SYNCS = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__")


def count_reads(monkeypatch, T: int) -> int:
    """Calls that read a tensor's value back to the host during one blocked_adjoint."""
    calls = [0]
    for name in SYNCS:
        orig = getattr(torch.Tensor, name)

        def wrapped(self, *a, _orig=orig, **kw):
            calls[0] += 1
            return _orig(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, wrapped)
    g = graph(patterns.events(T, [0, T // 3], 3), 0.5, 0.5)
    J = jacobians(T, 2, 0)
    blocked_adjoint(g, J, block=4)
    monkeypatch.undo()
    return calls[0]


def test_no_host_reads_inside_the_loop(monkeypatch):
    """The device values come back once (the scales at the end), whatever the number of
    nodes and blocks: no .item(), float(tensor), bool(tensor) or copy to the host per node."""
    few, many = count_reads(monkeypatch, 20), count_reads(monkeypatch, 120)
    assert few == many <= 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available here")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cuda_matches_cpu_without_synchronising(dtype):
    """Same result on CUDA; torch's sync debug mode reports every host synchronisation, and
    their number must not grow with T (one at the end)."""
    out = {}
    for T in (30, 150):
        g = graph(patterns.events(T, [0, T // 2], 4), 0.5, 0.5)
        J = jacobians(T, 3, T).to(dtype)
        cpu = blocked_adjoint(g, J, block=8)
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                gpu = blocked_adjoint(g, J.cuda(), block=8)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        out[T] = len(seen)
        assert gpu[0].device.type == "cuda"
        tol = 1e-12 if dtype == torch.float64 else 16 * (T + 1) * 3 * U32  # both within 8(T+1)nu
        assert_same_adjoint(g, J.double(), (gpu[0].cpu(), gpu[1]), cpu, tol)
    assert out[30] == out[150]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available here")
def test_cuda_peak_memory_within_twice_the_output():
    """Peak device memory beyond the input J: at most 2 T n^2 (the output M is T n^2)."""
    T, n = 2000, 32
    g = graph(patterns.window(T, 32), 0.5, 0.5)
    J = jacobians(T, n, 0).cuda()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    blocked_adjoint(g, J)
    assert torch.cuda.max_memory_allocated() - base <= 2 * (T + 1) * n * n * 8


@settings(max_examples=10)
@given(st.integers(-3, 0))
def test_bad_block_is_refused(block):
    with pytest.raises(ValueError, match="parameter 'block'"):
        blocked_adjoint(graph(patterns.uniform(3), 0.5, 0.5), jacobians(3, 2, 0), block=block)


@given(named_patterns(), st.integers(1, 4), st.integers(0, 2**31), st.data())
def test_zero_weight_edges_count_for_nothing(p, n, seed, data):
    """Edges of weight 0 (gamma = 0, or a weight that underflowed) are accepted and add
    nothing: the same G_i as the reference recursion, which multiplies by the zero weight.
    The zeros are planted on random edges, beta = 1 keeps the chain."""
    g = graph(p, 1.0, 0.5)
    zero = np.array(data.draw(st.lists(st.booleans(), min_size=g.weight.size,
                                       max_size=g.weight.size), label="zero"), dtype=bool)
    g = Graph(g.T, g.ptr, g.src, np.where(zero, 0.0, g.weight))
    J = jacobians(p.T, n, seed)
    block = data.draw(st.integers(1, p.T + 3), label="block")
    assert_same_adjoint(g, J, blocked_adjoint(g, J, block=block), adjoint(g, J), 1e-12)


def test_negative_edge_weights_are_refused():
    g = graph(patterns.uniform(3), 0.5, 0.5)
    bad = Graph(g.T, g.ptr, g.src, -g.weight)
    with pytest.raises(ValueError, match="parameter 'g'"):
        blocked_adjoint(bad, jacobians(3, 2, 0))


def test_wrong_number_of_jacobians_is_refused():
    with pytest.raises(ValueError, match="parameter 'J' must hold T = 4 step Jacobians, got 3"):
        blocked_adjoint(graph(patterns.uniform(4), 0.5, 0.5), jacobians(3, 2, 0))
    with pytest.raises(ValueError, match="parameter 'J'"):
        blocked_adjoint(graph(patterns.uniform(3), 0.5, 0.5), torch.zeros(3, 2, 3))
