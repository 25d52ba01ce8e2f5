"""The fused training path (verify/models/fused.py) against the simple loop and against the
independent per-sequence reference (reference_models.py), THEORY.md sections 1, 7 and 8.

Tolerances. float64: 1e-12 relative (max-norm per tensor; gradient entries relative to the
largest gradient), as in test_models.py: both sides are float64 sums of at most a few hundred
O(1) terms in different orders (the hand-written backward adds per step, the autograd graph
per node), exact to ~1e-15. The forward of relrnn, rellstm and rnn is the simple loop's
arithmetic, so their states, weights and admissions are compared with ``torch.equal``.
float32: the forward is still bit for bit (memrnn's and the plain LSTM's to rounding, see
fused.py); gradients agree to 2e-5 of the largest gradient
(unit roundoff 6e-8 times the square root of the ~1e4 terms a gradient entry sums, with a
margin of 10); the plain LSTM, which runs torch's oneDNN kernel, to 2e-5 in its states too.
"""

from __future__ import annotations

import contextlib
import json
import random
from dataclasses import dataclass, fields

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_models import Memory, cross_entropy, logits, relative_error, run
from test_models import sharpen

from bounds import patterns
from verify.models import (
    Classifier,
    LSTMCell,
    NoMemory,
    Recurrent,
    build,
    controlled,
    fused,
    relevance,
)
from verify.models.rollout import Trace
from verify.progress import period
from verify.training import Config, load, train

RTOL = 1e-12
F32_RTOL = 2e-5


@dataclass
class Case:
    """A drawn model (``bitwise``: whether its fused forward is the simple loop's, bit for
    bit) with its description for the reference, inputs and targets."""

    name: str
    core: Recurrent
    memory: Memory
    lstm: bool
    x: torch.Tensor
    y: torch.Tensor
    bitwise: bool = True


def _lstm_mixed(draw, hidden, inputs, seed, dtype):
    """An LSTM with no memory but beta != 1 (s_t = beta h_t): the hand-written backward."""
    beta = draw(st.floats(0.1, 0.9))
    core = Recurrent(LSTMCell(hidden, inputs, seed=seed, dtype=dtype), NoMemory(), beta=beta,
                     gamma=0.0, name="lstm, beta < 1")
    return core, Memory("none")


def _learned(draw, hidden, inputs, seed, dtype):
    """Learned attention over 1..t (or 0..t) with drawn beta, gamma."""
    h0 = draw(st.booleans())
    core = controlled("orthogonal", hidden, inputs, "tanh", learned=True, include_h0=h0,
                      beta=draw(st.floats(0, 1)), gamma=draw(st.floats(0, 1)),
                      bias_scale=0.3, seed=seed, dtype=dtype, device="cpu")
    return core, Memory("learned", include_h0=h0)


@st.composite
def cases(draw, dtype=torch.float64, max_T: int = 24) -> Case:
    name = draw(st.sampled_from(
        ["rnn", "memrnn", "relrnn", "lstm", "rellstm", "lstm, beta < 1", "learned"]))
    hidden, inputs = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    B, T, seed = draw(st.integers(1, 3)), draw(st.integers(1, max_T)), draw(st.integers(0, 999))
    kw = {"hidden": hidden, "seed": seed, "dtype": dtype}
    if name in ("relrnn", "rellstm"):
        nu, rho = draw(st.integers(1, 4)), draw(st.integers(0, 4))
        score = draw(st.sampled_from(["accumulated", "normalised"]))
        core = build(name, inputs, nu=nu, rho=rho, score=score, **kw)
        memory = Memory("relevant", nu=nu, rho=rho, score=score)
    elif name == "memrnn":
        h0 = draw(st.booleans())
        core, memory = build(name, inputs, include_h0=h0, **kw), Memory("learned",
                                                                        include_h0=h0)
    elif name == "lstm, beta < 1":
        core, memory = _lstm_mixed(draw, hidden, inputs, seed, dtype)
    elif name == "learned":
        core, memory = _learned(draw, hidden, inputs, seed, dtype)
    else:
        core, memory = build(name, inputs, **kw), Memory("none")
    if name != "learned":
        sharpen(core, draw(st.sampled_from([1.0, 3.0, 10.0])))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, inputs, generator=gen, dtype=dtype)
    y = torch.randint(0, 3, (B, T), generator=gen)
    return Case(name, core, memory, "lstm" in name, x, y,
                bitwise=name not in ("lstm", "memrnn", "learned"))


