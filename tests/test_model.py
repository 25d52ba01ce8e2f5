"""The model of THEORY.md section 1 against an independent numpy transcription of its four
equations, the probe convention of verify/rollout.py, and its input validation."""

import numpy as np
import pytest
import torch

from bounds.patterns import build, from_matrix, uniform
from verify.model import SelfAttentiveRNN
from verify.spectra import build_spectrum

T, N, M = 7, 3, 2
PATTERNS = {
    "uniform": lambda: build("uniform", T),
    "window": lambda: build("window", T, nu=2),
    "strided": lambda: build("strided", T, k=3),
    "sparse": lambda: build("sparse", T, kappa=3, seed=4),
    "events": lambda: build("events", T, E=[1, 4], nu=2),
}
PHI = {"linear": lambda a: a, "tanh": np.tanh, "relu": lambda a: np.maximum(a, 0)}


def reference(model, x, alpha=None, learned=False):
    """THEORY.md section 1 step by step in numpy; learned alpha by its definition
    e[t, i] = v^T tanh(W_s s_{t-1} + W_h h_i), softmax over S_t, s_{-1} = 0."""
    V, U, b = (p.detach().numpy() for p in (model.V, model.U, model.b))
    phi = PHI[model.phi.name]
    Tn = x.shape[0]
    h = [np.zeros(model.hidden)]
    s_prev = np.zeros(model.hidden)
    weights = np.zeros((Tn, Tn))
    for t in range(Tn):
        if learned:
            att = model.attention
            Ws, Wh, v = (w.weight.detach().numpy() for w in (att.W_s, att.W_h, att.v))
            support = np.arange(t + 1) if alpha is None else np.flatnonzero(alpha[t])
            e = np.array([(v @ np.tanh(Ws @ s_prev + Wh @ h[i]))[0] for i in support])
            weights[t, support] = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
        elif alpha is not None:
            weights[t] = alpha[t]
        c = sum(weights[t, i] * h[i] for i in range(t + 1))
        s = model.beta * h[t] + model.gamma * c
        h.append(phi(V @ s + U @ x[t] + b))
        s_prev = s
    return np.array(h), weights


def make(pattern=None, phi="tanh", learned=False, device="cpu", **kw):
    V = build_spectrum("gaussian", N, gain=1.2, seed=1)
    return SelfAttentiveRNN(N, M, V, phi, pattern=pattern, learned=learned, seed=2,
                            bias_scale=0.3, device=device, **kw)


def inputs(B=2, steps=T, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).standard_normal((B, steps, M)))


# Forward passes of 7 steps in float64: agreement to a few ulps of O(1) values.
TOL = 1e-12


@pytest.mark.parametrize("phi", ["linear", "tanh", "relu"])
@pytest.mark.parametrize("kind", [None, *PATTERNS])
def test_fixed_pattern_forward_matches_theory(kind, phi):
    pattern = None if kind is None else PATTERNS[kind]()
    model = make(pattern, phi)
    x = inputs()
    r = model(x)
    for bi in range(2):
        h, _ = reference(model, x[bi].numpy(), None if pattern is None else pattern.dense())
        np.testing.assert_allclose(r.h[bi].detach().numpy(), h, atol=TOL, rtol=0)
    assert (r.alpha is None) == (pattern is None)
    if pattern is not None:
        np.testing.assert_array_equal(r.alpha[0].numpy(), pattern.dense())


@pytest.mark.parametrize("kind", [None, "window", "events"])
def test_learned_attention_forward_matches_theory(kind):
    pattern = None if kind is None else PATTERNS[kind]()
    model = make(pattern, learned=True)
    x = inputs()
    r = model(x)
    h, w = reference(model, x[1].numpy(), None if pattern is None else pattern.dense(), True)
    np.testing.assert_allclose(r.h[1].detach().numpy(), h, atol=TOL, rtol=0)
    np.testing.assert_allclose(r.alpha[1].detach().numpy(), w, atol=TOL, rtol=0)
    from_matrix(r.alpha[1].detach().numpy())  # causal, rows on the simplex


