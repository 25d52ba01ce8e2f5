"""A figure's grid as a sweep (:func:`verify.sweeps.run`, THEORY.md section 9): run in process,
one point at a time, its table written beside the figure (a rerun resumes it), and read back
at t = 0 (G_0 = dh_T/dh_0, the whole horizon), where a sweep row keeps its bounds."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def results(spec: dict[str, object], table: Path) -> list[dict[str, object]]:
    """The sweep rows of ``spec`` written to ``table``, in the grid's order; a ValueError names
    the first point that failed."""
    from verify.sweeps import run

    with ThreadPoolExecutor(1) as pool:
        rows = run(spec, table, executor=pool, threads=None)
    failed = [r for r in rows if r["error"] is not None]
    if failed:
        raise ValueError(f"sweep point {failed[0]['key']} failed: {failed[0]['error']}")
    return rows


def bound_at_0(result: dict[str, object], name: str) -> float:
    """log10 of bound ``name`` at t = 0 from a row's result: nan where it does not apply."""
    value = result["bounds_log10_0"].get(name)
    return np.nan if value is None else float(value)


def holds_at_0(result: dict[str, object], name: str) -> bool:
    """Whether bound ``name`` applies at t = 0 (its value there is not null) and holds there
    (t = 0 is not among its verdict's violations)."""
    return (result["bounds_log10_0"].get(name) is not None
            and 0 not in result["verdicts"][name]["violations"])
