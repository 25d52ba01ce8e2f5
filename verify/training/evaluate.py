"""Evaluation and gradient profiles of a classifier on the paper's tasks (THEORY.md section 8).

Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA and the process's peak resident set
size on the CPU (``VmHWM`` on Linux, else ``ru_maxrss``: everything the process ever held,
Python and torch included); ``peak_mem_kind`` says which.
"""

from __future__ import annotations

import copy
import math
import resource
import time

import torch
from tqdm import tqdm

from bounds.domains import POSITIVE_INT
from verify.models.zoo import Classifier
from verify.progress import Tick
from verify.resources import status_kib
from verify.training import tasks

#: Seeds of the fixed batches for the gradient profile and for evaluation: the same inputs
#: for every model and run, and never those of a training stream.
PROFILE_SEED = 2**31 - 1
EVAL_SEED = 2**31 - 2


def peak_memory(device: torch.device) -> tuple[float, str]:
    """Peak memory in MiB and what it is (module docstring)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    peak = status_kib("VmHWM")  # Linux: VmHWM starts afresh at exec, unlike ru_maxrss
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024, "cpu_peak_rss"


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so that a timer reads finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def grad_profile(model: Classifier, task: str, T: int, batch: int, *,
                 recall_only: bool = False, tick: Tick | None = None) -> list[float | None]:
    """``||dL/dh_t||`` for t = 0..T+20 on the fixed batch of :data:`PROFILE_SEED`: the norm
    over (batch, n) of the gradient of the batch-mean loss (the training loss, or with
    ``recall_only`` the loss on the last K steps alone, whose gradient reaches early states
    only through the recurrence and the attention), by one backward pass through zero probes
    (:mod:`verify.models.rollout`), in a float64 copy of the model so that vanishing values
    stay representable. Returned as log10 (None for an exact 0). ``tick``
    (:mod:`verify.progress`) is told of the T + 20 steps of the forward pass and of the
    backward pass as they are done."""
    model = copy.deepcopy(model).double()
    device = next(model.parameters()).device
    x, y = tasks.batch(task, T, batch, torch.Generator().manual_seed(PROFILE_SEED),
                       dtype=torch.float64, device=device)
    probe = x.new_zeros(batch, x.shape[1] + 1, model.core.hidden, requires_grad=True)
    logits, _ = model(x, probe=probe, tick=tick)
    window = slice(-tasks.K, None) if recall_only else slice(None)
    (g,) = torch.autograd.grad(tasks.loss(logits[:, window], y[:, window]), probe)
    logs = torch.linalg.vector_norm(g, dim=(0, 2)).log10().tolist()
    return [v if math.isfinite(v) else None for v in logs]


def profiles(model: Classifier, task: str, T: int, batch: int, *, progress: bool = False,
             label: str = "") -> dict[str, list[float | None]]:
    """:func:`grad_profile` of the training loss (``loss``) and of the recall loss
    (``recall``), log10 over t = 0..T+20; ``progress``: a bar on stderr, described by
    ``label``, over the time steps of the two profiles' forward and backward passes
    (4 (T + 20) in all), moved about every 1% of each pass."""
    out = {}
    L = tasks.sequence_length(T)
    with tqdm(total=4 * L, disable=not progress, leave=False, unit="step",
              desc=f"{label} gradient profiles".strip()) as bar:
        for name, recall in (("loss", False), ("recall", True)):
            out[name] = grad_profile(model, task, T, batch, recall_only=recall,
                                     tick=bar.update if progress else None)
    return out


@torch.no_grad()
def evaluate(model: Classifier, task: str, T: int, *, batches: int = 20,
             batch: int = 10, progress: bool = False) -> dict[str, float | str]:
    """Loss and accuracy on the last K over ``batches`` fixed batches (:data:`EVAL_SEED`), with
    the forward cost: seconds per batch and per sequence step, and peak memory;
    ``progress``: a bar on stderr over the time steps of the batches, moved about every 1%
    of a batch's steps."""
    T = tasks.check_T(T)
    batches = int(POSITIVE_INT.check("batches", batches))
    batch = int(POSITIVE_INT.check("batch", batch))
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    gen = torch.Generator().manual_seed(EVAL_SEED)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    loss = correct = seconds = 0.0
    L = tasks.sequence_length(T)
    bar = tqdm(total=batches * L, disable=not progress, leave=False, unit="step",
               desc=f"evaluating T={T}")
    with bar:
        for _ in range(batches):
            x, y = tasks.batch(task, T, batch, gen, dtype=dtype, device=device)
            sync(device)
            start = time.perf_counter()
            logits, _ = model(x, tick=bar.update if progress else None)
            sync(device)
            seconds += time.perf_counter() - start
            loss += tasks.loss(logits, y).item()
            correct += tasks.accuracy(logits, y).item()
    mem, kind = peak_memory(device)
    return {"task": task, "T": T, "loss": loss / batches, "accuracy": correct / batches,
            "sec_per_batch": seconds / batches,
            "sec_per_step": seconds / batches / tasks.sequence_length(T),
            "peak_mem_mb": mem, "peak_mem_kind": kind}