def forward_backward(case: Case, simple: bool, x: torch.Tensor | None = None):
    """Logits, rollout, loss and the gradients of every parameter and of ``x``."""
    clf = Classifier(case.core, 3, seed=1)
    x = (case.x if x is None else x).clone().requires_grad_(True)
    with fused.simple_path() if simple else contextlib.nullcontext():
        out, rollout = clf(x)
    loss = F.cross_entropy(out.flatten(0, 1), case.y.flatten())
    inputs = [*clf.parameters(), x]
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)  # unused: no attended step
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(inputs, grads, strict=True)]
    return out, rollout, loss, grads


def close(got, want, what: str, rtol: float, scale: float | None = None) -> None:
    got, want = got.detach(), want.detach()
    err = relative_error(got, want) if scale is None else float((got - want).abs().max()) / scale
    assert err <= rtol, f"{what}: relative error {err:.2e}"


def compare(case: Case, rtol: float) -> None:
    """The fused path against the simple loop on the case's model: states, pre-activations,
    logits and loss bit for bit (within ``rtol`` for the plain LSTM), every gradient within
    ``rtol`` of the largest."""
    out, rollout, loss, grads = forward_backward(case, simple=False)
    s_out, s_rollout, s_loss, s_grads = forward_backward(case, simple=True)
    if case.bitwise:
        assert torch.equal(rollout.h, s_rollout.h), "states"
        assert torch.equal(out, s_out) and torch.equal(loss, s_loss), "logits, loss"
    else:
        close(rollout.h, s_rollout.h, "states", rtol)
        close(out, s_out, "logits", rtol)
    if s_rollout.a is None:
        assert rollout.a is None
    else:
        assert not rollout.a.requires_grad
        if case.bitwise:
            assert torch.equal(rollout.a, s_rollout.a)
        close(rollout.a, s_rollout.a, "pre-activations", rtol)
    scale = max(float(g.abs().max()) for g in s_grads) or 1.0
    for g, want in zip(grads, s_grads, strict=True):
        close(g, want, "gradient", rtol, scale)


@settings(max_examples=60)
@given(cases())
def test_fused_path_equals_the_simple_loop(case):
    compare(case, RTOL)


@settings(max_examples=30)
@given(cases(dtype=torch.float32))
def test_fused_path_equals_the_simple_loop_in_float32(case):
    compare(case, F32_RTOL)


@settings(max_examples=30)
@given(cases(max_T=14))
def test_fused_path_matches_the_reference(case):
    """Logits, loss and parameter gradients against reference_models.py, an independent
    per-sequence loop (runs with a near tie in some admission are not compared: there the
    reference's own rounding decides)."""
    refs = [run(case.core, case.x[b], case.memory, lstm=case.lstm)
            for b in range(case.x.shape[0])]
    if any(r.ambiguous for r in refs):
        return
    clf = Classifier(case.core, 3, seed=1)
    params = list(clf.parameters())
    out, _ = clf(case.x)
    loss = F.cross_entropy(out.flatten(0, 1), case.y.flatten())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]
    want_loss = cross_entropy([logits(clf, r.h) for r in refs], case.y)
    want = torch.autograd.grad(want_loss, params, allow_unused=True)
    for b, r in enumerate(refs):
        close(out[b], torch.stack(logits(clf, r.h)), "logits", RTOL)
    close(loss, want_loss, "loss", RTOL)
    want = [torch.zeros_like(p) if w is None else w for p, w in zip(params, want, strict=True)]
    scale = max(float(w.abs().max()) for w in want) or 1.0
    for g, w in zip(grads, want, strict=True):
        close(g, w, "parameter gradient", RTOL, scale)


