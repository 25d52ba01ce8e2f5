"""``measure`` against independent references (THEORY.md sections 2-5): torch.func.jacrev of
h_T with respect to the probes (the model's forward only, none of measure's or the adjoint's
code), the scalar recursion of B2, closed forms of section 3, and the catalog's inequalities
B1, B3, B2+ on hypothesis-drawn networks."""

import math
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_models import DenseJacobians, HiddenCell
from reference import path_terms

from bounds.patterns import build, from_matrix, uniform
from bounds.recursions import max_path, path_sum
from verify.measurement import measure
from verify.models import Nonlinearity, controlled
from verify.models.spectra import KINDS as SPECTRA

T, N, M = 6, 3, 2
# float64 Jacobian products over <= 7 steps of O(1) matrices: both sides are exact to ~1e-15
# relative; 1e-10 (the required accuracy) leaves room for cancellation in small entries.
RTOL = 1e-10
SOFTPLUS = Nonlinearity(lambda a: torch.log1p(torch.exp(a)), torch.sigmoid, "softplus")


def user_matrix():
    a = np.tril(np.random.default_rng(7).uniform(0.0, 1.0, (T, T)))
    a[2, :2] = 0.0
    return from_matrix(a / a.sum(axis=1, keepdims=True))


PATTERNS = {
    "none": lambda: build("none", T),
    "uniform": lambda: build("uniform", T),
    "window": lambda: build("window", T, nu=2),
    "strided": lambda: build("strided", T, k=2),
    "sparse": lambda: build("sparse", T, kappa=3, seed=1),
    "events": lambda: build("events", T, E=[1, 3], nu=2),
    "matrix": user_matrix,
}


def make(spectrum="gaussian", phi="tanh", pattern="uniform", learned=False, n=N, steps=T,
         seed=0, **kw):
    p = None if pattern is None else (PATTERNS[pattern]() if isinstance(pattern, str)
                                      else pattern)
    model = controlled(
        spectrum, n, M, phi, scale=0.9, gain=1.3,
        nonnormal=0.5 if spectrum == "eigen" and n > 1 else 0.0,
        pattern=p, learned=learned, seed=seed, bias_scale=0.2, device="cpu", **kw)
    x = torch.as_tensor(np.random.default_rng(seed + 100).standard_normal((2, steps, M)))
    return model, x.to(model.cell.V.dtype)


def jacrev_reference(model, x, detach):
    """G_t = dh_T/dh_t (T+1, n, n) of x[0] by torch.func.jacrev through the probes."""
    steps = x.shape[1]

    def h_T(p):
        return model(x[:1], probe=p.unsqueeze(0), detach_attention=detach).h[0, steps]

    jac = torch.func.jacrev(h_T)(x.new_zeros(steps + 1, model.hidden))
    return jac.permute(1, 0, 2).detach().double().numpy()


def assert_matches(m, ref, rtol=RTOL):
    for t in range(m.T):
        err = np.linalg.norm(m.jacobian(t) - ref[t]) / np.linalg.norm(ref[t])
        assert err <= rtol, f"t = {t}: relative error {err:.2e}"


@pytest.mark.parametrize("mode", ["fixed", "full"])
@pytest.mark.parametrize(("pattern", "learned"),
                         [(k, False) for k in PATTERNS] + [("uniform", True), ("window", True),
                                                           ("events", True), ("matrix", True)])
def test_every_pattern_matches_jacrev(pattern, learned, mode):
    model, x = make(pattern=pattern, learned=learned)
    m = measure(model, x, mode=mode)
    assert_matches(m, jacrev_reference(model, x, detach=mode == "fixed"))
    assert (m.gap is not None) == (learned and mode == "full")


@pytest.mark.parametrize("mode", ["fixed", "full"])
@pytest.mark.parametrize("spectrum", SPECTRA)
def test_every_spectrum_matches_jacrev(spectrum, mode):
    model, x = make(spectrum, pattern="window", learned=True)
    assert_matches(measure(model, x, mode=mode), jacrev_reference(model, x, mode == "fixed"))


@pytest.mark.parametrize("mode", ["fixed", "full"])
@pytest.mark.parametrize("phi", ["linear", "tanh", "relu", SOFTPLUS])
def test_every_nonlinearity_matches_jacrev(phi, mode):
    model, x = make("orthogonal", phi, pattern="uniform", learned=True)
    assert_matches(measure(model, x, mode=mode), jacrev_reference(model, x, mode == "fixed"))


