"""A longer training record on one task (THEORY.md section 8): rnn, memrnn and relrnn trained on
copy or denoise, compared on accuracy against CPU time, cost per step, gradient-norm profiles
||dL/dh_t|| at initialisation and at the end, and accuracy at larger T (transfer).

Train first (README, "A longer training record"), one command per model, e.g.

    untangle train --task copy --model relrnn --T 100 --steps 8000 --threads 1 \
        --save runs/copy_small/relrnn.pt

then collect: ``python -m paper_figs.task_record --task copy`` (checkpoints from
``runs/<task>_small``, output to ``paper_figs/<task>_small``). It reads each ``<model>.pt``
with its ``.metrics.jsonl`` (a checkpoint of another task is refused), recomputes the gradient
profiles of :func:`verify.training.profiles` (training loss and recall loss) of the untrained
model (rebuilt from the checkpoint's seed) and of the trained one, and writes, under
``--out``: ``summary.json`` (per model: first logged step with training accuracy >= the
target, with its CPU and wall seconds; accuracy on fixed evaluation batches at the trained T
and at each ``--transfer`` T, with forward cost, each evaluation in its own process so that
its peak resident memory is its own), ``curves.csv``, ``profiles.csv``, ``<task>_small.png``
and ``command.txt``; existing files are refused unless ``--force``, before any work
(:mod:`paper_figs.output`). The short runs of ``untangle figs`` (F4, F5) are the small-budget
counterpart of this collection.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import torch
from matplotlib.figure import Figure

from paper_figs import output
from verify.files import save_figure, write_text
from verify.training import build, load, profiles, restore
from verify.training.train import beside

MODELS = ("rnn", "memrnn", "relrnn")
TASKS = ("copy", "denoise")


def files(task: str) -> tuple[str, ...]:
    """The files the record of ``task`` writes."""
    return ("summary.json", "curves.csv", "profiles.csv", f"{task}_small.png")


def first_reaching(rows: list[dict], target: float) -> dict | None:
    """The first metrics row whose training accuracy (mean over its interval) >= target."""
    return next((r for r in rows if r["accuracy"] >= target), None)


def evaluate_apart(ck: Path, T: int, batches: int) -> dict:
    """``untangle eval --task transfer`` in a fresh process (CPU, 1 thread), so that its peak
    resident memory is that of this evaluation alone."""
    argv = [sys.executable, "-m", "verify.cli", "eval", "--task", "transfer", "--load", str(ck),
            "--T", str(T), "--batches", str(batches), "--device", "cpu", "--threads", "1",
            "--json"]
    return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)


def collect(runs: Path, task: str, target: float, transfer: list[int], batches: int) -> dict:
    out = {}
    for name in MODELS:
        ck = runs / f"{name}.pt"
        if not ck.exists():
            continue
        rows = [json.loads(line) for line in beside(ck)[0].read_text().splitlines()]
        state = load(ck)
        model = restore(state)
        cfg = state["config"]
        if cfg.task != task:
            raise ValueError(f"{ck} is a run of the {cfg.task} task, not of {task} (--task)")
        evals = [evaluate_apart(ck, T, batches) for T in (cfg.T, *transfer)]
        out[name] = {"config": {k: getattr(cfg, k) for k in ("task", "T", "nu", "rho",
                                                             "hidden", "lr", "seed")},
                     "steps": state["step"], "cpu_s": state["cpu_s"],
                     "wall_s": state["elapsed_s"],
                     "sec_per_step_wall": state["elapsed_s"] / state["step"],
                     "cpu_s_per_step": state["cpu_s"] / state["step"],
                     "peak_mem_mb": rows[-1]["peak_mem_mb"],
                     "peak_mem_kind": rows[-1]["peak_mem_kind"],
                     "reached": first_reaching(rows, target), "target": target,
                     "eval": evals, "rows": rows,
                     "profile": {"init": profiles(build(cfg), cfg.task, cfg.T, cfg.batch),
                                 "final": profiles(model, cfg.task, cfg.T, cfg.batch)}}
    if not out:
        raise ValueError(f"no checkpoints of {', '.join(MODELS)} under {runs}")
    return out


def write(results: dict, out: Path, task: str) -> None:
    summary = {k: {f: v for f, v in r.items() if f not in ("rows", "profile")}
               for k, r in results.items()}
    write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    output.write_rows(out / "curves.csv",
                      ["model", "step", "loss", "accuracy", "cpu_s", "wall_s"],
                      ([name, row["step"], row["loss"], row["accuracy"], row["cpu_s"],
                        row["elapsed_s"]] for name, r in results.items() for row in r["rows"]))
    profiles = []
    for name, r in results.items():
        p = r["profile"]
        cols = [p[when][kind] for kind in ("loss", "recall") for when in ("init", "final")]
        profiles += [[name, t, *values] for t, values in enumerate(zip(*cols, strict=True))]
    output.write_rows(out / "profiles.csv",
                      ["model", "t", "loss_init", "loss_final", "recall_init", "recall_final"],
                      profiles)

    fig = Figure(figsize=(17, 4.5))
    axes = fig.subplots(1, 3)
    for i, (name, r) in enumerate(results.items()):
        colour = f"C{i}"
        axes[0].plot([row["cpu_s"] / 60 for row in r["rows"]],
                     [row["accuracy"] for row in r["rows"]], color=colour, label=name)
        for ax, kind in zip(axes[1:], ("loss", "recall"), strict=True):
            for when, style in (("init", ":"), ("final", "-")):
                values = [float("nan") if v is None else v for v in r["profile"][when][kind]]
                ax.plot(values, style, color=colour, label=f"{name}, {when}")
    axes[0].axhline(next(iter(results.values()))["target"], color="0.6", ls="--")
    axes[0].set(xlabel="CPU minutes (1 thread)", ylabel="training accuracy, last K",
                title=f"{task}, T = {next(iter(results.values()))['config']['T']}")
    axes[1].set(xlabel="t", ylabel="log10 ||dL/dh_t||", title="training loss (all steps)")
    axes[2].set(xlabel="t", ylabel="log10 ||dL_recall/dh_t||", title="recall loss (last K)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / f"{task}_small.png", dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=TASKS, default="copy", help="the task of the runs")
    p.add_argument("--runs", help="folder of the checkpoints (default runs/<task>_small)")
    p.add_argument("--out", help="output folder (default paper_figs/<task>_small)")
    p.add_argument("--target", type=float, default=0.9, help="accuracy target")
    p.add_argument("--transfer", type=int, nargs="*", default=[200, 500],
                   help="larger T to evaluate at")
    p.add_argument("--batches", type=int, default=20, help="evaluation batches per T")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the profiles")
    p.add_argument("--force", action="store_true", help="overwrite the files under --out")
    args = p.parse_args(argv)
    runs = Path(args.runs or f"runs/{args.task}_small")
    out = Path(args.out or f"paper_figs/{args.task}_small")
    torch.set_num_threads(args.threads)
    command = shlex.join(["python", "-m", "paper_figs.task_record",
                          *(sys.argv[1:] if argv is None else argv)])
    try:
        with output.Run(f"{args.task}_small", out, files(args.task), args.force, command):
            results = collect(runs, args.task, args.target, args.transfer, args.batches)
            write(results, out, args.task)
    except ValueError as err:
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 2
    for name, r in results.items():
        hit = r["reached"]
        reach = (f"reached {r['target']} at step {hit['step']} ({hit['cpu_s'] / 60:.1f} CPU min)"
                 if hit else f"did not reach {r['target']}")
        accs = ", ".join(f"T={e['T']}: {e['accuracy']:.3f}" for e in r["eval"])
        print(f"{name:7s} {r['steps']} steps, {r['cpu_s_per_step'] * 1e3:.0f} CPU ms/step; "
              f"{reach}; eval accuracy {accs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
