"""``untangle sweep SPEC``: run a grid of measurements or training runs, parameters times
seeds, on local worker processes or a Dask cluster, one row per point in a resumable JSON Lines
table (:mod:`verify.sweeps`)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from verify.commands.common import MEMORY_HELP, path_option, to_json
from verify.resources import MEMORY_OPTION

EPILOG = """\
SPEC is a JSON file {"kind": "measure" | "train", "grid": {param: [values...]},
"fixed": {param: value}, "seeds": [int...]} (grid and fixed default to {}, seeds to [0]).
The points are the grid's product times the seeds. Parameters: measure takes the options of
'untangle measure', train those of 'untangle train' (dashes as underscores; T for measure
and steps for train are required).

The spec is checked before anything runs: its keys, each value's type and range (the checks
of 'untangle measure' and 'untangle train': T, hidden ... >= 1, a train T >= 10, lr > 0, a
device that is here), naming the spec key (exit 2). So is the memory the points will need:
the largest points, as many as there are workers, must fit in the memory available
(--no-memory-check skips this; not checked for a --scheduler cluster).

The table (--out, default SPEC with the suffix .jsonl) is JSON Lines: a header line with the
spec, then one row per finished point {key, params, result, error, wall_s, peak_mem_mb,
peak_mem_kind, peak_gpu_mb}, appended (and synced to disk) as each point finishes. --out
follows the rule of every output: its folder must exist and be writable (none is created);
a folder, device or pipe is refused. Run the same command again to resume: finished points
are skipped. A table of another spec is refused; --force adopts the new spec and keeps the
rows of the points the two have in common. A file that is not a sweep table is refused;
--force overwrites it. A failed point keeps its error (type and message) and the others go on
(--retry-failed runs it again).

Exit status: 0 when every point has its row and at least one succeeded; 1 when every point
failed (their rows are kept; a line on stderr says so) or when a point's worker was lost
(it gets no row; the next run retries it); 2 for bad input (the spec, an option, --out, too
little memory); 130 on Ctrl-C or SIGTERM, which keep the finished rows (the workers are
stopped; a worker whose sweep is killed outright ends by itself)."""


def register(p: argparse.ArgumentParser) -> None:
    """The options of ``untangle sweep``."""
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    a = p.add_argument
    a("spec", metavar="SPEC", type=path_option, help="the sweep, a JSON file (see below)")
    a("--out", metavar="FILE", type=path_option,
      help="the table, JSON Lines (default: SPEC with suffix .jsonl)")
    a("--workers", type=int, default=None,
      help="local worker processes, each with 1 torch thread (default 1; at most the cores "
      "here)")
    a("--scheduler", metavar="ADDRESS", type=_address,
      help="run on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786); needs "
      "the cluster extra: pip install -e '.[cluster]'")
    a("--force", action="store_true",
      help="adopt this spec for a table written by another, keeping the rows in common; "
      "replace a file at --out that is not a sweep table")
    a("--retry-failed", action="store_true", help="run the failed points again")
    a("--json", action="store_true", help="print a JSON summary, no progress lines")
    a(MEMORY_OPTION, dest="no_memory_check", action="store_true", help=MEMORY_HELP)
    p.set_defaults(run=run)


def _address(text: str) -> str:
    """An argparse type: a scheduler address, refused when empty (it would run locally)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty address; give the scheduler's, e.g. "
                                         "tcp://host:8786")
    return text


def _out(args: argparse.Namespace) -> Path:
    """The table's path, claimed by the output rule (:func:`verify.files.claim_output`) before
    anything is loaded; an existing file there is decided on with the spec (resumed, or
    refused without --force; :mod:`verify.sweeps.runner`)."""
    from verify.files import claim_output

    spec = Path(args.spec)
    out = claim_output(spec.with_suffix(".jsonl") if args.out is None else args.out,
                       force=True, option="--out")
    if out.resolve() == spec.resolve():
        raise ValueError(f"parameter 'out': the table would overwrite the spec {args.spec!r}; "
                         f"give --out FILE")
    return out


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``) stops the sweep as Ctrl-C does: the workers stopped, the finished rows
    kept, one line, exit 130. Not where SIGTERM is ignored (nohup), nor off the main thread."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN):
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    """Run the sweep (the handler of ``untangle sweep``): the exit status of the help's
    epilog."""
    out = _out(args)
    if args.scheduler is not None and args.workers is not None:
        raise ValueError("parameter 'workers' is for local processes; the cluster at "
                         "--scheduler has its own workers")
    from verify.sweeps.runner import LostPoints

    try:
        with _terminate_as_interrupt():
            return _sweep(args, out)
    except KeyboardInterrupt:
        print(f"untangle sweep: interrupted; the finished rows are kept in {str(out)!r}; run "
              f"the same command to resume", file=sys.stderr)
        return 130
    except LostPoints as err:
        print(f"untangle sweep: error: {err}", file=sys.stderr)
        return 1


def _sweep(args: argparse.Namespace, out: Path) -> int:
    from verify.sweeps import expand, load
    from verify.sweeps import run as sweep
    from verify.sweeps.executors import connect
    from verify.sweeps.runner import distinct

    spec = load(args.spec)
    points = expand(spec)
    total, repeats = len(points), len(points) - len(distinct(points, by="computes"))
    varying = [*spec.grid, "seed"]
    computed: list[dict] = []

    def progress(row: dict) -> None:
        if "same_as" not in row:
            computed.append(row)
        if args.json:
            return
        said = " ".join(f"{k}={row['params'][k]}" for k in varying)
        status = "ok" if row["error"] is None else row["error"]
        if "same_as" in row:
            print(f"[=] {said}: the same as key {row['same_as']}: {status}", flush=True)
        else:
            print(f"[{len(computed)}] {said}: {status} {row['wall_s']:.2f} s", flush=True)

    workers = 1 if args.workers is None else args.workers
    client = None if args.scheduler is None else connect(args.scheduler)
    try:
        rows = sweep(spec, out, client=client, workers=workers, force=args.force,
                     retry_failed=args.retry_failed, memory_check=not args.no_memory_check,
                     option="--out", on_row=progress)
    finally:
        if client is not None:
            client.close()
    summary = {"out": str(out), "points": total, "repeats": repeats, "finished": len(rows),
               "computed": len(computed), "failed": sum(r["error"] is not None for r in rows)}
    if args.json:
        print(to_json(summary))
    else:
        failed = f", {summary['failed']} failed (see their error)" if summary["failed"] else ""
        same = (f"; {repeats} the same as an earlier point but for options they do not use, "
                f"and not computed again" if repeats else "")
        print(f"{summary['finished']} of {total} points in {out} ({summary['computed']} computed "
              f"now{failed}{same})")
    if rows and summary["failed"] == total:
        first = next(r["error"] for r in rows if r["error"] is not None)
        print(f"untangle sweep: error: every point failed (the first: {first}); their rows are "
              f"in {str(out)!r}; --retry-failed runs them again", file=sys.stderr)
        return 1
    return 0
