"""RelRNN / RelLSTM (THEORY.md section 7, B7): the screening trace against independent
recomputations from the recorded attention, the per-step work bound nu + rho (on tensor
shapes), gradient shortcuts through the relevant set, and B7 on a hand-set model."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from verify.measurement import measure
from verify.models import MODELS, SCREENED, Recurrent, build, relevance
from verify.models.fused import simple_path


def model(kind: str, nu: int, rho: int, score: str = "accumulated", hidden: int = 8,
          inputs: int = 10) -> Recurrent:
    return build(kind, inputs, hidden=hidden, nu=nu, rho=rho, score=score, dtype=torch.float64)


def inputs(T: int, batch: int, seed: int = 0) -> torch.Tensor:
    """Gaussian inputs (batch, T, 10), seeded."""
    return torch.randn(batch, T, 10, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


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


@given(kind=st.sampled_from(SCREENED), T=st.integers(1, 14), nu=st.integers(1, 4),
       extra=st.sampled_from([1, 5, 10**12]),
       score=st.sampled_from(["accumulated", "normalised"]), seed=st.integers(0, 99))
def test_slots_that_cannot_fill_are_neither_allocated_nor_attended(kind, T, nu, extra, score,
                                                                   seed):
    """In T steps at most T - nu states leave the buffer, so a set of rho >= S = max(T - nu, 0)
    slots holds what a set of S does: the states and the gradients are those of rho = S bit
    for bit, on the fused path and the simple loop, and every softmax is over at most nu + S
    slots (rho = 10^12 would not fit in memory otherwise). The trace, recorded where rho is
    small, shows the other rho - S slots empty at every step: time -1, score 0."""
    S = sum(t + 1 - nu >= 1 for t in range(T))  # the states that leave the buffer: T - nu
    assert relevance.fillable(S + extra, nu, T) == relevance.fillable(S, nu, T) == S
    small, big = (model(kind, nu, rho, score, hidden=3) for rho in (S, S + extra))
    assert all(torch.equal(a, b) for a, b in zip(small.parameters(), big.parameters(),
                                                 strict=True))
    x = inputs(T, 2, seed)
    seen: list[int] = []
    big.memory.attention.register_forward_hook(
        lambda mod, args, out: seen.append(args[1].shape[1]))
    for path in (nullcontext, simple_path):
        runs = []
        for m in (small, big):
            m.zero_grad()
            with path():
                h = m(x, trace=False).h
            h.square().sum().backward()
            runs.append((h.detach(), [torch.zeros_like(p) if p.grad is None else p.grad.clone()
                                      for p in m.parameters()]))  # None: not reached
        (h_small, g_small), (h_big, g_big) = runs
        assert torch.equal(h_small, h_big)
        assert all(torch.equal(a, b) for a, b in zip(g_small, g_big, strict=True))
        if extra < 10**12:
            with path(), torch.no_grad():
                mine, theirs = small(x).trace, big(x).trace
            assert torch.equal(mine.alpha, theirs.alpha)
            assert theirs.relevant_time.shape == (2, T, S + extra)
            assert torch.equal(theirs.relevant_time[..., :S], mine.relevant_time)
            assert torch.equal(theirs.relevant_score[..., :S], mine.relevant_score)
            assert (theirs.relevant_time[..., S:] == -1).all()
            assert (theirs.relevant_score[..., S:] == 0).all()
    # the simple loop's softmaxes at least (one a step after the first)
    assert len(seen) >= T - 1 and max(seen, default=0) <= nu + S


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
    for T in (100, 300):
        x = inputs(T, 1, seed=2)
        m = hand_set(nu, rho, c)
        got = measure(m, x, mode="fixed")
        assert got.hypotheses["nonnegative"]
        trace = m(x).trace.relevant_time[0]
        assert all(i in trace[t].tolist() for t in range(i + nu, T))
        b7 = got.verdicts["relevancy_lower"]
        assert b7.applicable[i] and b7.holds[i]
        bound = 0.5 * got.mu.min() / (nu + rho)  # gamma * mu / (nu + rho), mu over the run
        assert got.norm2[i] >= bound and 10 ** b7.log10_bound[i] >= bound * (1 - 1e-12)
        window = measure(hand_set(nu, 0, c), x, mode="fixed")
        assert window.norm2[i] < 1e-3 * bound
        assert not window.verdicts["relevancy_lower"].applicable.any()


def test_relevancy_scores_carry_no_gradient():
    """THEORY.md section 7: scores use detached weights. The trace's scores have no autograd
    history even when attention is live, and a loss on the scores cannot be differentiated."""
    m = model("relrnn", 3, 2)
    x = inputs(20, 2, seed=4)
    trace = m(x).trace
    assert trace.alpha.requires_grad is False
    for scores in (trace.score, trace.relevant_score):
        assert scores.grad_fn is None and not scores.requires_grad
    seen = []
    m.memory.score_fn = lambda w, live: seen.append(w.requires_grad) or w
    m(x)
    assert seen and not any(seen)


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
    with pytest.raises(ValueError, match="parameter 'score': unknown score function 'best'"):
        build("relrnn", 10, hidden=4, score="best")
    with pytest.raises(ValueError, match="parameter 'score': unknown score function \\[1\\]"):
        build("relrnn", 10, hidden=4, score=[1])  # unhashable: no TypeError from the lookup
    with pytest.raises(ValueError, match="parameter 'name': unknown model 'gru'; known: rnn"):
        build("gru", 10)


def test_relevancy_screening_defaults_to_the_copy_task_reference():
    """THEORY.md section 8: nu = 10, rho = 15, from build and from the memory itself."""
    from verify.models.memories import RelevantSet

    for name in SCREENED:
        memory = build(name, 3, hidden=4).memory
        assert (memory.nu, memory.rho) == (10, 15), name
    memory = RelevantSet(4)
    assert (memory.nu, memory.rho) == (10, 15)


@pytest.mark.parametrize("name", ["memrnn", "relrnn", "rellstm"])
def test_learned_attention_is_live_unless_detached(name):
    """A core called as is trains its attention: the gradient of h_T reaches W_s, W_h and v;
    with ``detach_attention=True`` it reaches none of them (Lemma 1's fixed alpha)."""
    core = build(name, 3, hidden=4, nu=2, rho=2, dtype=torch.float64)
    x = torch.randn(2, 9, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    attention = [p for k, p in core.named_parameters() if "attention" in k]
    assert len(attention) == 3
    for detach in (None, True):
        core.zero_grad(set_to_none=True)
        kw = {} if detach is None else {"detach_attention": detach}
        core(x, **kw).h[:, -1].sum().backward()
        reached = [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in attention]
        assert reached == [detach is None] * 3, (name, detach)
