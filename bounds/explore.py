"""A catalog bound over a grid of its parameters, in one call (THEORY.md section 4).

>>> import math
>>> from bounds import get
>>> from bounds.explore import grid
>>> g = grid(get("sparse_lower"), kappa=range(1, 33), d=[1, 2, 4], gamma=0.5, mu=0.9)
>>> g.shape, g.axes["d"].tolist()
((32, 3), [1, 2, 4])
>>> math.isclose(g.log10[1, 2], 4 * math.log10(0.5 * 0.9 / 2))   # kappa = 2, d = 4
True
>>> fig = g.plot(x="kappa", lines="d")                        # a matplotlib Figure

A parameter given as a ``list``, ``tuple``, ``range`` or 1-D numpy array is an **axis** of the
grid; a scalar is held fixed. The exception is a profile bound's per-step parameters (``lam``,
``mu``, ``c`` of B1, B2, B2+, B3): there a numpy array is the per-step values k = 1..T, and only
a ``list``/``tuple``/``range`` is an axis. A profile bound adds a last axis ``t`` = 0..T-1
(its value is one array over t per grid point); a closed form is evaluated with numpy
broadcasting, once over the whole grid. Values are the catalog's own ``evaluate`` and
``log10`` (the log form stays finite where the value underflows).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bounds.catalog import STEP_PARAMS, Bound, ClosedFormBound, get
from bounds.domains import check_fits, count

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["BoundGrid", "grid"]


@dataclass(frozen=True, eq=False)
class BoundGrid:
    """A bound's values over a grid: ``values`` and ``log10`` have one dimension per entry of
    ``axes`` (in order), ``fixed`` holds the parameters held fixed."""

    bound: Bound
    axes: dict[str, np.ndarray]
    fixed: dict[str, object]
    values: np.ndarray
    log10: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    def select(self, **point: object) -> BoundGrid:
        """The sub-grid with each named axis held at one of its values (that axis moves to
        ``fixed``); a ValueError naming the axis if the value is not on it."""
        index: list[object] = [slice(None)] * len(self.axes)
        axes, fixed = dict(self.axes), dict(self.fixed)
        for name, value in point.items():
            if name not in self.axes:
                raise ValueError(f"parameter {name!r} is not an axis of this grid; axes: "
                                 f"{', '.join(self.axes)}")
            hits = np.flatnonzero(np.isclose(self.axes[name], float(value), rtol=1e-12,
                                             atol=0))
            if hits.size == 0:
                raise ValueError(f"parameter {name!r}: {value!r} is not on the axis "
                                 f"{self.axes[name].tolist()}")
            index[list(self.axes).index(name)] = int(hits[0])
            fixed[name] = self.axes[name][hits[0]].item()
            del axes[name]
        where = tuple(index)
        return BoundGrid(self.bound, axes, fixed, self.values[where], self.log10[where])

    def rows(self) -> list[dict[str, float]]:
        """One dict per grid point: the axis values, ``value`` and ``log10``."""
        out = []
        for idx in itertools.product(*(range(len(a)) for a in self.axes.values())):
            row = {name: a[i].item() for (name, a), i in zip(self.axes.items(), idx, strict=True)}
            row.update(value=float(self.values[idx]), log10=float(self.log10[idx]))
            out.append(row)
        return out

    def plot(self, x: str, lines: str | None = None, *, ax: Axes | None = None,
             logx: bool | None = None) -> Figure:
        """log10 of the bound against axis ``x``, one line per value of axis ``lines``; every
        other axis must have a single value (narrow it with :meth:`select`). ``logx`` (default:
        when ``x`` is positive and spans more than a decade) puts ``x`` on a log scale. Drawn
        on ``ax`` when given, else on a new :class:`matplotlib.figure.Figure`; returns the
        figure."""
        for name in (x, lines):
            if name is not None and name not in self.axes:
                raise ValueError(f"parameter {name!r} is not an axis of this grid; axes: "
                                 f"{', '.join(self.axes)}")
        if x == lines:
            raise ValueError("parameters 'x' and 'lines' must name different axes")
        rest = [n for n, a in self.axes.items() if n not in (x, lines) and a.size > 1]
        if rest:
            raise ValueError(f"axis {rest[0]!r} has {self.axes[rest[0]].size} values: hold it "
                             f"with .select({rest[0]}=...) or pass it as lines")
        if ax is None:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(7, 4.5))
            ax = fig.subplots()
        order = list(self.axes)
        ys = np.moveaxis(self.log10, [order.index(x)] + ([order.index(lines)] if lines else []),
                         [0, 1] if lines else [0])
        ys = ys.reshape(ys.shape[0], -1) if lines else ys.reshape(-1, 1)
        xs = self.axes[x]
        labels = [f"{lines} = {v:g}" for v in self.axes[lines]] if lines else [None]
        for j, label in enumerate(labels):
            ax.plot(xs, ys[:, j], marker="o", ms=3, label=label)
        if logx if logx is not None else (xs.min() > 0 and xs.max() / xs.min() > 10):
            ax.set_xscale("log")
        b = self.bound
        ax.set_xlabel(x)
        ax.set_ylabel(f"log10 {b.theory_id} {b.name}")
        held = ", ".join(f"{k}={_short(v)}" for k, v in self.fixed.items())
        ax.set_title(f"{b.theory_id} {b.name} ({b.kind})" + (f": {held}" if held else ""),
                     fontsize=10)
        if lines:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig = ax.get_figure()
        fig.tight_layout()
        return fig


def _short(value: object) -> str:
    if isinstance(value, (int, float, np.number)):
        return f"{float(value):g}"
    if isinstance(value, np.ndarray):
        return f"array[{value.size}]"
    kind = getattr(value, "kind", None)
    return f"{kind} pattern (T={value.T})" if kind is not None else type(value).__name__


def _is_axis(bound: Bound, name: str, value: object) -> bool:
    if isinstance(value, (list, tuple, range)):
        return True
    step_values = not isinstance(bound, ClosedFormBound) and name in STEP_PARAMS
    return isinstance(value, np.ndarray) and value.ndim == 1 and not step_values


def grid(bound: Bound | str, **params: object) -> BoundGrid:
    """``bound`` (a catalog entry, e.g. ``get("B5")``, or its name or id) over the grid of its
    parameters (module docstring: which parameters are axes); every parameter of the bound
    must be given. Domain and constraint errors are the bound's own ValueErrors, naming the
    parameter."""
    if isinstance(bound, str):
        bound = get(bound)
    elif not isinstance(bound, Bound):
        raise ValueError(f"parameter 'bound' must be a catalog bound or its name, got "
                         f"{type(bound).__name__}")
    axes = {name: np.asarray(list(v) if isinstance(v, range) else v)
            for name, v in params.items() if _is_axis(bound, name, v)}
    for name, a in axes.items():
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"parameter {name!r}: an axis must be a non-empty 1-D sequence")
    fixed = {k: v for k, v in params.items() if k not in axes}
    if axes:
        points = math.prod(a.size for a in axes.values())
        longest = max(axes, key=lambda k: axes[k].size)
        check_fits(longest, f"an axis of {axes[longest].size} values", 16.0 * points,
                   f"a grid of {count(points)} points (a value and a log10 each)")
    if isinstance(bound, ClosedFormBound):
        shape = tuple(a.size for a in axes.values())
        spread = {name: a.reshape([-1 if i == j else 1 for j in range(len(axes))])
                  for i, (name, a) in enumerate(axes.items())}
        kw = {**fixed, **spread}
        values = np.broadcast_to(bound.evaluate(**kw), shape).copy()
        logs = np.broadcast_to(bound.log10(**kw), shape).copy()
        return BoundGrid(bound, axes, fixed, values, logs)
    points = list(itertools.product(*(a.tolist() for a in axes.values())))
    values = [bound.evaluate(**fixed, **dict(zip(axes, p, strict=True))) for p in points]
    logs = [bound.log10(**fixed, **dict(zip(axes, p, strict=True))) for p in points]
    T = len(values[0])
    shape = (*(a.size for a in axes.values()), T)
    out_axes = {**axes, "t": np.arange(T)}
    return BoundGrid(bound, out_axes, fixed, np.asarray(values, float).reshape(shape),
                     np.asarray(logs, float).reshape(shape))

