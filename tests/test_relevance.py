"""Relevancy-screening bookkeeping (THEORY.md section 7) against two independent references:
a pure-Python, one-sequence-at-a-time simulation of the admission rule, and the closed form
"top rho of all states that left the buffer, higher score first, then older first"."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from verify.models import relevance


def reference_admission(scores: list[float], rho: int) -> list[list[int]]:
    """Slot contents (time index or -1) after each admission, for one sequence: the state with
    time k (k = 0, 1, ...) and score ``scores[k]`` leaves the buffer at admission k. First free
    slot if any; else the lowest score, the youngest among equal lowest, is replaced when the
    newcomer's score is strictly higher."""
    slots: list[int] = [-1] * rho
    history = []
    for k, s in enumerate(scores):
        if -1 in slots:
            slots[slots.index(-1)] = k
        elif rho:
            low = min(scores[i] for i in slots)
            victim = max(i for i in slots if scores[i] == low)
            if s > low:
                slots[slots.index(victim)] = k
        history.append(list(slots))
    return history


def top_rho(scores: list[float], rho: int) -> set[int]:
    """The closed form: the rho best of all times, by (higher score, then older)."""
    return set(sorted(range(len(scores)), key=lambda k: (-scores[k], k))[:rho])


def run_batched(streams: torch.Tensor, rho: int) -> list[torch.Tensor]:
    """Drive ``relevance.admit``/``place`` over score streams (B, L); slot times after each."""
    B, L = streams.shape
    time, score = relevance.empty(B, rho, dtype=streams.dtype)
    out = []
    for k in range(L):
        hit = relevance.admit(time, score, streams[:, k])
        assert hit.shape == (B, rho) and (hit.sum(1) <= 1).all()
        time = time.masked_fill(hit, k)
        score = relevance.place(hit, streams[:, k], score)
        out.append(time)
    return out


# Scores from a handful of values, so ties (the delicate case) are frequent.
score_values = st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0])


@given(st.integers(1, 6), st.integers(0, 6), st.integers(0, 30), st.data())
def test_admission_matches_brute_force(batch, rho, length, data):
    streams = [data.draw(st.lists(score_values, min_size=length, max_size=length))
               for _ in range(batch)]
    got = run_batched(torch.tensor(streams, dtype=torch.float64).reshape(batch, length), rho)
    for b, stream in enumerate(streams):
        want = reference_admission(stream, rho)
        for k in range(length):
            assert got[k][b].tolist() == want[k]
            assert {i for i in want[k] if i >= 0} == top_rho(stream[:k + 1], rho)


def test_ties_keep_older_and_replace_youngest_lowest():
    # rho = 2: times 0 (score 1) and 1 (score 0.5) fill the set; times 2, 3, 4 tie the lowest
    # and are refused (the older member stays); time 5 (score 2) replaces time 1.
    got = run_batched(torch.tensor([[1.0, 0.5, 0.5, 0.5, 0.5, 2.0]]), 2)
    assert [g[0].tolist() for g in got] == [[0, -1], [0, 1], [0, 1], [0, 1], [0, 1], [0, 5]]
    # Two members share the lowest score: the younger one (time 1) goes.
    got = run_batched(torch.tensor([[0.5, 0.5, 1.0]]), 2)
    assert got[-1][0].tolist() == [0, 2]


def test_score_functions():
    w = torch.tensor([[0.5, 0.25, 0.25, 0.0]])
    live = torch.tensor([[True, True, True, False]])
    assert torch.equal(relevance.accumulated(w, live), w)
    # Relative to uniform attention over |S_t| = 3 live slots.
    assert torch.allclose(relevance.normalised(w, live), torch.tensor([[1.5, 0.75, 0.75, 0.0]]))
    assert relevance.score_fn("normalised") is relevance.normalised
    assert relevance.score_fn(torch.sqrt) is torch.sqrt
    with pytest.raises(ValueError, match="unknown score function 'max'"):
        relevance.score_fn("max")
