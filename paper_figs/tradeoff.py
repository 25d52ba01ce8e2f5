"""The tradeoff of THEORY.md section 4 ("the paper's Table 1 in spirit"), measured.

For each attention pattern of the table (RNN, full attention, sliding window nu, relevant events
with buffer nu), build a linear network with J_k = c I (identity spectrum, linear phi, so B2
makes the measured norm exact), measure ||dh_T/dh_t|| for every t with ``verify.measure`` and
draw it against the distance T - t beside the catalog's bound for that row: B0 (RNN upper),
B4 (full, lower), B6 (window, lower), B7 (retained events, lower). The events are the relevant
set (rho of them, spread over the sequence) of a relevancy-screening model held fixed.

    python paper_figs/tradeoff.py [--T 400 --c 0.9 --nu 10 --rho 5 --out paper_figs/tradeoff]

writes ``tradeoff.csv`` (one row per model and t: measured log10 norm and log10 bound) and
``tradeoff.png``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from bounds import get, patterns
from verify import controlled, measure


def rows(T: int, c: float, nu: int, rho: int) -> list[tuple[str, object, np.ndarray, str]]:
    """(label, pattern, log10 bound over t, bound name) for each row of the table."""
    t = np.arange(T)
    events = np.linspace(0, T - 2 * nu, rho).astype(int).tolist()
    return [
        ("RNN (upper B0; equal here)", patterns.none(T),
         get("rnn_upper").log10(beta=1.0, lam=c, T=T, t=t), "rnn_upper"),
        ("full attention (lower B4)", patterns.uniform(T),
         np.broadcast_to(get("uniform_lower").log10(gamma=0.5, mu=c, T=T), (T,)),
         "uniform_lower"),
        (f"window nu={nu} (lower B6)", patterns.window(T, nu),
         get("window_lower").log10(gamma=0.5, mu=c, nu=nu, T=T, t=t), "window_lower"),
        (f"relevant events, nu={nu}, rho={rho} (lower B7 at events)",
         patterns.events(T, events, nu),
         np.where(np.isin(t, events),
                  get("relevancy_lower").log10(gamma=0.5, mu=c, nu=nu, rho=rho), np.nan),
         "relevancy_lower"),
    ]


def measured(pattern: patterns.Pattern, c: float, hidden: int) -> np.ndarray:
    """log10 ||dh_T/dh_t|| of a linear network with V = cI on ``pattern`` (THEORY B2)."""
    model = controlled("identity", hidden, hidden, "linear", scale=c, pattern=pattern,
                       device="cpu")
    x = torch.randn(1, pattern.T, hidden, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(0))
    return measure(model, x, mode="fixed").log10_norm2


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
    with open(args.out / "tradeoff.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["model", "bound", "t", "distance", "log10_measured", "log10_bound"])
        for (label, pattern, bound, name), color in zip(
                rows(args.T, args.c, args.nu, args.rho), ("C0", "C1", "C2", "C3"), strict=True):
            got = measured(pattern, args.c, args.hidden)
            dist = args.T - np.arange(args.T)
            for t in range(args.T):
                out.writerow([label, name, t, dist[t], got[t], bound[t]])
            if name == "relevancy_lower":
                keep = ~np.isnan(bound)
                ax.plot(dist, got, color=color, lw=1, alpha=0.4)
                ax.plot(dist[keep], got[keep], "o", color=color, label=f"{label}: measured")
                ax.plot(dist[keep], bound[keep], "_", ms=14, mew=2, color=color)
            else:
                ax.plot(dist, got, color=color, label=f"{label}: measured")
                ax.plot(dist, bound, "--", color=color)
    ax.set_xscale("log")
    ax.set_ylim(max(ax.get_ylim()[0], -12), 0.5)
    ax.set_xlabel("distance T - t")
    ax.set_ylabel("log10 ||dh_T / dh_t||")
    ax.set_title(f"Measured (solid, dots) vs catalog bound (dashed, bars), J_k = {args.c} I, "
                 f"T = {args.T}")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(args.out / "tradeoff.png", dpi=120)


if __name__ == "__main__":
    main()
