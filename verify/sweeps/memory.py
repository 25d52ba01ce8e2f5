"""Peak memory of one point in a long-lived worker process.

A worker runs many points, so its process peak is not a point's. On Linux, writing ``5`` to
``/proc/self/clear_refs`` resets the peak resident set size (VmHWM) to the current one; the
peak read after the point is then the worker's resident peak *during* the point: Python, torch
and whatever the worker already held included, not the point's increment alone. Where the
reset is refused or unavailable the peak is the process's since it started, and its kind says
so. CUDA's peak allocated memory (all devices, max) is reset and read likewise, once CUDA is
initialised. Per point only when the worker runs one point at a time (local workers always;
a Dask worker with ``--nthreads 1``).
"""

from __future__ import annotations

import sys

from verify.resources import reset_peak_rss

#: peak_mem_kind: the worker's resident peak since just before the point / since it started
POINT, PROCESS = "worker_rss_peak_of_point", "worker_rss_peak_since_start"


def _cuda_devices() -> range:
    """The CUDA devices once CUDA is initialised in this process (none before)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return range(0)
    return range(torch.cuda.device_count())


class PeakMemory:
    """``start()`` before a point, ``read()`` after it."""

    def __init__(self) -> None:
        self.kind = PROCESS

    def start(self) -> None:
        """Reset the resident peak (and CUDA's)."""
        self.kind = POINT if reset_peak_rss() else PROCESS
        for d in _cuda_devices():
            sys.modules["torch"].cuda.reset_peak_memory_stats(d)

    def read(self) -> dict[str, object]:
        """``peak_mem_mb`` (MiB), ``peak_mem_kind`` and ``peak_gpu_mb`` (None without CUDA)."""
        import torch

        from verify.training.evaluate import peak_memory

        rss = peak_memory(torch.device("cpu"))[0]
        gpu = [torch.cuda.max_memory_allocated(d) / 2**20 for d in _cuda_devices()]
        return {"peak_mem_mb": rss, "peak_mem_kind": self.kind,
                "peak_gpu_mb": max(gpu) if gpu else None}
