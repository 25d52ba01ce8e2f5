"""The one time loop of every recurrent model (THEORY.md sections 1 and 2): a cell and a memory
composed by :class:`Recurrent`, what a forward pass returns (:class:`Rollout`, :class:`Trace`),
and the interface ``measure`` and ``train`` rely on (:class:`RecurrentModel`).

For t = 0 .. T-1::

    c_t = memory.read(t, s_{t-1})        sum_{i in S_t} alpha[t, i] h_i   (0 where S_t is empty)
    s_t = beta h_t + gamma c_t
    h_{t+1}, a_{t+1} = cell.step(x_{t+1}, s_t)
    memory.write(h_{t+1})

**Probe convention.** ``model(x, probe=p)`` with ``p`` a zero tensor of shape (B, T+1, n) that
requires grad adds ``p[:, t]`` to ``h_t`` right after ``h_t`` is computed (``h_0`` included)
and before anything reads it. Then ``d h_T / d p[:, t]`` is the total derivative
``d h_T / d h_t`` of THEORY.md section 2, whatever the cell and the memory.

**Attention detaching.** ``detach_attention=True`` holds learned weights fixed (no gradient
through the scores): Lemma 1's setting. A fixed pattern is fixed anyway.

**Progress.** ``model(x, tick=f)`` calls ``f(steps)`` about every 1% of the T steps
(:mod:`verify.progress`), T in all; where autograd records the pass, the states at those
steps carry hooks that call ``f`` with the same counts as the gradient reaches them, so every
backward pass through the rollout ticks T steps too.

The inputs and probes are split along time once (``unbind``), never sliced step by step, so
the backward pass stays linear in T.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn

from bounds.domains import NONNEGATIVE
from bounds.patterns import Pattern, none
from verify.models import fused
from verify.models.cells import check_inputs
from verify.models.jacobians import DiagTimes
from verify.progress import Tick, period


def _tick(tick: Tick, h: Tensor, steps: int) -> None:
    """``steps`` more steps of a forward pass are done, and of a backward pass once the
    gradient reaches ``h`` (where autograd records it)."""
    tick(steps)
    if h.requires_grad:
        def hook(grad: Tensor) -> None:  # the gradient passes unchanged
            tick(steps)

        h.register_hook(hook)


@dataclass
class Trace:
    """What a forward pass attended, where the memory has it.

    ``pattern``: the fixed pattern (:class:`verify.models.memories.FixedPattern`).
    ``alpha``: (B, T, T) learned attention weights, ``alpha[b, t, i]`` on h_i at step t (zero
    off S_t).
    ``relevant_time``, ``relevant_score``: (B, T, rho), the relevant set's slots when step t
    attends (time index, -1 when empty) and their frozen scores; ``score``: (B, T+1), every
    state's relevancy score; ``nu``, ``rho``: the buffer and set sizes (relevancy screening).
    """

    pattern: Pattern | None = None
    alpha: Tensor | None = None
    relevant_time: Tensor | None = None
    relevant_score: Tensor | None = None
    score: Tensor | None = None
    nu: int | None = None
    rho: int | None = None

    def weights(self, T: int, batch_index: int = 0) -> Pattern:
        """The attention weights sequence ``batch_index`` used, as a :class:`Pattern` over
        their support (alpha > 0): the fixed pattern, the recorded learned weights, or the
        ``none`` pattern where nothing was attended. A learned row may be empty (nothing
        attended yet), so the result is not validated as a user's matrix would be."""
        if self.pattern is not None:
            return self.pattern
        if self.alpha is None:
            return none(T)
        a = self.alpha[batch_index].detach().cpu().double().numpy()
        rows, cols = np.nonzero(a > 0)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=a.shape[0]))])
        return Pattern(a.shape[0], indptr, cols.astype(np.int64), a[rows, cols], "measured")


@dataclass
class Rollout:
    """One forward pass over T steps: ``h`` (B, T+1, n) the states h_0..h_T (probes added),
    ``a`` (B, T, n) the pre-activations a_1..a_T of a vanilla cell (None for other cells) and
    the memory's :class:`Trace`."""

    h: Tensor
    a: Tensor | None
    trace: Trace


