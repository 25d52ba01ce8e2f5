"""The relevant set's rules as batched tensors (THEORY.md section 7): score functions,
admission and tie-breaking.

The relevant set of every batch element is ``rho`` slots, each holding the time index of a
state (-1 when empty) and its frozen relevancy score. The states themselves live in the memory
(:class:`verify.models.memories.RelevantSet`), which writes a leaving buffer state into the
slot that :func:`admit` returns.

**Admission.** A state leaving the buffer takes the first empty slot if there is one; otherwise
it replaces the lowest-scoring member only if its own score is strictly higher.
**Tie-breaking.** A leaving state whose score equals the lowest member's is not admitted (the
older member stays), and among several members sharing the lowest score the *youngest* (largest
time index) is replaced. With these two choices the set is, after every admission, exactly the
top ``rho`` of all states that have left the buffer under the order "higher score first, then
older first" (the leaving state is always the youngest so far).

**Scores.** A state's score is the sum, over the nu steps it spends in the buffer, of a score
function of the (detached) attention weights it receives; it is frozen when the state leaves.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

#: ``f(weights, mask) -> increments``: weights (B, S) of one softmax over masked slots (B, S);
#: returns the score each slot earns at this step.
ScoreFn = Callable[[Tensor, Tensor], Tensor]


def accumulated(weights: Tensor, mask: Tensor) -> Tensor:
    """The reference rule: a slot earns its attention weight ``alpha[t, i]``."""
    return weights


def normalised(weights: Tensor, mask: Tensor) -> Tensor:
    """A slot earns ``alpha[t, i] / (1/|S_t|)``, its weight relative to uniform attention, so a
    state is not favoured for having had fewer competitors (THEORY.md section 7, known bias)."""
    return weights * mask.sum(dim=-1, keepdim=True).to(weights.dtype)


SCORES: dict[str, ScoreFn] = {"accumulated": accumulated, "normalised": normalised}


def score_fn(score: str | ScoreFn) -> ScoreFn:
    """A score function from its name in :data:`SCORES`, or a callable given as is."""
    if callable(score):
        return score
    try:
        return SCORES[score]
    except (KeyError, TypeError):  # TypeError: an unhashable name
        raise ValueError(
            f"parameter 'score': unknown score function {score!r}; known: "
            f"{', '.join(SCORES)}") from None


def fillable(rho: int, nu: int, T: int) -> int:
    """The slots of a relevant set of ``rho`` that a run of T steps can fill: one state leaves
    the buffer of ``nu`` at each step after the first nu, so at most ``T - nu`` ever join;
    the others stay empty and are not allocated (the trace still shows all rho, empty)."""
    return min(rho, max(T - nu, 0))


def empty(batch: int, rho: int, *, dtype: torch.dtype = torch.float32,
          device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """An empty relevant set: times (batch, rho) all -1, scores (batch, rho) all 0."""
    time = torch.full((batch, rho), -1, dtype=torch.long, device=device)
    return time, torch.zeros(batch, rho, dtype=dtype, device=device)


def admit(time: Tensor, score: Tensor, new_score: Tensor) -> Tensor:
    """Where the state now leaving the buffer, with score ``new_score`` (B,), goes: a (B, rho)
    mask with one True at its slot, or none where it is not admitted. ``time``/``score``
    (B, rho) are the current set (time -1 marks an empty slot).

    Implements the admission rule and tie-breaking of this module's docstring with batched
    argmax/where: no loop over the batch.
    """
    batch, rho = time.shape
    if rho == 0:
        return torch.zeros(batch, 0, dtype=torch.bool, device=time.device)
    free = time < 0
    has_room = free.any(dim=1)
    first_free = free.to(torch.int8).argmax(dim=1)
    low = score.masked_fill(free, float("inf")).amin(dim=1, keepdim=True)
    youngest_low = torch.where(free | (score != low), -1, time).argmax(dim=1)
    beats_low = new_score > low.squeeze(1)
    slot = torch.where(has_room, first_free, youngest_low)
    admitted = has_room | beats_low
    return admitted[:, None] & (torch.arange(rho, device=time.device) == slot[:, None])


def place(hit: Tensor, value: Tensor, slots: Tensor) -> Tensor:
    """``slots`` (B, rho, ...) with ``value`` (B, ...) written where ``hit`` (B, rho) is True,
    out of place so that earlier slot contents keep their autograd graph."""
    mask = hit.reshape(hit.shape + (1,) * (slots.dim() - 2))
    return torch.where(mask, value.unsqueeze(1).to(slots.dtype), slots)
