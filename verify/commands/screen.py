"""``untangle screen``: the relevant set of a relrnn/rellstm run, step by step, with scores,
the early-state favour under each score function, and a plot (THEORY.md section 7)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from verify.commands.common import merged_config, set_threads


def plot(runs: dict[str, tuple], nu: int, index: int, path: Path, title: str) -> None:
    """One panel per score function: relevant-set membership (step t, state i) coloured by
    score, the buffer as a grey band, symbol states marked on the left."""
    import torch
    from matplotlib.figure import Figure

    from verify.training.relevance_report import symbol_states

    fig = Figure(figsize=(6 * len(runs), 5))
    axes = fig.subplots(1, len(runs), squeeze=False)
    for ax, (name, (trace, x, task)) in zip(axes[0], runs.items(), strict=True):
        when = trace.relevant_time[index].cpu()
        score = trace.relevant_score[index].cpu()
        steps = torch.arange(when.shape[0])[:, None].expand_as(when)
        held = when >= 0
        dots = ax.scatter(steps[held], when[held], c=score[held], s=6, cmap="viridis")
        t = torch.arange(when.shape[0])
        ax.fill_between(t, (t - nu + 1).clamp(min=1), t, color="0.85", step="mid",
                        label=f"buffer (nu = {nu})")
        sym = symbol_states(x[index:index + 1], task)[0].nonzero().flatten().cpu()
        ax.scatter(torch.zeros_like(sym), sym, marker=">", color="red", s=18,
                   label="symbol states", clip_on=False)
        ax.set(xlabel="step t", ylabel="state i in the relevant set", title=f"score: {name}")
        ax.legend(loc="upper left", fontsize=8)
        fig.colorbar(dots, ax=ax, label="frozen relevancy score")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _num(value: float | None) -> str:
    """A table cell: 3 decimals, or 'n/a' where the quantity is undefined."""
    return f"{'n/a':>8}" if value is None else f"{value:8.3f}"


def _screen(args: argparse.Namespace) -> int:
    from verify.device import resolve_device
    from verify.models.zoo import SCREENED
    from verify.training import tasks
    from verify.training.checkpoint import load, restore
    from verify.training.config import build
    from verify.training.relevance_report import inspect

    set_threads(args.threads)
    device = resolve_device(args.device)
    cfg = merged_config(args, args.load, free=("T", "seed"))
    if cfg.model not in SCREENED:
        raise ValueError(f"parameter 'model' must be one of {', '.join(SCREENED)} "
                         f"(a model with a relevant set), got {cfg.model!r}")
    if not 0 <= args.index < args.sequences:
        raise ValueError(f"parameter 'index' must be in 0..{args.sequences - 1}, got {args.index}")
    out = Path(args.plot) if args.plot else None
    if out is not None and out.exists() and not args.force:
        raise ValueError(f"{str(out)!r} exists; pass --force to overwrite it")
    model = restore(load(args.load, device), device) if args.load else build(cfg, device)
    runs, report = {}, {"model": cfg.model, "task": cfg.task, "T": cfg.T, "nu": cfg.nu,
                        "rho": cfg.rho, "trained": args.load is not None, "scores": {}}
    for name in args.scores:
        trace, x, summary = inspect(model.core, cfg.task, cfg.T, score=name,
                                    batch=args.sequences, seed=cfg.seed)
        runs[name] = (trace, x, cfg.task)
        summary["relevant_time"] = trace.relevant_time[args.index].tolist()
        summary["relevant_score"] = trace.relevant_score[args.index].tolist()
        report["scores"][name] = summary
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        state = "trained" if args.load else "untrained"
        plot(runs, cfg.nu, args.index, out,
             f"{state} {cfg.model} on {cfg.task}, T = {cfg.T}, rho = {cfg.rho}")
        report["plot"] = str(out)
    if args.json:
        print(json.dumps(report))
        return 0
    marker = cfg.T + tasks.K - 1
    print(f"{'trained' if args.load else 'untrained'} {cfg.model} on {cfg.task} T={cfg.T} "
          f"(nu={cfg.nu}, rho={cfg.rho}), batch {args.sequences}, seed {cfg.seed}")
    print(f"{'score':<12} {'favour':>8} {'early':>8} {'late':>8} {'recall':>8}  "
          f"relevant set at the marker (step {marker}), sequence {args.index}")
    for name, s in report["scores"].items():
        held = sorted(i for i in s["relevant_time"][marker] if i >= 0)
        cells = (_num(s[k]) for k in ("favour", "early_score", "late_score", "symbol_recall"))
        print(f"{name:<12} {' '.join(cells)}  {held}")
    if out is not None:
        print(f"plot: {out}")
    return 0


def register(p: argparse.ArgumentParser) -> None:
    """The options of ``untangle screen``."""
    from verify.models.relevance import SCORES
    from verify.models.zoo import SCREENED
    from verify.training.tasks import TASKS

    p.description = ("Which states the relevant set holds at every step, their scores, the "
                     "early-state favour (mean score of early blank states / later blank "
                     "states) and the recall of symbol states at the marker, under each score "
                     "function. An untrained model unless --load.")
    p.add_argument("--load", help="checkpoint of a trained relrnn/rellstm")
    p.add_argument("--model", choices=SCREENED)
    p.add_argument("--task", choices=tuple(TASKS))
    p.add_argument("--T", type=int, help="delay (default: the trained T, else 100)")
    p.add_argument("--nu", type=int)
    p.add_argument("--rho", type=int)
    p.add_argument("--hidden", type=int)
    p.add_argument("--seed", type=int, help="seed of the data, and of an untrained model "
                   "(default: the checkpoint's, else 0)")
    p.add_argument("--score", dest="scores", nargs="+", choices=tuple(SCORES), default=list(SCORES),
                   help="score functions to compare (default: all)")
    p.add_argument("--batch", dest="sequences", type=int, default=10,
                   help="sequences to run")
    p.add_argument("--index", type=int, default=0, help="sequence of the batch to show")
    p.add_argument("--plot", help="PNG of relevant-set membership over time")
    p.add_argument("--force", action="store_true", help="overwrite --plot")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_screen)
