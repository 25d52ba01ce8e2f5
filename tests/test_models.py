"""Every model of verify.models against the independent reference of reference_models.py
(THEORY.md sections 1 and 7): hidden states, attention weights, relevant-set membership and
scores at every step, logits, loss, parameter gradients and probe gradients with attention
detached, on hypothesis-drawn compositions, sizes, T, nu, rho and weights, including weights
sharp enough that the relevant set churns. Also h_0, seeds and global random state, step
Jacobians and bad input.

Tolerance: 1e-12 relative (max-norm per tensor). Both sides are float64 computations of at most
~15 steps of O(1) quantities, exact to ~1e-15; the margin covers summation-order differences
(a softmax over a list against one over masked slots)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from reference_models import Memory, cross_entropy, logits, relative_error, run

from bounds import patterns
from verify.models import Classifier, build, controlled, vanilla
from verify.models.spectra import build_spectrum

RTOL = 1e-12
DT = torch.float64


@dataclass
class Case:
    """A drawn model, what it is (for the reference) and its inputs."""

    core: torch.nn.Module
    memory: Memory
    phi: str
    lstm: bool
    x: torch.Tensor
    y: torch.Tensor


def sharpen(core, factor: float) -> None:
    """Scale the attention parameters, so weights are peaked and relevancy scores spread."""
    with torch.no_grad():
        for p in core.memory.parameters():
            p.mul_(factor)


# Compositions as data: name -> builder(draw, hidden, inputs, T, seed) -> (core, Memory, phi).
PATTERN_KINDS = ("uniform", "window", "strided", "sparse", "events")


def _pattern(draw, T: int, kinds=PATTERN_KINDS) -> patterns.Pattern:
    kind = draw(st.sampled_from(kinds))
    nu, k, kappa = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    E = draw(st.lists(st.integers(0, T - 1), max_size=2, unique=True))
    return patterns.build(kind, T, nu=nu, k=k, kappa=kappa, seed=draw(st.integers(0, 9)), E=E)


def _named(name, lstm=False):
    def make(draw, hidden, inputs, T, seed):
        kw = {"hidden": hidden, "seed": seed, "dtype": DT}
        if name in ("relrnn", "rellstm"):
            nu, rho = draw(st.integers(1, 4)), draw(st.integers(0, 4))
            score = draw(st.sampled_from(["accumulated", "normalised"]))
            core = build(name, inputs, nu=nu, rho=rho, score=score, **kw)
            return core, Memory("relevant", nu=nu, rho=rho, score=score), "tanh"
        if name == "memrnn":
            h0 = draw(st.booleans())
            return build(name, inputs, include_h0=h0, **kw), Memory("learned", include_h0=h0), \
                "tanh"
        return build(name, inputs, **kw), Memory("none"), "tanh"
    return make


def _fixed(draw, hidden, inputs, T, seed):
    p, phi = _pattern(draw, T), draw(st.sampled_from(["linear", "tanh", "relu"]))
    core = controlled("gaussian", hidden, inputs, phi, gain=1.3, pattern=p, bias_scale=0.3,
                      seed=seed, beta=draw(st.floats(0, 1)), gamma=draw(st.floats(0, 1)),
                      device="cpu")
    return core, Memory("pattern", alpha=torch.as_tensor(p.dense())), phi


def _learned(draw, hidden, inputs, T, seed):
    p = _pattern(draw, T, ("uniform", "window", "strided", "events")) if draw(st.booleans()) \
        else None
    h0 = draw(st.booleans())
    core = controlled("orthogonal", hidden, inputs, "tanh", pattern=p, learned=True,
                      include_h0=h0, seed=seed, device="cpu")
    alpha = None if p is None else torch.as_tensor(p.dense())
    return core, Memory("learned", alpha=alpha, include_h0=h0), "tanh"


COMPOSITIONS = {
    "rnn": (_named("rnn"), False),
    "memrnn": (_named("memrnn"), False),
    "relrnn": (_named("relrnn"), False),
    "lstm": (_named("lstm"), True),
    "rellstm": (_named("rellstm"), True),
    "fixed pattern": (_fixed, False),
    "learned attention": (_learned, False),
}


@st.composite
def cases(draw, names=tuple(COMPOSITIONS)) -> Case:
    name = draw(st.sampled_from(names))
    hidden, inputs = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    B, T, seed = draw(st.integers(1, 3)), draw(st.integers(1, 14)), draw(st.integers(0, 999))
    make, lstm = COMPOSITIONS[name]
    core, memory, phi = make(draw, hidden, inputs, T, seed)
    sharpen(core, draw(st.sampled_from([1.0, 3.0, 10.0])))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, inputs, generator=gen, dtype=DT)
    y = torch.randint(0, 3, (B, T), generator=gen)
    return Case(core, memory, phi, lstm, x, y)


def assert_close(got, want, what, scale=None):
    """max |got - want| <= RTOL * scale, the scale being max |want| unless given."""
    got, want = torch.as_tensor(got, dtype=DT), torch.as_tensor(want, dtype=DT)
    err = relative_error(got, want) if scale is None else float((got - want).abs().max()) / scale
    assert err <= RTOL, f"{what}: relative error {err:.2e}"


def reference_runs(case: Case) -> list:
    return [run(case.core, case.x[b], case.memory, phi=case.phi, lstm=case.lstm)
            for b in range(case.x.shape[0])]


def check_against_reference(case: Case, refs: list) -> None:
    """Compare everything with the reference runs ``refs`` of the case's sequences."""
    clf = Classifier(case.core, 3, seed=1)
    params = list(clf.parameters())
    out, rollout = clf(case.x, trace=True)
    loss = F.cross_entropy(out.flatten(0, 1), case.y.flatten())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    ref_loss = cross_entropy([logits(clf, r.h) for r in refs], case.y)
    ref_grads = torch.autograd.grad(ref_loss, params, allow_unused=True)
    trace = rollout.trace
    T = case.x.shape[1]
    for b, ref in enumerate(refs):
        assert_close(rollout.h[b], torch.stack(ref.h), "hidden states")
        alpha = (trace.alpha[b] if trace.alpha is not None else
                 torch.as_tensor(trace.pattern.dense()) if trace.pattern is not None else
                 torch.zeros(T, T, dtype=DT))
        assert_close(alpha, torch.tensor(ref.alpha, dtype=DT), "attention weights")
        assert_close(out[b], torch.stack(logits(clf, ref.h)), "logits")
        if case.memory.kind == "relevant":
            assert_close(trace.score[b], torch.stack(ref.score), "scores")
            for t in range(T):
                slots = trace.relevant_time[b, t].tolist()
                held = {i: trace.relevant_score[b, t, k] for k, i in enumerate(slots) if i >= 0}
                assert set(held) == set(ref.members[t]), f"relevant set at step {t}"
                for i, score in ref.members[t].items():
                    assert_close(held[i], score, f"score of member {i} at step {t}")
    assert_close(loss.detach(), ref_loss.detach(), "loss")
    # A gradient entry sums terms of the size of the largest gradient; entries that vanish
    # mathematically (e.g. attention over one slot) are rounding noise at that scale.
    ref_grads = [torch.zeros_like(p) if r is None else r for p, r in zip(params, ref_grads,
                                                                          strict=True)]
    scale = max(float(r.abs().max()) for r in ref_grads) or 1.0
    for p, g, r in zip(params, grads, ref_grads, strict=True):
        assert_close(torch.zeros_like(p) if g is None else g, r, "parameter gradient", scale)