@settings(max_examples=15)
@given(spectrum=st.sampled_from(SPECTRA), phi=st.sampled_from(["linear", "tanh", "relu"]),
       pattern=st.sampled_from(list(PATTERNS)), seed=st.integers(0, 1000))
def test_dense_step_jacobians_of_a_protocol_model(spectrum, phi, pattern, seed):
    """A model of another's that gives J_k as a plain (T, n, n) tensor is measured as well:
    G_t against jacrev, lambda_k and mu_k against numpy's SVD of its J_k, and the step
    hypotheses, bounds and verdicts as for the toolkit's own factored J_k. The dense J_k are
    summarised a batch at a time: batches of 4 matrices here, so T = 6 takes two."""
    model, x = make(spectrum, phi, pattern, seed=seed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("verify.measurement.jacobian_profile.CHUNK_ENTRIES", 4 * N * N)
        m = measure(DenseJacobians(model), x, batch_index=1)
    ref = jacrev_reference(model, x[1:], detach=True)
    for t in range(T):  # a dead relu network has G_t = 0: relative to the largest G_t
        np.testing.assert_allclose(m.jacobian(t), ref[t], rtol=RTOL,
                                   atol=RTOL * np.abs(ref).max())
    J = model.step_jacobians(model(x), 1).numpy()
    sv = np.linalg.svd(J, compute_uv=False)
    np.testing.assert_allclose(m.lam, sv[:, 0], rtol=1e-12)
    np.testing.assert_allclose(m.mu, sv[:, -1], rtol=1e-9, atol=1e-14 * sv[:, 0].max())
    own = measure(model, x, batch_index=1)
    assert m.hypotheses == own.hypotheses
    for key, value in own.steps.items():
        np.testing.assert_allclose(m.steps[key], value, rtol=1e-12, atol=0)
    assert m.bounds.keys() == own.bounds.keys()
    for key, value in own.bounds.items():
        np.testing.assert_allclose(m.bounds[key], value, rtol=1e-12)
    assert m.verdicts.keys() == own.verdicts.keys()
    for name, v in own.verdicts.items():  # lambda_k to rounding: an orthogonal V takes no SVD
        mine = m.verdicts[name]
        assert (mine.applicable.tolist(), mine.holds.tolist(), mine.failed) == (
            v.applicable.tolist(), v.holds.tolist(), v.failed)
        np.testing.assert_allclose(mine.log10_bound, v.log10_bound, rtol=1e-12, atol=1e-12)


def test_score_term_gap_is_full_minus_fixed():
    model, x = make(pattern="uniform", learned=True)
    full, fixed = jacrev_reference(model, x, False), jacrev_reference(model, x, True)
    m = measure(model, x, mode="full")
    want = [np.linalg.norm(full[t] - fixed[t], 2) / np.linalg.norm(full[t], 2) for t in range(T)]
    np.testing.assert_allclose(m.gap, want, rtol=1e-8)
    assert m.gap.max() > 1e-3  # the score terms are real: learned attention is not fixed
    assert not m.hypotheses["fixed_alpha"] and measure(model, x).hypotheses["fixed_alpha"]


@pytest.mark.parametrize("mode", ["fixed", "full"])
def test_any_cell_through_the_probe_convention(mode):
    model, x = make(pattern="window", learned=True)
    m = measure(HiddenCell(model), x, mode=mode)
    assert_matches(m, jacrev_reference(model, x, mode == "fixed"))
    assert m.lam is None and m.bounds == {} and not m.hypotheses["step_jacobians"]
    assert m.kappa == 2
    if mode == "full":
        full, fixed = jacrev_reference(model, x, False), jacrev_reference(model, x, True)
        want = [np.linalg.norm(full[t] - fixed[t], 2) / np.linalg.norm(full[t], 2)
                for t in range(T)]
        np.testing.assert_allclose(m.gap, want, rtol=1e-8)


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_aligned_case_is_the_scalar_path_sum(pattern):
    """B2: linear phi and V = cI give J_k = cI, so ||G_t|| = P_c(t) = sigma_min(G_t), with
    P_c(t) summed here over every enumerated path (tests/reference.py)."""
    model, x = make("identity", "linear", pattern)
    m = measure(model, x)
    c = 0.9
    alpha = (model.pattern or build("none", T)).dense()
    want = [sum(path_terms(alpha, model.beta, model.gamma, [c] * T, t)) for t in range(T)]
    assert m.hypotheses["aligned"]
    np.testing.assert_allclose(m.norm2, want, rtol=RTOL)
    np.testing.assert_allclose(m.sigma_min, want, rtol=RTOL)
    np.testing.assert_allclose(m.bounds["aligned_exact"], want, rtol=RTOL)


def test_plain_rnn_closed_forms():
    """Section 3: plain RNN depth T - t; aligned profile (beta c)^(T-t)."""
    model, x = make("identity", "linear", None, beta=0.8)
    m = measure(model, x)
    np.testing.assert_array_equal(m.depth, T - np.arange(T))
    np.testing.assert_allclose(m.norm2, (0.8 * 0.9) ** (T - np.arange(T)), rtol=RTOL)
    assert m.kappa == 0 and m.hypotheses["rnn"]


def test_window_depth_and_kappa():
    """Section 3: sliding window nu has d(t, T) = ceil((T - t)/nu) and kappa = nu."""
    steps = 11
    model, x = make(pattern=build("window", steps, nu=3), steps=steps)
    m = measure(model, x)
    np.testing.assert_array_equal(m.depth, np.ceil((steps - np.arange(steps)) / 3))
    assert m.kappa == 3


def test_learned_kappa_is_the_support_attended():
    model, x = make(pattern="strided", learned=True)
    assert measure(model, x).kappa == 3  # strided k = 2 over T = 6: S_5 = {1, 3, 5}


def test_loss_gradient_profile():
    """grad_{h_t} L = G_t^T grad_{h_T} L for L = sum_b ||h_T^b||^2 / 2 (Lemma 1)."""
    model, x = make(pattern="uniform", learned=True)
    for mode in ("fixed", "full"):
        G = jacrev_reference(model, x, mode == "fixed")
        hT = model(x[:1]).h[0, T].detach().numpy()
        m = measure(model, x, mode=mode, loss=lambda r: 0.5 * r.h[:, -1].pow(2).sum())
        want = [np.linalg.norm(G[t].T @ hT) for t in range(T)]
        np.testing.assert_allclose(m.grad_norm, want, rtol=RTOL)


@pytest.mark.parametrize("path", ["full mode", "probe convention", "loss profile"])
def test_batch_index_selects_the_sequence_on_every_path(path):
    """Sequence 1 of two, on the paths that do not go through Lemma 1's adjoint: live
    attention (full mode), a cell without step Jacobians, and the loss-gradient profile;
    against torch.func on x[1] alone."""
    model, x = make(pattern="window", learned=True)
    x[1] = 3.0 * x[1] + 0.5  # so that a wrong sequence cannot agree to rounding
    one = x[1:2]
    if path == "full mode":
        m = measure(model, x, mode="full", batch_index=1)
        assert_matches(m, jacrev_reference(model, one, detach=False))
        full, fixed = jacrev_reference(model, one, False), jacrev_reference(model, one, True)
        want = [np.linalg.norm(full[t] - fixed[t], 2) / np.linalg.norm(full[t], 2)
                for t in range(T)]
        np.testing.assert_allclose(m.gap, want, rtol=1e-8)
    elif path == "probe convention":
        m = measure(HiddenCell(model), x, batch_index=1)
        assert_matches(m, jacrev_reference(model, one, detach=True))
    else:
        G = jacrev_reference(model, one, detach=True)
        hT = model(one).h[0, T].detach().numpy()
        m = measure(model, x, loss=lambda r: 0.5 * r.h[:, -1].pow(2).sum(), batch_index=1)
        want = [np.linalg.norm(G[t].T @ hT) for t in range(T)]
        np.testing.assert_allclose(m.grad_norm, want, rtol=RTOL)


def sandwich(m):
    """B1 >= ||G_t||_2 >= B3 at every t. Rounding: the measured norm and the bounds are each
    exact to ~1e-15 relative of P_lambda; B3 subtracts terms of size P_lambda, so the slack is
    relative to the upper bound."""
    up, lo = m.bounds["path_sum_upper"], m.bounds["dominant_path_lower"]
    slack = 1e-9 * up
    assert np.all(m.norm2 <= up + slack), (m.norm2, up)
    assert np.all(m.norm2 >= lo - slack), (m.norm2, lo)


networks = st.fixed_dictionaries({
    "seed": st.integers(0, 10_000),
    "n": st.integers(1, 4),
    "steps": st.integers(1, 7),
    "pattern": st.sampled_from(["none", "uniform", "window", "strided", "sparse", "events"]),
    "learned": st.booleans(),
    "spectrum": st.sampled_from(SPECTRA),
    "phi": st.sampled_from(["linear", "tanh", "relu"]),
    "beta": st.floats(0.05, 1.0),
    "gamma": st.floats(0.0, 1.0),
})


def build_drawn(d, spectrum=None):
    steps = d["steps"]
    pattern = build(d["pattern"], steps, nu=2, k=2, kappa=2, seed=d["seed"],
                    E=[0])
    learned = d["learned"] and not pattern.empty
    return make(spectrum or d["spectrum"], d["phi"], pattern, learned, n=d["n"], steps=steps,
                seed=d["seed"], beta=d["beta"], gamma=d["gamma"])


@given(networks)
def test_bounds_sandwich_the_measurement(d):
    model, x = build_drawn(d)
    sandwich(measure(model, x))


@given(networks)
def test_nonnegative_networks_satisfy_nonneg_lower(d):
    """B2+: J_k = diag(phi') V >= 0 entrywise when V >= 0 (phi' >= 0 for all three)."""
    model, x = build_drawn(d, "nonneg")
    m = measure(model, x)
    assert m.hypotheses["nonnegative"]
    sandwich(m)
    assert np.all(m.norm2 >= m.bounds["nonneg_lower"] * (1 - 1e-12))


def test_naive_max_path_lower_bound_fails_on_real_networks():
    """THEORY.md "B3 is needed": ||G_t|| >= M_mu(t) is false for sign-indefinite J. Search
    small real networks (n = 2, T = 3, uniform attention, Gaussian V, tanh or linear) in a
    fixed seed order; the first counterexample must turn up, and B3 must still hold there."""
    pattern = uniform(3)
    for seed in range(200):
        for phi in ("tanh", "linear"):
            model, x = make("gaussian", phi, pattern, n=2, steps=3, seed=seed)
            m = measure(model, x)
            if np.any(m.mu == 0):
                continue
            naive = max_path(pattern, model.beta, model.gamma, m.mu)
            if np.any(m.norm2 < naive * (1 - 1e-6)):
                assert not m.hypotheses["nonnegative"]
                sandwich(m)
                return
    pytest.fail("no counterexample to the naive max-path bound among 400 real networks")


def test_long_horizon_does_not_underflow():
    """Section 5, log domain: T = 20000, V = 0.5 Q, linear: ||G_0|| = 0.5^20000 = 10^-6020.6,
    far below float64's range. Relative 1e-6 (required); the value is exact to ~1e-12."""
    steps = 20_000
    model = controlled("orthogonal", 4, 1, "linear", scale=0.5, device="cpu")
    x = torch.as_tensor(np.random.default_rng(0).standard_normal((1, steps, 1)))
    start = time.perf_counter()
    m = measure(model, x)
    elapsed = time.perf_counter() - start
    want = (steps - np.arange(steps)) * math.log10(0.5)
    np.testing.assert_allclose(m.log10_norm2, want, rtol=1e-6)
    np.testing.assert_allclose(m.log10_sigma_min, want, rtol=1e-6)
    np.testing.assert_allclose(m.bounds_log10["path_sum_upper"], want, rtol=1e-6)
    assert m.norm2[0] == 0.0 and np.isfinite(m.log10_fro).all()
    print(f"T = {steps}: measure took {elapsed:.1f} s")


def test_step_jacobians_are_built_a_batch_at_a_time(monkeypatch):
    """A vanilla network's J_k stay factored (diag(phi'(a_k)) V): measure builds them a block
    (the adjoint) or a batch (norms, step summary) at a time, never all T at once, and
    lambda_k, mu_k and the step summary are those of the dense J_k (numpy's SVD of each,
    written here; 1e-13 relative: both are LAPACK's gesdd on the same entries, batched
    differently)."""
    from bounds.hypotheses import step_summary
    from verify.models.jacobians import DiagTimes

    built = []
    getitem = DiagTimes.__getitem__

    def spy(self, k):
        out = getitem(self, k)
        built.append(out.shape[0] if out.ndim == 3 else 1)
        return out

    monkeypatch.setattr(DiagTimes, "__getitem__", spy)
    T, n = 300, 64
    model = controlled("gaussian", n, 3, "tanh", pattern=uniform(T), bias_scale=0.5, seed=3,
                       device="cpu")
    x = torch.randn(1, T, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    m = measure(model, x)
    assert built and max(built) < T
    monkeypatch.setattr(DiagTimes, "__getitem__", getitem)
    J = model.step_jacobians(model(x, detach_attention=True)).numpy()
    sv = np.linalg.svd(J, compute_uv=False)
    np.testing.assert_allclose(m.lam, sv[:, 0], rtol=1e-13)
    np.testing.assert_allclose(m.mu, sv[:, -1], rtol=1e-13)
    want = step_summary(J)
    for key, value in want.items():
        np.testing.assert_array_equal(m.steps[key], value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available here")
def test_cpu_and_cuda_agree():
    for pattern, learned in (("window", False), ("uniform", True)):
        for mode in ("fixed", "full"):
            model, x = make(pattern=pattern, learned=learned)
            cpu = measure(model, x, mode=mode)
            gpu = measure(model.to("cuda"), x.to("cuda"), mode=mode)
            assert gpu.device.startswith("cuda")
            np.testing.assert_allclose(gpu.mantissa * 10.0 ** gpu.log10_scale[:, None, None],
                                       cpu.mantissa * 10.0 ** cpu.log10_scale[:, None, None],
                                       rtol=1e-10, atol=1e-14)
            for name, v in cpu.bounds.items():
                np.testing.assert_allclose(gpu.bounds[name], v, rtol=1e-10)


@pytest.mark.parametrize(("kw", "name"), [
    ({"mode": "detached"}, "mode"),
    ({"batch_index": 2}, "batch_index"),
    ({"x": torch.zeros(1, 0, M, dtype=torch.float64)}, "T"),
    ({"x": torch.zeros(T, M, dtype=torch.float64)}, "x"),
    ({"x": [[[0.0] * M] * T]}, "x"),  # nested lists, not a tensor
    ({"x": torch.zeros(0, T, M, dtype=torch.float64)}, "x"),  # no sequence to measure
    ({"x": torch.zeros(1, T, M, dtype=torch.complex128)}, "x"),  # not real
    ({"model": None}, "model"),
    ({"model": torch.nn.Linear(M, 3)}, "model"),  # a module without the protocol
    ({"loss": 5}, "loss"),  # not a function
    ({"loss": lambda r: r.h}, "loss"),  # not a scalar
])
def test_bad_measure_input(kw, name):
    model, x = make()
    args = {"model": model, "x": x, **kw}
    with pytest.raises(ValueError, match=f"'{name}'"):
        measure(args.pop("model"), args.pop("x"), **args)


@pytest.mark.parametrize(("device", "message"), [
    ("tpu", "must be auto, cpu, cuda or cuda:N, got 'tpu'"),
    (3, "must be auto, cpu, cuda or cuda:N, got 3"),
    ("cuda:x", "must be auto, cpu, cuda or cuda:N, got 'cuda:x'"),
])
def test_a_device_that_is_no_device_is_refused(device, message):
    from verify.device import resolve_device

    with pytest.raises(ValueError, match=f"^parameter 'device' {message}$"):
        resolve_device(device)
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("dtype", ["float16", torch.float16, "double", None])
def test_a_dtype_outside_float64_and_float32_is_refused(dtype):
    from verify.device import resolve_dtype

    with pytest.raises(ValueError, match=r"^parameter 'dtype' must be one of float64, "
                       r"float32, got "):
        resolve_dtype(dtype)
    assert resolve_dtype() is torch.float64 and resolve_dtype("float32") is torch.float32
    assert resolve_dtype(torch.float32) is torch.float32


@pytest.mark.parametrize("index", [2, -1, 1.5, True, np.int64(2), "1"])
def test_a_batch_index_outside_the_batch_is_refused(index):
    """x holds B = 2 sequences: batch_index is an integer in 0..1 (no negative indexing from
    the end, no rounding, no boolean); a numpy integer in range is one."""
    model, x = make()
    assert x.shape[0] == 2
    with pytest.raises(ValueError, match=r"^parameter 'batch_index' must be an integer in "
                       r"0\.\.1, got "):
        measure(model, x, batch_index=index)
    np.testing.assert_array_equal(measure(model, x, batch_index=np.int64(1)).log10_norm2,
                                  measure(model, x, batch_index=1).log10_norm2)


@pytest.mark.parametrize("t", [T, -1, 1.5, True, "2"])
def test_a_jacobian_outside_0_to_T_minus_1_is_refused(t):
    """G_t exists for t = 0..T-1 only: no negative indexing from the end, no rounding."""
    model, x = make()
    m = measure(model, x)
    with pytest.raises(ValueError, match=f"parameter 't' must be an integer in 0..{T - 1}"):
        m.jacobian(t)
    assert m.jacobian(np.int64(T - 1)).shape == (N, N)


@pytest.mark.parametrize("spectrum", ["gaussian", "eigen", "singular"])
@pytest.mark.parametrize("batch_index", [0, 1])
def test_norms_against_numpy_svd_of_the_autograd_jacobian(spectrum, batch_index):
    """||G_t||_2, ||G_t||_F and sigma_min(G_t) on generic (non-aligned, non-normal) networks,
    against numpy's SVD of the torch.func Jacobian of sequence ``batch_index``."""
    model, x = make(spectrum, "tanh", "window", n=4)
    m = measure(model, x, batch_index=batch_index)
    ref = jacrev_reference(model, x[batch_index:batch_index + 1], detach=True)[:T]
    sv = np.linalg.svd(ref, compute_uv=False)
    np.testing.assert_allclose(m.norm2, sv[:, 0], rtol=RTOL)
    np.testing.assert_allclose(m.fro, np.sqrt((ref ** 2).sum(axis=(1, 2))), rtol=RTOL)
    np.testing.assert_allclose(m.sigma_min, sv[:, -1], rtol=1e-8)  # small: cancellation
    assert not m.hypotheses["aligned"] and sv[:, -1].min() < 0.5 * sv[:, 0].min()
    other = measure(model, x, batch_index=1 - batch_index)
    assert not np.allclose(other.norm2, m.norm2)  # the index matters


@pytest.mark.parametrize(("kind", "kw", "underflows"), [
    ("window", {"nu": 7}, True), ("strided", {"k": 5}, False),
    ("events", {"E": [0, 17, 1500], "nu": 6}, True)])
def test_long_horizon_patterns_against_the_log_domain_recursion(kind, kw, underflows):
    """T = 3000 with attention: J_k = c I (linear, V = cI), so log10 ||G_t|| equals the log10
    scalar path sum exactly (B2); on windows and events it falls far below float64's range at
    some t (strided attention keeps a short path from the first k states). Tolerance: 1e-9
    relative on log10 values of magnitude up to ~600, i.e. rounding accumulated over 3000
    steps (THEORY.md section 9)."""
    steps, c = 3000, 0.2
    pattern = build(kind, steps, **kw)
    model = controlled("identity", 2, 1, "linear", scale=c, pattern=pattern, device="cpu")
    x = torch.zeros(1, steps, 1, dtype=torch.float64)
    m = measure(model, x)
    want = path_sum(pattern, 0.5, 0.5, np.full(steps, c), log10=True)
    assert np.all(np.isfinite(m.log10_norm2)) and (want.min() < -330) == underflows
    np.testing.assert_allclose(m.log10_norm2, want, rtol=1e-9)
    v = m.verdicts["aligned_exact"]
    assert v.holds_at == v.applicable_at == steps


def test_an_exploding_run_overflows_quietly():
    """h -> 3 h (V = 3 I, linear): G_t = 3^(T - t) I, past 10^308 for t < T - 645.
    The log10 values carry the measurement (to 1e-9 relative: T roundings of the carried
    scale); the linear values are inf exactly where the log10 exceeds float64's range, a
    Jacobian's zero entries stay 0 (not 0 * inf = nan), and none of it warns."""
    import warnings
    T = 700
    model = controlled("identity", 3, M, "linear", scale=3.0, pattern=build("none", T),
                       seed=2, device="cpu")
    x = torch.as_tensor(np.random.default_rng(3).standard_normal((1, T, M)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = measure(model, x)
        bounds, G0 = m.bounds, m.jacobian(0)
    want = (T - np.arange(T)) * math.log10(3.0)
    np.testing.assert_allclose(m.log10_norm2, want, rtol=1e-9)
    big = m.log10_norm2 > math.log10(np.finfo(float).max)
    assert big[:50].all() and not big[-300:].any()
    np.testing.assert_array_equal(np.isinf(m.norm2), big)
    assert not np.isnan(G0).any() and np.isinf(G0[m.mantissa[0] != 0]).all()
    assert (m.mantissa[0] == 0).sum() == 6 and (G0[m.mantissa[0] == 0] == 0).all()
    np.testing.assert_allclose(m.jacobian(T - 1), m.mantissa[T - 1] * 10 ** m.log10_scale[T - 1])
    for key, value in bounds.items():
        logs = m.bounds_log10[key]
        np.testing.assert_array_equal(np.isinf(value), logs > math.log10(np.finfo(float).max))


@given(st.integers(1, 5), st.integers(0, 2**31), st.floats(-300.0, 300.0),
       st.integers(-1000, 1000))
def test_score_term_gap_is_scale_free(n, seed, log10_scale, shift):
    """The gap ||F - M 10^s||_2 / ||F||_2 against the formula evaluated directly on O(1)
    matrices (F given as F 10^s, s within +-300), and the same when the fixed mantissa moves
    by 2^shift against its scale: with 10^s past 10^308 the direct formula gives M 10^s =
    0 * inf = nan, which the measurement must not. Three gaps: 1e-14 (F = G to rounding),
    0.3 and O(1). Tolerance 1e-12 absolute: a float log10 scale s fixes 10^s to |s| ln10 u
    relative (1.5e-13 at |s| = 600), plus the SVD's 1e-12 relative."""
    from verify.measurement.jacobian_profile import _gap
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((3, n, n))
    M[:, 0, 0] = 0.0
    F = M + rng.standard_normal((3, n, n)) * np.array([1e-14, 0.3, 3.0])[:, None, None]
    s = np.full(3, log10_scale)
    got = _gap(F * 10.0**log10_scale, M, s)
    want = [np.linalg.norm(F[t] - M[t], 2) / np.linalg.norm(F[t], 2) for t in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    moved = _gap(F * 10.0**log10_scale, np.ldexp(M, shift), s - shift * math.log10(2.0))
    np.testing.assert_allclose(moved, want, rtol=1e-12, atol=1e-12)


@given(st.integers(1, 4), st.integers(0, 2**31), st.floats(-300.0, 300.0))
def test_score_term_gap_of_a_zero_fixed_jacobian(n, seed, log10_scale):
    """A fixed G_t = 0 (log scale -inf, as the adjoint reports it) against a live F_t: gap
    1 where F_t != 0, nan where F_t = 0 too (0 / 0), whatever the mantissa holds; a
    measurement on relu units that all die at a step has such G_t (it raised an SVD error)."""
    from verify.measurement.jacobian_profile import _gap
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((3, n, n)) * 10.0**log10_scale
    F[2] = 0.0
    M = rng.standard_normal((3, n, n))
    s = np.array([-np.inf, log10_scale, -np.inf])
    got = _gap(F, M, s)
    assert got[0] == 1.0 and np.isnan(got[2])
    want = np.linalg.norm(F[1] / 10.0**log10_scale - M[1], 2) / np.linalg.norm(
        F[1] / 10.0**log10_scale, 2)
    np.testing.assert_allclose(got[1], want, rtol=1e-12)


def test_learned_full_mode_on_dead_relu_units_measures_a_zero_fixed_jacobian():
    """relu units with a large bias die at some steps: the fixed G_t before them are 0 and
    the live ones need not be (score terms); the run is measured, with every gap in [0, 1]
    or nan (both 0) where the fixed G_t is 0."""
    x = torch.as_tensor(np.random.default_rng([2, 1]).standard_normal((1, 12, 3)))
    model = controlled("orthogonal", 3, 3, "relu", pattern=build("window", 12, nu=2),
                       learned=True, bias_scale=2.0, seed=2, device="cpu")
    zero = measure(model, x).log10_scale == -np.inf
    assert zero.any()
    gap = measure(model, x, mode="full").gap
    assert np.all((gap[zero] == 1.0) | np.isnan(gap[zero]))


def test_an_overflowing_forward_is_an_error_where_g_depends_on_the_states():
    """V = 8 Q (linear), uniform attention: h_t overflows float64 past t = 500 or so.
    Learned attention's weights of inf states are not the network's: a ValueError naming
    the step; a fixed pattern's G_t does not depend on the states (J_k = V): measured,
    with a note, and every log10 norm finite."""
    T = 700
    x = torch.as_tensor(np.random.default_rng(3).standard_normal((1, T, M)))
    kw = dict(scale=8.0, seed=2, device="cpu", input_scale=1.0)
    learned = controlled("orthogonal", 3, M, "linear", pattern=build("uniform", T),
                         learned=True, **kw)
    with torch.no_grad():
        h = learned(x).h[0]
    first = int(torch.nonzero(~torch.isfinite(h).all(dim=1))[0])
    assert 0 < first < T
    for mode in ("fixed", "full"):
        with pytest.raises(ValueError, match=f"parameter 'x'.* t = {first} .*T = {first - 1}"):
            measure(learned, x, mode=mode)
    fixed = controlled("orthogonal", 3, M, "linear", pattern=build("uniform", T), **kw)
    m = measure(fixed, x)
    assert np.isfinite(m.log10_norm2).all() and any("leaves float64's range" in s
                                                     for s in m.notes)
    tanh = controlled("orthogonal", 3, M, "tanh", pattern=build("uniform", T), **kw)
    assert not measure(tanh, x).notes


def test_a_live_jacobian_past_float64_is_noted_and_its_gap_nan():
    """Learned attention, V = 8 Q (linear), T = 505: the states stay finite but the live G_0
    (autograd, no log scale) passes 10^308. Its norms are inf or nan and its gap nan
    exactly there, a note names the steps, and the fixed G_t of the same run is finite."""
    T = 505
    x = torch.as_tensor(np.random.default_rng(3).standard_normal((1, T, M)))
    model = controlled("orthogonal", 4, M, "linear", pattern=build("uniform", T),
                       learned=True, scale=8.0, seed=2, device="cpu", input_scale=1.0)
    with torch.no_grad():
        assert torch.isfinite(model(x).h).all()
    full, fixed = measure(model, x, mode="full"), measure(model, x)
    over = ~np.isfinite(full.mantissa).all(axis=(1, 2))
    assert over.any() and not over.all()
    np.testing.assert_array_equal(np.isnan(full.gap), over)
    assert (full.log10_norm2[over] == np.inf).all() or np.isnan(full.log10_norm2[over]).all()
    assert np.isfinite(fixed.log10_norm2).all()
    t = np.flatnonzero(over)
    assert any("overflows float64" in s and f"t in {t[0]}..{t[-1]}" in s for s in full.notes)


@given(st.integers(1, 4), st.integers(0, 3), st.sampled_from(["accumulated", "normalised"]),
       st.sampled_from(SPECTRA), st.sampled_from(["fixed", "full"]), st.integers(0, 2**16))
def test_a_screened_network_matches_jacrev(nu, rho, score, spectrum, mode, seed):
    """THEORY.md section 6's networks with relevancy screening run online (section 7) in
    place of a pattern: G_t against jacrev in both modes (RTOL), every step attends at most
    nu + rho states, none of them h_0, and the trace has the relevant set B7 reads."""
    model, x = make(spectrum, pattern=None, relevant_set=(nu, rho), score=score, n=3,
                    steps=8, seed=seed)
    m = measure(model, x, mode=mode)
    assert_matches(m, jacrev_reference(model, x, detach=mode == "fixed"))
    assert m.kappa <= nu + rho and 0 not in m.pattern.indices
    assert m.trace.relevant_time is not None and m.trace.relevant_time.shape[-1] == rho


def test_relevant_set_refuses_a_pattern_h0_and_bad_sizes():
    for kw, name in (({"pattern": build("window", T, nu=2)}, "pattern"),
                     ({"include_h0": True}, "include_h0")):
        with pytest.raises(ValueError, match=f"parameter '{name}'"):
            controlled("orthogonal", N, M, relevant_set=(2, 2), device="cpu", **kw)
    for pair, name in (((0, 2), "nu"), ((2, -1), "rho"), ((2,), "relevant_set"),
                       ("22", "relevant_set")):
        with pytest.raises(ValueError, match=f"parameter '{name}'"):
            controlled("orthogonal", N, M, relevant_set=pair, device="cpu")


def test_a_float32_run_keeps_its_mantissa_in_float32():
    """No float64 copy of a float32 run's (T+1) n^2 mantissa; G_t itself is float64, so
    G_0 = 3^100 I (5e47, past float32's 3.4e38) is finite (against the closed form to 1e-5:
    float32 rounding over 100 steps)."""
    T = 100
    model = controlled("identity", 3, M, "linear", scale=3.0, pattern=build("none", T),
                       seed=2, device="cpu", dtype="float32")
    x = torch.as_tensor(np.random.default_rng(3).standard_normal((1, T, M)))
    m = measure(model, x)
    assert m.mantissa.dtype == np.float32
    for t in (0, 40):
        G = m.jacobian(t)
        assert G.dtype == np.float64
        np.testing.assert_allclose(G, 3.0 ** (T - t) * np.eye(3), rtol=1e-5)


@pytest.mark.parametrize("batched", [True, False])
def test_probe_jacobians_by_batches_of_rows_or_a_row_at_a_time(monkeypatch, batched):
    """The autograd G_t (full mode; an LSTM-like cell without J_k in fixed mode) by batched
    passes of 2 rows (n = 3: a ragged last batch), and a row at a time where a batched pass
    raises (an operation without a batching rule, or out of memory): jacrev's either way."""
    from verify.measurement import jacobian_profile

    monkeypatch.setattr(jacobian_profile, "ROWS_PER_PASS", 2)
    if not batched:
        grad = torch.autograd.grad

        def refuse(*a, is_grads_batched=False, **k):
            if is_grads_batched:
                raise RuntimeError("no batching rule")
            return grad(*a, **k)
        monkeypatch.setattr(jacobian_profile.torch.autograd, "grad", refuse)
    model, x = make(pattern="uniform", learned=True)
    assert_matches(measure(model, x, mode="full"), jacrev_reference(model, x, detach=False))
    hidden = measure(HiddenCell(model), x)  # no J_k: the fixed G_t by autograd too
    assert_matches(hidden, jacrev_reference(model, x, detach=True))
