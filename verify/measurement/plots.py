"""Pictures of a measurement: log10 ||dh_T/dh_t|| against t with every applicable bound as a
line and every violation marked (THEORY.md sections 5 and 9). Figures are made with
:class:`matplotlib.figure.Figure`, never pyplot: no global matplotlib state is touched."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from verify.measurement.jacobian_profile import Measurement

#: Line styles per bound kind.
STYLE = {"upper": "--", "lower": ":", "exact": "-."}


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
    for i, v in enumerate(v for v in m.verdicts.values() if v.applicable.any()):
        colour = f"C{i}"
        shown = v.applicable_at < 40
        ax.plot(t, v.log10_bound, STYLE[v.kind], color=colour, lw=1.3,
                marker="_" if shown else None, ms=10,
                label=f"{v.theory_id} {v.name} ({v.kind}): holds at {v.holds_at}/"
                      f"{v.applicable_at}")
        bad = v.violations
        if bad.size:
            ax.plot(bad, m.log10_norm2[bad], "x", color="red", ms=7, mew=2,
                    label=f"{v.theory_id} violated at {bad.size} t")
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
