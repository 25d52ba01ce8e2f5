"""RelRNN / RelLSTM (THEORY.md section 7, B7): the screening trace against independent
recomputations from the recorded attention, the per-step work bound nu + rho (on tensor
shapes), gradient shortcuts through the relevant set, and B7 on a hand-set model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_relevance import reference_admission

from bounds import catalog
from verify.measurement import measure
from verify.models import MODELS, SCREENED, Recurrent, build


def model(kind: str, nu: int, rho: int, score: str = "accumulated", hidden: int = 8,
          inputs: int = 10) -> Recurrent:
    return build(kind, inputs, hidden=hidden, nu=nu, rho=rho, score=score, dtype=torch.float64)


def inputs(T: int, batch: int, seed: int = 0) -> torch.Tensor:
    """Gaussian inputs (batch, T, 10), seeded."""
    return torch.randn(batch, T, 10, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


@settings(max_examples=15)
@given(st.sampled_from(["relrnn", "rellstm"]), st.integers(1, 5), st.integers(0, 5),
       st.sampled_from(["accumulated", "normalised"]), st.integers(1, 3), st.integers(0, 3))
def test_trace_matches_attention_and_reference(kind, nu, rho, score, batch, seed):
    """Scores recomputed from Rollout.alpha (the weights a state gets at the nu steps after it
    is made, through the score function); the relevant set replayed by the pure-Python rule on
    those scores; every step attends exactly buffer (the last nu states) + relevant set."""
    T = 24
    out = model(kind, nu, rho, score)(inputs(T, batch, seed)).trace
    alpha, when = out.alpha, out.relevant_time
    assert alpha.shape == (batch, T, T) and when.shape == (batch, T, rho)
    for b in range(batch):
        want_score = [0.0]
        for i in range(1, T + 1):
            steps = range(i, min(i + nu, T))
            size = [min(t, nu) + int((when[b, t] >= 0).sum()) for t in steps]
            factor = [1.0] * len(size) if score == "accumulated" else size
            want_score.append(sum(f * alpha[b, t, i].item()
                                  for t, f in zip(steps, factor, strict=True)))
        assert out.score[b].tolist() == pytest.approx(want_score, abs=1e-12)
        history = reference_admission(want_score[1:T - nu + 1], rho)
        for t in range(T):
            members = history[t - nu - 1] if t > nu else [-1] * rho
            assert when[b, t].tolist() == [m + 1 if m >= 0 else -1 for m in members]
            buffer = set(range(max(1, t - nu + 1), t + 1))
            support = set(alpha[b, t].nonzero().flatten().tolist())
            assert support == buffer | {m + 1 for m in members if m >= 0}
            assert len(support) <= nu + rho
            assert alpha[b, t].sum().item() == pytest.approx(1.0 if t else 0.0, abs=1e-12)


def test_attended_slots_bounded_by_nu_plus_rho():
    """Per-step work: every softmax of RelRNN/RelLSTM is over nu + rho slots whatever t is
    (asserted on the key tensor handed to the attention), against MemRNN's t + 1."""
    T, nu, rho = 60, 4, 3
    for kind in ("relrnn", "rellstm"):
        m = model(kind, nu, rho)
        seen: list[torch.Size] = []
        m.memory.attention.register_forward_hook(
            lambda mod, args, out, seen=seen: seen.append(args[1].shape))
        m(inputs(T, 2))
        assert len(seen) == T - 1
        assert {s[1] for s in seen} <= set(range(1, nu + rho + 1))
        assert max(s[1] for s in seen) == nu + rho


def test_fixed_mode_adjoint_matches_autograd():
    """measure's fixed mode runs Lemma 1's adjoint recursion on the recorded alpha; autograd on
    the probes with detached attention is an independent route to the same dh_T/dh_t."""
    T, nu, rho = 30, 3, 2
    m = model("relrnn", nu, rho)
    x = inputs(T, 1, seed=3)
    got = measure(m, x, mode="fixed")
    probe = x.new_zeros(1, T + 1, m.hidden, requires_grad=True)
    hT = m(x, probe=probe, detach_attention=True).h[0, T]
    G = torch.stack([torch.autograd.grad(hT[i], probe, retain_graph=True)[0][0, :T]
                     for i in range(m.hidden)], 1)
    want = torch.linalg.matrix_norm(G, ord=2).numpy()
    np.testing.assert_allclose(got.norm2, want, rtol=1e-9, atol=1e-300)
    assert got.kappa == nu + rho