def check_traced_forward(case: Case, detach: bool, rtol: float) -> None:
    """With autograd off (a measurement's or an evaluation's forward), a traced or detached
    call takes the fused path, and its rollout and trace (weights, the relevant set's slot
    times and frozen scores at every step, every state's score) are the simple loop's: bit
    for bit where the forward is, within ``rtol`` elsewhere; both tell the progress of T
    steps."""
    ticks = {True: [], False: []}
    with torch.no_grad():
        assert fused.applies(case.core, None, detach, True)
        got = case.core(case.x, detach_attention=detach, tick=ticks[False].append)
        with fused.simple_path():
            want = case.core(case.x, detach_attention=detach, tick=ticks[True].append)
    assert sum(ticks[False]) == sum(ticks[True]) == case.x.shape[1]
    pairs = [("h", got.h, want.h), ("a", got.a, want.a)] + [
        (f.name, getattr(got.trace, f.name), getattr(want.trace, f.name))
        for f in fields(Trace)]
    for what, g, w in pairs:
        if not isinstance(w, torch.Tensor):
            assert g == w, what
        elif case.bitwise or w.dtype == torch.long:
            assert g.dtype == w.dtype and torch.equal(g, w), what
        else:
            assert g.shape == w.shape, what
            close(g, w, what, rtol)


@settings(max_examples=60)
@given(cases(), st.booleans())
def test_a_forward_without_autograd_records_the_simple_loops_trace(case, detach):
    check_traced_forward(case, detach, RTOL)


@settings(max_examples=30)
@given(cases(dtype=torch.float32), st.booleans())
def test_a_forward_without_autograd_records_the_simple_loops_trace_in_float32(case, detach):
    check_traced_forward(case, detach, F32_RTOL)


# ------------------------------------------------------------ admissions (THEORY.md section 7)


def slot_maps(core: Recurrent, x: torch.Tensor):
    """Per step t >= 1 of the fused forward: the time index in each relevant-set slot (-1
    empty) and the weight on each slot, read from the fused node's record."""
    h = core(x, trace=False).h
    saved = h.grad_fn.tape.attention
    T1 = x.shape[1] + 1
    maps = []
    for t, rec in enumerate(saved):
        if rec is None:
            maps.append(None)
            continue
        idx, _, w, _ = rec
        times = idx - torch.arange(x.shape[0]).unsqueeze(1) * T1
        nb = min(t, core.memory.nu)
        members = times[:, nb:].masked_fill(times[:, nb:] == 0, -1)  # h_0's row: empty
        maps.append((times, members, w))
    return maps


def check_admissions(core: Recurrent, x: torch.Tensor) -> int:
    """The fused path's relevant set at every step is the simple loop's, slot for slot, with
    the same weights bit for bit; returns the number of membership changes after the set
    filled (evictions)."""
    trace = core(x, trace=True).trace
    maps = slot_maps(core, x)
    evictions = 0
    for t, m in enumerate(maps):
        if m is None:
            continue
        times, members, w = m
        assert torch.equal(members, trace.relevant_time[:, t]), f"relevant set at step {t}"
        live = times.clone()
        live[:, min(t, core.memory.nu):] = members
        for b in range(x.shape[0]):
            for k in range(live.shape[1]):
                if live[b, k] >= 0:
                    assert w[b, k] == trace.alpha[b, t, live[b, k]], f"weight, step {t}"
        if t > 1 and maps[t - 1] is not None:
            before = maps[t - 1][1]
            evictions += int(((before != members) & (before >= 0)).sum())
    return evictions


