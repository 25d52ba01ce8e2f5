"""Run a sweep: map its kind's point function over its points on an executor, appending one
row per finished point to the table, and resume a table already there.

Before any point runs (and before the table is touched): the spec is checked
(:mod:`verify.sweeps.spec`), the table's path is claimed by the shared output rule
(:func:`verify.files.claim_output`: its folder exists and is writable, it is not a folder, a
device or a pipe), what is there is read and decided on (below), and the memory the points
still to run will need is checked (:mod:`verify.sweeps.estimate`).

Points that differ only in parameters they do not use (``rho`` beside a window pattern,
``gain`` beside the identity spectrum: :func:`verify.sweeps.grid.computation`) are computed
once, by the first of them; each of the others gets a copy of its row with its own key and
parameters and ``same_as``, the first one's key (points with the same key share one row).

Resuming: a point whose key has a row is not run again (a failed one is, with
``retry_failed``). An existing table is resumed when its spec has the same points as this one
(the same keys: reordering or writing a default out changes nothing); a table of other points
is refused unless ``force``, which adopts this spec, keeps the rows of the points the two have
in common and drops the others. A file that is not a sweep table (not UTF-8 text, no header,
a line that is no row) is refused unless ``force``, which replaces it; an empty file is taken
as a new table. To start from nothing, delete the table.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from verify import files
from verify.commands.common import cores
from verify.sweeps import estimate, table
from verify.sweeps.executors import cluster, local
from verify.sweeps.grid import Point, expand
from verify.sweeps.memory import PeakMemory
from verify.sweeps.points import POINTS
from verify.sweeps.spec import Spec, load, parse

if TYPE_CHECKING:
    from distributed import Client

PointFn = Callable[[Mapping[str, object]], dict[str, object]]
#: How refusals of the table's path name it by default (the command says ``--out``).
OPTION = "parameter 'out'"


class LostPoints(RuntimeError):
    """Points that did not run: their futures failed outside the point function (a worker
    lost or killed, a broken pool, a cluster that cannot load the task). They have no row, so
    the next run of the sweep tries them again."""


def _error(err: BaseException) -> str:
    """``Type: message`` on one line."""
    return " ".join(f"{type(err).__name__}: {err}".split())


def evaluate(fn: PointFn, point: Point, threads: int | None) -> dict[str, object]:
    """The row of ``point``: ``fn(point.params)`` with its wall time and peak memory
    (:mod:`verify.sweeps.memory`), or the error it raised (type and message). With
    ``threads`` torch gets that many CPU threads first (a worker-wide setting)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    memory = PeakMemory()
    memory.start()
    start = time.perf_counter()
    try:
        result, error = fn(point.params), None
    except Exception as err:
        result, error = None, _error(err)
    wall = time.perf_counter() - start
    return {"key": point.key, "params": point.params, "result": result, "error": error,
            "wall_s": wall, **memory.read()}


def distinct(points: Sequence[Point], by: str = "key") -> list[Point]:
    """The first of ``points`` with each key (``by="computes"``: each computation), in their
    order (this module's docstring)."""
    first: dict[str, Point] = {}
    for p in points:
        first.setdefault(getattr(p, by), p)
    return list(first.values())


def copy_row(row: dict[str, object], point: Point) -> dict[str, object]:
    """``row`` as ``point``'s, which computes the same: its key and parameters, and
    ``same_as`` the key of the point computed (``row`` itself where that is ``point``)."""
    if row["key"] == point.key:
        return row
    return {**row, "key": point.key, "params": point.params,
            "same_as": row.get("same_as", row["key"])}


def _record(rows: table.Appender, row: dict[str, object],
            on_row: Callable[[dict[str, object]], None] | None) -> None:
    """Append ``row`` to the table, then tell ``on_row``."""
    rows.append(row)
    if on_row is not None:
        on_row(row)


def execute(points: Sequence[Point], fn: PointFn, out: str | Path, executor: Executor, *,
            threads: int | None = 1,
            on_row: Callable[[dict[str, object]], None] | None = None) -> None:
    """Run ``fn`` once per computation of ``points`` (:func:`verify.sweeps.grid.computation`)
    on ``executor``, appending, as it completes, the row of each of its points to the table
    ``out`` (:func:`copy_row`; then ``on_row(row)``). Points whose futures fail outside ``fn``
    get no row; when all others are done they raise :class:`LostPoints`. Ctrl-C (or any
    BaseException) stops the sweep, cancelling the points not finished; the finished rows
    stay."""
    groups: dict[str, list[Point]] = {}
    for p in distinct(points):
        groups.setdefault(p.computes, []).append(p)
    futures = {executor.submit(evaluate, fn, same[0], threads): same for same in groups.values()}
    lost: list[str] = []
    try:
        with table.Appender(out) as rows:
            for future in as_completed(futures):
                try:
                    row = future.result()
                except Exception as err:
                    lost += [_error(err)] * len(futures[future])
                    continue
                for point in futures[future]:
                    _record(rows, copy_row(row, point), on_row)
    finally:
        for future in futures:
            future.cancel()
    if lost:
        raise LostPoints(f"{len(lost)} of {sum(map(len, groups.values()))} points did not run "
                         f"(the first: {lost[0]}); the others' rows are in {str(out)!r}; run "
                         f"the sweep again to retry them")