def check_detached_probes(case: Case) -> None:
    """d(sum h_T)/d probe with attention detached (Lemma 1's setting), batched and reference."""
    B, T = case.x.shape[:2]
    probe = torch.zeros(B, T + 1, case.core.hidden, dtype=DT, requires_grad=True)
    r = case.core(case.x, probe=probe, detach_attention=True, trace=False)
    (g,) = torch.autograd.grad(r.h[:, -1].sum(), probe)
    for b in range(B):
        p = torch.zeros(T + 1, case.core.hidden, dtype=DT, requires_grad=True)
        ref = run(case.core, case.x[b], case.memory, phi=case.phi, lstm=case.lstm, detach=True,
                  probe=p)
        (want,) = torch.autograd.grad(ref.h[-1].sum(), p)
        assert_close(g[b], want, "probe gradient, attention detached")


@settings(max_examples=60)
@given(cases())
def test_every_model_matches_the_reference(case):
    refs = reference_runs(case)
    assume(not any(r.ambiguous for r in refs))  # a near tie in admission: rounding decides
    check_against_reference(case, refs)
    check_detached_probes(case)


def test_sharp_relevant_set_churns_and_matches():
    """A relrnn with peaked attention: states are evicted from the relevant set many times,
    and membership and scores still match the reference at every step."""
    for seed in range(4):
        core = build("relrnn", 3, hidden=4, nu=2, rho=2, seed=seed, dtype=DT)
        sharpen(core, 10.0)
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(2, 40, 3, generator=gen, dtype=DT)
        case = Case(core, Memory("relevant", nu=2, rho=2), "tanh", False, x,
                    torch.randint(0, 3, (2, 40), generator=gen))
        refs = reference_runs(case)
        if any(r.ambiguous for r in refs):
            continue
        assert sum(r.evictions for r in refs) >= 3
        check_against_reference(case, refs)
        return
    pytest.fail("every seed gave a near tie")