def test_user_matrix_is_a_pattern():
    a = np.tril(np.random.default_rng(3).uniform(size=(T, T)))
    a /= a.sum(axis=1, keepdims=True)
    x = inputs()
    torch.testing.assert_close(make(a)(x).h, make(from_matrix(a))(x).h, rtol=0, atol=0)


def test_defaults_follow_theory_section_6():
    assert (make().beta, make().gamma) == (1.0, 0.0)
    assert (make(build("none", T)).beta, make(build("none", T)).gamma) == (1.0, 0.0)
    assert (make(uniform(T)).beta, make(uniform(T)).gamma) == (0.5, 0.5)
    assert (make(learned=True).beta, make(learned=True).gamma) == (0.5, 0.5)
    assert make(uniform(T), beta=0.2, gamma=0.9).gamma == 0.9
    assert make().V.dtype == torch.float64


def test_probe_is_added_to_each_state():
    model = make(PATTERNS["window"](), learned=True)
    x = inputs()
    probe = torch.zeros(2, T + 1, N, dtype=torch.float64, requires_grad=True)
    r0, r1 = model(x), model(x, probe=probe)
    torch.testing.assert_close(r0.h, r1.h, rtol=0, atol=0)
    # dh_T/dp_T is the identity; dh_T/dp_t of another sequence is zero.
    g = torch.autograd.grad(r1.h[0, T, 1], probe)[0]
    assert g[0, T].tolist() == [0.0, 1.0, 0.0]
    assert torch.count_nonzero(g[1]) == 0


def test_step_jacobians_are_diag_phi_prime_V():
    model = make(uniform(T), phi="tanh")
    r = model(inputs())
    J = model.step_jacobians(r, 1).numpy()
    a = r.a[1].detach().numpy()
    V = model.V.detach().numpy()
    for k in range(T):
        np.testing.assert_allclose(J[k], np.diag(1 - np.tanh(a[k]) ** 2) @ V, atol=TOL, rtol=0)


def test_float32_and_seed():
    m32 = make(uniform(T), dtype="float32")
    assert m32.V.dtype == torch.float32 and m32(inputs()).h.dtype == torch.float32
    a, b = make(learned=True), make(learned=True)
    torch.testing.assert_close(a.attention.W_s.weight, b.attention.W_s.weight, rtol=0, atol=0)


@pytest.mark.parametrize(("kw", "name"), [
    ({"hidden": 0}, "hidden"),
    ({"inputs": 0}, "inputs"),
    ({"V": np.full((N, N), np.nan)}, "V"),
    ({"V": np.array([[1.0, np.inf, 0], [0, 1, 0], [0, 0, 1]])}, "V"),
    ({"V": np.eye(N + 1)}, "V"),
    ({"phi": "sigmoid"}, "phi"),
    ({"beta": -0.5}, "beta"),
    ({"gamma": float("nan")}, "gamma"),
    ({"input_scale": -1.0}, "input_scale"),
    ({"pattern": np.ones((T, T))}, "pattern"),
    ({"pattern": np.tril(np.ones((T, T)))}, "pattern"),
    ({"pattern": build("none", T), "learned": True}, "pattern"),
    ({"device": "tpu"}, "device"),
    ({"dtype": "float16"}, "dtype"),
])
def test_bad_model_input(kw, name):
    args = {"hidden": N, "inputs": M, "V": np.eye(N), "phi": "tanh", "device": "cpu", **kw}
    with pytest.raises(ValueError, match=f"'{name}'"):
        SelfAttentiveRNN(args.pop("hidden"), args.pop("inputs"), args.pop("V"), args.pop("phi"),
                         **args)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_for_but_absent():
    with pytest.raises(ValueError, match="'device'"):
        make(device="cuda")


@pytest.mark.parametrize(("x", "name"), [
    (torch.zeros(1, 0, M, dtype=torch.float64), "T"),
    (torch.zeros(1, T, M + 1, dtype=torch.float64), "x"),
    (torch.full((1, T, M), float("nan"), dtype=torch.float64), "x"),
    (torch.zeros(1, T + 1, M, dtype=torch.float64), "x"),
])
def test_bad_forward_input(x, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        make(uniform(T))(x)
