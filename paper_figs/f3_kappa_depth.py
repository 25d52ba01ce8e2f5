"""F3: the kappa^-d law of B5 (THEORY.md section 4): the measured ||dh_T/dh_s|| against the bound
(gamma mu / kappa)^d over a grid of sparsity kappa and depth d at one fixed distance D = T - s.

The patterns (:func:`hub_pattern`) make kappa and d independent: from s, hub states s, s + L,
..., s + d L = T (L = D / d) are joined by one attention hop each, the hub row attending its
source and kappa - 1 filler states before s (which no path from s can reach); every other row
attends the fillers alone. So every row has at most kappa states, d(s, T) = d, and with beta = 0
the hub chain is the only path from s to T, each hop of weight gamma / kappa (B5's strong path).
With beta = 1/2 the recurrent edges add every other path and leave d unchanged.

* aligned panel: linear, V = c I (J_k = c I, mu = c): with beta = 0 the measured norm *is* the
  bound (gamma c / kappa)^d (attained, on the diagonal); with beta = 1/2 it lies above
  (respected). Both are B5's verdicts on the measured runs.
* random panel: tanh with V = c Q, Q Haar-random orthogonal (J_k = diag(phi') c Q,
  sign-indefinite), inputs scaled so that phi' stays near 1 (mu_k near c): B5's hypothesis
  fails, so its verdict is "not applicable"; the value (gamma mu / kappa)^d with the measured
  mu (the least mu_k on the way) is drawn anyway, to show what happens without the hypothesis.

Writes ``f3_kappa_depth.png``, ``f3_kappa_depth.csv`` (one row per network, beta, kappa, d) and
``f3_kappa_depth.json`` (parameters and the largest excess of the bound over the measured
norm per panel).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from paper_figs import output
from paper_figs.networks import options

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bounds.patterns import Pattern

NAME = "f3_kappa_depth"
FILES = (f"{NAME}.png", f"{NAME}.csv", f"{NAME}.json")
#: Per scale: distance D (every d must divide it), the kappa and d grids, hidden size, c of
#: V = c I (aligned) and V = c Q (random), the random network's input scale, gamma.
SCALES = {
    "tiny": {"D": 4, "kappas": [1, 2, 3], "ds": [1, 2, 4], "hidden": 2, "c": 0.9,
             "input_scale": 0.3, "gamma": 0.5},
    "small": {"D": 12, "kappas": [1, 2, 4, 8], "ds": [1, 2, 3, 4, 6, 12], "hidden": 8,
              "c": 0.9, "input_scale": 0.3, "gamma": 0.5},
    "paper": {"D": 60, "kappas": [1, 2, 4, 8, 16, 32], "ds": [1, 2, 3, 4, 5, 6, 10, 12, 15, 20,
                                                              30, 60],
              "hidden": 64, "c": 0.9, "input_scale": 0.3, "gamma": 0.5},
}
SEED = 0
BETAS = (0.0, 0.5)
NETWORKS = ("aligned", "random")


def hub_pattern(kappa: int, d: int, D: int) -> tuple[Pattern, int]:
    """The pattern of this module's docstring: returns ``(pattern, s)`` with T = s + D, the
    source s = max(kappa - 1, 1), every |S_t| <= kappa (= kappa at the hub rows) and a single
    attention path s -> s + L -> ... -> T of d hops (L = D / d)."""
    from bounds.domains import POSITIVE_INT
    from bounds.patterns import from_supports

    kappa, d, D = (int(POSITIVE_INT.check(n, v)) for n, v in (("kappa", kappa), ("d", d),
                                                              ("D", D)))
    if D % d:
        raise ValueError(f"parameter 'd' must divide the distance D = {D}, got {d}")
    L, s = D // d, max(kappa - 1, 1)
    fillers = list(range(kappa - 1)) or [0]
    hubs = {s + m * L for m in range(1, d + 1)}
    rows = []
    for t in range(s + D):
        if t < s:
            rows.append(range(min(t, max(kappa - 2, 0)) + 1))
        elif t + 1 in hubs:
            rows.append([*(fillers if kappa > 1 else []), t + 1 - L])
        else:
            rows.append(fillers)
    return from_supports(s + D, rows, kind="hubs"), s


def network_options(network: str, p: dict[str, object], T: int, beta: float
                    ) -> dict[str, object]:
    """The ``untangle measure`` options of the aligned or random network (the pattern apart)."""
    if network == "aligned":
        net = {"spectrum": "identity", "scale": p["c"], "nonlin": "linear"}
    else:
        net = {"spectrum": "orthogonal", "scale": p["c"], "nonlin": "tanh",
               "input_scale": p["input_scale"]}
    return options(T=T, hidden=p["hidden"], beta=beta, gamma=p["gamma"], seed=SEED, **net)


def measure_grid(p: dict[str, object], device: str) -> list[dict[str, object]]:
    """One row per network, beta, kappa, d: measured log10 ||dh_T/dh_s||, the bound's log10
    (gamma mu / kappa)^d with mu the least measured mu_k for k = s+1..T (the catalog's
    ``sparse_lower``), and B5's verdict at s."""
    from bounds import get
    from verify.measurement import measure
    from verify.measurement.runs import network

    rows = []
    for net in NETWORKS:
        for beta in BETAS:
            for kappa in p["kappas"]:
                for d in p["ds"]:
                    pattern, s = hub_pattern(kappa, d, p["D"])
                    o = network_options(net, p, pattern.T, beta) | {"device": device}
                    m = measure(*network(o, pattern))
                    v = m.verdicts["sparse_lower"]
                    mu = float(m.mu[s:].min())
                    value = float(get("sparse_lower").log10(gamma=m.gamma, mu=mu,
                                                            kappa=m.kappa, d=m.depth[s]))
                    rows.append({
                        "network": net, "beta": beta, "kappa": int(m.kappa), "d": int(m.depth[s]),
                        "D": p["D"], "s": s, "T": pattern.T, "mu": mu,
                        "log10_measured": float(m.log10_norm2[s]), "log10_bound": value,
                        "B5_applicable": bool(v.applicable[s]),
                        "B5_holds": bool(v.applicable[s] and v.holds[s]),
                        "B5_log10_verdict": float(v.log10_bound[s])})
    return rows


