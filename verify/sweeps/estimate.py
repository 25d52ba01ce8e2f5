"""The memory a sweep's points will need, checked before any of them runs.

A point's estimate is the one of the command it stands for (:mod:`verify.resources`):
:func:`~verify.resources.estimate_measure` of its pattern, T and hidden size for ``measure``,
:func:`~verify.resources.estimate_train` of its Config for ``train``. Up to ``at_once`` points
run at the same time (one per local worker), so the check is on the sum of the ``at_once``
largest estimates of the points still to run, per device, against what that device has
available; a refusal names the largest point, the estimate and the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from verify.device import resolve_device
from verify.option_uses import RELEVANCY, learned_attention
from verify.resources import (
    check_memory,
    estimate_measure,
    estimate_train,
    format_bytes,
    pattern_entries,
)
from verify.sweeps.grid import Point
from verify.training.config import Config

#: sweep kind -> what shrinks its points' memory
REDUCE = {"measure": "T, hidden or inputs", "train": "T, hidden or batch"}


def estimate(point: Point) -> int:
    """Bytes the point will need (module docstring)."""
    p = point.params
    if point.kind == "measure":
        entries = pattern_entries(p["pattern"], p["T"], nu=p["width"], k=p["stride"],
                                  kappa=p["kappa"], E=p["events"], rho=p["rho"])
        return estimate_measure(p["T"], p["hidden"], entries, p["mode"],
                                learned_attention(p["pattern"], p["learned"]), dtype=p["dtype"],
                                inputs=p["inputs"],
                                relevant_set=((p["width"], p["rho"]) if p["pattern"] == RELEVANCY
                                              else None))
    if point.kind == "train":
        return estimate_train(Config(**{name: p[name] for name in Config.names()}))
    raise ValueError(f"parameter 'kind' must be one of {', '.join(REDUCE)}, got {point.kind!r}")


def _reduce(point: Point) -> str:
    """What shrinks the point's memory: :data:`REDUCE`, and rho for relevancy screening."""
    if point.kind == "measure" and point.params["pattern"] == RELEVANCY:
        return "T, hidden, inputs or rho"
    return REDUCE[point.kind]


def check(points: Sequence[Point], *, at_once: int, label: Callable[[Point], str],
          skip: bool = False) -> None:
    """Refuse (a ValueError) when the ``at_once`` largest of ``points`` need more memory than
    their device has available; ``label(point)`` names a point. ``skip``: no check."""
    if skip or not points:
        return
    by_device: dict[str, list[tuple[int, Point]]] = {}
    for point in points:
        device = str(resolve_device(point.params["device"]))
        by_device.setdefault(device, []).append((estimate(point), point))
    for device, sized in by_device.items():
        top = sorted(sized, key=lambda s: s[0], reverse=True)[:max(at_once, 1)]
        largest, point = top[0]
        reduce = f"{_reduce(point)} in the spec"
        if len(top) == 1:
            what = f"sweep point {label(point)}"
        else:
            what = (f"{len(top)} workers running the largest sweep points at once (the "
                    f"largest: {label(point)}, about {format_bytes(largest)})")
            reduce += " or --workers"
        check_memory(sum(n for n, _ in top), device, what=what, reduce=reduce)
