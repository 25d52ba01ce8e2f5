"""F2: the gradient across the whole horizon, ||dh_T/dh_0||, against T (THEORY.md B0, B4, B7).

* plain RNN, linear, V = c I: ||dh_T/dh_0|| = c^T, exponential decay (B0 with equality);
* uniform full attention, linear, V = c I, beta = 0: B4's closed form is exact
  (``uniform_exact``: (c gamma / T) Gamma(T + c gamma) / (Gamma(T) Gamma(1 + c gamma)),
  ~ T^(c gamma - 1)), drawn as a curve over T beside the measured points and B4's lower bound
  gamma mu / T;
* relevancy screening (relrnn, V = c I, tanh near linear, uniform attention over its slots,
  :func:`paper_figs.networks.screened`): ||dh_T/dh_1|| of the first state, a relevant event
  kept to the end with a direct hop to every later step, stays on a floor independent of T,
  above B7's gamma mu / (nu + rho) (the memories leave h_0 out, so t = 1 is its first event).

The RNN and uniform grids over T are sweeps (:func:`verify.sweeps.run`, in process), whose
tables are written beside the figure; the relevancy model is measured directly.

Writes ``f2_horizon.png``, ``f2_horizon.csv`` (family, T, t, measured log10 norm, each drawn
bound's log10 value and whether it holds), ``f2_horizon.json`` (parameters, fitted slopes) and
the two sweep tables ``f2_horizon.rnn.jsonl`` and ``f2_horizon.uniform.jsonl``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paper_figs import output
from paper_figs.networks import inputs, options, screened
from paper_figs.swept import bound_at_0, holds_at_0, results

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "f2_horizon"
SWEEPS = ("rnn", "uniform")
FILES = (f"{NAME}.png", f"{NAME}.csv", f"{NAME}.json", *(f"{NAME}.{s}.jsonl" for s in SWEEPS))
#: Per scale: the T grid, hidden size, c of V = c I, gamma of the uniform network (beta = 0),
#: the relevancy model's nu, rho and input scale.
SCALES = {
    "tiny": {"Ts": [4, 8, 16], "hidden": 2, "c": 0.9, "gamma": 0.5, "nu": 2, "rho": 2,
             "input_scale": 0.01},
    "small": {"Ts": [4, 8, 16, 32, 64, 128, 256, 512], "hidden": 4, "c": 0.9, "gamma": 0.5,
              "nu": 4, "rho": 4, "input_scale": 0.01},
    "paper": {"Ts": [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096], "hidden": 16,
              "c": 0.9, "gamma": 0.5, "nu": 10, "rho": 15, "input_scale": 0.01},
}
SEED = 0
#: family -> (bounds drawn, the source step t measured)
BOUNDS = {"rnn": (("rnn_upper",), 0), "uniform": (("uniform_exact", "uniform_lower"), 0),
          "relevancy": (("relevancy_lower",), 1)}


def spec(family: str, p: dict[str, object], device: str) -> dict[str, object]:
    """The sweep spec of ``family`` (rnn or uniform): T over the grid, a linear network with
    V = c I."""
    fixed = options(T=1, hidden=p["hidden"], spectrum="identity", scale=p["c"],
                    nonlin="linear", device=device, seed=SEED)
    if family == "uniform":
        fixed.update(pattern="uniform", beta=0.0, gamma=p["gamma"])
    keep = ("pattern", "hidden", "spectrum", "scale", "nonlin", "beta", "gamma", "device")
    return {"kind": "measure", "grid": {"T": list(p["Ts"])},
            "fixed": {k: fixed[k] for k in keep if fixed[k] is not None}, "seeds": [SEED]}


def swept(family: str, p: dict[str, object], table: Path, device: str) -> list[dict]:
    """One row per T: the measured log10 ||dh_T/dh_0|| and the drawn bounds' log10 values and
    verdicts at t = 0 (from the sweep's rows)."""
    out = []
    for r in results(spec(family, p, device), table):
        res = r["result"]
        for name in BOUNDS[family][0]:
            out.append({"family": family, "T": r["params"]["T"], "t": 0,
                        "log10_measured": res["log10_norm2_0"], "bound": name,
                        "log10_bound": bound_at_0(res, name), "holds": holds_at_0(res, name)})
    return out


def relevancy(p: dict[str, object], device: str) -> list[dict]:
    """One row per T: log10 ||dh_T/dh_1|| of the relevancy model and B7's verdict at t = 1."""
    from verify.measurement import measure

    out = []
    t = BOUNDS["relevancy"][1]
    for T in (T for T in p["Ts"] if T > t):
        model = screened(p["hidden"], nu=p["nu"], rho=p["rho"], c=p["c"],
                         input_scale=p["input_scale"], seed=SEED, device=device)
        m = measure(model, inputs(T, p["hidden"], SEED))
        v = m.verdicts["relevancy_lower"]
        out.append({"family": "relevancy", "T": T, "t": t,
                    "log10_measured": float(m.log10_norm2[t]), "bound": v.name,
                    "log10_bound": float(v.log10_bound[t]),
                    "holds": bool(v.applicable[t] and v.holds[t])})
    return out


def slopes(rows: list[dict]) -> dict[str, float]:
    """Least-squares slopes over the T grid: rnn d log10 ||G|| / dT (log10 c when exact);
    over the upper half of the grid, uniform d log10 ||G|| / d log10 T (c gamma - 1
    asymptotically) and relevancy d log10 ||G|| / d log10 T (0 for a floor)."""
    def fit(family: str, log_x: bool, half: bool = False) -> float:
        pts = sorted({(r["T"], r["log10_measured"]) for r in rows if r["family"] == family})
        if half:
            pts = pts[len(pts) // 2:]
        if len(pts) < 2:
            return np.nan
        x, y = np.array(pts, dtype=float).T
        return float(np.polyfit(np.log10(x) if log_x else x, y, 1)[0])
    return {"rnn_per_step": fit("rnn", False), "uniform_loglog": fit("uniform", True, True),
            "relevancy_loglog": fit("relevancy", True, True)}


def draw(rows: list[dict], p: dict[str, object]) -> Figure:
    from matplotlib.figure import Figure

    from bounds import get
    from bounds.explore import grid
    from verify.measurement.plots import STYLE, bound_colour

    fig = Figure(figsize=(11, 4.6))
    left, right = fig.subplots(1, 2)
    labels = {"rnn": "plain RNN, ||dh_T/dh_0||", "uniform": "uniform, beta = 0, ||dh_T/dh_0||",
              "relevancy": f"relevancy nu={p['nu']}, rho={p['rho']}, ||dh_T/dh_1||"}
    colours = {"rnn": "k", "uniform": "C0", "relevancy": "C3"}
    Ts = np.array(p["Ts"], dtype=float)
    dense = np.unique(np.geomspace(Ts.min(), Ts.max(), 200).round())
    exact = grid(get("uniform_exact"), c=p["c"], gamma=p["gamma"], T=dense, t=0)
    for ax, families in ((left, ("rnn", "uniform", "relevancy")), (right, ("uniform",
                                                                           "relevancy"))):
        for fam in families:
            mine = [r for r in rows if r["family"] == fam]
            T = sorted({r["T"] for r in mine})
            got = [next(r["log10_measured"] for r in mine if r["T"] == x) for x in T]
            ax.plot(T, got, "o", color=colours[fam], ms=6, label=f"measured: {labels[fam]}")
            for name in BOUNDS[fam][0]:
                b = get(name)
                if name == "uniform_exact":
                    ax.plot(exact.axes["T"], exact.log10, "-", color=bound_colour(name), lw=1.5,
                            label="B4 uniform_exact, catalog closed form")
                    continue
                ys = [next(r["log10_bound"] for r in mine if r["T"] == x and r["bound"] == name)
                      for x in T]
                ax.plot(T, ys, STYLE[b.kind], color=bound_colour(name), lw=1.5,
                        label=f"{b.theory_id} {name} ({b.kind}), from the verdicts")
        ax.set_xscale("log")
        ax.set_xlabel("T (steps to the loss)")
        ax.set_ylabel("log10 ||dh_T/dh_t||_2")
        ax.grid(alpha=0.3)
    left.set_title("all three: exponential against the rest", fontsize=10)
    right.set_title("zoom: a power law (uniform) and a floor (relevancy)", fontsize=10)
    right.legend(fontsize=8, loc="lower left")
    handles, names = left.get_legend_handles_labels()
    keep = [i for i, n in enumerate(names) if "rnn" in n.lower() or "RNN" in n]
    left.legend([handles[i] for i in keep], [names[i] for i in keep], fontsize=8,
                loc="lower left")
    fig.suptitle(f"F2: the gradient across the horizon against T (V = {p['c']} I, linear; "
                 f"relevancy: tanh near linear)", fontsize=11)
    fig.tight_layout()
    return fig


def make(out: Path, scale: str = "small", device: str = "cpu", *, force: bool = False,
         command: str | None = None) -> dict[str, object]:
    """Sweep, measure, draw and write F2 under ``out``; returns the JSON's data with the
    rows of the CSV."""
    p = output.params(SCALES, scale)
    command = command or output.command(NAME, out, scale, device)
    with output.Run(NAME, out, FILES, force, command) as run:
        for family in SWEEPS:  # a sweep table resumes: --force starts it afresh
            run.path(f"{NAME}.{family}.jsonl").unlink(missing_ok=True)
        rows = [r for family in SWEEPS
                for r in swept(family, p, run.path(f"{NAME}.{family}.jsonl"), device)]
        rows += relevancy(p, device)
        data = {"scale": scale, "params": p, "seed": SEED,
                "sweeps": {f: spec(f, p, device) for f in SWEEPS}, "slopes": slopes(rows),
                "rows": rows}
        run.write(rows, data, draw(rows, p))
    return data


main = output.entry(NAME, make)


if __name__ == "__main__":
    sys.exit(main())
