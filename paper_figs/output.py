"""Where a figure writes, by the project's rule for output files: a missing parent folder is
refused, so is a file that exists (unless ``force``) and a folder that cannot be written, all
before any work; then the PNG, its data and ``command.txt`` (the command that made them, with
its wall time and the machine's load) go under the figure's folder, each written atomically
(:func:`verify.files.atomic_write`: a kill leaves the old file or the new one, never a part).

Also the pieces every figure module shares: its scale's parameters, the data writers, and the
``main`` of ``python -m paper_figs.<name>``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paper_figs import SCALES
from proofs.certificate import jsonable as plain
from verify.commands.common import finite, threads
from verify.files import check_directory, claim_output, save_figure, write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COMMAND = "command.txt"
#: Resolution of the PNGs: figures are sized in inches for a README column of ~800 px.
DPI = 100


def check(out: Path, files: Iterable[str], force: bool) -> None:
    """A ValueError unless ``out`` can take ``files``, by the output rule of
    :mod:`verify.files`: ``out`` is a folder, or does not exist yet in an existing writable
    folder; none of ``files`` exists there unless ``force``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"parameter 'out': {str(out)!r} exists and is not a folder")
    if not out.exists():
        check_directory(out.parent, "--out")
        return
    for name in files:
        claim_output(out / name, force=force, option="--out")


def params(scales: Mapping[str, Mapping[str, object]], scale: str) -> dict[str, object]:
    """The parameters of ``scale`` (one of :data:`paper_figs.SCALES`) from a figure's table."""
    if scale not in scales:
        raise ValueError(f"parameter 'scale' must be one of {', '.join(SCALES)}, got {scale!r}")
    return dict(scales[scale])


class Run:
    """Figure ``name``'s run into ``out``, writing ``files``: entering checks the folder
    (:func:`check`) and creates it; leaving without an error writes ``command.txt``:
    ``command``, then the wall time, the load average and the date as comments."""

    def __init__(self, name: str, out: Path, files: Sequence[str], force: bool,
                 command: str) -> None:
        self.name, self.out, self.files = name, Path(out), (*files, COMMAND)
        self.force, self.command = force, command
        self.seconds = math.nan

    def __enter__(self) -> Run:
        check(self.out, self.files, self.force)
        self.out.mkdir(exist_ok=True)
        self.load = os.getloadavg() if hasattr(os, "getloadavg") else None
        self.start = time.perf_counter()
        return self

    def path(self, name: str) -> Path:
        """The path of the output file ``name`` (one of the figure's files)."""
        if name not in self.files:
            raise ValueError(f"{name!r} is not among this figure's files {self.files}")
        return self.out / name

    def write(self, rows: Sequence[Mapping[str, object]], data: Mapping[str, object],
              fig: Figure) -> None:
        """The figure's three files: ``<name>.csv`` (``rows``), ``<name>.json`` (``data``) and
        ``<name>.png`` (``fig``)."""
        write_csv(self.path(f"{self.name}.csv"), rows)
        write_json(self.path(f"{self.name}.json"), data)
        save(fig, self.path(f"{self.name}.png"))

    def __exit__(self, kind: type | None, *_: object) -> None:
        if kind is not None:
            return
        self.seconds = time.perf_counter() - self.start
        end = os.getloadavg() if hasattr(os, "getloadavg") else None
        load = ("unknown" if self.load is None else
                f"{self.load[0]:.2f} at the start, {end[0]:.2f} at the end (1-minute)")
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        write_text(self.out / COMMAND,
                   f"{self.command}\n# {self.seconds:.1f} s wall on {os.cpu_count()} CPUs, "
                   f"load average {load}; {stamp}\n")


def jsonable(value: object) -> object:
    """``value`` made JSON-ready by :func:`proofs.certificate.jsonable` (numpy as Python
    numbers and lists, sympy numbers as strings), with non-finite floats as None (JSON has no
    NaN or infinity)."""
    return finite(plain(value))


def write_json(path: Path, data: Mapping[str, object]) -> None:
    """``data`` as indented JSON (:func:`jsonable`), written atomically."""
    write_text(path, json.dumps(jsonable(data), indent=1) + "\n")


def write_csv(path: Path, rows: Sequence[Mapping[str, object]]) -> None:
    """One line per row, the columns those of the first row; floats with 12 significant
    digits, non-finite as ``nan``, ``inf``, ``-inf``; written atomically."""
    if not rows:
        raise ValueError(f"no rows to write to {str(path)!r}")
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=list(rows[0]))
    w.writeheader()
    for row in rows:
        w.writerow({k: f"{v:.12g}" if isinstance(v, (float, np.floating)) else v
                    for k, v in row.items()})
    write_text(path, text.getvalue())


def write_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """``header`` and ``rows`` (sequences) as CSV, each value as Python writes it (floats
    exact, for records read back to the bit), written atomically."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, text.getvalue())


def save(fig: Figure, path: Path) -> None:
    """``fig`` as a PNG of :data:`DPI`, written atomically."""
    save_figure(fig, path, dpi=DPI)


def command(name: str, out: Path, scale: str, device: str) -> str:
    """``python -m paper_figs.<name>`` with the options that reproduce a run."""
    return shlex.join(["python", "-m", f"paper_figs.{name}", "--out", str(out), "--scale",
                       scale, "--device", device])


def entry(name: str, make: Callable[..., dict]) -> Callable[[Sequence[str] | None], int]:
    """The ``main(argv=None) -> int`` of figure ``name`` (:func:`main` with ``make``)."""
    return lambda argv=None: main(name, make, argv)


def main(name: str, make: Callable[..., dict], argv: Sequence[str] | None = None) -> int:
    """``python -m paper_figs.<name> [--out DIR] [--scale S] [--device D] [--force]
    [--threads N] [--runs DIR]``: run ``make`` and print where the files went and the wall
    time (exit 2 with one line on a bad option)."""
    p = argparse.ArgumentParser(prog=f"python -m paper_figs.{name}",
                                description=sys.modules[make.__module__].__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("paper_figs") / name)
    p.add_argument("--scale", choices=SCALES, default="small")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--force", action="store_true", help="overwrite the figure's files")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: small networks lose to thread overhead)")
    p.add_argument("--runs", type=Path, default=None,
                   help="checkpoint folder of the training runs, figures that train only "
                        "(default: runs/ beside --out)")
    args = p.parse_args(argv)
    module = sys.modules[make.__module__]
    extra = {"runs": args.runs} if getattr(module, "TRAINING", False) else {}
    start = time.perf_counter()
    try:
        threads(args)
        make(args.out, args.scale, args.device, force=args.force, **extra,
             command=shlex.join(["python", "-m", f"paper_figs.{name}", *(
                 sys.argv[1:] if argv is None else argv)]))
    except ValueError as err:
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(f"{p.prog}: interrupted{f': {err}' if str(err) else ''}", file=sys.stderr)
        return 130
    print(f"{name}: wrote {args.out} in {time.perf_counter() - start:.1f} s")
    return 0