# ------------------------------------------------------------------ h_0 (THEORY.md section 1)


def test_learned_attention_leaves_h0_out_unless_asked():
    x = torch.randn(2, 6, 3, dtype=DT, generator=torch.Generator().manual_seed(0))
    alpha = build("memrnn", 3, hidden=4, dtype=DT)(x).trace.alpha
    assert torch.all(alpha[:, :, 0] == 0) and torch.all(alpha[:, 0] == 0)
    torch.testing.assert_close(alpha[:, 1:].sum(-1), torch.ones(2, 5, dtype=DT))
    alpha = build("memrnn", 3, hidden=4, include_h0=True, dtype=DT)(x).trace.alpha
    assert torch.all(alpha[:, 0, 0] == 1) and torch.all(alpha[:, 1:, 0] > 0)


def test_fixed_patterns_keep_h0_in_their_support():
    T = 6
    core = controlled("orthogonal", 4, 3, pattern=patterns.uniform(T), device="cpu")
    p = core(torch.zeros(1, T, 3, dtype=DT)).trace.pattern
    np.testing.assert_array_equal(p.dense()[:, 0], 1.0 / np.arange(1, T + 1))


# ------------------------------------------------------------------------------------- seeds


def _params(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", ["rnn", "memrnn", "relrnn", "lstm", "rellstm"])
def test_a_seed_determines_every_parameter(name):
    a, b = (_params(Classifier(build(name, 5, hidden=6, seed=3, dtype=DT), 4, seed=3))
            for _ in range(2))
    other = _params(Classifier(build(name, 5, hidden=6, seed=4, dtype=DT), 4, seed=4))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(not torch.equal(a[k], other[k]) for k in a if a[k].abs().sum() > 0)
    f32 = _params(build(name, 5, hidden=6, seed=3, dtype=torch.float32))
    core = {k.removeprefix("core."): v for k, v in a.items() if k.startswith("core.")}
    assert all(torch.equal(f32[k], core[k].float()) for k in f32)


def test_library_leaves_global_random_state_alone(tmp_path):
    """Building, measuring and training touch neither torch's, numpy's nor Python's global
    random state."""
    from verify.measurement import measure
    from verify.training import Config, train

    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    states = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    for name in ("memrnn", "relrnn", "lstm"):
        core = build(name, 3, hidden=4, nu=2, rho=1, dtype=DT)
        measure(core, torch.ones(1, 8, 3, dtype=DT), mode="full")
    controlled("gaussian", 4, 3, pattern=patterns.sparse(8, 2, seed=1), device="cpu")
    train(Config(task="copy", model="relrnn", T=10, hidden=4), 2, save=tmp_path / "m.pt",
          progress=False)
    assert torch.equal(torch.get_rng_state(), states[0])
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert random.getstate() == states[2]


# --------------------------------------------------------------------------- step Jacobians


def test_step_jacobians_are_diag_phi_prime_V():
    T = 7
    core = controlled("gaussian", 3, 2, "tanh", pattern=patterns.uniform(T), bias_scale=0.3,
                      device="cpu")
    r = core(torch.randn(2, T, 2, dtype=DT, generator=torch.Generator().manual_seed(1)))
    J = core.step_jacobians(r, 1).numpy()
    a, V = r.a[1].detach().numpy(), core.cell.V.detach().numpy()
    for k in range(T):
        np.testing.assert_allclose(J[k], np.diag(1 - np.tanh(a[k]) ** 2) @ V, atol=1e-14,
                                   rtol=0)
    # the cell's own call is dense unless asked (a plain tensor, as step_jacobians gives)
    own = core.cell.jacobians(r.a[1])
    assert type(own) is torch.Tensor and np.array_equal(own.numpy(), J)
    lstm = build("lstm", 2, hidden=3, dtype=DT)
    assert lstm.step_jacobians(lstm(torch.ones(1, 4, 2, dtype=DT))) is None
    assert lstm.step_jacobians(lstm(torch.ones(1, 4, 2, dtype=DT)), factored=True) is None


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.integers(1, 5), st.sampled_from(["tanh", "relu", "linear"]),
       st.integers(0, 2**31 - 1), st.data())