@pytest.mark.parametrize("name", ["relrnn", "rellstm"])
@pytest.mark.parametrize("form", ["numpy", "tensor"])
def test_admissions_are_the_simple_loops_with_churn(name, form, monkeypatch):
    """Peaked attention: states are evicted from the relevant set many times, and every
    decision is the simple loop's, with the CPU's numpy admission and with the tensor form
    other devices use (run here on the same memory)."""
    if form == "tensor":
        monkeypatch.setattr(fused, "_admit_host", lambda *arrays: fused._admit(
            *(torch.from_numpy(a) for a in arrays)))
    core = build(name, 3, hidden=4, nu=2, rho=2, seed=0, dtype=torch.float32)
    sharpen(core, 10.0)
    x = torch.randn(3, 60, 3, generator=torch.Generator().manual_seed(0))
    assert check_admissions(core, x) >= 5


def test_admissions_under_near_ties():
    """Zero inputs and no bias keep every state at 0, so every weight is 1/|S_t| and a
    normalised score sums nu terms fl(1/|S|) |S|: exactly nu while the set fills, one or two
    ulps below once |S| = 49. Every later admission compares scores one or two ulps apart
    and is decided by rounding; the fused path decides as the simple loop does because its
    scores are the same bits (no tolerance could do this)."""
    nu, T = 3, 120
    core = build("relrnn", 2, hidden=3, nu=nu, rho=46, score="normalised",
                 dtype=torch.float64)
    x = torch.zeros(2, T, 2, dtype=torch.float64)
    check_admissions(core, x)
    score = core(x, trace=True).trace.score[:, 1:T + 1 - nu]  # frozen scores
    assert len(torch.unique(score)) > 1 and float((score - nu).abs().max()) < 1e-15


@st.composite
def full_sets(draw):
    """A full relevant set (distinct rows, scores from a few values so that ties are common)
    and a leaving state with a score from the same values."""
    B, rho = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    values = st.sampled_from([0.25, 0.5, 0.75, 1.0])
    rows = [draw(st.lists(st.integers(0, 50), min_size=rho, max_size=rho, unique=True))
            for _ in range(B)]
    scores = [draw(st.lists(values, min_size=rho, max_size=rho)) for _ in range(B)]
    leaving = draw(st.lists(values, min_size=B, max_size=B))
    return (torch.tensor(rows), torch.tensor(scores, dtype=torch.float64),
            torch.tensor(leaving, dtype=torch.float64))


@settings(max_examples=100)
@given(full_sets())
def test_admission_into_a_full_set_is_relevance_admit(case):
    """Both forms of the fused path's admission (tensor and numpy) against
    verify.models.relevance.admit and place, whose rule THEORY.md section 7 states."""
    members, frozen, leaving = case
    row = torch.full((members.shape[0],), 99)
    hit = relevance.admit(members, frozen, leaving)
    want = (relevance.place(hit, row, members), relevance.place(hit, leaving, frozen))
    m, f = members.clone(), frozen.clone()
    fused._admit(m, f, leaving, row)
    assert torch.equal(m, want[0]) and torch.equal(f, want[1])
    m, f = members.clone(), frozen.clone()
    fused._admit_host(m.numpy(), f.numpy(), leaving.numpy(), row.numpy())
    assert torch.equal(m, want[0]) and torch.equal(f, want[1])


# ------------------------------------------------------------------------------ dispatch


def test_which_calls_take_the_fused_path():
    """Training calls (no probe, no trace, attention live) of the five models take it;
    probes, traces and detached attention while autograd records, fixed patterns, attention
    over a support, non-tanh cells and the simple_path block do not."""
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    for name in ("rnn", "memrnn", "relrnn", "lstm", "rellstm"):
        core = build(name, 3, hidden=4, dtype=torch.float64)
        assert fused.applies(core, None, False, False), name
        probe = torch.zeros(2, 7, 4, dtype=torch.float64)
        assert not fused.applies(core, probe, False, False)
        assert not fused.applies(core, None, True, False)
        assert not fused.applies(core, None, False, True)
        with fused.simple_path():
            assert not fused.applies(core, None, False, False)
        assert fused.applies(core, None, False, False)
        node = type(core(x, trace=False).h.grad_fn).__name__
        assert node == ("CatBackward0" if name == "lstm" else "_SequenceBackward"), name
        with torch.no_grad():  # evaluation: the fused forward, keeping nothing
            h = core(x, trace=False).h
        close(h, core(x, trace=True).h, f"{name} without gradients", RTOL)
    others = [controlled("orthogonal", 4, 3, pattern=patterns.uniform(6), device="cpu"),
              controlled("orthogonal", 4, 3, pattern=patterns.window(6, 2), learned=True,
                         device="cpu"),
              controlled("orthogonal", 4, 3, "relu", device="cpu")]
    for core in others:
        assert not fused.applies(core, None, False, False)


