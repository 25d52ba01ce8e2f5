"""Pictures of a measurement and of its comparison with the bounds: log10 ||dh_T/dh_t|| against
t with every applicable bound as a line and every violation marked (THEORY.md sections 5 and
9). Figures are made with :class:`matplotlib.figure.Figure`, never pyplot: no global
matplotlib state is touched.

* :func:`draw`, :func:`figure`: a :class:`Measurement` (``Measurement.plot``).
* :func:`draw_verdict`: one bound's line on an axes (the figures of ``paper_figs`` use it).
* :func:`verdict_figure`: one :class:`Verdict` (bound and measured above, margin below).
* :func:`comparison_figure`: the verdicts of :func:`verify.measurement.compare.compare`.
* :func:`save`: where the ``plot`` methods write their figure.

Each bound has one colour in every figure (:func:`bound_colour`), its line style says its
kind (:data:`STYLE`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from bounds import CATALOG

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from verify.measurement.compare import Verdict
    from verify.measurement.jacobian_profile import Measurement

#: Line styles per bound kind.
STYLE = {"upper": "--", "lower": ":", "exact": "-."}
#: A verdict applicable at fewer t than this is drawn with a marker at each of them.
FEW = 40


def bound_colour(name: str) -> str:
    """The colour of catalog bound ``name`` (its place in the catalog: the same in every
    figure)."""
    return f"C{list(CATALOG).index(name) % 10}"


def draw_verdict(ax: Axes, v: Verdict, *, label: str | None = None,
                 x: np.ndarray | None = None) -> None:
    """On ``ax``: ``v``'s log10 bound where it applies (nan elsewhere, so the line breaks),
    against ``x`` (default t = 0..T-1), with a marker at each t when it applies at few; its
    violations as red crosses on the measured values. ``label`` defaults to the bound's id,
    name, kind and where it holds."""
    x = np.arange(v.applicable.size) if x is None else np.asarray(x)
    few = v.applicable_at < FEW
    ax.plot(x, v.log10_bound, STYLE[v.kind], color=bound_colour(v.name), lw=1.4,
            marker="_" if few else None, ms=12, mew=2.5,
            label=label if label is not None else
            f"{v.theory_id} {v.name} ({v.kind}): holds at {v.holds_at}/{v.applicable_at}")
    bad = v.violations
    if bad.size:
        ax.plot(x[bad], v.log10_measured[bad], "x", color="red", ms=7, mew=2,
                label=f"{v.theory_id} violated at {bad.size} t")


def draw(m: Measurement, ax: Axes, *, norms: bool = True) -> None:
    """On ``ax``: the measured log10 ||G_t||_2 (with ||G_t||_F and sigma_min when ``norms``),
    each applicable bound where it applies, violations as red crosses."""
    t = np.arange(m.T)
    ax.plot(t, m.log10_norm2, "k-", lw=2, label="measured ||G_t||_2")
    if norms:
        ax.plot(t, m.log10_fro, color="0.4", lw=0.8, label="measured ||G_t||_F")
        ax.plot(t, m.log10_sigma_min, color="0.6", lw=0.8, ls="-.",
                label="measured sigma_min(G_t)")
    if m.grad_norm is not None:
        with np.errstate(divide="ignore"):
            ax.plot(t, np.log10(m.grad_norm), "m-", lw=1, label="||dL/dh_t||")
    for v in m.verdicts.values():
        if v.applicable.any():
            draw_verdict(ax, v)
    ax.set_xlabel("t (source step)")
    ax.set_ylabel(f"log10 norm of dh_T/dh_t, T = {m.T}")


def figure(m: Measurement, title: str = "") -> Figure:
    """A figure of :func:`draw` with a legend and a title (default: the run)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    draw(m, ax)
    ax.set_title(title or f"{m.pattern.kind} pattern, beta={m.beta:g}, gamma={m.gamma:g}, "
                          f"n={m.n}, mode {m.mode}", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def _margins(ax: Axes, verdicts: list[Verdict]) -> None:
    """Each verdict's margin log10 measured - log10 bound where it applies, and the line 0."""
    for v in verdicts:
        t = np.arange(v.applicable.size)
        with np.errstate(invalid="ignore"):
            ax.plot(t, np.where(np.isfinite(v.margin), v.margin, np.nan), STYLE[v.kind],
                    color=bound_colour(v.name), lw=1.4,
                    marker="." if v.applicable_at < FEW else None,
                    label=f"{v.theory_id} {v.name}")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xlabel("t (source step)")
    ax.set_ylabel("margin, decades\n(log10 measured - log10 bound)")
    ax.grid(alpha=0.3)


def verdict_figure(v: Verdict, title: str = "") -> Figure:
    """One bound against its measurement (THEORY.md section 9): above, log10 of the measured
    ||dh_T/dh_t|| and of the bound where it applies (violations as red crosses); below, the
    margin in decades (> 0 is on the right side of a lower bound, < 0 of an upper one). The
    title gives the verdict's summary, or why it does not apply."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    t = np.arange(v.applicable.size)
    top.plot(t, v.log10_measured, "k-", lw=2, label="measured ||dh_T/dh_t||_2")
    draw_verdict(top, v)
    top.set_ylabel("log10 norm")
    top.legend(fontsize=8, loc="best")
    top.grid(alpha=0.3)
    _margins(bottom, [v] if v.applicable.any() else [])
    head = title or f"{v.theory_id} {v.name} ({v.kind})"
    said = (f"holds at {v.holds_at} of {v.applicable_at} t where it applies"
            if v.applicable.any() else f"not applicable: {v.why_not}")
    top.set_title(f"{head}\n{said}", fontsize=9)
    fig.tight_layout()
    return fig


def comparison_figure(verdicts: Mapping[str, Verdict], title: str = "") -> Figure:
    """Every applicable verdict of one comparison (:func:`~verify.measurement.compare.compare`)
    on one measurement: the measured log10 ||dh_T/dh_t|| with the bounds above, their margins
    below; the bounds that do not apply are listed in the title."""
    from matplotlib.figure import Figure

    if not verdicts:
        raise ValueError("parameter 'verdicts' must hold at least one Verdict")
    live = [v for v in verdicts.values() if v.applicable.any()]
    idle = [v.theory_id for v in verdicts.values() if not v.applicable.any()]
    fig = Figure(figsize=(8, 6.5))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    first = next(iter(verdicts.values()))
    t = np.arange(first.applicable.size)
    top.plot(t, first.log10_measured, "k-", lw=2, label="measured ||dh_T/dh_t||_2")
    for v in live:
        draw_verdict(top, v)
    top.set_ylabel("log10 norm")
    top.legend(fontsize=7, loc="best")
    top.grid(alpha=0.3)
    _margins(bottom, live)
    top.set_title((title or "measurement against the bounds") + (
        f"\nnot applicable: {', '.join(idle)}" if idle else ""), fontsize=9)
    fig.tight_layout()
    return fig


def save(draw: Callable[[], Figure], path: os.PathLike[str] | str | None) -> Figure:
    """The figure ``draw()`` makes, written to ``path`` when given (its format from the
    suffix, atomically, replacing a file there as ``savefig`` does). The path is checked
    before drawing: a missing or unwritable folder, a folder at ``path`` or a suffix that
    names no image format is a ValueError naming ``path``."""
    from verify.files import claim_plot, save_figure

    target = None if path is None else claim_plot(path, force=True, option="path")
    fig = draw()
    if target is not None:
        save_figure(fig, target)
    return fig
