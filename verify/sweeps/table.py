"""A sweep's table: a JSON Lines file. The first line is the header
``{"format": "untangle-sweep", "version": 1, "kind": ..., "spec": {...}}``; every other line is
one finished point's row, appended, flushed and fsynced as the point completes:

``{"key", "params": {... "seed"}, "result": {...} | null, "error": "Type: message" | null,
"wall_s", "peak_mem_mb", "peak_mem_kind", "peak_gpu_mb"}``, and ``"same_as"``: the key of the
point it copies, for a point that differs from that one only in options neither uses
(:mod:`verify.sweeps.runner`).

A key may appear twice (a failed point retried): its last row counts. A last line cut short
(the writer killed mid-line) is dropped when the table is next opened. A whole table (a new one,
or one rewritten for another spec) is written atomically (:func:`verify.files.write_text`: no
temporary file survives a kill); rows are appended to it in place, so a kill loses at most the
line being written.
``pandas.json_normalize(read(path)[1])`` makes a flat frame of the rows.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import numpy as np

from verify import files

FORMAT, VERSION = "untangle-sweep", 1


def jsonable(value: object) -> object:
    """``value`` as plain JSON: dataclasses and mappings as objects, sequences and arrays as
    lists, numpy scalars as numbers, non-finite floats as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _lines(path: Path) -> tuple[list[str], int]:
    """The complete lines of ``path`` and their length in bytes (a torn last line left out);
    a ValueError when they are not UTF-8 text."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    try:
        return data[:end].decode().splitlines(), end
    except UnicodeDecodeError:
        raise ValueError(f"{str(path)!r} is not a sweep table (not UTF-8 text)") from None


def read(path: str | Path) -> tuple[dict, list[dict]]:
    """The header and the rows of the table ``path``: the last row of each key, in the order
    of their first appearance."""
    path = Path(path)
    lines, _ = _lines(path)
    try:
        header = json.loads(lines[0]) if lines else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a sweep table (no {FORMAT} header line)")
    if header.get("version") != VERSION:
        raise ValueError(f"{str(path)!r}: sweep table version {header.get('version')!r}, "
                         f"this untangle reads {VERSION}")
    rows: dict[str, dict] = {}
    for number, line in enumerate(lines[1:], start=2):
        try:
            row = json.loads(line)
            rows[row["key"]] = row
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ValueError(f"{str(path)!r} line {number}: not a sweep row") from None
    return header, list(rows.values())


def drop_torn(path: str | Path) -> None:
    """Cut a last line left incomplete (its writer killed mid-line) off ``path``."""
    os.truncate(path, _lines(Path(path))[1])


def write(path: str | Path, spec: dict, rows: list[dict]) -> None:
    """Write the table of ``spec`` (a spec's JSON) with ``rows``, whole and atomically
    (:func:`verify.files.write_text`). Its directory must exist: none is created."""
    header = {"format": FORMAT, "version": VERSION, "kind": spec["kind"], "spec": spec}
    files.write_text(path, "".join(json.dumps(r) + "\n" for r in (header, *rows)))


class Appender:
    """Appends rows to an existing table, each flushed and fsynced as it is written (a
    context manager): a finished row survives a kill of the sweep, and a crash of the
    machine once it is on disk."""

    def __init__(self, path: str | Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)  # no O_CREAT: never a headerless table
        self.file = os.fdopen(fd, "a", encoding="utf-8")

    def append(self, row: dict) -> None:
        self.file.write(json.dumps(jsonable(row), allow_nan=False) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.file.close()