def draw(rows: list[dict[str, object]], p: dict[str, object]) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(11, 5))
    axes = fig.subplots(1, 2)
    kappas, ds = p["kappas"], p["ds"]
    markers = "os^Dvp*hX<>P"
    titles = {"aligned": f"aligned: linear, V = {p['c']} I (B5 applies)",
              "random": f"random: tanh, V = {p['c']} x Haar orthogonal (B5 does not apply)"}
    for ax, net in zip(axes, NETWORKS, strict=True):
        mine = [r for r in rows if r["network"] == net]
        lo = min(min(r["log10_bound"], r["log10_measured"]) for r in mine)
        hi = max(max(r["log10_bound"], r["log10_measured"]) for r in mine)
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        for r in mine:
            colour = f"C{kappas.index(r['kappa'])}"
            filled = r["beta"] == 0.0
            ax.plot(r["log10_bound"], r["log10_measured"], markers[ds.index(r["d"])],
                    ms=6, color=colour, mfc=colour if filled else "none", mew=1.3)
        ax.set_xlabel("log10 (gamma mu / kappa)^d   (mu: least measured mu_k)")
        ax.set_ylabel(f"log10 measured ||dh_T/dh_s||_2,  T - s = {p['D']}")
        ax.set_title(titles[net], fontsize=10)
        ax.grid(alpha=0.3)
    key = [Line2D([], [], ls="", marker="o", color=f"C{i}", label=f"kappa = {k}")
           for i, k in enumerate(kappas)]
    key += [Line2D([], [], ls="", marker=markers[i], color="0.3", mfc="none", label=f"d = {d}")
            for i, d in enumerate(ds)]
    key += [Line2D([], [], ls="", marker="o", color="0.3", label="beta = 0 (one path)"),
            Line2D([], [], ls="", marker="o", color="0.3", mfc="none",
                   label="beta = 1/2 (all paths)"),
            Line2D([], [], color="k", lw=0.8, label="measured = bound")]
    axes[1].legend(handles=key, fontsize=8, loc="lower right", ncol=2)
    fig.suptitle(f"F3: the kappa^-d law at a fixed distance {p['D']} (hub patterns, "
                 f"gamma = {p['gamma']}, n = {p['hidden']})", fontsize=11)
    fig.tight_layout()
    return fig


def make(out: Path, scale: str = "small", device: str = "cpu", *, force: bool = False,
         command: str | None = None) -> dict[str, object]:
    """Measure the grid, draw and write F3 under ``out``; returns the JSON's data with the
    CSV's rows."""
    p = output.params(SCALES, scale)
    command = command or output.command(NAME, out, scale, device)
    with output.Run(NAME, out, FILES, force, command) as run:
        rows = measure_grid(p, device)
        excess = {f"{net}, beta={beta:g}": max(r["log10_bound"] - r["log10_measured"]
                                               for r in rows
                                               if r["network"] == net and r["beta"] == beta)
                  for net in NETWORKS for beta in BETAS}
        data = {"scale": scale, "params": p, "seed": SEED,
                "largest_bound_minus_measured_decades": excess,
                "B5_held_where_applicable": all(r["B5_holds"] for r in rows
                                                if r["B5_applicable"]),
                "rows": rows}
        run.write(rows, data, draw(rows, p))
    return data


main = output.entry(NAME, make)


if __name__ == "__main__":
    sys.exit(main())
