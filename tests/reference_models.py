"""THEORY.md sections 1 and 7 written out for one sequence at a time: Python lists and loops,
no masks, no batching, none of verify.models' code. Parameters are read from a model by name
(the same tensors, so gradients can be compared); what the memory is comes from the test that
built the model, never from inspecting it.

    c_t = sum_{i in S_t} alpha[t, i] h_i,  s_t = beta h_t + gamma c_t,  h_{t+1} = cell(x_{t+1}, s_t)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

PHI = {"linear": lambda a: a, "tanh": torch.tanh, "relu": torch.relu}

#: Two relevancy scores closer than this (relative) make an admission a coin toss decided by
#: rounding; such a run is reported as ambiguous rather than compared.
TIE_RTOL = 1e-9


@dataclass
class Memory:
    """What the test built: ``kind`` in none / pattern / learned / relevant, with the pattern
    (T x T tensor) for ``pattern`` and as the support of ``learned``, ``include_h0`` for
    ``learned``, and nu, rho, score for ``relevant``."""

    kind: str
    alpha: Tensor | None = None
    include_h0: bool = False
    nu: int = 0
    rho: int = 0
    score: str = "accumulated"


@dataclass
class Run:
    """One sequence: states h_0..h_T, attention weights alpha[t, i], and for a relevant set,
    per step t the members {time: frozen score} when step t attends, every state's score, the
    number of evictions and whether some admission was a near tie."""

    h: list[Tensor]
    alpha: list[list[float]]
    members: list[dict[int, Tensor]] = field(default_factory=list)
    score: list[Tensor] = field(default_factory=list)
    evictions: int = 0
    ambiguous: bool = False


def vanilla_step(cell, x: Tensor, s: Tensor, carry: None, phi: str):
    a = cell.V @ s + cell.U @ x + cell.b
    return PHI[phi](a), carry


def lstm_step(cell, x: Tensor, s: Tensor, c: Tensor, phi: str):
    """torch's LSTM equations with s in place of h: gates i, f, g, o in that order."""
    z = cell.W @ x + cell.R @ s + cell.b
    n = s.shape[0]
    i, f, g, o = (z[k * n:(k + 1) * n] for k in range(4))
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def additive_weights(att, s_prev: Tensor, states: list[Tensor], detach: bool) -> list[Tensor]:
    """softmax_i of e_i = v . tanh(W_s s_prev + W_h h_i), written out."""
    e = [(att.v @ torch.tanh(att.W_s @ s_prev + att.W_h @ h))[0] for h in states]
    top = max(float(v.detach()) for v in e)
    ex = [torch.exp(v - top) for v in e]
    total = sum(ex)
    w = [v / total for v in ex]
    return [v.detach() for v in w] if detach else w


def run(model, x: Tensor, memory: Memory, *, phi: str = "tanh", lstm: bool = False,
        detach: bool = False, probe: Tensor | None = None) -> Run:
    """The model on one sequence ``x`` (T, m); ``probe`` (T+1, n) added to each h_t."""
    cell = model.cell
    T, n = x.shape[0], model.hidden
    beta, gamma = model.beta, model.gamma
    step = lstm_step if lstm else vanilla_step
    h = torch.zeros(n, dtype=x.dtype) + (0 if probe is None else probe[0])
    carry = torch.zeros(n, dtype=x.dtype) if lstm else None
    out = Run(h=[h], alpha=[])
    s_prev = torch.zeros(n, dtype=x.dtype)
    buffer: list[list] = []     # [time, h, running score], oldest first
    relevant: list[list] = []   # [time, h, frozen score]
    scores = {0: torch.zeros((), dtype=x.dtype)}
    for t in range(T):
        row = [0.0] * T
        c = torch.zeros(n, dtype=x.dtype)
        if memory.kind == "pattern":
            for i in range(t + 1):
                c = c + memory.alpha[t, i] * out.h[i]
                row[i] = float(memory.alpha[t, i])
        elif memory.kind == "learned":
            first = 0 if memory.include_h0 else 1
            support = [i for i in range(first, t + 1)
                       if memory.alpha is None or memory.alpha[t, i] > 0]
            if support:
                w = additive_weights(model.memory.attention, s_prev,
                                     [out.h[i] for i in support], detach)
                for i, wi in zip(support, w, strict=True):
                    c = c + wi * out.h[i]
                    row[i] = float(wi.detach())
        elif memory.kind == "relevant":
            out.members.append({m[0]: m[2] for m in relevant})
            slots = buffer + relevant
            if slots:
                w = additive_weights(model.memory.attention, s_prev, [m[1] for m in slots],
                                     detach)
                for m, wi in zip(slots, w, strict=True):
                    c = c + wi * m[1]
                    row[m[0]] = float(wi.detach())
                for m, wi in zip(buffer, w[:len(buffer)], strict=True):
                    earned = wi.detach() * (len(slots) if memory.score == "normalised" else 1)
                    m[2] = m[2] + earned
        out.alpha.append(row)
        s = beta * h + gamma * c
        h, carry = step(cell, x[t], s, carry, phi)
        if probe is not None:
            h = h + probe[t + 1]
        out.h.append(h)
        if memory.kind == "relevant":
            buffer.append([t + 1, h, torch.zeros((), dtype=x.dtype)])
            if len(buffer) > memory.nu:
                leaving = buffer.pop(0)
                scores[leaving[0]] = leaving[2]
                _admit(relevant, leaving, memory.rho, out)
        s_prev = s
    for m in buffer:
        scores[m[0]] = m[2]
    out.score = [scores.get(i, torch.zeros((), dtype=x.dtype)) for i in range(T + 1)]
    return out


def _close(a: Tensor, b: Tensor) -> bool:
    a, b = float(a), float(b)
    return abs(a - b) <= TIE_RTOL * max(abs(a), abs(b))


def _admit(relevant: list[list], leaving: list, rho: int, out: Run) -> None:
    """THEORY.md section 7's admission: join if there is room; else replace the lowest-scoring
    member (the youngest among equal lowest) only if strictly higher."""
    if len(relevant) < rho:
        relevant.append(leaving)
        return
    if rho == 0:
        return
    low = min(float(m[2]) for m in relevant)
    lowest = [m for m in relevant if float(m[2]) == low]
    victim = max(lowest, key=lambda m: m[0])
    if sum(_close(m[2], low) for m in relevant) > 1 or _close(leaving[2], low):
        out.ambiguous = True
    if float(leaving[2]) > low:
        relevant[relevant.index(victim)] = leaving
        out.evictions += 1


def logits(model, states: list[Tensor]) -> list[Tensor]:
    """W h_t + c for t = 1..T (the Classifier's read-out)."""
    return [model.W @ h + model.c for h in states[1:]]


def cross_entropy(rows: list[list[Tensor]], targets: Tensor) -> Tensor:
    """Mean over every sequence and step of -log softmax(logits)[target], written out."""
    total, count = 0.0, 0
    for b, seq in enumerate(rows):
        for t, z in enumerate(seq):
            top = float(z.detach().max())
            log_norm = top + torch.log(sum(torch.exp(v - top) for v in z))
            total = total + (log_norm - z[int(targets[b, t])])
            count += 1
    return total / count


def relative_error(got: Tensor, want: Tensor) -> float:
    """max |got - want| / max |want| (0 when both are 0)."""
    got, want = got.detach(), want.detach()
    scale = float(want.abs().max()) if want.numel() else 0.0
    err = float((got - want).abs().max()) if want.numel() else 0.0
    return 0.0 if err == 0 else (math.inf if scale == 0 else err / scale)
