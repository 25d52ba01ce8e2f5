"""The fused training path of :class:`verify.models.rollout.Recurrent` (THEORY.md sections 1,
7 and 8): a whole forward pass as one autograd node whose backward through time is written by
hand, so that a training step costs a few tensor operations per time step instead of the
simple loop's graph of many small ones.

**When.** :func:`applies`: no probe, a tanh :class:`~verify.models.cells.VanillaCell` or an
:class:`~verify.models.cells.LSTMCell`, and no memory, a
:class:`~verify.models.memories.RelevantSet`, or learned attention over all of 1..t
(memrnn); with autograd recording, also no trace and attention not detached. With autograd
off (a measurement's or an evaluation's forward) nothing is differentiated, so detaching
changes nothing, and the loop records the trace the simple loop would
(:class:`~verify.models.rollout.Trace`: weights, the relevant set's slots and scores at
every step, every state's score), from the same values. Everything else (probes, fixed
patterns, attention over a support, other nonlinearities) takes the simple loop.
:func:`simple_path` switches the fused path off for a block (to time or compare the two).

**Forward: the simple loop's arithmetic, bit for bit** (rnn, relrnn, rellstm, and any
vanilla or LSTM cell with no memory or a relevant set). Every value the simple loop computes
on the way to ``h`` (attention logits and weights, context, ``s_t``, gates, states,
relevancy scores) is computed by the same operation on tensors of the same shape, layout and
alignment, without recording a graph. So the states and logits are the simple path's, bit
for bit, and the relevant set makes exactly the same admissions: a near tie is decided by the
same rounding on both paths, so none can flip. Only the bookkeeping is leaner: every state
is stored once, as the row ``[h_i | W_h h_i]`` of a (B, T+1, 2n) table; a step gathers its
slots with one ``index_select`` from a (B, S) map of slot to row; admission works on the
members' rows and frozen scores (:func:`_admit`, on the CPU :func:`_admit_host` on numpy
views of the same memory), the rule of :func:`verify.models.relevance.admit`.
Two models are equal to rounding instead, where nothing is decided by a comparison: memrnn
(:class:`_Full`: slots read in place from the state table) and the plain LSTM (torch's
own multi-step LSTM, :func:`_lstm`).

**Backward through time, by hand.** In reverse, step t takes the gradient of ``h_{t+1}``
(from the read-out, from later steps that attended it as a slot value, and ``W_h^T`` times
its key gradient), goes through the cell into ``s_t = beta h_t + gamma c_t`` and through the
attention of step t (softmax and tanh backward on the saved weights and tanh values), and
scatters the slot gradients back to the attended states' rows with one ``index_add``. The
weight gradients are summed over time at the end as single matmuls, pairing by ``s_t``:
``[dV; dW_s] = sum_t [g_{a,t+1}; g_{q,t+1}]^T s_t`` (``q_{t+1} = W_s s_t``),
``dW_h = sum_i g_{k,i}^T h_i``, ``dv = sum_{t,k} g_e[t, k] tanh(W_s s_{t-1} + W_h h_k)``; the
drive ``U x + b`` (``W x + b`` for the LSTM) stays outside the node, so autograd takes its
gradient to U, b and x.

The backward frees what the forward kept (a second backward through the same graph is an
error); a forward with no input needing a gradient (evaluation) keeps nothing. memrnn, which
attends O(t) states a step, keeps only its weights and recomputes the tanh values in the
backward (memory O(T n + T^2) rather than O(T^2 n)).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from verify.models import cells, memories, nonlin, relevance, rollout
from verify.models.tanh import tanh_values
from verify.progress import Tick, period

_ENABLED = [True]


@contextmanager
def simple_path() -> Iterator[None]:
    """Within this block every :class:`~verify.models.rollout.Recurrent` takes the simple
    loop (to time or compare the two paths); not thread-safe."""
    before = _ENABLED[0]
    _ENABLED[0] = False
    try:
        yield
    finally:
        _ENABLED[0] = before


def applies(model: rollout.Recurrent, probe: Tensor | None, detach_attention: bool,
            trace: bool) -> bool:
    """Whether ``model`` takes the fused path for this call (this module's docstring)."""
    if probe is not None or not _ENABLED[0]:
        return False
    if (detach_attention or trace) and torch.is_grad_enabled():
        return False
    cell, memory = model.cell, model.memory
    if not (isinstance(cell, cells.LSTMCell)
            or (isinstance(cell, cells.VanillaCell) and cell.phi is nonlin.TANH)):
        return False
    if isinstance(memory, memories.LearnedAttention):
        return memory.support is None
    return isinstance(memory, memories.NoMemory | memories.RelevantSet)


@dataclass(frozen=True)
class _Plan:
    """What the node computes, besides its tensors: the cell kind, the mixing weights, and
    the memory (``none``, ``relevant`` with nu, rho and the score function, or ``full``
    attention over ``first``..t)."""

    lstm: bool
    memory: str
    beta: float
    gamma: float
    nu: int = 0
    rho: int = 0
    score_fn: relevance.ScoreFn | None = None
    first: int = 1


def forward(model: rollout.Recurrent, x: Tensor, tick: Tick | None = None,
            trace: bool = False) -> rollout.Rollout:
    """The rollout of ``model`` on ``x`` (already checked and cast) by the fused path:
    ``h`` equal to the simple path's, ``a`` too (not differentiable), and with ``trace``
    (autograd off: :func:`applies`) the simple path's trace, else an empty one. ``tick``
    (:mod:`verify.progress`) is told of the T steps about every 1% of them (the plain LSTM,
    one call of torch's, at its end)."""
    cell, memory = model.cell, model.memory
    lstm = isinstance(cell, cells.LSTMCell)
    if lstm and isinstance(memory, memories.NoMemory) and model.beta == 1.0:
        out = _lstm(cell, x)
        if tick is not None:
            tick(x.shape[1])
        return out
    weights = [cell.R if lstm else cell.V]
    if isinstance(memory, memories.NoMemory):
        plan = _Plan(lstm, "none", model.beta, model.gamma)
    else:
        att = memory.attention
        weights += [att.W_s, att.W_h, att.v]
        if isinstance(memory, memories.RelevantSet):
            plan = _Plan(lstm, "relevant", model.beta, model.gamma, memory.nu, memory.rho,
                         memory.score_fn)
        else:
            plan = _Plan(lstm, "full", model.beta, model.gamma, first=0 if memory.include_h0
                         else 1)
    if trace:  # autograd is off: no node, the loop itself, recording
        h, a, _, record = _run(plan, cell.drive(x), *weights, keep=False, tick=tick,
                               trace=True)
        return rollout.Rollout(h, None if lstm else a, record)
    h, a = _Sequence.apply(plan, tick, cell.drive(x), *weights)
    return rollout.Rollout(h, None if lstm else a, _untraced(plan))


def _untraced(plan: _Plan) -> rollout.Trace:
    """The trace of an untraced call, as the simple loop's: the relevant set's sizes alone."""
    return (rollout.Trace(nu=plan.nu, rho=plan.rho) if plan.memory == "relevant"
            else rollout.Trace())


def _lstm(cell: cells.LSTMCell, x: Tensor) -> rollout.Rollout:
    """The plain LSTM (s_t = h_t) by torch's own multi-step LSTM, which is the cell's
    equations with W, R, b as ``W_ih``, ``W_hh``, ``b_ih`` and a zero ``b_hh`` (oneDNN's
    kernel for float32 on the CPU, cuDNN's on CUDA: equal to rounding, not bit for bit)."""
    h0 = x.new_zeros(1, x.shape[0], cell.hidden)
    weights = [cell.W, cell.R, cell.b, torch.zeros_like(cell.b)]
    out, _, _ = torch._VF.lstm(x, (h0, h0), weights, True, 1, 0.0, True, False, True)
    return rollout.Rollout(torch.cat([h0.transpose(0, 1), out], 1), None, rollout.Trace())


@dataclass
class _Tape:
    """What the forward keeps for the backward (nothing but the table when no input needs a
    gradient): the state table, the ``s_t`` (T, B, n), and per step the cell's values and
    the attention's (slot rows, slots, weights, tanh values; None where step t attended
    nothing)."""

    table: Tensor
    s: Tensor | None
    cell: list[tuple[Tensor, ...]] = field(default_factory=list)
    attention: list[tuple[Tensor, ...] | None] = field(default_factory=list)

    def tensors(self) -> Iterator[Tensor]:
        """Every tensor the tape holds."""
        yield self.table
        if self.s is not None:
            yield self.s
        for group in (*self.cell, *(a for a in self.attention if a is not None)):
            yield from (x for x in group if isinstance(x, Tensor))


def kept_tensors(output: Tensor) -> list[Tensor]:
    """The tensors that the fused nodes of ``output``'s autograd graph keep for their
    backward on their tapes, outside autograd's saved tensors (which a saved-tensors hook
    sees): with those, the memory a training step's backward holds."""
    seen, stack, kept = set(), [output.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        tape = getattr(node, "tape", None)
        if isinstance(tape, _Tape):
            kept.extend(tape.tensors())
        stack.extend(f for f, _ in node.next_functions)
    return kept


class _Sequence(torch.autograd.Function):
    """The whole forward pass as one autograd node: (plan, tick, drive, cell weight, [W_s,
    W_h, v]) -> (h (B, T+1, n), a (B, T, n) or an empty tensor)."""

    @staticmethod
    def forward(ctx, plan: _Plan, tick: Tick | None, drive: Tensor, *weights: Tensor
                ) -> tuple[Tensor, Tensor]:
        h, a, tape, _ = _run(plan, drive, *weights, keep=any(ctx.needs_input_grad),
                             tick=tick)
        ctx.plan, ctx.tape = plan, tape
        ctx.save_for_backward(*weights)
        ctx.mark_non_differentiable(a)
        return h, a

    @staticmethod
    def backward(ctx, grad_h: Tensor | None, grad_a: Tensor | None) -> tuple:
        tape, ctx.tape = ctx.tape, None
        if tape is None:
            raise RuntimeError("the fused path's graph was already backpropagated through; "
                               "run the forward again")
        return (None, None, *_backprop(ctx.plan, tape, grad_h, *ctx.saved_tensors))


# ---------------------------------------------------------------------------------- forward


def _run(plan: _Plan, drive: Tensor, cell_w: Tensor, W_s: Tensor | None = None,
         W_h: Tensor | None = None, v: Tensor | None = None, *, keep: bool,
         tick: Tick | None = None, trace: bool = False
         ) -> tuple[Tensor, Tensor, _Tape, rollout.Trace]:
    """The simple loop of :mod:`verify.models.rollout`, value for value (module docstring),
    keeping what the backward needs where ``keep``, recording the memory's trace where
    ``trace`` (else the untraced call's), telling ``tick`` of its steps about every 1% of
    them. New values are fresh tensors, as there: MKL's matmul results depend on the
    operands' alignment."""
    B, T = drive.shape[:2]
    n = cell_w.shape[1]
    cell_t = cell_w.T
    steps = drive.unbind(1)
    h = drive.new_zeros(B, n)
    carry = drive.new_zeros(B, n) if plan.lstm else None
    memory = (None if plan.memory == "none" else
              _RelevantSet(plan, drive.new_zeros(B, T + 1, 2 * n), W_s, W_h, v, keep, trace)
              if plan.memory == "relevant" else
              _Full(plan, drive.new_zeros(B, T + 1, 2 * n), W_s, W_h, v, keep, trace))
    s = torch.zeros_like(h)
    states, mixed, pre, saved = [h], [], [], []
    every = period(T) if tick is not None else 0
    for t in range(T):
        c = None if memory is None else memory.read(t, s)
        s = (plan.beta * h + plan.gamma * c if c is not None else
             h if plan.beta == 1.0 else plan.beta * h)  # 1.0 * h is h, bit for bit
        if keep:
            mixed.append(s)
        if plan.lstm:
            i, f, g, o = (steps[t] + s @ cell_t).chunk(4, dim=-1)
            sf, si, tg = torch.sigmoid(f), torch.sigmoid(i), torch.tanh(g)
            c_prev, carry = carry, sf * carry + si * tg
            so, tc = torch.sigmoid(o), torch.tanh(carry)
            h = so * tc
            if keep:
                saved.append((si, sf, tg, so, tc, c_prev))
        else:
            a = steps[t] + s @ cell_t
            h = a.tanh()
            pre.append(a)
        if memory is None:
            states.append(h)
        else:
            memory.write(t, h)
        if every and ((t + 1) % every == 0 or t + 1 == T):
            tick(every if (t + 1) % every == 0 else (t + 1) % every)
    if memory is None:
        table, attention = torch.stack(states, 1), []
        out = table
    else:
        table, attention = memory.table, memory.saved
        out = table[..., :n].contiguous()
    a = torch.stack(pre, 1) if pre else drive.new_empty(0)
    tape = _Tape(table, torch.stack(mixed) if keep else None, saved, attention)
    return out, a, tape, memory.trace() if trace and memory is not None else _untraced(plan)


class _Attention:
    """Additive attention over slots that are rows ``[h | W_h h]`` of the state table
    (B, T+1, 2n): the operations of :class:`verify.models.attention.AdditiveAttention` and
    of the memories' einsum on tensors of the same layout. ``saved``: per step what the
    backward needs, None where the step attended nothing (nothing unless ``keep``);
    ``alpha``: (B, T, T) the weights of step t on h_0..h_{T-1} (None unless ``record``),
    written in place, so that the trace is not held twice."""

    def __init__(self, plan: _Plan, table: Tensor, W_s: Tensor, W_h: Tensor, v: Tensor,
                 keep: bool, record: bool) -> None:
        self.plan, self.table, self.keep, self.record = plan, table, keep, record
        n = table.shape[2] // 2
        self.h_rows, self.k_rows = table[..., :n].unbind(1), table[..., n:].unbind(1)
        self.W_s, self.W_h, self.v = W_s.T, W_h.T, v.T
        self.saved: list[tuple[Tensor | None, ...] | None] = []
        B, T1 = table.shape[:2]
        self.alpha = table.new_zeros(B, T1 - 1, T1 - 1) if record else None

    def attend(self, s_prev: Tensor, slots: Tensor, live: Tensor | None
               ) -> tuple[Tensor, Tensor, Tensor]:
        """Weights (B, S), tanh values (B, S, n) and context (B, n) over ``slots`` (B, S, 2n);
        ``live`` masks slots out (None: all attended)."""
        n = s_prev.shape[1]
        th = tanh_values((s_prev @ self.W_s).unsqueeze(1) + slots[..., n:])
        e = (th @ self.v).squeeze(-1)
        if live is not None:
            e = e.masked_fill(~live, float("-inf"))
        w = torch.softmax(e, dim=-1)
        return w, th, torch.bmm(w.unsqueeze(1), slots[..., :n]).squeeze(1)

    def save(self, saved: tuple[Tensor | None, ...] | None) -> None:
        if self.keep:
            self.saved.append(saved)

    def store(self, t: int, h: Tensor) -> None:
        self.h_rows[t + 1].copy_(h)
        self.k_rows[t + 1].copy_(h @ self.W_h)


class _Full(_Attention):
    """Learned attention over ``first``..t (:class:`verify.models.memories.LearnedAttention`
    with no support): the slots are a slice of the state table, read in place. Nothing here
    decides on a comparison, so rounding-level differences from the simple loop are harmless,
    and this saves an O(t n) copy a step. Only the weights are kept: the backward recomputes
    the tanh values."""

    def read(self, t: int, s_prev: Tensor) -> Tensor | None:
        if t < self.plan.first:
            self.save(None)
            return None
        w, _, c = self.attend(s_prev, self.table[:, self.plan.first:t + 1], None)
        self.save((None, None, w, None))
        if self.record:
            self.alpha[:, t, self.plan.first:t + 1] = w
        return c

    def write(self, t: int, h: Tensor) -> None:
        self.store(t, h)

    def trace(self) -> rollout.Trace:
        """The recorded weights of every step, as
        :class:`~verify.models.memories.LearnedAttention`'s."""
        return rollout.Trace(alpha=self.alpha)


class _RelevantSet(_Attention):
    """A relevant set (:class:`verify.models.memories.RelevantSet`) over the state table:
    the buffer is the last nu rows; ``members`` (B, S) the set's rows of the flattened
    table (h_0's row where a slot is empty: masked) and ``frozen`` their scores, for the S of
    the rho slots that the run can fill (:func:`verify.models.relevance.fillable`); ``score``
    (B, T+1) every state's running score. On the CPU the admission works on numpy views of
    the same memory (a few microseconds, against tens for the tensor form)."""

    def __init__(self, plan: _Plan, table: Tensor, W_s: Tensor, W_h: Tensor, v: Tensor,
                 keep: bool, record: bool) -> None:
        super().__init__(plan, table, W_s, W_h, v, keep, record)
        B, T1, _ = table.shape
        nu, rho = plan.nu, plan.rho
        self.slots = relevance.fillable(rho, nu, T1 - 1)  # the others never fill
        self.flat = table.view(B * T1, -1)
        self.rows = torch.arange(B * T1, device=table.device).view(B, T1)
        self.members = self.rows[:, :1].repeat(1, self.slots)
        self.frozen = table.new_zeros(B, self.slots)
        self.score = table.new_zeros(B, T1)
        # the buffer at step t >= nu: rows t-nu+1..t, window t-nu
        self.windows = self.rows[:, 1:].unfold(1, nu, 1).unbind(1) if T1 > nu else ()
        self.score_windows = self.score[:, 1:].unfold(1, nu, 1).unbind(1) if T1 > nu else ()
        self.filled = 0
        self.live: Tensor | None = None  # every slot live: the set is full
        # the set as each step finds it (record): times (-1: empty) and frozen scores
        self.base = self.rows[:, :1]  # h_0's row: time 0
        self.times = self.members.new_full((B, T1 - 1, rho), -1) if record else None
        self.frozen_at = table.new_zeros(B, T1 - 1, rho) if record else None
        self.host = None if table.device.type != "cpu" else (
            self.members.numpy(), self.frozen.numpy(), self.score.numpy(),
            self.rows.numpy())

    def read(self, t: int, s_prev: Tensor) -> Tensor | None:
        if self.record and self.filled:
            k = self.filled
            torch.sub(self.members[:, :k], self.base, out=self.times[:, t, :k])
            self.frozen_at[:, t, :k] = self.frozen[:, :k]
        if t == 0:
            self.save(None)
            return None
        nu, S = self.plan.nu, self.slots
        B = s_prev.shape[0]
        if t >= nu:
            nb, buffer, scores = nu, self.windows[t - nu], self.score_windows[t - nu]
        else:
            nb, buffer, scores = t, self.rows[:, 1:t + 1], self.score[:, 1:t + 1]
        idx = torch.cat([buffer, self.members], dim=1)
        slots = self.flat.index_select(0, idx.view(-1)).view(B, nb + S, -1)
        if nb == nu and self.filled == S:
            if self.live is None:
                self.live = idx.new_ones(B, nu + S, dtype=torch.bool)
            live, mask = self.live, None
        else:
            live = (torch.arange(nb + S, device=idx.device) < nb + self.filled).repeat(B, 1)
            mask = None if self.filled == S else live
        w, th, c = self.attend(s_prev, slots, mask)
        scores += self.plan.score_fn(w, live)[:, :nb]
        self.save((idx, slots, w, th))
        if self.record:  # an empty slot holds h_0's row: time 0, weight 0 (its logit -inf)
            self.alpha[:, t].scatter_add_(1, idx - self.base, w)
        return c

    def trace(self) -> rollout.Trace:
        """What :class:`~verify.models.memories.RelevantSet`'s loop records, as recorded:
        the weights, the set's slots and frozen scores at every step, every state's score."""
        return rollout.Trace(alpha=self.alpha, relevant_time=self.times,
                             relevant_score=self.frozen_at, score=self.score,
                             nu=self.plan.nu, rho=self.plan.rho)

    def write(self, t: int, h: Tensor) -> None:
        self.store(t, h)
        j = t + 1 - self.plan.nu  # the state leaving the buffer
        if j < 1 or self.slots == 0:
            return
        if self.filled < self.slots:
            self.members[:, self.filled] = self.rows[:, j]
            self.frozen[:, self.filled] = self.score[:, j]
            self.filled += 1
        elif self.host is not None:
            members, frozen, score, rows = self.host
            _admit_host(members, frozen, score[:, j], rows[:, j])
        else:
            _admit(self.members, self.frozen, self.score[:, j], self.rows[:, j])


def _admit(members: Tensor, frozen: Tensor, leaving: Tensor, row: Tensor) -> None:
    """Admission into a full relevant set, in place (the rule of
    :func:`verify.models.relevance.admit` when no slot is free): the leaving state, at
    ``row`` (B,) of the flattened table with score ``leaving`` (B,), replaces the youngest of
    the lowest-scoring members (the largest row) where it scores strictly higher."""
    low = frozen.amin(dim=1, keepdim=True)
    slot = torch.where(frozen == low, members, -1).argmax(dim=1, keepdim=True)
    hit = ((torch.arange(members.shape[1], device=members.device) == slot)
           & (leaving.unsqueeze(1) > low))
    torch.where(hit, row.unsqueeze(1), members, out=members)
    torch.where(hit, leaving.unsqueeze(1), frozen, out=frozen)


def _admit_host(members: np.ndarray, frozen: np.ndarray, leaving: np.ndarray,
                row: np.ndarray) -> None:
    """:func:`_admit` on numpy arrays (the CPU's tensors, shared)."""
    low = frozen.min(axis=1)
    hit = np.flatnonzero(leaving > low)
    if hit.size:
        slot = np.where(frozen[hit] == low[hit, None], members[hit], -1).argmax(axis=1)
        members[hit, slot] = row[hit]
        frozen[hit, slot] = leaving[hit]


# --------------------------------------------------------------------------------- backward


def _backprop(plan: _Plan, tape: _Tape, grad_h: Tensor | None, cell_w: Tensor,
              W_s: Tensor | None = None, W_h: Tensor | None = None, v: Tensor | None = None
              ) -> tuple[Tensor, ...]:
    """Gradients of (drive, cell weight, [W_s, W_h, v]) from ``grad_h`` (B, T+1, n), by the
    reverse sweep of this module's docstring."""
    table, S = tape.table, tape.s
    T, B, n = S.shape
    P = cell_w.shape[0]  # width of the cell's pre-activation: n, or 4n for the LSTM
    attends = W_s is not None
    G = torch.zeros_like(table)  # gradient of every row [h_i | key_i]
    if grad_h is not None:
        G[..., :n] = grad_h
    hs, Gh = table[..., :n].unbind(1), G[..., :n].unbind(1)
    # per step t, [g_pre,t+1 | g_q,t+1]: both pair with s_t in the weight gradients
    buf = table.new_zeros(T, B, P + n if attends else P)
    rows, pres = buf.unbind(0), buf[..., :P].unbind(0)
    if attends:
        W = torch.cat([cell_w, W_s])
        Gk, qs, dv = G[..., n:].unbind(1), buf[..., P:].unbind(0), torch.zeros_like(v)
    g_carry = table.new_zeros(B, n) if plan.lstm else None
    gh = Gh[T]
    for t in range(T - 1, -1, -1):
        if attends:
            gh = torch.addmm(gh, Gk[t + 1], W_h)
        if plan.lstm:
            g_carry = _lstm_backward(gh, g_carry, tape.cell[t], pres[t], n)
        else:
            torch.ops.aten.tanh_backward.grad_input(gh, hs[t + 1], grad_input=pres[t])
        if not attends:
            if t > 0:
                gh = torch.addmm(Gh[t], pres[t], cell_w, alpha=plan.beta)
            continue
        gs = rows[t] @ W
        if tape.attention[t] is not None:
            _attention_backward(plan, t, tape, gs * plan.gamma, G, W_s, v, dv,
                                qs[t - 1] if t > 0 else None)
        if t > 0:
            gh = Gh[t].add_(gs, alpha=plan.beta)
    grads = buf.view(T * B, -1).T @ S.view(T * B, n)
    g_drive = buf[..., :P].transpose(0, 1)
    if not attends:
        return g_drive, grads
    dW_h = G[:, 1:, n:].reshape(-1, n).T @ table[:, 1:, :n].reshape(-1, n)
    return g_drive, grads[:P], grads[P:], dW_h, dv


def _lstm_backward(gh: Tensor, g_carry: Tensor, saved: tuple[Tensor, ...], g_pre: Tensor,
                   n: int) -> Tensor:
    """One LSTM step backward: writes the gate pre-activation gradients (i, f, g, o) into
    ``g_pre`` (B, 4n) and returns the gradient of the previous cell state."""
    si, sf, tg, so, tc, c_prev = saved
    gc = torch.ops.aten.tanh_backward(gh * so, tc) + g_carry
    sb, tb = torch.ops.aten.sigmoid_backward.grad_input, torch.ops.aten.tanh_backward.grad_input
    sb(gc * tg, si, grad_input=g_pre[:, :n])
    sb(gc * c_prev, sf, grad_input=g_pre[:, n:2 * n])
    tb(gc * si, tg, grad_input=g_pre[:, 2 * n:3 * n])
    sb(gh * tc, so, grad_input=g_pre[:, 3 * n:])
    return gc * sf


def _attention_backward(plan: _Plan, t: int, tape: _Tape, gc: Tensor, G: Tensor, W_s: Tensor,
                        v: Tensor, dv: Tensor, gq: Tensor | None) -> None:
    """The attention of step t backward from ``gc`` = dL/dc_t (B, n): slot gradients added
    to their rows of ``G``, ``dv`` accumulated, dL/dq_t written into ``gq`` (q_t =
    W_s s_{t-1}; None at t = 0, where s_{-1} = 0)."""
    idx, slots, w, th = tape.attention[t]
    tape.attention[t] = None
    n = gc.shape[1]
    if idx is None:  # full attention: the slots are rows first..t, tanh values recomputed
        slots = tape.table[:, plan.first:t + 1]
        q = tape.s[t - 1] @ W_s.T if t > 0 else torch.zeros_like(gc)
        th = tanh_values(q.unsqueeze(1) + slots[..., n:])
    ge = torch.ops.aten._softmax_backward_data(
        (slots[..., :n] * gc.unsqueeze(1)).sum(-1), w, -1, w.dtype)
    g_slots = torch.empty(slots.shape, dtype=gc.dtype, device=gc.device)
    torch.mul(w.unsqueeze(-1), gc.unsqueeze(1), out=g_slots[..., :n])
    torch.ops.aten.tanh_backward.grad_input(ge.unsqueeze(-1) * v, th,
                                            grad_input=g_slots[..., n:])
    dv.addmm_(ge.view(1, -1), th.reshape(-1, n))
    if idx is None:
        G[:, plan.first:t + 1].add_(g_slots)
    else:
        G.view(-1, 2 * n).index_add_(0, idx.view(-1), g_slots.view(-1, 2 * n))
    if gq is not None:
        torch.sum(g_slots[..., n:], dim=1, out=gq)
