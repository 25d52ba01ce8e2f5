"""Memories: what step t attends, ``c_t = sum_{i in S_t} alpha[t, i] h_i`` (THEORY.md sections
1, 6 and 7).

A memory is a module holding the attention's parameters, if any. ``start(h0, T, trace)``
begins one forward pass and returns its state, with

* ``read(t, s_prev, detach) -> c_t`` (B, n), or None where S_t is empty (``s_prev`` is
  s_{t-1}, zero at t = 0; ``detach`` holds learned weights fixed: Lemma 1's setting);
* ``write(h)``, which stores h_{t+1} once it is computed;
* ``trace() -> Trace``, what the pass attended.

Four memories, each with ``learned`` (attention weights depend on the states, so the full
Jacobian has score terms) and ``pattern`` (the fixed pattern, or None):

* :class:`NoMemory`: S_t empty, c_t = 0 (the plain RNN and LSTM);
* :class:`FixedPattern`: a fixed :class:`bounds.Pattern` on its section 6 supports (h_0
  included);
* :class:`LearnedAttention`: additive attention over S_t = {1..t}, or over a pattern's support;
  h_0 is left out unless ``include_h0`` (section 1);
* :class:`RelevantSet`: relevancy screening, a buffer of the last nu states and a relevant set
  of at most rho older ones, one softmax over both (section 7).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from bounds.domains import NONNEG_INT, POSITIVE_INT
from bounds.patterns import Pattern
from verify.models import relevance
from verify.models.attention import AdditiveAttention
from verify.models.rollout import Trace


def _check_T(pattern: Pattern, T: int) -> None:
    if pattern.T != T:
        raise ValueError(f"parameter 'x' must have T = {pattern.T} steps (the pattern's), "
                         f"got {T}")


class NoMemory(nn.Module):
    """``S_t`` empty: ``c_t = 0`` at every step."""

    learned = False
    pattern = None

    def start(self, h0: Tensor, T: int, trace: bool) -> _NoMemoryRun:
        return _NoMemoryRun()


class _NoMemoryRun:
    def read(self, t: int, s_prev: Tensor, detach: bool) -> None:
        return None

    def write(self, h: Tensor) -> None:
        pass

    def trace(self) -> Trace:
        return Trace()


class FixedPattern(nn.Module):
    """``alpha`` a fixed pattern (float weights), the same for every sequence."""

    learned = False

    def __init__(self, pattern: Pattern) -> None:
        super().__init__()
        if pattern.exact:
            raise ValueError("parameter 'pattern' must have float weights, not exact ones")
        self.pattern = pattern

    def extra_repr(self) -> str:
        return f"{self.pattern.kind}, T={self.pattern.T}"

    def start(self, h0: Tensor, T: int, trace: bool) -> _PatternRun:
        _check_T(self.pattern, T)
        return _PatternRun(self.pattern, h0)


class _PatternRun:
    """``c_t = sum_{i in S_t} alpha_ti h_i``. Without autograd (a measurement's forward) the
    states go into one (B, T+1, n) buffer and a contiguous S_t is read as a view of it, with
    no copy; with autograd each step stacks its attended states (no in-place writes)."""

    def __init__(self, pattern: Pattern, h0: Tensor) -> None:
        self.pattern, self.states = pattern, [h0]
        self.weights = torch.as_tensor(pattern.weights, dtype=h0.dtype, device=h0.device)
        self.buffer = None
        if not torch.is_grad_enabled():
            self.buffer = h0.new_empty(h0.shape[0], pattern.T + 1, h0.shape[1])
            self.buffer[:, 0] = h0

    def read(self, t: int, s_prev: Tensor, detach: bool) -> Tensor | None:
        lo, hi = self.pattern.indptr[t], self.pattern.indptr[t + 1]
        if lo == hi:
            return None
        idx = self.pattern.indices[lo:hi]
        if self.buffer is None:
            states = torch.stack([self.states[i] for i in idx], 1)
        elif idx[-1] - idx[0] + 1 == idx.size:
            states = self.buffer[:, idx[0]:idx[-1] + 1]
        else:
            states = self.buffer[:, torch.as_tensor(idx, device=self.buffer.device)]
        return torch.matmul(self.weights[lo:hi], states)  # (S,) @ (B, S, n): (B, n)

    def write(self, h: Tensor) -> None:
        if self.buffer is None:
            self.states.append(h)
        else:
            self.buffer[:, len(self.states)] = h
            self.states.append(h)

    def trace(self) -> Trace:
        return Trace(pattern=self.pattern)


class LearnedAttention(nn.Module):
    """Additive attention (:class:`verify.models.attention.AdditiveAttention`, seeded by
    ``seed``) over ``S_t``: the support of ``support`` (a pattern; its weights are ignored),
    or all of 0..t when None, less h_0 unless ``include_h0``. A step whose S_t is empty (t = 0
    without h_0) reads c_t = 0."""

    learned = True
    pattern = None

    def __init__(self, hidden: int, support: Pattern | None = None, *,
                 include_h0: bool = False, seed: int = 0, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.support, self.include_h0 = support, bool(include_h0)
        self.attention = AdditiveAttention(hidden, seed=seed, dtype=dtype, device=device)

    def extra_repr(self) -> str:
        over = "1..t" if self.support is None else f"the {self.support.kind} support"
        return f"over {over}, include_h0={self.include_h0}"

    def attended(self, t: int) -> np.ndarray:
        """S_t: the attended time indices at step t, increasing."""
        idx = np.arange(t + 1) if self.support is None else self.support.row(t)[0]
        return idx if self.include_h0 else idx[idx > 0]

    def start(self, h0: Tensor, T: int, trace: bool) -> _AttentionRun:
        if self.support is not None:
            _check_T(self.support, T)
        return _AttentionRun(self, h0, T, trace)


class _AttentionRun:
    def __init__(self, memory: LearnedAttention, h0: Tensor, T: int, trace: bool) -> None:
        self.memory, self.T = memory, T
        self.states = [h0]
        self.keys = [memory.attention.key(h0) if memory.include_h0 else None]
        self.rows: list[Tensor] | None = [] if trace else None

    def read(self, t: int, s_prev: Tensor, detach: bool) -> Tensor | None:
        idx = self.memory.attended(t)
        if idx.size == 0:
            if self.rows is not None:
                self.rows.append(s_prev.new_zeros(s_prev.shape[0], self.T))
            return None
        keys = torch.stack([self.keys[i] for i in idx], 1)
        w = self.memory.attention(s_prev, keys)
        if detach:
            w = w.detach()
        if self.rows is not None:
            row = w.new_zeros(w.shape[0], self.T)
            row[:, torch.as_tensor(idx, device=w.device)] = w.detach()
            self.rows.append(row)
        return torch.einsum("bs,bsn->bn", w, torch.stack([self.states[i] for i in idx], 1))

    def write(self, h: Tensor) -> None:
        self.states.append(h)
        self.keys.append(self.memory.attention.key(h))

    def trace(self) -> Trace:
        return Trace(alpha=None if self.rows is None else torch.stack(self.rows, 1))


class RelevantSet(nn.Module):
    """Relevancy screening (THEORY.md section 7): buffer ``nu`` >= 1, relevant set ``rho`` >= 0,
    score function ``score`` (a name in :data:`verify.models.relevance.SCORES` or a callable;
    kept as ``score_fn``, which may be swapped between runs), additive attention seeded by
    ``seed``.

    At step t the memory attends, with one softmax, the buffer (the last nu states, h_0 never
    among them) and the relevant set (empty slots masked). A state earns
    ``score_fn(weights, mask)`` at each of its nu buffer steps; its score is frozen when it
    leaves the buffer, and it then joins the set by :func:`verify.models.relevance.admit`.
    Members are the states themselves, so they keep their autograd graph (B7's shortcuts).
    The trace holds ``alpha`` (B, T, T), ``relevant_time`` (B, T, rho): the time index held by
    each slot when step t attends (-1: empty), ``relevant_score`` (B, T, rho), their frozen
    scores, and ``score`` (B, T+1), every state's score (frozen on leaving the buffer, running
    for the last nu states, 0 for h_0). Only ``min(rho, T - nu)`` slots can ever fill in T
    steps; a run allocates and attends only those (rho >= T costs what rho = T - nu does).
    """

    learned = True
    pattern = None

    def __init__(self, hidden: int, *, nu: int = 10, rho: int = 15,
                 score: str | relevance.ScoreFn = "accumulated", seed: int = 0,
                 dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.nu = int(POSITIVE_INT.check("nu", nu))
        self.rho = int(NONNEG_INT.check("rho", rho))
        self.score_fn = relevance.score_fn(score)
        self.attention = AdditiveAttention(hidden, seed=seed, dtype=dtype, device=device)

    def extra_repr(self) -> str:
        return f"nu={self.nu}, rho={self.rho}, score={getattr(self.score_fn, '__name__', '?')}"

    def start(self, h0: Tensor, T: int, trace: bool) -> _RelevantSetRun:
        return _RelevantSetRun(self, h0, T, trace)


class _RelevantSetRun:
    def __init__(self, memory: RelevantSet, h0: Tensor, T: int, trace: bool) -> None:
        B, n = h0.shape
        self.memory, self.T, self.n, self.record = memory, T, n, trace
        # The buffer: the last nu states as [h_i | W_h h_i] rows, oldest first, with their
        # running scores; the relevant set: (B, S, 2n) rows, their times (-1: empty) and
        # frozen scores, for the S of the rho slots that T steps can fill (the others, never
        # reached, are not allocated; the trace shows them empty).
        self.buffer: list[Tensor] = []
        self.buffer_score = h0.new_zeros(B, 0)
        self.slots = relevance.fillable(memory.rho, memory.nu, T)
        self.members = h0.new_zeros(B, self.slots, 2 * n)
        self.when, self.frozen = relevance.empty(B, self.slots, dtype=h0.dtype,
                                                 device=h0.device)
        self.made = 0  # time index of the newest state
        self.final_score = [h0.new_zeros(B)]
        self.alphas: list[Tensor] = []
        self.trace_when: list[Tensor] = []
        self.trace_score: list[Tensor] = []

    def read(self, t: int, s_prev: Tensor, detach: bool) -> Tensor | None:
        B, n = s_prev.shape
        if self.record:
            self.trace_when.append(self.when)
            self.trace_score.append(self.frozen)
        if not self.buffer:
            if self.record:
                self.alphas.append(s_prev.new_zeros(B, self.T))
            return None
        nb = len(self.buffer)
        live = torch.cat([self.when.new_ones(B, nb, dtype=torch.bool), self.when >= 0], dim=1)
        slots = torch.cat([torch.stack(self.buffer, 1), self.members], dim=1)
        w = self.memory.attention(s_prev, slots[..., n:], live)
        self.buffer_score = self.buffer_score + self.memory.score_fn(w.detach(), live)[:, :nb]
        if detach:
            w = w.detach()
        if self.record:
            times = torch.arange(t - nb + 1, t + 1, device=w.device).expand(B, nb)
            where = torch.cat([times, self.when.clamp(min=0)], dim=1)
            self.alphas.append(w.new_zeros(B, self.T).scatter_add(
                1, where, w.detach().masked_fill(~live, 0)))
        return torch.einsum("bs,bsn->bn", w, slots[..., :n])

    def write(self, h: Tensor) -> None:
        memory = self.memory
        self.made += 1
        self.buffer.append(torch.cat([h, memory.attention.key(h)], dim=-1))
        self.buffer_score = torch.cat([self.buffer_score, h.new_zeros(h.shape[0], 1)], dim=1)
        if len(self.buffer) > memory.nu:
            leaving = self.buffer_score[:, 0]
            hit = relevance.admit(self.when, self.frozen, leaving)
            self.members = relevance.place(hit, self.buffer.pop(0), self.members)
            self.when = self.when.masked_fill(hit, self.made - memory.nu)
            self.frozen = relevance.place(hit, leaving, self.frozen)
            self.buffer_score = self.buffer_score[:, 1:]
            self.final_score.append(leaving)

    def trace(self) -> Trace:
        if not self.record:
            return Trace(nu=self.memory.nu, rho=self.memory.rho)
        score = torch.stack([*self.final_score, *self.buffer_score.unbind(1)], 1)
        when, frozen = torch.stack(self.trace_when, 1), torch.stack(self.trace_score, 1)
        empty = self.memory.rho - self.slots  # slots no state reaches: empty at every step
        if empty:  # padded; else the stacks are the trace, not copied again
            when = torch.cat([when, when.new_full((*when.shape[:2], empty), -1)], 2)
            frozen = torch.cat([frozen, frozen.new_zeros(*frozen.shape[:2], empty)], 2)
        return Trace(alpha=torch.stack(self.alphas, 1), relevant_time=when,
                     relevant_score=frozen, score=score, nu=self.memory.nu,
                     rho=self.memory.rho)
