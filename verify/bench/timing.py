"""Timing, peak memory and the machine's matrix-product rate, for the benchmarks.

* :func:`timed`: the median wall time of a few calls (device synchronised around each), after
  warm-up calls (a fresh model's first training steps ran 2 to 3 times slower than the
  steady ones while the allocator's and optimiser's state settled).
* :func:`peak_memory`: the peak memory a call adds above what the process held before it:
  ``torch.cuda.max_memory_allocated`` on CUDA; on the CPU (Linux) the peak resident set size
  after resetting it (``/proc/self/clear_refs``), minus the resident size before the call,
  once garbage is collected and the heap's free pages are returned (else a call that reuses
  memory freed by earlier work, still resident, would look smaller than it is).
* :func:`matmul_rate`: floating-point operations per second of one large matrix product in the
  given dtype and device, measured now: the floor the benchmarks compare against;
  :func:`tanh_rate`, the attention's tanh evaluations per second, likewise.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

import torch

from verify.models.tanh import tanh_values
from verify.resources import reset_peak_rss, status_kib, trim_heap


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


#: The warm-up of :func:`timed`: calls until this many were made or this many seconds passed.
WARMUP_CALLS, WARMUP_S = 5, 2.0
#: The most calls :func:`timed` makes to fill its ``min_s``.
MAX_CALLS = 500


def timed(fn: Callable[[], object], device: torch.device, repeats: int = 3, *,
          warmup: bool = True, min_s: float = 0.0) -> float:
    """Median seconds of the timed calls of ``fn`` (the device's queue drained around each):
    ``repeats`` of them, and more until they took ``min_s`` seconds in all (at most
    :data:`MAX_CALLS`), so that a fast call is timed across the shared machine's slower and
    faster spells rather than within one. First, when ``warmup``, calls until
    :data:`WARMUP_CALLS` of them were made or :data:`WARMUP_S` seconds passed (one at least)."""
    start, calls = time.perf_counter(), 0
    while warmup and calls < WARMUP_CALLS and (not calls or
                                               time.perf_counter() - start < WARMUP_S):
        fn()
        sync(device)
        calls += 1
    seconds: list[float] = []
    while len(seconds) < repeats or (sum(seconds) < min_s and len(seconds) < MAX_CALLS):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def peak_memory(fn: Callable[[], object], device: torch.device) -> float | None:
    """Bytes of memory ``fn`` adds at its peak (module docstring); None where the platform
    cannot say (a CPU without ``/proc``)."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        sync(device)
        return float(torch.cuda.max_memory_allocated(device) - before)
    gc.collect()
    trim_heap()
    if not reset_peak_rss():
        return None
    before = status_kib("VmRSS")
    fn()
    peak = status_kib("VmHWM")
    return None if before is None or peak is None else float(max(peak - before, 0) * 1024)


def matmul_rate(dtype: torch.dtype, device: torch.device, size: int = 1024, *,
                min_s: float = 0.0) -> float:
    """flop/s of a (size x size) @ (size x size) product: the median time of at least 3
    products and ``min_s`` seconds of them, after a warm-up (:func:`timed`)."""
    a = torch.randn(size, size, dtype=dtype, device=device,
                    generator=torch.Generator(device=device).manual_seed(0))
    return 2.0 * size**3 / timed(lambda: a @ a, device, repeats=3, min_s=min_s)


def tanh_rate(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, *,
              min_s: float = 0.0) -> float:
    """tanh evaluations per second of the models' attention kernel
    (:func:`verify.models.tanh.tanh_values`) on one tensor of ``shape``, timed as
    :func:`matmul_rate`'s product."""
    x = torch.randn(shape, dtype=dtype, device=device,
                    generator=torch.Generator(device=device).manual_seed(0))
    return x.numel() / timed(lambda: tanh_values(x), device, repeats=3, min_s=min_s)
