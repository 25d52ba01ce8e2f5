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
(largest bound) is marked. Each family's grid is a sweep (:mod:`paper_figs.swept`), the
points of ``untangle measure --pattern FAMILY``.

Writes ``f8_kappa_tradeoff.png``, ``f8_kappa_tradeoff.csv`` (family, parameter, kappa, d,
mean attended per step, log10 bound, log10 measured, where B5 applies and holds),
``f8_kappa_tradeoff.json`` (parameters, the sweep specs and each family's best kappa) and the
sweep tables ``f8_kappa_tradeoff.{window,strided,sparse}.jsonl``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paper_figs import output
from paper_figs.networks import options
from paper_figs.swept import bound_at_0, holds_at_0, results

if TYPE_CHECKING:
    from matplotlib.figure import Figure


NAME = "f8_kappa_tradeoff"
#: Per scale: distance D (= T, t = 0), the family parameters (powers of 2 up to D), hidden
#: size, c of V = c I.
SCALES = {
    "tiny": {"D": 8, "hidden": 2, "c": 0.9},
    "small": {"D": 64, "hidden": 4, "c": 0.9},
    "paper": {"D": 1024, "hidden": 16, "c": 0.9},
}
SEED = 0
FAMILIES = ("window", "strided", "sparse")
FILES = (f"{NAME}.png", f"{NAME}.csv", f"{NAME}.json",
         *(f"{NAME}.{f}.jsonl" for f in FAMILIES))


#: family -> the parameter that sets its kappa: (its sweep name, its name in bounds.patterns.build)
PARAMETER = {"window": ("width", "nu"), "strided": ("stride", "k"), "sparse": ("kappa", "kappa")}


def values(D: int) -> list[int]:
    """A family's parameters nu, k or kappa: the powers of 2 up to D."""
    return [2**i for i in range(int(np.log2(D)) + 1)]


def spec(family: str, p: dict[str, object], device: str) -> dict[str, object]:
    """The sweep spec of ``family``: its parameter over :func:`values`, T = D, a linear network
    with V = c I."""
    fixed = options(T=p["D"], hidden=p["hidden"], spectrum="identity", scale=p["c"],
                    nonlin="linear", device=device, seed=SEED, pattern=family)
    keep = ("T", "pattern", "hidden", "spectrum", "scale", "nonlin", "device")
    return {"kind": "measure", "grid": {PARAMETER[family][0]: values(p["D"])},
            "fixed": {k: fixed[k] for k in keep}, "seeds": [SEED]}


def attended_per_step(family: str, value: int, D: int) -> float:
    """The per-step cost of the family's pattern at ``value``: the mean |S_t| over T = D."""
    from bounds.patterns import build

    pattern = build(family, D, **{PARAMETER[family][1]: value}, seed=SEED)
    return float(pattern.support_sizes().mean())


def measure_families(p: dict[str, object], device: str, tables: dict[str, Path]
                     ) -> list[dict[str, object]]:
    """One row per family and parameter (the family's sweep, its table in ``tables``): kappa,
    d(0, T), the mean |S_t|, B5's log10 value and verdict at t = 0, and the measured log10
    ||dh_T/dh_0||."""
    rows = []
    for family in FAMILIES:
        for r in results(spec(family, p, device), tables[family]):
            res, value = r["result"], r["params"][PARAMETER[family][0]]
            rows.append({"family": family, "parameter": value, "kappa": int(res["kappa"]),
                         "d": float(res["depth_0"]),
                         "attended_per_step": attended_per_step(family, value, p["D"]),
                         "log10_bound": bound_at_0(res, "sparse_lower"),
                         "log10_measured": float(res["log10_norm2_0"]),
                         "B5_applicable": res["bounds_log10_0"].get("sparse_lower") is not None,
                         "B5_holds": holds_at_0(res, "sparse_lower")})
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
        tables = {f: run.path(f"{NAME}.{f}.jsonl") for f in FAMILIES}
        for table in tables.values():  # a sweep table resumes: --force starts it afresh
            table.unlink(missing_ok=True)
        rows = measure_families(p, device, tables)
        data = {"scale": scale, "params": p, "seed": SEED,
                "sweeps": {f: spec(f, p, device) for f in FAMILIES}, "best": best(rows),
                "rows": rows}
        run.write(rows, data, draw(rows, p))
    return data


main = output.entry(NAME, make)


if __name__ == "__main__":
    sys.exit(main())
