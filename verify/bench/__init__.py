"""Benchmarks (``untangle bench``): the Jacobian profile against the plain-PyTorch ways and
the machine's floor (:mod:`verify.bench.profile_cases`), and training steps per model against
T (:mod:`verify.bench.training_steps`), measured in one run on the same inputs, reported as
times, peak memory, achieved flop/s and ratios."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Sequence

import torch
from tqdm import tqdm

from verify.bench import profile_cases, training_steps
from verify.bench.timing import matmul_rate

#: The grid: (profile cases, training models, training T) for a full run on each device kind,
#: and the tiny ``quick`` one (under a minute on a CPU, the suite's smoke test).
PROFILE_T, PROFILE_N = (250, 1000, 4000), (64, 256)
TRAIN_MODELS = ("ten-line rnn", "rnn", "lstm", "relrnn", "rellstm", "memrnn")
TRAIN_T = {"cpu": (100, 300, 1000, 3000), "cuda": (100, 300, 1000, 3000, 10000)}
QUICK = {"profile": [profile_cases.Case(p, 24, 6) for p in profile_cases.PATTERNS],
         "train_T": (20, 40)}


def cases(quick: bool, T: Sequence[int] = PROFILE_T, n: Sequence[int] = PROFILE_N
          ) -> list[profile_cases.Case]:
    """The profile cases: every pattern at every (T, n), or the quick ones."""
    if quick:
        return QUICK["profile"]
    return [profile_cases.Case(p, t, k) for k in n for t in T for p in profile_cases.PATTERNS]


def run(device: torch.device, *, quick: bool = False, progress: bool = False,
        profile_T: Sequence[int] = PROFILE_T, profile_n: Sequence[int] = PROFILE_N,
        train_T: Sequence[int] | None = None) -> dict[str, object]:
    """Every benchmark on ``device``: float64 profiles at ``profile_T`` x ``profile_n``,
    float32 training steps (the paper's setting) at ``train_T`` (default :data:`TRAIN_T` of
    the device kind; empty for none), with the machine's matrix-product rates measured in
    the same run; a progress bar on stderr with ``progress``. ``quick`` overrides the
    sizes."""
    repeats = 1 if quick else 3
    if quick:
        train_T = QUICK["train_T"]
    elif train_T is None:
        train_T = TRAIN_T[device.type]
    profile = cases(quick, profile_T, profile_n)
    training = [(name, T) for name in TRAIN_MODELS for T in train_T]
    with tqdm(total=len(profile) + len(training), desc="bench", file=sys.stderr,
              disable=not progress) as bar:  # closed on every exit, errors included
        rate64 = matmul_rate(torch.float64, device, 256 if quick else 1024)
        result: dict[str, object] = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "device": str(device), "device_name": _device_name(device),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "quick": quick, "matmul_flop_per_s_float64": rate64, "profile": [],
            "training": [],
        }
        for case in profile:
            bar.set_postfix_str(f"profile {case.pattern} T={case.T} n={case.n}")
            result["profile"].append(profile_cases.run_case(case, rate64, torch.float64,
                                                            device, repeats=repeats))
            bar.update()
        for name, T in training:
            bar.set_postfix_str(f"training step {name} T={T}")
            result["training"].append(training_steps.run_case(name, T, torch.float32, device,
                                                              repeats=repeats))
            bar.update()
    return result


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


__all__ = ["cases", "run"]
