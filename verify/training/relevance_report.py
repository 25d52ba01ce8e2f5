"""A report on the relevant set of a relevancy-screening model on a task (THEORY.md section
7): which states it holds at every step, their scores, and how much the first states are
favoured (the ``untangle screen`` command).

**Early-state favour.** A state made while the memories are still filling (state i with
i < nu + rho) competes with fewer than nu + rho slots for some of its nu buffer steps, so under
accumulated attention it scores more for the same relative attention (the first state gets
weight 1 at its first step). To separate that bias from relevance it is measured on
*uninformative* states only (blank or noise input, symbol 0): ``favour`` = mean score of the
early uninformative states (i < nu + rho) / mean score of the later ones whose score is final
(nu + rho <= i <= T - nu). Uniform attention gives exactly 1 under ``normalised`` (every
state scores nu) and more than 1 under ``accumulated``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from verify.models import relevance
from verify.models.rollout import Recurrent, Trace
from verify.progress import Tick
from verify.training import tasks


def _per_state(mask: Tensor) -> Tensor:
    """A per-input mask (B, L) as a per-state mask over h_0..h_L: input j makes h_{j+1}."""
    return torch.cat([torch.zeros_like(mask[:, :1]), mask], dim=1)


def symbol_states(x: Tensor, task: str) -> Tensor:
    """(B, L + 1) mask over h_0..h_L: True for the states made from a symbol input (1..8);
    ``x`` one-hot (B, L, inputs)."""
    sym = x.argmax(-1)
    return _per_state((sym != 0) & (sym != tasks.get(task).marker))


def blank_states(x: Tensor) -> Tensor:
    """(B, L + 1) mask over h_0..h_L: True for states made from a blank/noise input (0)."""
    return _per_state(x.argmax(-1) == 0)


def favour(trace: Trace, blank: Tensor) -> dict[str, float | str | None]:
    """Early-state favour (module docstring) from a trace's ``score`` (B, L + 1) and the
    blank-state mask: ``favour``, ``early_score`` and ``late_score`` (means over the batch's
    blank states; None where a group is empty), and ``favour_note``: None, or why the favour is
    undefined (None): there is no relevant set (rho = 0), a group is empty, or the late mean
    is 0."""
    score, nu, rho = trace.score, trace.nu, trace.rho
    i = torch.arange(score.shape[1], device=score.device)
    early = blank & (i >= 1) & (i < nu + rho)
    late = blank & (i >= nu + rho) & (i <= score.shape[1] - 1 - nu)
    e = score[early].mean().item() if early.any() else None
    lt = score[late].mean().item() if late.any() else None
    if rho == 0:
        note = "rho = 0: there is no relevant set to favour a state in"
    elif e is None:
        note = f"no blank state among the early states 1..{nu + rho - 1}"
    elif lt is None:
        note = (f"no blank state with a final score after the early ones ({nu + rho} <= i <= "
                f"{score.shape[1] - 1 - nu}): T is too short")
    elif lt == 0:
        note = "the later blank states' mean score is 0"
    else:
        note = None
    return {"favour": None if note else e / lt, "early_score": e, "late_score": lt,
            "favour_note": note}


def recall(trace: Trace, symbols: Tensor) -> float:
    """Fraction of symbol states in the relevant set when the marker is read (step T + 9),
    over the batch: the states the recall phase can reach in one hop beyond the buffer."""
    when = trace.relevant_time
    T = when.shape[1] - 2 * tasks.K
    held = when[:, T + tasks.K - 1]
    hit = torch.zeros_like(symbols)
    hit.scatter_(1, held.clamp(min=0), held >= 0)
    return ((hit & symbols).sum() / symbols.sum()).item()


def inspect(core: Recurrent, task: str, T: int, *, score: str, batch: int = 10,
            seed: int = 0, tick: Tick | None = None
            ) -> tuple[Trace, Tensor, dict[str, float | str | None]]:
    """Run ``core`` (a model with a :class:`verify.models.memories.RelevantSet`) under score
    function ``score`` on a seeded batch of ``task``; return the trace, the one-hot inputs and
    the summary: favour, recall of symbol states. ``tick`` (:mod:`verify.progress`) is told
    of the T + 20 steps of the run."""
    dtype = next(core.parameters()).dtype
    device = next(core.parameters()).device
    x, _ = tasks.batch(task, T, batch, torch.Generator().manual_seed(seed), dtype=dtype,
                       device=device)
    memory = core.memory
    saved = memory.score_fn
    memory.score_fn = relevance.score_fn(score)
    try:
        with torch.no_grad():
            trace = core(x, tick=tick).trace
    finally:
        memory.score_fn = saved
    summary = favour(trace, blank_states(x))
    summary["symbol_recall"] = recall(trace, symbol_states(x, task))
    return trace, x, summary
