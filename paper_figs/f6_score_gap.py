"""F6: the score-term gap of learned attention (THEORY.md section 2): Lemma 1 describes the
Jacobian with the attention weights held fixed; with learned attention dc_t/dh_i gains the
score terms sum_j h_j d alpha[t, j] / d h_i. ``verify.measure(..., mode="full")`` measures the
full Jacobian G_t = dh_T/dh_t by autograd with the scores live, and the relative gap
||G_full - G_fixed||_2 / ||G_full||_2 per t.

For memrnn (full learned attention) and relrnn (learned attention over its buffer and
relevant set), at initialisation and after the copy training runs of
:mod:`paper_figs.training` (shared with F4 and F5, reused when present), on one copy sequence
(float64 copies of the models): the full and fixed log10 ||G_t||_2 and the gap, against t.

Writes ``f6_score_gap.png``, ``f6_score_gap.csv`` (model, state, t, log10 full, log10 fixed,
gap) and ``f6_score_gap.json`` (parameters, the largest gap per model and state, the
checkpoints).
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paper_figs import output, training

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import Tensor

    from verify.models import Recurrent

NAME = "f6_score_gap"
FILES = (f"{NAME}.png", f"{NAME}.csv", f"{NAME}.json")
#: This figure trains: it takes the runs folder.
TRAINING = True
TASK = "copy"
MODELS = ("memrnn", "relrnn")
STATES = {"init": "at initialisation", "trained": "after training"}
#: Seed of the measured copy sequence (not a training or evaluation stream).
SEQUENCE_SEED = 12345


def sequence(T: int) -> Tensor:
    """One copy sequence (1, T + 20, inputs), float64, from :data:`SEQUENCE_SEED`."""
    import torch

    from verify.training import tasks

    x, _ = tasks.batch(TASK, T, 1, torch.Generator().manual_seed(SEQUENCE_SEED),
                       dtype=torch.float64)
    return x


def cores(scale: str, runs: Path, device: str) -> dict[tuple[str, str], tuple[Recurrent, str]]:
    """(model, state) -> the recurrent core (float64) at initialisation or trained, with the
    checkpoint it came from."""
    from verify.training import build, load, restore

    out = {}
    for model in MODELS:
        path = training.trained(TASK, model, scale, runs, device)
        ck = load(path, device)
        out[model, "init"] = (build(ck["config"], device).core.double(), str(path))
        out[model, "trained"] = (restore(ck, device).core.double(), str(path))
    return out


def measure_gaps(scale: str, runs: Path, device: str) -> list[dict[str, object]]:
    """One row per model, state and t: log10 ||G_t|| full and fixed, and the gap."""
    from verify.measurement import measure

    x = sequence(training.SCALES[scale]["T"])
    rows = []
    for (model, state), (core, path) in cores(scale, runs, device).items():
        full = measure(core, x, mode="full", source=f"{NAME}: {model} {state} ({path})")
        fixed = measure(core, x, mode="fixed")
        rows += [{"model": model, "state": state, "t": t,
                  "log10_full": float(full.log10_norm2[t]),
                  "log10_fixed": float(fixed.log10_norm2[t]), "gap": float(full.gap[t])}
                 for t in range(full.T)]
    return rows


def draw(rows: list[dict[str, object]], T: int) -> Figure:
    from matplotlib.figure import Figure

    from verify.training.tasks import K

    fig = Figure(figsize=(12, 4.6))
    *norms, gaps = fig.subplots(1, 3)
    for i, model in enumerate(MODELS):
        for ax, (state, style) in zip(norms, zip(STATES, ("--", "-"), strict=True),
                                      strict=True):
            mine = [r for r in rows if r["model"] == model and r["state"] == state]
            t = [r["t"] for r in mine]
            ax.plot(t, [r["log10_full"] for r in mine], "-", color=f"C{i}",
                    label=f"{model}: full")
            ax.plot(t, [r["log10_fixed"] for r in mine], ":", color=f"C{i}", lw=2,
                    label=f"{model}: attention fixed")
            ax.set_title(f"||dh_T/dh_t||_2 {STATES[state]}", fontsize=10)
            with np.errstate(divide="ignore"):
                gaps.plot(t, np.log10([r["gap"] for r in mine]), style, color=f"C{i}",
                          label=f"{model}, {STATES[state]}")
    for ax in (*norms, gaps):
        ax.axvspan(1, K, color="0.92", zorder=0)
        ax.set_xlabel(f"t (symbols at 1..{K} shaded), T = {T + 2 * K}")
        ax.grid(alpha=0.3)
    for ax in norms:
        ax.set_ylabel("log10 ||dh_T/dh_t||_2")
    norms[1].sharey(norms[0])
    norms[0].legend(fontsize=8)
    gaps.set_ylabel("log10 ||G_full - G_fixed||_2 / ||G_full||_2")
    gaps.set_title("score-term gap", fontsize=10)
    gaps.legend(fontsize=8)
    fig.suptitle(f"F6: the score terms of learned attention on a copy sequence (delay {T})",
                 fontsize=11)
    fig.tight_layout()
    return fig


def make(out: Path, scale: str = "small", device: str = "cpu", *, force: bool = False,
         runs: Path | None = None, command: str | None = None) -> dict[str, object]:
    """Train (or reuse), measure, draw and write F6 under ``out``; returns the JSON's data
    with the CSV's rows."""
    output.params(training.SCALES, scale)
    runs = training.runs_folder(runs, out)
    command = command or output.command(NAME, out, scale, device)
    with output.Run(NAME, out, FILES, force, command) as run:
        rows = measure_gaps(scale, runs, device)
        T = training.SCALES[scale]["T"]
        largest = {f"{m}, {s}": max(r["gap"] for r in rows
                                    if r["model"] == m and r["state"] == s and np.isfinite(
                                        r["gap"]))
                   for m in MODELS for s in STATES}
        data = {"scale": scale, "task": TASK, "T": T, "sequence_seed": SEQUENCE_SEED,
                "configs": {m: asdict(training.config(TASK, m, scale)) for m in MODELS},
                "largest_gap": largest, "rows": rows}
        run.write(rows, data, draw(rows, T))
    return data


main = output.entry(NAME, make)


if __name__ == "__main__":
    sys.exit(main())
