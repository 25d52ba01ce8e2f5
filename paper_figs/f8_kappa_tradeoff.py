"""F8: the kappa-d tradeoff that B5 leaves implicit (THEORY.md sections 4 and 6). At one fixed
distance D = T - t (t = 0), for three families of fixed patterns, a larger support kappa
shortens the dependency depth d, while each hop of B5's strong path weighs only gamma/kappa:
the bound (gamma mu / kappa)^d is best somewhere, and every attended state costs per step.

* window nu: kappa = nu, d = ceil(D / nu);
* strided k: S_t = {t, t-k, ...}, kappa = ceil(T / k) (k = 1 is full attention);
* kappa-sparse (random, seeded): {t} and kappa - 1 earlier states.

Each pattern is measured on a linear network with V = c I (aligned: B5 applies wherever its
strong path exists): B5's value at t = 0 is read from the verdict (kappa the pattern's
sparsity, d its depth, mu = c), beside the measured ||dh_T/dh_0|| (B2 makes it exact) and the
per-step cost, the mean number of states attended per step. The best kappa of each family
(largest bound) is marked.

Writes ``f8_kappa_tradeoff.png``, ``f8_kappa_tradeoff.csv`` (family, parameter, kappa, d,
mean attended per step, log10 bound, log10 measured, where B5 applies and holds) and
``f8_kappa_tradeoff.json`` (parameters and each family's best kappa).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paper_figs import output
from paper_figs.networks import options

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bounds.patterns import Pattern

NAME = "f8_kappa_tradeoff"
FILES = (f"{NAME}.png", f"{NAME}.csv", f"{NAME}.json")
#: Per scale: distance D (= T, t = 0), the family parameters (powers of 2 up to D), hidden
#: size, c of V = c I.
SCALES = {
    "tiny": {"D": 8, "hidden": 2, "c": 0.9},
    "small": {"D": 64, "hidden": 4, "c": 0.9},
    "paper": {"D": 1024, "hidden": 16, "c": 0.9},
}
SEED = 0
FAMILIES = ("window", "strided", "sparse")


def family_patterns(family: str, D: int) -> list[tuple[int, Pattern]]:
    """(parameter, pattern over T = D) for the family: nu, k or kappa over the powers of 2 up
    to D."""
    from bounds.patterns import sparse, strided, window

    values = [2**i for i in range(int(np.log2(D)) + 1)]
    build = {"window": lambda v: window(D, v), "strided": lambda v: strided(D, v),
             "sparse": lambda v: sparse(D, v, seed=SEED)}[family]
    return [(v, build(v)) for v in values]


def measure_families(p: dict[str, object], device: str) -> list[dict[str, object]]:
    """One row per family and parameter: kappa, d(0, T), the mean |S_t|, B5's log10 value and
    verdict at t = 0, and the measured log10 ||dh_T/dh_0||."""
    from verify.measurement import measure
    from verify.measurement.runs import network

    rows = []
    for family in FAMILIES:
        for value, pattern in family_patterns(family, p["D"]):
            o = options(T=p["D"], hidden=p["hidden"], spectrum="identity", scale=p["c"],
                        nonlin="linear", seed=SEED, device=device)
            m = measure(*network(o, pattern))
            v = m.verdicts["sparse_lower"]
            rows.append({"family": family, "parameter": value, "kappa": int(m.kappa),
                         "d": float(m.depth[0]),
                         "attended_per_step": float(pattern.support_sizes().mean()),
                         "log10_bound": float(v.log10_bound[0]),
                         "log10_measured": float(m.log10_norm2[0]),
                         "B5_applicable": bool(v.applicable[0]),
                         "B5_holds": bool(v.applicable[0] and v.holds[0])})
    return rows


def best(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    """Per family, the row with the largest applicable bound (ties: the smallest kappa)."""
    out = {}
    for family in FAMILIES:
        mine = [r for r in rows if r["family"] == family and r["B5_applicable"]]
        if mine:
            out[family] = max(mine, key=lambda r: (r["log10_bound"], -r["kappa"]))
    return out


def draw(rows: list[dict[str, object]], p: dict[str, object]) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.6))
    depth, bound, cost = fig.subplots(1, 3)
    top = best(rows)
    #: window and strided share (kappa, d) at every parameter: distinct markers keep both seen
    marks = {"window": ("o", 8), "strided": ("s", 4), "sparse": ("^", 6)}
    for i, family in enumerate(FAMILIES):
        mine = sorted((r for r in rows if r["family"] == family), key=lambda r: r["kappa"])
        k = [r["kappa"] for r in mine]
        colour, (marker, size) = f"C{i}", marks[family]
        depth.plot(k, [r["d"] for r in mine], marker=marker, ms=size, color=colour,
                   label=family)
        b = [r["log10_bound"] for r in mine]
        bound.plot(k, b, marker=marker, ms=size, color=colour,
                   label=f"{family}: B5 (gamma mu/kappa)^d")
        bound.plot(k, [r["log10_measured"] for r in mine], "x--", color=colour, alpha=0.7,
                   label=f"{family}: measured")
        cost.plot([r["attended_per_step"] for r in mine], b, marker=marker, ms=size,
                  color=colour, label=family)
        if family in top:
            r = top[family]
            for ax, x in ((bound, r["kappa"]), (cost, r["attended_per_step"])):
                ax.plot(x, r["log10_bound"], "*", ms=16, color=colour, mec="k", zorder=5)
    depth.set(xscale="log", yscale="log", xlabel="kappa = max_t |S_t|",
              ylabel="dependency depth d(0, T)")
    depth.set_title(f"depth against sparsity, distance T - t = {p['D']}\n(window and strided "
                    f"coincide here)", fontsize=10)
    bound.set(xscale="log", xlabel="kappa = max_t |S_t|",
              ylabel="log10 bound, log10 ||dh_T/dh_0||")
    bound.set_title("B5's bound (solid, best kappa starred)\nand the measured norm (dashed)",
                    fontsize=10)
    cost.set(xscale="log", xlabel="states attended per step (mean |S_t|)",
             ylabel="log10 B5 bound (gamma mu/kappa)^d")
    cost.set_title("bound against per-step cost", fontsize=10)
    for ax in (depth, bound, cost):
        ax.grid(alpha=0.3)
    depth.legend(fontsize=9)
    bound.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"F8: the kappa-d tradeoff at a fixed distance (linear, V = {p['c']} I, "
                 f"beta = gamma = 1/2)", fontsize=11)
    fig.tight_layout()
    return fig


def make(out: Path, scale: str = "small", device: str = "cpu", *, force: bool = False,
         command: str | None = None) -> dict[str, object]:
    """Measure the families, draw and write F8 under ``out``; returns the JSON's data with the
    CSV's rows."""
    p = output.params(SCALES, scale)
    command = command or output.command(NAME, out, scale, device)
    with output.Run(NAME, out, FILES, force, command) as run:
        rows = measure_families(p, device)
        data = {"scale": scale, "params": p, "seed": SEED, "best": best(rows), "rows": rows}
        run.write(rows, data, draw(rows, p))
    return data


main = output.entry(NAME, make)


if __name__ == "__main__":
    sys.exit(main())