def test_factored_step_jacobians_hold_the_dense_entries(T, n, phi, seed, data):
    """``step_jacobians(..., factored=True)`` builds, for any step or run of steps, the very
    entries of the dense form (bit for bit: one product phi'(a_k)_i V_ij each), and those are
    diag(phi'(a_k)) V as a loop writes it (1e-15: one rounding against numpy's matmul of a
    diagonal)."""
    core = controlled("gaussian", n, 2, phi, bias_scale=0.5, seed=seed % 100, device="cpu")
    x = torch.randn(1, T, 2, dtype=DT, generator=torch.Generator().manual_seed(seed))
    r = core(x)
    dense, J = core.step_jacobians(r), core.step_jacobians(r, factored=True)
    assert J.shape == dense.shape and J.ndim == 3 and len(J) == T
    assert J.dtype == DT and J.device == dense.device
    assert torch.equal(J.dense(), dense)
    k = data.draw(st.integers(0, T - 1))
    lo = data.draw(st.integers(0, T))
    hi = data.draw(st.integers(lo, T))
    assert torch.equal(J[k], dense[k]) and torch.equal(J[lo:hi], dense[lo:hi])
    d = core.cell.phi.derivative(r.a[0].detach()).numpy()
    V = core.cell.V.detach().numpy()
    for step in range(T):
        want = np.array([[d[step, i] * V[i, j] for j in range(n)] for i in range(n)])
        np.testing.assert_allclose(J[step].numpy(), want, rtol=1e-15, atol=0)


def test_factored_step_jacobians_refuse_mismatched_factors():
    from verify.models.jacobians import DiagTimes
    with pytest.raises(ValueError, match="parameters 'd' and 'V'"):
        DiagTimes(torch.ones(3, 2, dtype=DT), torch.ones(3, 3, dtype=DT))
    with pytest.raises(ValueError, match="parameters 'd' and 'V'"):
        DiagTimes(torch.ones(3, 2, dtype=DT), torch.ones(2, 2, dtype=torch.float32))


def test_defaults_follow_theory_section_6():
    T = 5
    V = np.eye(3)
    assert (vanilla(V, 2, device="cpu").beta, vanilla(V, 2, device="cpu").gamma) == (1.0, 0.0)
    assert vanilla(V, 2, pattern=patterns.none(T), device="cpu").gamma == 0.0
    assert (vanilla(V, 2, pattern=patterns.uniform(T), device="cpu").beta,
            vanilla(V, 2, pattern=patterns.uniform(T), device="cpu").gamma) == (0.5, 0.5)
    assert vanilla(V, 2, learned=True, device="cpu").gamma == 0.5
    assert vanilla(V, 2, pattern=patterns.uniform(T), beta=0.2, gamma=0.9,
                   device="cpu").gamma == 0.9
    assert vanilla(V, 2, device="cpu").cell.V.dtype == torch.float64


def test_user_matrix_is_a_pattern():
    T = 5
    a = np.tril(np.random.default_rng(3).uniform(size=(T, T)))
    a /= a.sum(axis=1, keepdims=True)
    x = torch.randn(2, T, 2, dtype=DT, generator=torch.Generator().manual_seed(0))
    V = build_spectrum("gaussian", 3, seed=1)
    torch.testing.assert_close(vanilla(V, 2, pattern=a, device="cpu")(x).h,
                               vanilla(V, 2, pattern=patterns.from_matrix(a), device="cpu")(x).h,
                               rtol=0, atol=0)


# -------------------------------------------------------------------------------- bad input

T_BAD, N_BAD = 7, 3


