"""The tradeoff of THEORY.md section 4 ("the paper's Table 1 in spirit"), measured.

For each row of the table (RNN, full attention, sliding window nu, relevancy screening with
buffer nu and relevant set rho), build a network with V = c I, measure ||dh_T/dh_t|| for every
t with ``verify.measure`` and draw it against the distance T - t beside the verdict of the
row's bound, where it applies: B0 (RNN upper), B4 (full, lower), B6 (window, lower), B7
(relevancy screening, lower, at the events the model retains, read from its trace). The first
three are linear (J_k = c I: B2 makes the measured norm exact); the relevancy model is tanh
near its linear regime with uniform attention (:func:`models`).

    python paper_figs/tradeoff.py [--T 400 --c 0.9 --nu 10 --rho 5 --out paper_figs/tradeoff]

writes ``tradeoff.csv`` (one row per model and t: measured log10 norm, log10 bound, whether
the bound applies and holds there) and ``tradeoff.png``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from bounds import patterns
from verify import build, controlled, measure


def models(T: int, c: float, nu: int, rho: int, hidden: int) -> list[tuple[str, object, str]]:
    """(label, model, bound name) for each row of the table: linear networks with V = c I on
    the RNN, full attention and window patterns (J_k = c I: B2 makes the measurement exact), and
    a relevancy-screening model with V = c I, inputs scaled down (tanh near its linear regime,
    J_k nonnegative) and zero attention parameters (uniform weights over its <= nu + rho
    slots), whose retained events B7 is about."""
    def linear(pattern: patterns.Pattern) -> object:
        return controlled("identity", hidden, hidden, "linear", scale=c, pattern=pattern,
                          device="cpu")

    relrnn = build("relrnn", hidden, hidden=hidden, nu=nu, rho=rho, dtype=torch.float64)
    with torch.no_grad():
        relrnn.cell.V.copy_(c * torch.eye(hidden, dtype=torch.float64))
        relrnn.cell.U.mul_(0.01)
        for p in relrnn.memory.parameters():
            p.zero_()
    return [
        ("RNN (upper B0)", linear(patterns.none(T)), "rnn_upper"),
        ("full attention (lower B4)", linear(patterns.uniform(T)), "uniform_lower"),
        (f"window nu={nu} (lower B6)", linear(patterns.window(T, nu)), "window_lower"),
        (f"relevancy screening, nu={nu}, rho={rho} (lower B7 at retained events)", relrnn,
         "relevancy_lower"),
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--T", type=int, default=400)
    ap.add_argument("--c", type=float, default=0.9, help="J_k = c I (mu = lambda = c)")
    ap.add_argument("--nu", type=int, default=10)
    ap.add_argument("--rho", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("paper_figs/tradeoff"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    x = torch.randn(1, args.T, args.hidden, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(0))
    with open(args.out / "tradeoff.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["model", "bound", "t", "distance", "log10_measured", "log10_bound",
                      "applicable", "holds"])
        for (label, model, name), color in zip(
                models(args.T, args.c, args.nu, args.rho, args.hidden), ("C0", "C1", "C2", "C3"),
                strict=True):
            v = measure(model, x, mode="fixed").verdicts[name]
            got, bound = v.log10_measured, v.log10_bound
            dist = args.T - np.arange(args.T)
            for t in range(args.T):
                out.writerow([label, name, t, dist[t], got[t], bound[t], bool(v.applicable[t]),
                              bool(v.holds[t])])
            if name == "relevancy_lower":
                keep = v.applicable
                ax.plot(dist, got, color=color, lw=1, alpha=0.4)
                ax.plot(dist[keep], got[keep], "o", ms=4, color=color,
                        label=f"{label}: measured")
                ax.plot(dist[keep], bound[keep], "_", ms=14, mew=2, color=color)
            else:
                ax.plot(dist, got, color=color, label=f"{label}: measured")
                ax.plot(dist, bound, "--", color=color)
    ax.set_xscale("log")
    ax.set_ylim(max(ax.get_ylim()[0], -12), 0.5)
    ax.set_xlabel("distance T - t")
    ax.set_ylabel("log10 ||dh_T / dh_t||")
    ax.set_title(f"Measured (solid, dots) vs catalog bound where it applies (dashed, bars), "
                 f"c = {args.c}, T = {args.T}", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(args.out / "tradeoff.png", dpi=120)


if __name__ == "__main__":
    main()
