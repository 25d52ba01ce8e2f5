"""The long-horizon benchmark: the plain-RNN Jacobian profile far beyond where linear values
underflow (THEORY.md section 5, "Log domain"), by one ``measure``.

The run is ``untangle measure`` with :data:`OPTIONS` at the horizon T (the same network and
input sequence, :func:`verify.measurement.runs.network`): a tanh RNN (no attention) with a
Gaussian V of gain 1, n = 64, float64. Reported: its wall time, its peak memory against the
T n^2 storage floor, and whether every log10 norm of G_t and J_k came out finite (the
carried log-scale at work: G_0 is about 10^-21000 at T = 100000).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from bounds import patterns
from verify.bench.timing import peak_memory, sync
from verify.measurement import measure
from verify.measurement.runs import network
from verify.resources import estimate_measure
from verify.sweeps.params import MEASURE

#: The goal's horizon (``untangle bench --long-T 100000``) and the one of ``--quick``.
LONG_T, QUICK_T = 100_000, 500
#: ``untangle measure``'s options of the case (the rest its defaults).
OPTIONS = {"pattern": "none", "hidden": 64, "spectrum": "gaussian", "gain": 1.0,
           "dtype": "float64"}


def command(T: int, threads: int = 1) -> str:
    """The ``untangle measure`` command line of the case at horizon T on ``threads`` CPU
    threads (measure's norms share them out; the values do not depend on it)."""
    return (f"untangle measure --pattern none --T {T} --hidden {OPTIONS['hidden']} "
            f"--spectrum gaussian --gain {OPTIONS['gain']:g}"
            + (f" --threads {threads}" if threads > 1 else ""))


def estimate(T: int) -> int:
    """Bytes the case needs at horizon T (:func:`verify.resources.estimate_measure`)."""
    return estimate_measure(T, OPTIONS["hidden"], 0, "fixed", False, dtype=OPTIONS["dtype"])


def run_case(T: int, device: torch.device) -> dict[str, object]:
    """Time, peak memory and finiteness of the case's ``measure`` at horizon T on
    ``device`` with torch's current thread count (one call: at T = 100000 it takes about a
    minute on a 2-core CPU)."""
    options = {name: p.default for name, p in MEASURE.items()}
    options.update(OPTIONS, T=T, seed=0, device=str(device))
    model, x = network(options, patterns.none(T))
    out: dict[str, object] = {}

    def call() -> None:
        sync(device)
        start = time.perf_counter()
        out["m"] = measure(model, x)
        sync(device)
        out["seconds"] = time.perf_counter() - start

    peak = peak_memory(call, device)
    m = out["m"]
    with np.errstate(divide="ignore"):
        logs = np.concatenate([m.log10_norm2, m.log10_fro, m.log10_sigma_min,
                               np.log10(m.lam), np.log10(m.mu)])
    n = OPTIONS["hidden"]
    threads = torch.get_num_threads() if device.type == "cpu" else 1
    return {"T": T, "n": n, "command": command(T, threads), "measure_s": out["seconds"],
            "peak_bytes": peak, "storage_floor_bytes": float(T * n * n * 8),
            "finite": bool(np.isfinite(logs).all()), "log10_norm2_0": float(m.log10_norm2[0])}
