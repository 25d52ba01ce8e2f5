"""Benchmarks (``untangle bench``): the Jacobian profile against the plain-PyTorch ways and
the machine's floor (:mod:`verify.bench.profile_cases`), the plain-RNN profile at a long
horizon (:mod:`verify.bench.long_horizon`), and training steps per model against T
(:mod:`verify.bench.training_steps`), measured in one run on the same inputs, reported as
times, peak memory, achieved flop/s and ratios."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from bounds.domains import NONNEG_INT, POSITIVE_INT
from verify.bench import long_horizon, profile_cases, training_steps
from verify.bench.timing import matmul_rate, tanh_rate
from verify.training import tasks

#: The grid: (profile cases, training models, training T) for a full run on each device kind,
#: and the tiny ``quick`` one (under a minute on a CPU, the suite's smoke test).
PROFILE_T, PROFILE_N = (250, 1000, 4000), (64, 256)
TRAIN_MODELS = ("ten-line rnn", "rnn", "lstm", "relrnn", "rellstm", "memrnn")
TRAIN_T = {"cpu": (100, 300, 1000, 3000), "cuda": (100, 300, 1000, 3000, 10000)}
#: Every time of a full run is the median over at least this many seconds of calls (3 calls at
#: least): on the shared machine a 6 ms training step ran for spells of 0.1 to 0.2 s at about
#: twice its time, so 3 calls could all fall in one.
MIN_TIMED_S = 1.0
QUICK = {"profile": [profile_cases.Case(p, 24, 6) for p in profile_cases.PATTERNS],
         "train_T": (20, 40)}


def cases(quick: bool, T: Sequence[int] = PROFILE_T, n: Sequence[int] = PROFILE_N
          ) -> list[profile_cases.Case]:
    """The profile cases: every pattern at every (T, n), or the quick ones."""
    if quick:
        return QUICK["profile"]
    return [profile_cases.Case(p, t, k) for k in n for t in T for p in profile_cases.PATTERNS]


def plan(device: torch.device, *, quick: bool = False,
         profile_T: Sequence[int] | None = None, profile_n: Sequence[int] | None = None,
         train_T: Sequence[int] | None = None, training: bool = True
         ) -> tuple[list[profile_cases.Case], list[tuple[str, int]]]:
    """The profile cases and the (model, T) training cases of a run, checked before any work:
    horizons and hidden sizes are integers >= 1, training horizons T >= K (the copy task's),
    and no size is given that the run would not use (``quick`` fixes them all; without
    ``training`` there are no training cases); a ValueError names the option (--profile-T,
    --profile-n, --train-T). Sizes left out (None): :data:`PROFILE_T`, :data:`PROFILE_N`,
    :data:`TRAIN_T` of the device kind."""
    given = {"profile-T": profile_T, "profile-n": profile_n, "train-T": train_T}
    if quick:
        unused = [name for name, sizes in given.items() if sizes is not None]
        if unused:
            raise ValueError(f"parameter {unused[0]!r} is not used with --quick, which fixes "
                             f"the sizes")
        profile, train_T = cases(True), QUICK["train_T"]
    else:
        profile_T = PROFILE_T if profile_T is None else profile_T
        profile_n = PROFILE_N if profile_n is None else profile_n
        for name, sizes in (("profile-T", profile_T), ("profile-n", profile_n)):
            for size in sizes:
                POSITIVE_INT.check(name, size)
        profile = cases(False, profile_T, profile_n)
    if not training:
        if given["train-T"] is not None:
            raise ValueError("parameter 'train-T' is not used with --no-training")
        train_T = ()
    elif train_T is None:
        train_T = TRAIN_T[device.type]
    for T in train_T:
        tasks.check_T(T, "train-T")
    return profile, [(name, int(T)) for name in TRAIN_MODELS for T in train_T]


def long_T_of(*, quick: bool = False, long_T: int | None = None) -> int:
    """The horizon of the long plain-RNN profile: ``long_T`` (0: none), by default none, with
    ``quick`` :data:`long_horizon.QUICK_T`; a ValueError names --long-T when it is not an
    integer >= 0 or is given with ``quick``. (The goal's horizon is
    :data:`long_horizon.LONG_T`: minutes on a CPU, so a run asks for it.)"""
    if long_T is None:
        return long_horizon.QUICK_T if quick else 0
    if quick:
        raise ValueError("parameter 'long-T' is not used with --quick, which fixes the sizes")
    return int(NONNEG_INT.check("long-T", long_T))


def estimates(profile: Sequence[profile_cases.Case], training: Sequence[tuple[str, int]],
              kind: str = "cpu", *, long_T: int = 0
              ) -> tuple[tuple[int, str], tuple[int, str]]:
    """``(bytes, which case)`` of the largest estimated profile case (the long plain-RNN
    profile at ``long_T`` among them) and of the largest training case on a device of
    ``kind`` (``(0, "")`` where there is none): :func:`profile_cases.estimate`,
    :func:`long_horizon.estimate`, :func:`training_steps.estimate`."""
    cases_ = [(profile_cases.estimate(c), f"the profile case {c.pattern} at T = {c.T}, "
               f"n = {c.n}") for c in profile]
    if long_T:
        cases_.append((long_horizon.estimate(long_T), f"the long plain-RNN profile at "
                                                      f"T = {long_T}"))
    steps = [(training_steps.estimate(name, T, kind), f"the training step of {name} at "
              f"T = {T}") for name, T in training]
    return max(cases_, default=(0, "")), max(steps, default=(0, ""))


def run(device: torch.device, *, quick: bool = False, progress: bool = False,
        profile_T: Sequence[int] | None = None, profile_n: Sequence[int] | None = None,
        train_T: Sequence[int] | None = None, training: bool = True,
        long_T: int | None = None) -> dict[str, object]:
    """Every benchmark on ``device``: float64 profiles at ``profile_T`` x ``profile_n``, the
    plain-RNN profile at ``long_T`` (:func:`long_T_of`; in the result as ``long``, None when
    0), float32 training steps (the paper's setting) at ``train_T`` (none without
    ``training``) with their floors (:func:`training_steps.floor_s`), with the machine's
    matrix-product rates (float64 for the profiles, float32 for the steps) and tanh rate
    measured in the same run, every
    time the median over :data:`MIN_TIMED_S` of calls at least; a progress bar on stderr
    with ``progress``. ``quick``: tiny fixed sizes, one timed call each. The sizes are
    checked first (:func:`plan`, :func:`long_T_of`)."""
    repeats, min_s = (1, 0.0) if quick else (3, MIN_TIMED_S)
    profile, training_cases = plan(device, quick=quick, profile_T=profile_T,
                                   profile_n=profile_n, train_T=train_T, training=training)
    long_T = long_T_of(quick=quick, long_T=long_T)
    with tqdm(total=len(profile) + bool(long_T) + len(training_cases), desc="bench",
              file=sys.stderr, disable=not progress) as bar:  # closed on every exit
        rate64 = matmul_rate(torch.float64, device, 256 if quick else 1024, min_s=min_s)
        result: dict[str, object] = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "device": str(device), "device_name": _device_name(device),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "quick": quick, "matmul_flop_per_s_float64": rate64, "profile": [],
            "long": None, "training": [],
        }
        rates = None
        if training_cases:
            rates = (matmul_rate(torch.float32, device, 256 if quick else 1024, min_s=min_s),
                     tanh_rate(training_steps.ATTENTION_SHAPE, torch.float32, device,
                               min_s=min_s))
            result["matmul_flop_per_s_float32"], result["tanh_per_s"] = rates
        for case in profile:
            bar.set_postfix_str(f"profile {case.pattern} T={case.T} n={case.n}")
            result["profile"].append(profile_cases.run_case(case, rate64, torch.float64,
                                                            device, repeats=repeats,
                                                            min_s=min_s))
            bar.update()
        if long_T:
            bar.set_postfix_str(f"plain-RNN profile T={long_T}")
            result["long"] = long_horizon.run_case(long_T, device)
            bar.update()
        for name, T in training_cases:
            bar.set_postfix_str(f"training step {name} T={T}")
            result["training"].append(training_steps.run_case(
                name, T, torch.float32, device, repeats=repeats, min_s=min_s, rates=rates))
            bar.update()
    return result


def _device_name(device: torch.device) -> str:
    """The GPU's name; for the CPU its model (``/proc/cpuinfo``), architecture and the
    vector instructions torch's kernels use (AVX2, AVX512: elementwise functions such as
    tanh differ several-fold between the two, so runs on different CPUs compare only with
    it)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    model = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")),
                 platform.processor())
    parts = [model, platform.machine(), f"{torch.backends.cpu.get_cpu_capability()} kernels"]
    return ", ".join(p for p in parts if p)


__all__ = ["cases", "estimates", "long_T_of", "plan", "run"]
