"""F4: gradient-norm profiles ||dL/dh_t|| on the copy task for rnn, memrnn, relrnn, lstm and
rellstm, at initialisation and after training (THEORY.md sections 5 and 8: the paper's
gradient plots).

Each model is trained on copy (:mod:`paper_figs.training`: at ``small`` scale a short delay
and a thousand steps on a CPU; checkpoints are reused when present in the runs folder). The
profiles are :func:`verify.training.profiles` on one fixed batch, saved by the training run
beside its checkpoint: log10 of the norm over (batch, n) of the gradient of the training loss
(every step) and of the recall loss (the last K steps alone, whose gradient reaches the
symbols at t = 1..K only across the delay), for t = 0..T+20.

Writes ``f4_profiles.png``, ``f4_profiles.csv`` (model, t, the four profiles) and
``f4_profiles.json`` (per model: config, steps, seconds, accuracy on the evaluation batches,
checkpoint).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paper_figs import output, training

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "f4_profiles"
FILES = (f"{NAME}.png", f"{NAME}.csv", f"{NAME}.json")
#: This figure trains: it takes the runs folder.
TRAINING = True
TASK = "copy"
PROFILES = {"loss": "training loss (all steps)", "recall": "recall loss (last K steps)"}
WHEN = {"init": "at initialisation", "final": "after training"}


def runs_of(scale: str, runs: Path, device: str) -> dict[str, dict[str, object]]:
    """Model -> :func:`paper_figs.training.summary` of its copy run (trained if missing)."""
    return {model: training.summary(training.trained(TASK, model, scale, runs, device))
            for model in training.MODELS}


def _values(profile: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in profile], dtype=float)


def draw(results: dict[str, dict[str, object]]) -> Figure:
    from matplotlib.figure import Figure

    from verify.training.tasks import K

    fig = Figure(figsize=(11, 7))
    axes = fig.subplots(2, 2, sharex=True, sharey="row")
    T = next(iter(results.values()))["config"]["T"]
    steps = next(iter(results.values()))["steps"]
    for i, (model, r) in enumerate(results.items()):
        for row, kind in enumerate(PROFILES):
            for col, when in enumerate(WHEN):
                label = model if when == "init" else f"{model} (accuracy {r['eval_accuracy']:.2f})"
                axes[row, col].plot(_values(r["profile"][when][kind]), color=f"C{i}", lw=1.5,
                                    label=label)
    for row, kind in enumerate(PROFILES):
        for col, when in enumerate(WHEN):
            ax = axes[row, col]
            ax.axvspan(1, K, color="0.9", zorder=0)
            ax.axvline(T + K, color="0.5", ls=":", lw=1)
            ax.set_title(f"{PROFILES[kind]}, {WHEN[when]}"
                         + (f" ({steps} steps)" if when == "final" else ""), fontsize=10)
            ax.set_ylabel("log10 ||dL/dh_t||")
            ax.grid(alpha=0.3)
            if row == 1:
                ax.set_xlabel(f"t (symbols at 1..{K}, shaded; marker at {T + K}, dotted)")
    axes[0, 0].legend(fontsize=8)
    axes[0, 1].legend(fontsize=8, title="accuracy on the last K", title_fontsize=8)
    cfg = next(iter(results.values()))["config"]
    fig.suptitle(f"F4: gradient-norm profiles on copy, T = {T}, hidden {cfg['hidden']}, "
                 f"batch {cfg['batch']}, relevancy nu = {cfg['nu']}, rho = {cfg['rho']}",
                 fontsize=11)
    fig.tight_layout()
    return fig


def make(out: Path, scale: str = "small", device: str = "cpu", *, force: bool = False,
         runs: Path | None = None, command: str | None = None) -> dict[str, object]:
    """Train (or reuse), draw and write F4 under ``out`` (checkpoints under ``runs``, default
    ``runs/`` beside ``out``); returns the JSON's data with each model's profiles."""
    output.params(training.SCALES, scale)
    runs = training.runs_folder(runs, out)
    command = command or output.command(NAME, out, scale, device)
    with output.Run(NAME, out, FILES, force, command) as run:
        results = runs_of(scale, runs, device)
        rows = [{"model": model, "t": t,
                 **{f"{kind}_{when}": _values(r["profile"][when][kind])[t]
                    for kind in PROFILES for when in WHEN}}
                for model, r in results.items() for t in range(len(r["profile"]["t"]))]
        data = {"scale": scale, "task": TASK, "models": {
            model: {k: r[k] for k in ("config", "steps", "wall_s", "cpu_s", "eval_accuracy",
                                      "checkpoint", "profile")}
            for model, r in results.items()}}
        run.write(rows, data, draw(results))
    return data


main = output.entry(NAME, make)


if __name__ == "__main__":
    sys.exit(main())
