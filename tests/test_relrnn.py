"""RelRNN / RelLSTM (THEORY.md section 7, B7): the screening trace against independent
recomputations from the recorded attention, the per-step work bound nu + rho (on tensor
shapes), gradient shortcuts through the relevant set, and B7 on a hand-set model."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_screening import reference_admission

from verify import relrnn


def model(kind: str, nu: int, rho: int, score: str = "accumulated", hidden: int = 8,
          inputs: int = 10) -> relrnn.Screened:
    torch.manual_seed(0)
    cls = relrnn.RelRNN if kind == "relrnn" else relrnn.RelLSTM
    return cls(inputs, hidden, nu=nu, rho=rho, score=score, dtype=torch.float64)


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
    out = model(kind, nu, rho, score)(inputs(T, batch, seed))
    alpha, when = out.alpha, out.extra["relevant_time"]
    assert alpha.shape == (batch, T, T) and when.shape == (batch, T, rho)
    for b in range(batch):
        want_score = [0.0]
        for i in range(1, T + 1):
            steps = range(i, min(i + nu, T))
            size = [min(t, nu) + int((when[b, t] >= 0).sum()) for t in steps]
            factor = [1.0] * len(size) if score == "accumulated" else size
            want_score.append(sum(f * alpha[b, t, i].item()
                                  for t, f in zip(steps, factor, strict=True)))
        assert out.extra["score"][b].tolist() == pytest.approx(want_score, abs=1e-12)
        history = reference_admission(want_score[1:T - nu + 1], rho)
        for t in range(T):
            members = history[t - nu - 1] if t > nu else [-1] * rho
            assert when[b, t].tolist() == [m + 1 if m >= 0 else -1 for m in members]
            buffer = set(range(max(1, t - nu + 1), t + 1))
            support = set(alpha[b, t].nonzero().flatten().tolist())
            assert support == buffer | {m + 1 for m in members if m >= 0}
            assert len(support) <= nu + rho
            assert alpha[b, t].sum().item() == pytest.approx(1.0 if t else 0.0, abs=1e-12)
