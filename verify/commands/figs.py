"""``untangle figs``: regenerate the figures of ``paper_figs`` from measurements (THEORY.md
sections 4-9). Each figure writes its PNG, its data and ``command.txt`` into its folder; every
folder is checked (parent exists, nothing overwritten without --force, writable) before any
figure starts. Each figure's wall time is printed, with the machine's load. Training runs
show their progress on stderr; one interrupted (Ctrl-C, SIGTERM) is saved and the line says
which ``untangle figs`` command finishes the figure, resuming it."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from verify.commands.common import path_option, threads


def register(p: argparse.ArgumentParser) -> None:
    """The options of ``untangle figs``."""
    from paper_figs import FIGURES, SCALES

    p.description = ("Regenerate a figure (or all) from measurements: F1 bounds per pattern, "
                     "F2 gradient against T, F3 the kappa^-d law, F4 gradient profiles, F5 "
                     "cost and accuracy with the tradeoff table, F6 the score-term gap, F7 the "
                     "counterexample, F8 the kappa-d tradeoff.")
    p.add_argument("name", nargs="?", default="all",
                   help=f"all (default), or one of: {', '.join(FIGURES)} (or its prefix f1..f8)")
    p.add_argument("--out", type=path_option,
                   help="output folder: the figure's (default paper_figs/NAME), or with all the "
                        "folder that holds one per figure (default paper_figs)")
    p.add_argument("--scale", choices=SCALES, default="small",
                   help="small (default: minutes on a CPU), paper (GPU sizes), tiny (tests)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda[:N]")
    p.add_argument("--force", action="store_true", help="overwrite the figures' files")
    p.add_argument("--threads", type=int, default=1,
                   help="torch and BLAS CPU threads (default 1: small networks lose to thread "
                        "overhead, most of all on a busy machine)")
    p.add_argument("--runs", type=path_option,
                   help="checkpoint folder of the training runs of F4-F6, reused when present "
                        "(default: runs/ beside the figure folders)")
    p.set_defaults(run=run)


def _names(name: str) -> tuple[str, ...]:
    from paper_figs import FIGURES

    if name == "all":
        return FIGURES
    hits = [f for f in FIGURES if f == name or f.startswith(f"{name}_")]
    if len(hits) != 1:
        raise ValueError(f"parameter 'name' must be all or one of {', '.join(FIGURES)} (or "
                         f"f1..f8), got {name!r}")
    return tuple(hits)


def run(args: argparse.Namespace) -> int:
    """Check every output folder, then make each figure (the handler of ``untangle figs``)."""
    import importlib

    _blas_threads(args.threads)
    from paper_figs import output, training
    from verify.device import resolve_device
    from verify.training.train import Interrupted

    names = _names(args.name)
    resolve_device(args.device)  # a bad --device is refused before any figure
    out = None if args.out is None else Path(args.out)
    root = Path("paper_figs") if out is None else out
    outs = {n: root / n for n in names} if args.name == "all" or out is None else {
        names[0]: out}
    modules = {n: importlib.import_module(f"paper_figs.{n}") for n in names}
    for n, module in modules.items():
        output.check(outs[n], (*module.FILES, output.COMMAND), args.force)
    trains = [n for n in names if getattr(modules[n], "TRAINING", False)]
    runs = training.runs_folder(args.runs, outs[trains[0]]) if trains else None
    threads(args)
    made_by = "untangle " + shlex.join(["figs", *args.argv])
    total, load = time.perf_counter(), _load()
    for n, module in modules.items():
        again = ["figs", n, "--out", str(outs[n]), "--scale", args.scale, "--device",
                 args.device, "--threads", str(args.threads)]
        extra = {}
        if n in trains:
            again += ["--runs", str(runs)]
            extra["runs"] = runs
        command = "untangle " + shlex.join(again)
        if command != made_by:
            command += f"\n# made by: {made_by}"
        start = time.perf_counter()
        try:
            module.make(outs[n], args.scale, args.device, force=args.force, command=command,
                        **extra)
        except Interrupted as stop:
            left = list(modules)[list(modules).index(n) + 1:]
            then = ("resumes this one from that checkpoint" if stop.saved
                    else "starts this one afresh")
            raise stop.advise(
                f"run {command.splitlines()[0]} to finish {n}: it reuses the finished "
                f"training runs in {runs} and {then}"
                + (f" ({', '.join(left)} not made yet)" if left else "")) from None
        print(f"{n}: {time.perf_counter() - start:.1f} s -> {outs[n]}", flush=True)
    print(f"{len(names)} figure{'s' if len(names) > 1 else ''} at scale {args.scale}: "
          f"{time.perf_counter() - total:.1f} s wall on {os.cpu_count()} CPUs; load average "
          f"{load} at the start, {_load()} at the end")
    return 0


def _blas_threads(n: int) -> None:
    """Give numpy's BLAS ``n`` threads, unless numpy is already loaded (then it is too late:
    BLAS reads these at load) or the environment says otherwise."""
    if n >= 1 and "numpy" not in sys.modules:
        for key in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
            os.environ.setdefault(key, str(n))


def _load() -> str:
    if not hasattr(os, "getloadavg"):
        return "unknown"
    return " ".join(f"{v:.2f}" for v in os.getloadavg())