def resume(out: str | Path, spec: Spec, points: Sequence[Point], force: bool, *,
           option: str = OPTION) -> tuple[dict[str, dict], list[dict] | None]:
    """Decide, by the rule of this module's docstring, what becomes of the table ``out`` of
    ``spec`` (whose points are ``points``), touching nothing but stale temporaries: its
    finished rows by key, and the rows to write it with (a new or adopted table) or None (the
    table is resumed as it is). A refusal is a ValueError naming ``option``."""
    out = files.claim_output(out, force=True, option=option)  # what is there: decided below
    keys = {p.key for p in points}
    if not out.exists() or out.stat().st_size == 0:
        return {}, []
    try:
        header, rows = table.read(out)
    except OSError as err:
        raise ValueError(f"{option}: cannot read {str(out)!r} ({err.strerror or err})") from None
    except ValueError as err:
        if not force:
            raise ValueError(f"{option}: {err}; --force overwrites it") from None
        return {}, []
    try:
        theirs = {p.key for p in expand(parse(header["spec"]))}
    except (ValueError, KeyError, TypeError):  # a spec this version no longer reads
        theirs = None
    if theirs == keys:
        if not os.access(out, os.W_OK):
            raise ValueError(f"{option}: {str(out)!r} is not writable; its rows cannot be "
                             f"appended")
        return {r["key"]: r for r in rows if r["key"] in keys}, None
    if not force:
        raise ValueError(
            f"{option}: {str(out)!r} holds another sweep (its spec has "
            f"{len(theirs or ())} points, this one {len(keys)}, {len(keys & (theirs or set()))} "
            f"in common); --force adopts this spec and keeps the finished rows in common")
    rows = [r for r in rows if r["key"] in keys]
    return {r["key"]: r for r in rows}, rows


def open_table(out: Path | str, spec: Spec, rows: list[dict] | None) -> None:
    """Make ``out`` the table of ``spec`` as :func:`resume` decided: written whole with
    ``rows`` (atomically), or, for None, resumed (a torn last line cut off)."""
    if rows is None:
        table.drop_torn(out)
    else:
        table.write(out, spec.to_json(), rows)


def check_workers(workers: int) -> int:
    """``workers`` if it is an integer in 1..:func:`~verify.commands.common.cores`; else a
    ValueError (more worker processes than cores only compete with each other)."""
    n = cores()
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= n:
        raise ValueError(f"parameter 'workers' must be an integer >= 1 and <= {n} (the cores "
                         f"here), got {workers!r}")
    return workers


def label(spec: Spec) -> Callable[[Point], str]:
    """How a point of ``spec`` is named in messages: its grid values and seed, and its key."""
    names = [*spec.grid, "seed"]
    return lambda p: " ".join(f"{k}={p.params[k]}" for k in names) + f" (key {p.key})"


def run(spec: Spec | Mapping | str | Path, out: str | Path, executor: Executor | None = None,
        client: Client | None = None, *, workers: int = 1, force: bool = False,
        retry_failed: bool = False, threads: int | None = 1, memory_check: bool = True,
        option: str = OPTION,
        on_row: Callable[[dict[str, object]], None] | None = None) -> list[dict[str, object]]:
    """Run the sweep ``spec`` (a Spec, a parsed JSON object or a JSON file) into the table
    ``out`` (:mod:`verify.sweeps.table`) and return its rows in the points' order.

    The points run on ``executor``, else on the Dask ``client``'s executor, else on
    ``workers`` local processes (1 up to the cores here); each point first sets torch to
    ``threads`` CPU threads (None: leave them). Finished points are skipped and a changed
    spec is refused unless ``force`` (this module's docstring); failed points are run again
    with ``retry_failed``. With ``memory_check`` the points to run are refused when they
    would need more memory than this machine has (:mod:`verify.sweeps.estimate`; not for a
    cluster, whose workers are other machines). Points that compute the same run once
    (this module's docstring). Refusals of ``out`` name ``option``."""
    if executor is not None and client is not None:
        raise ValueError("parameters 'executor' and 'client': give one of them, not both")
    check_workers(workers)
    if not isinstance(spec, Spec):
        spec = parse(spec) if isinstance(spec, Mapping) else load(spec)
    points = expand(spec)
    done, rows = resume(out, spec, points, force, option=option)
    todo = [p for p in distinct(points)
            if p.key not in done or (retry_failed and done[p.key]["error"] is not None)]
    kept = {Point(spec.kind, r["params"]).computes: r for r in done.values()
            if not (retry_failed and r["error"] is not None)}
    copies = [(p, kept[p.computes]) for p in todo if p.computes in kept]
    todo = [p for p in todo if p.computes not in kept]
    estimate.check(distinct(todo, by="computes"), at_once=workers if executor is None else 1,
                   label=label(spec), skip=not memory_check or client is not None)
    open_table(out, spec, rows)
    if copies:  # an earlier run stopped between a computation's rows, or a spec adopted
        with table.Appender(out) as appender:
            for point, row in copies:
                _record(appender, copy_row(row, point), on_row)
    if todo:
        context: AbstractContextManager[Executor] = (
            nullcontext(executor) if executor is not None
            else cluster(client) if client is not None else local(workers))
        with context as ex:
            execute(todo, POINTS[spec.kind], out, ex, threads=threads, on_row=on_row)
    stored = {r["key"]: r for r in table.read(out)[1]}
    return [stored[p.key] for p in points if p.key in stored]