@pytest.mark.parametrize(("kw", "name"), [
    ({"inputs": 0}, "inputs"),
    ({"V": np.full((N_BAD, N_BAD), np.nan)}, "V"),
    ({"V": np.array([[1.0, np.inf, 0], [0, 1, 0], [0, 0, 1]])}, "V"),
    ({"V": np.ones((N_BAD, N_BAD + 1))}, "V"),
    ({"phi": "sigmoid"}, "phi"),
    ({"beta": -0.5}, "beta"),
    ({"gamma": float("nan")}, "gamma"),
    ({"input_scale": -1.0}, "input_scale"),
    ({"seed": -1}, "seed"),
    ({"pattern": np.ones((T_BAD, T_BAD))}, "pattern"),
    ({"pattern": np.tril(np.ones((T_BAD, T_BAD)))}, "pattern"),
    ({"pattern": patterns.none(T_BAD), "learned": True}, "pattern"),
    ({"device": "tpu"}, "device"),
    ({"dtype": "float16"}, "dtype"),
])
def test_bad_model_input(kw, name):
    args = {"V": np.eye(N_BAD), "inputs": 2, "phi": "tanh", "device": "cpu", **kw}
    with pytest.raises(ValueError, match=f"'{name}'"):
        vanilla(args.pop("V"), args.pop("inputs"), args.pop("phi"), **args)


#: The zoo's mixing s_t = beta h_t + gamma c_t, written from THEORY.md: a plain RNN or LSTM
#: feeds h_t (beta 1, gamma 0, section 1); every attention model is the reference code's
#: beta = gamma = 1/2 (sections 1 and 7: s_t = (h_t + c_t)/2). The reference models of the
#: other tests take beta and gamma from the model, so they are pinned here.
MIXING = {"rnn": (1.0, 0.0), "lstm": (1.0, 0.0), "memrnn": (0.5, 0.5), "relrnn": (0.5, 0.5),
          "rellstm": (0.5, 0.5)}


@pytest.mark.parametrize("name", sorted(MIXING))
def test_each_model_mixes_as_theory_says(name):
    core = build(name, 3, hidden=4, dtype=DT)
    assert (core.beta, core.gamma) == MIXING[name]
    beta, gamma = MIXING[name]  # and the printed model says so
    assert f"name={name!r}, beta={beta:g}, gamma={gamma:g}" in repr(core)


def test_build_defaults_are_the_reference_settings():
    """THEORY.md section 8's copy settings (nu 10, rho 15) and an unknown name refused."""
    memory = build("relrnn", 3, hidden=4).memory
    assert (memory.nu, memory.rho) == (10, 15)
    with pytest.raises(ValueError, match=r"^parameter 'name': unknown model 'gru'"):
        build("gru", 3)


@pytest.mark.parametrize("make", [
    lambda **kw: controlled("gaussian", 4, 3, "tanh", device="cpu", **kw),
    lambda **kw: vanilla(np.eye(4), 3, "tanh", device="cpu", **kw)])
