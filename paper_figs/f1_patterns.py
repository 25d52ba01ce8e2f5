"""F1: the measured ||dh_T/dh_t|| against t for each canonical attention pattern (the plain
RNN, uniform full attention, a sliding window, kappa-sparse attention and relevancy
screening), with every bound of the catalog that applies drawn from the verdicts (THEORY.md
sections 4, 5 and 9).

The networks are tanh with V = c I and inputs scaled so that phi' stays near 1: every J_k =
diag(phi'(a_k)) c is nonnegative but not a multiple of I, so the lower bounds of B2+ and
B4-B7 apply and are not exact (B2 does not apply). The first four are ``untangle measure``
runs (:func:`paper_figs.networks.options`); the relevancy-screening one is relrnn with the
same V and input law and uniform attention over its slots (:func:`paper_figs.networks.screened`),
whose B7 applies at the events it retains.

Writes ``f1_patterns.png``, ``f1_patterns.csv`` (one row per panel and t: distance T - t,
depth d(t, T), measured log10 ||dh_T/dh_t||_2, and per bound its log10 value where it applies
(nan elsewhere) and whether it holds there (1/0)) and ``f1_patterns.json`` (the parameters,
each panel's source, verdict summaries and findings).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paper_figs import output
from paper_figs.networks import inputs, options, screened

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from verify.measurement import Measurement
    from verify.measurement.compare import Verdict

NAME = "f1_patterns"
FILES = (f"{NAME}.png", f"{NAME}.csv", f"{NAME}.json")
#: Per scale: T, hidden size n, c of V = c I, input scale, window nu, sparse kappa, the
#: relevancy model's buffer nu and relevant-set size rho.
SCALES = {
    "tiny": {"T": 12, "hidden": 3, "c": 0.9, "input_scale": 0.5, "width": 3, "kappa": 3,
             "nu": 3, "rho": 2},
    "small": {"T": 64, "hidden": 8, "c": 0.9, "input_scale": 0.5, "width": 8, "kappa": 4,
              "nu": 8, "rho": 4},
    "paper": {"T": 1000, "hidden": 64, "c": 0.9, "input_scale": 0.5, "width": 32,
              "kappa": 8, "nu": 10, "rho": 15},
}
SEED = 0
#: Panel key -> its title (the pattern's parameters are added).
PANELS = {"none": "plain RNN", "uniform": "uniform full attention",
          "window": "sliding window", "sparse": "kappa-sparse (random)",
          "relevancy": "relevancy screening"}


def panel_options(p: dict[str, object], kind: str) -> dict[str, object]:
    """The ``untangle measure`` options of panel ``kind`` (not the relevancy one)."""
    return options(T=p["T"], pattern=kind, width=p["width"], kappa=p["kappa"],
                   hidden=p["hidden"], spectrum="identity", scale=p["c"], nonlin="tanh",
                   input_scale=p["input_scale"], seed=SEED)


def measurements(p: dict[str, object], device: str) -> dict[str, Measurement]:
    """Panel key -> its Measurement (fixed mode, float64)."""
    from bounds.patterns import build
    from verify.measurement import measure
    from verify.measurement.runs import network

    out = {}
    for kind in ("none", "uniform", "window", "sparse"):
        o = panel_options(p, kind) | {"device": device}
        pattern = build(kind, p["T"], nu=o["width"], kappa=o["kappa"], seed=SEED)
        model, x = network(o, pattern)
        out[kind] = measure(model, x, source=f"{NAME}: untangle measure options {o}")
    model = screened(p["hidden"], nu=p["nu"], rho=p["rho"], c=p["c"],
                     input_scale=p["input_scale"], seed=SEED, device=device)
    out["relevancy"] = measure(model, inputs(p["T"], p["hidden"], SEED),
                               source=f"{NAME}: paper_figs.networks.screened({p})")
    return out


def title(key: str, p: dict[str, object]) -> str:
    extra = {"window": f", nu = {p['width']}", "sparse": f", kappa = {p['kappa']}",
             "relevancy": f", nu = {p['nu']}, rho = {p['rho']}"}.get(key, "")
    return PANELS[key] + extra


def coinciding(verdicts: list[Verdict]) -> list[str]:
    """Groups of bounds drawn on top of each other (the same log10 values at every t, nan
    where they do not apply), as ``"B4 = B5 = B6"``."""
    groups: list[list] = []
    for v in verdicts:
        for g in groups:
            if np.allclose(g[0].log10_bound, v.log10_bound, rtol=1e-12, atol=0,
                           equal_nan=True):
                g.append(v)
                break
        else:
            groups.append([v])
    return [" = ".join(v.theory_id for v in g) for g in groups if len(g) > 1]


def draw(ms: dict[str, Measurement], p: dict[str, object]) -> Figure:
    """Five panels (measured and applicable bounds against t) and a shared legend."""
    from matplotlib.figure import Figure

    from verify.measurement.plots import draw_verdict

    fig = Figure(figsize=(11, 7))
    axes = fig.subplots(2, 3).ravel()
    handles = {}
    for ax, (key, m) in zip(axes, ms.items(), strict=False):
        ax.plot(np.arange(m.T), m.log10_norm2, "k-", lw=2, label="measured ||dh_T/dh_t||_2")
        for v in m.verdicts.values():
            if v.applicable.any():
                draw_verdict(ax, v, label=f"{v.theory_id} {v.name} ({v.kind})")
        same = coinciding([v for v in m.verdicts.values() if v.applicable.any()])
        ax.set_title(title(key, p) + (f"\n({'; '.join(same)} coincide)" if same else ""),
                     fontsize=10)
        ax.set_xlabel("t (source step)")
        ax.set_ylabel(f"log10 ||dh_T/dh_t||_2, T = {m.T}")
        ax.grid(alpha=0.3)
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    legend = axes[-1]
    legend.axis("off")
    legend.legend(handles.values(), handles.keys(), loc="center", fontsize=9,
                  title="bounds where they apply\n(dashed upper, dotted lower, dash-dot exact)",
                  title_fontsize=9)
    fig.suptitle(f"F1: measured gradient norm and the catalog's bounds (tanh, V = {p['c']} I, "
                 f"n = {p['hidden']}; RNN beta = 1, gamma = 0; attention beta = gamma = 1/2)",
                 fontsize=11)
    fig.tight_layout()
    return fig


def make(out: Path, scale: str = "small", device: str = "cpu", *, force: bool = False,
         command: str | None = None) -> dict[str, object]:
    """Measure, draw and write F1 under ``out``; returns the data written to the JSON, with
    each panel's measured log10 norms and log10 bounds over t."""
    p = output.params(SCALES, scale)
    command = command or output.command(NAME, out, scale, device)
    with output.Run(NAME, out, FILES, force, command) as run:
        ms = measurements(p, device)
        rows = [{"panel": key, "t": t, "distance": m.T - t, "depth": float(m.depth[t]),
                 "log10_measured": float(m.log10_norm2[t]),
                 **{f"log10_{v.theory_id}_{v.name}": float(v.log10_bound[t])
                    for v in m.verdicts.values()},
                 **{f"holds_{v.theory_id}_{v.name}": int(v.holds[t])
                    for v in m.verdicts.values()}}
                for key, m in ms.items() for t in range(m.T)]
        data = {"scale": scale, "params": p, "seed": SEED, "panels": {
            key: {"title": title(key, p), "source": m.source,
                  "log10_measured": m.log10_norm2, "depth": m.depth, "kappa": m.kappa,
                  "log10_bounds": m.bounds_log10,
                  "verdicts": {k: v.summary() for k, v in m.verdicts.items()},
                  "findings": [str(f) for f in m.findings()]}
            for key, m in ms.items()}}
        run.write(rows, data, draw(ms, p))
    return data


main = output.entry(NAME, make)


if __name__ == "__main__":
    sys.exit(main())