@runtime_checkable
class RecurrentModel(Protocol):
    """The interface ``measure`` and ``train`` rely on (every :class:`Recurrent` has it).

    ``learned``: the attention weights depend on the states (the full Jacobian has score
    terms). ``pattern``: the fixed pattern, or None. ``step_jacobians(rollout, b)``: the J_k
    of sequence b, (T, n, n), or None where the cell has none of THEORY.md section 2's form.
    """

    hidden: int
    inputs: int
    beta: float
    gamma: float
    learned: bool
    pattern: Pattern | None

    def __call__(self, x: Tensor, *, probe: Tensor | None = None,
                 detach_attention: bool = False, trace: bool = True,
                 tick: Tick | None = None) -> Rollout: ...

    def step_jacobians(self, rollout: Rollout, batch_index: int = 0) -> Tensor | None: ...


class Recurrent(nn.Module):
    """A cell and a memory composed by the time loop of this module's docstring:
    ``s_t = beta h_t + gamma c_t``, ``h_{t+1} = cell(x_{t+1}, s_t)``, ``h_0 = 0``.
    ``name`` is what :func:`repr` shows (e.g. ``relrnn``)."""

    def __init__(self, cell: nn.Module, memory: nn.Module, *, beta: float, gamma: float,
                 name: str = "recurrent") -> None:
        super().__init__()
        self.cell, self.memory, self.name = cell, memory, name
        self.beta = float(NONNEGATIVE.check("beta", beta))
        self.gamma = float(NONNEGATIVE.check("gamma", gamma))

    @property
    def hidden(self) -> int:
        return self.cell.hidden

    @property
    def inputs(self) -> int:
        return self.cell.inputs

    @property
    def learned(self) -> bool:
        return self.memory.learned

    @property
    def pattern(self) -> Pattern | None:
        return self.memory.pattern

    def extra_repr(self) -> str:
        return f"name={self.name!r}, beta={self.beta:g}, gamma={self.gamma:g}"

    def forward(self, x: Tensor, *, probe: Tensor | None = None,
                detach_attention: bool = False, trace: bool = True,
                tick: Tick | None = None) -> Rollout:
        """Run on ``x`` (B, T, inputs) from ``h_0 = 0``; ``probe``, ``detach_attention`` and
        ``tick`` as in this module's docstring; ``trace=False`` skips recording the trace
        (training). Untraced calls, and with autograd off every call, take the fused path of
        :mod:`verify.models.fused` where it applies (the same results and trace, a fraction
        of the time; its forward pass ticks alike, its backward pass not)."""
        check_inputs(x, probe, self.inputs, self.hidden)
        ref = next(self.parameters())
        x = x.to(device=ref.device, dtype=ref.dtype)
        if fused.applies(self, probe, detach_attention, trace):
            return fused.forward(self, x, tick, trace)
        B, T = x.shape[:2]
        every = period(T) if tick is not None else 0
        drive = self.cell.drive(x).unbind(1)
        probes = probe.unbind(1) if probe is not None else None
        h = x.new_zeros(B, self.hidden)
        if probes is not None:
            h = h + probes[0]
        carry = self.cell.initial(B, h)
        memory = self.memory.start(h, T, trace)
        s = torch.zeros_like(h)
        states, pre = [h], []
        for t in range(T):
            c = memory.read(t, s, detach_attention)
            s = self.beta * h if c is None else self.beta * h + self.gamma * c
            h, a, carry = self.cell.step(drive[t], s, carry)
            if probes is not None:
                h = h + probes[t + 1]
            memory.write(h)
            states.append(h)
            pre.append(a)
            if every and ((t + 1) % every == 0 or t + 1 == T):
                _tick(tick, h, every if (t + 1) % every == 0 else (t + 1) % every)
        return Rollout(torch.stack(states, 1),
                       None if pre[0] is None else torch.stack(pre, 1), memory.trace())

    def step_jacobians(self, rollout: Rollout, batch_index: int = 0, *,
                       factored: bool = False) -> Tensor | DiagTimes | None:
        """``J_k`` for k = 1..T of sequence ``batch_index``: (T, n, n), entry k-1 is J_k, or
        None where the cell has none (THEORY.md section 2); with ``factored``, the same
        entries as a :class:`verify.models.jacobians.DiagTimes` (T n + n^2 numbers)."""
        if rollout.a is None:
            return None
        return self.cell.jacobians(rollout.a[batch_index], factored)