def test_networks_default_to_seed_0_and_no_bias(make):
    plain, zero, one = (list(make(**kw).parameters()) for kw in ({}, {"seed": 0}, {"seed": 1}))
    assert all(torch.equal(a, b) for a, b in zip(plain, zero, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(plain, one, strict=True))
    assert make().cell.b.abs().max() == 0  # bias_scale 0: b = 0


def test_the_read_out_is_uniform_within_one_over_sqrt_hidden():
    """torch's default for a linear layer: Uniform(-1/sqrt(hidden), 1/sqrt(hidden)). Over the
    1152 weights of hidden 128 and 9 classes the largest |w| is above 0.99 of the bound unless
    a 0.99^1152 < 1e-5 chance; the seed fixes the draw."""
    head = Classifier(build("rnn", 3, hidden=128, dtype=DT), 9, seed=0)
    bound = 128 ** -0.5
    for w in (head.W, head.c):
        assert w.abs().max() <= bound
    assert head.W.abs().max() >= 0.99 * bound


@pytest.mark.parametrize("name", ["rnn", "relrnn", "lstm", "rellstm"])
def test_include_h0_goes_with_memrnn_alone(name):
    """Only memrnn's attention ranges over 0..t; elsewhere include_h0 would be ignored, so it
    is refused by name (THEORY.md sections 1 and 7: relevancy screening never holds h_0)."""
    with pytest.raises(ValueError, match=r"^parameter 'include_h0' goes with memrnn"):
        build(name, 3, hidden=4, include_h0=True)
    build(name, 3, hidden=4, include_h0=False)
    assert build("memrnn", 3, hidden=4, include_h0=True).memory.include_h0


@pytest.mark.parametrize("name", ["rnn", "memrnn", "relrnn", "lstm", "rellstm"])
def test_bad_forward_input(name):
    m = build(name, 10, hidden=4)
    with pytest.raises(ValueError, match=r"parameter 'x' must be a tensor of shape \(B, T >= 1"):
        m(torch.zeros(2, 5, 9))
    with pytest.raises(ValueError, match=r"parameter 'probe' must have shape \(2, 6, 4\)"):
        m(torch.zeros(2, 5, 10), probe=torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="parameter 'T'"):
        m(torch.zeros(2, 0, 10))
    with pytest.raises(ValueError, match="parameter 'x' must be finite"):
        m(torch.full((2, 5, 10), float("nan")))
    with pytest.raises(ValueError, match="parameter 'x' must be a real tensor, got dtype "
                                         "torch.complex64"):
        m(torch.zeros(2, 5, 10, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"parameter 'x' must hold at least one sequence"):
        m(torch.zeros(0, 5, 10))


def test_pattern_length_must_match():
    core = controlled("orthogonal", 3, 2, pattern=patterns.window(5, 2), device="cpu")
    with pytest.raises(ValueError, match="parameter 'x' must have T = 5"):
        core(torch.zeros(1, 6, 2, dtype=DT))


# --- initialisations: the documented distributions -------------------------------------------

def _variance_ratio(a: torch.Tensor, var: float) -> float:
    """Sample second moment of ``a``'s entries over ``var`` (the entries have mean 0)."""
    return float(a.detach().double().pow(2).mean()) / var


@given(st.integers(0, 2**32 - 1), st.integers(64, 96), st.integers(64, 96),
       st.floats(0.1, 3.0), st.floats(0.1, 3.0))
def test_weights_are_drawn_from_their_documented_distributions(seed, n, m, scale, bias):
    """Attention W_s, W_h, v ~ N(0, 1/n); a vanilla cell's U ~ N(0, scale^2 / inputs) and
    b ~ N(0, bias_scale^2) (b = 0 by default); an LSTM's W and b ~ Uniform(+-1/sqrt(n)) and R
    four Haar orthogonal blocks. With at least 64 entries a ratio of sample to documented
    variance outside [1/4, 4] has probability below 1e-10 (chi-square); a wrong scale is off
    by a factor of n or more."""
    from verify.models.attention import AdditiveAttention
    from verify.models.cells import LSTMCell, VanillaCell

    att = AdditiveAttention(n, seed=seed)
    for w in (att.W_s, att.W_h, att.v):
        assert 1 / 4 < _variance_ratio(w, 1 / n) < 4
    V = np.eye(n)
    cell = VanillaCell(V, m, input_scale=scale, bias_scale=bias, seed=seed)
    assert 1 / 4 < _variance_ratio(cell.U, scale**2 / m) < 4
    assert 1 / 4 < _variance_ratio(cell.b, bias**2) < 4
    assert not VanillaCell(V, m, seed=seed).b.any()
    lstm, bound = LSTMCell(n, m, seed=seed), n ** -0.5
    for w in (lstm.W, lstm.b):
        assert w.abs().max() <= bound
        assert 1 / 4 < _variance_ratio(w, bound**2 / 3) < 4
    for block in lstm.R.detach().chunk(4):
        torch.testing.assert_close(block @ block.T, torch.eye(n, dtype=block.dtype),
                                   rtol=0, atol=1e-12)


def test_a_model_prints_its_memory_and_refuses_exact_pattern_weights():
    """repr names the memory's settings (a fixed pattern's kind and T, a learned attention's
    support and include_h0, a relevant set's nu, rho and score); a fixed pattern with exact
    (sympy) weights is refused by name: the model computes in floating point."""
    fixed = repr(controlled("identity", 4, 3, "tanh", pattern=patterns.window(8, 2)))
    assert "FixedPattern(window, T=8)" in fixed
    learned = repr(controlled("identity", 4, 3, "tanh", pattern=patterns.strided(8, 2),
                              learned=True, include_h0=True))
    assert "over the strided support, include_h0=True" in learned
    assert "over 1..t, include_h0=False" in repr(build("memrnn", 3, hidden=4))
    assert "nu=2, rho=3, score=normalised" in repr(build("relrnn", 3, hidden=4, nu=2, rho=3,
                                                         score="normalised"))
    with pytest.raises(ValueError, match="parameter 'pattern' must have float weights"):
        controlled("identity", 4, 3, "tanh", pattern=patterns.window(8, 2, exact=True))