def test_a_second_backward_is_refused():
    core = build("relrnn", 3, hidden=4, nu=2, rho=1, dtype=torch.float64)
    h = core(torch.randn(1, 5, 3, dtype=torch.float64), trace=False).h
    h.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="already backpropagated"):
        h.sum().backward()


def test_global_random_state_untouched():
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    states = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    for name in ("rnn", "memrnn", "relrnn", "lstm", "rellstm"):
        core = build(name, 3, hidden=4, nu=2, rho=1)
        core(torch.randn(2, 9, 3, generator=torch.Generator().manual_seed(0)),
             trace=False).h.sum().backward()
    assert torch.equal(torch.get_rng_state(), states[0])
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert random.getstate() == states[2]


@pytest.mark.parametrize("name", ["relrnn", "memrnn"])
def test_training_is_the_same_on_both_paths(name, tmp_path):
    """Three float64 training steps (train() takes the fused path): the losses and weights
    after RMSprop agree to 1e-10 (rounding differences in the gradients, amplified by
    RMSprop's division by its running RMS); relrnn's first loss is the simple loop's bit for
    bit."""
    cfg = Config(task="copy", model=name, T=10, hidden=6, nu=3, rho=2, batch=3,
                 dtype="float64")
    train(cfg, 3, save=tmp_path / "f.pt", log_every=1, progress=False)
    with fused.simple_path():
        train(cfg, 3, save=tmp_path / "s.pt", log_every=1, progress=False)

    def losses(stem):
        lines = (tmp_path / f"{stem}.metrics.jsonl").read_text().splitlines()
        return [json.loads(line)["loss"] for line in lines]

    f, s = losses("f"), losses("s")
    assert f[0] == s[0] or name == "memrnn"
    assert np.allclose(f, s, rtol=1e-10, atol=0)
    a, b = (load(tmp_path / f"{k}.pt")["model"] for k in "fs")
    for k in a:
        close(a[k], b[k], k, 1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_matches_the_simple_loop():
    for name in ("rnn", "memrnn", "relrnn", "lstm", "rellstm"):
        core = build(name, 3, hidden=5, nu=2, rho=2, dtype=torch.float64, device="cuda")
        sharpen(core, 5.0)
        x = torch.randn(2, 30, 3, dtype=torch.float64, device="cuda")
        y = torch.randint(0, 3, (2, 30), device="cuda")
        case = Case(name, core, Memory("none"), "lstm" in name, x, y, bitwise=False)
        compare(case, RTOL)


@pytest.mark.parametrize("T", [250, 301])
@pytest.mark.parametrize("name", ["rnn", "relrnn", "memrnn"])
def test_the_fused_forward_tells_every_step_once_in_batches(name, T):
    """Past 200 steps the forward ticks about every 1% of them (period(T) >= 2), the last
    batch short where the period does not divide T: the ticks add up to T on both paths,
    and the fused path ticks as the simple loop does."""
    core = build(name, 3, hidden=4, nu=3, rho=2, dtype=torch.float64)
    x = torch.randn(1, T, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ticks = {True: [], False: []}
    with torch.no_grad():
        assert fused.applies(core, None, False, False)
        core(x, trace=False, tick=ticks[False].append)
        with fused.simple_path():
            core(x, trace=False, tick=ticks[True].append)
    every = period(T)
    assert sum(ticks[False]) == T and ticks[False] == ticks[True]
    assert ticks[False] == [every] * (T // every) + ([T % every] if T % every else [])
