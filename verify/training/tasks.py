"""The paper's synthetic tasks, generated on the fly from a seeded generator (THEORY.md
section 8).

Both tasks have input length ``T + 20`` (K = 10 symbols, a delay, a marker, K recall steps),
one-hot inputs, a target at every step, and are scored by cross-entropy averaged over all
``T + 20`` steps and by accuracy on the last K steps.

* ``copy``: K symbols from 1..8, T - 1 blanks (0), the marker 9, K blanks; 10 input symbols.
  Target: blank for T + 10 steps, then the K symbols; 9 output classes. Reference relevancy
  screening: nu = 10, rho = 15.
* ``denoise``: the K symbols (from 1..8) at random sorted positions among the first T + 9 steps
  (0 elsewhere), the marker 10, K blanks; 11 input symbols, 10 output classes; nu = rho = 15.

Batches are drawn on the CPU from a ``torch.Generator`` and then moved, so a seed gives the same
data on every device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bounds.domains import POSITIVE_INT, Domain, check_fits

#: Number of symbols to remember (THEORY.md section 8).
K = 10
#: Symbols are drawn uniformly from 1..SYMBOLS.
SYMBOLS = 8
#: The delays T the tasks take: integers >= K (:func:`check_T`).
DELAYS = Domain(lo=K, lo_open=False, integer=True)


@dataclass(frozen=True)
class Task:
    """A task's sizes: ``inputs`` one-hot width, ``classes`` output classes, ``marker`` symbol,
    and its reference buffer ``nu`` and relevant-set size ``rho`` (THEORY.md section 8)."""

    name: str
    inputs: int
    classes: int
    marker: int
    nu: int
    rho: int


TASKS = {
    "copy": Task("copy", inputs=10, classes=9, marker=9, nu=10, rho=15),
    "denoise": Task("denoise", inputs=11, classes=10, marker=10, nu=15, rho=15),
}


def get(name: str) -> Task:
    """The task ``name``; a ValueError listing the tasks if there is none."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name
        raise ValueError(f"parameter 'task': unknown task {name!r}; known: "
                         f"{', '.join(TASKS)}") from None


def check_T(T: object, name: str = "T") -> int:
    """``T`` as an int, or a ValueError naming ``name`` and the one accepted range: the tasks
    need an integer ``T >= K`` (THEORY.md section 8)."""
    try:
        DELAYS.check(name, T)
    except ValueError:
        got = T if isinstance(T, (int, float)) and not isinstance(T, bool) else repr(T)
        raise ValueError(f"parameter {name!r} must be an integer >= K = {K}, got {got}") from None
    return int(T)


def sequence_length(T: int) -> int:
    """Input length ``T + 2K`` (= T + 20)."""
    return T + 2 * K


def _check_sizes(T: int, name: str, batch: object, per_entry: float, what: str) -> int:
    """``batch`` (parameter ``name``) as an int >= 1, refused, naming the larger of T + 20
    and it, where ``batch (T + 20) per_entry`` bytes of ``what`` exceed physical memory."""
    batch = int(POSITIVE_INT.check(name, batch))
    length = sequence_length(T)
    big, value = ("T", T) if length >= batch else (name, batch)
    check_fits(big, value, per_entry * batch * length,
               f"a batch of {batch} {what} of length T + 20 = {length}")
    return batch


def symbols(task: str, T: int, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Integer inputs and targets, each (batch, T + 20), drawn on the CPU from ``generator``."""
    spec, T = get(task), check_T(T)
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise ValueError(f"parameter 'generator' must be a torch.Generator on the CPU (the "
                         f"draw is made there, whatever the device), got "
                         f"{type(generator).__name__}")
    batch = _check_sizes(T, "batch", batch, 16.0, "sequences")
    length = sequence_length(T)
    seq = torch.randint(1, SYMBOLS + 1, (batch, K), generator=generator)
    x = torch.zeros(batch, length, dtype=torch.long)
    if spec.name == "copy":
        x[:, :K] = seq
    else:
        keys = torch.rand(batch, T + K - 1, generator=generator)
        pos = keys.argsort(dim=1)[:, :K].sort(dim=1).values
        x.scatter_(1, pos, seq)
    x[:, T + K - 1] = spec.marker
    y = torch.zeros(batch, length, dtype=torch.long)
    y[:, T + K:] = seq
    return x, y


def batch(task: str, T: int, size: int, generator: torch.Generator, *,
          dtype: torch.dtype = torch.float32,
          device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """One-hot inputs (size, T + 20, inputs) and class targets (size, T + 20) on ``device``."""
    inputs, T = get(task).inputs, check_T(T)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"parameter 'dtype' must be a floating torch.dtype (torch.float32, "
                         f"torch.float64), got {dtype!r}")
    width = inputs * torch.empty(0, dtype=dtype).element_size()
    size = _check_sizes(T, "size", size, 16.0 + width, "one-hot sequences")
    x, y = symbols(task, T, size, generator)
    onehot = F.one_hot(x, inputs).to(dtype)
    return onehot.to(device), y.to(device)


def loss(logits: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy averaged over every step and batch element; ``logits`` (B, L, classes)."""
    return F.cross_entropy(logits.flatten(0, 1), y.flatten())


def accuracy(logits: Tensor, y: Tensor) -> Tensor:
    """Fraction of correct argmax predictions on the last K steps."""
    return (logits[:, -K:].argmax(-1) == y[:, -K:]).float().mean()