@pytest.mark.parametrize("name", MODELS)
def test_measure_each_model_both_modes(name):
    """``measure`` runs on every model in both modes; a loss on
    h_T gives a loss-gradient profile whose last entry is the norm of dh_T/dh_{T-1}^T 1."""
    T = 25
    core = build(name, 10, hidden=6, nu=3, rho=2, dtype=torch.float64)
    x = inputs(T, 2, seed=1)
    for mode in ("fixed", "full"):
        m = measure(core, x, mode=mode, loss=lambda r: r.h[0, -1].sum())
        assert m.norm2.shape == (T,) and np.all(np.isfinite(m.log10_norm2))
        assert m.mode == mode
        assert m.grad_norm[-1] == pytest.approx(
            np.linalg.norm(m.jacobian(T - 1).sum(0)), rel=1e-9)
    if name in SCREENED:
        assert m.kappa <= 3 + 2


def hand_set(nu: int, rho: int, c: float) -> Recurrent:
    """A RelRNN with V = c I, zero attention parameters (uniform weights over the <= nu + rho
    attended slots, so every attended alpha >= 1/(nu + rho)), small input weights (tanh near
    its linear regime) and zero bias."""
    m = model("relrnn", nu, rho, hidden=4)
    with torch.no_grad():
        m.cell.V.copy_(c * torch.eye(4, dtype=torch.float64))
        m.cell.U.mul_(0.1)
        for p in m.memory.parameters():
            p.zero_()
    return m


def test_b7_retained_event_keeps_gradient_independent_of_T():
    """B7 (relevancy_lower): with attention held fixed, a retained event i has a direct hop to
    every later step, so ||dh_T/dh_i|| >= gamma*mu/(nu+rho) at any distance. Hypotheses: J_k =
    c diag(tanh'(a_k)) is entrywise nonnegative (the B2+ setting, so paths cannot cancel),
    mu = min_k sigma_min(J_k) > 0 is measured on the run, and the event is retained (read from
    the screening trace). Without a relevant set (rho = 0) the same distance falls far below
    the bound: the shortcut is what keeps it."""
    nu, rho, c, i = 10, 15, 0.5, 1
    b7 = catalog.get("relevancy_lower")
    for T in (100, 300):
        x = inputs(T, 1, seed=2)
        m = hand_set(nu, rho, c)
        got = measure(m, x, mode="fixed")
        assert got.hypotheses["nonnegative"]
        trace = m(x).trace.relevant_time[0]
        assert all(i in trace[t].tolist() for t in range(i + nu, T))
        bound = float(b7.evaluate(gamma=m.gamma, mu=got.mu.min(), nu=nu, rho=rho))
        assert got.norm2[i] >= bound
        window = measure(hand_set(nu, 0, c), x, mode="fixed")
        assert window.norm2[i] < 1e-3 * bound


def test_score_function_is_pluggable():
    """Any ``f(weights, mask)`` scores: here the number of buffer steps at which a state got
    more than 1/4 of the attention, recomputed from the recorded alpha."""
    T, nu = 30, 4
    m = build("relrnn", 10, hidden=8, nu=nu, rho=3,
              score=lambda w, live: (w > 0.25).to(w.dtype), dtype=torch.float64)
    out = m(inputs(T, 2, seed=5)).trace
    want = torch.zeros(2, T + 1, dtype=torch.float64)
    for i in range(1, T):  # h_T is never attended: its score stays 0
        want[:, i] = (out.alpha[:, i:i + nu, i] > 0.25).sum(1)
    assert torch.equal(out.score, want)
    assert want.max() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_matches_cpu():
    """Every model gives the same states and screening trace on CUDA as on the CPU (float64,
    up to rounding), and measure runs there."""
    x = inputs(40, 3, seed=4)
    for name in MODELS:
        cpu = build(name, 10, hidden=8, nu=3, rho=2, dtype=torch.float64)
        gpu = build(name, 10, hidden=8, nu=3, rho=2, dtype=torch.float64, device="cuda")
        for k, v in cpu.state_dict().items():  # the same seed: the same parameters
            assert torch.equal(gpu.state_dict()[k].cpu(), v)
        a, b = cpu(x), gpu(x.cuda())
        torch.testing.assert_close(b.h.cpu(), a.h, rtol=1e-10, atol=1e-12)
        for k in ("alpha", "relevant_time", "relevant_score", "score"):
            if getattr(a.trace, k) is not None:
                torch.testing.assert_close(getattr(b.trace, k).cpu(), getattr(a.trace, k),
                                           rtol=1e-10, atol=1e-12)
        assert measure(gpu, x.cuda(), mode="full").device.startswith("cuda")


def test_bad_input():
    with pytest.raises(ValueError, match="parameter 'nu' must be an integer >= 1, got 0"):
        build("relrnn", 10, hidden=4, nu=0)
    with pytest.raises(ValueError, match="parameter 'rho' must be an integer >= 0, got -1"):
        build("rellstm", 10, hidden=4, rho=-1)
    with pytest.raises(ValueError, match="unknown score function 'best'"):
        build("relrnn", 10, hidden=4, score="best")
    with pytest.raises(ValueError, match="unknown model 'gru'"):
        build("gru", 10)
