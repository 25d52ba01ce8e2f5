"""``untangle screen``: the relevant set of a relrnn/rellstm run, step by step, with scores,
the early-state favour under each score function, and a plot (THEORY.md section 7)."""

from __future__ import annotations

import argparse
from pathlib import Path

from verify.commands.common import (
    add_resource_options,
    merged_config,
    path_option,
    progress,
    threads,
    to_json,
)


def plot(runs: dict[str, tuple], nu: int, index: int, path: Path, title: str) -> None:
    """One panel per score function: relevant-set membership (step t, state i) coloured by
    score, the buffer as a grey band, symbol states marked on the left."""
    import torch
    from matplotlib.figure import Figure

    from verify.files import save_figure
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
    save_figure(fig, path)


def _num(value: float | None) -> str:
    """A table cell: 3 decimals, or 'n/a' where the quantity is undefined."""
    return f"{'n/a':>8}" if value is None else f"{value:8.3f}"


def _screen(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bounds.domains import POSITIVE_INT
    from verify.device import resolve_device
    from verify.files import claim_plot, input_file
    from verify.models.zoo import SCREENED
    from verify.resources import check_memory, estimate_forward
    from verify.training import tasks
    from verify.training.checkpoint import load, restore
    from verify.training.config import build
    from verify.training.relevance_report import inspect

    threads(args)
    if args.load is not None:
        input_file(args.load, "--load", "checkpoint file")
    POSITIVE_INT.check("batch", args.sequences)
    if not 0 <= args.index < args.sequences:
        raise ValueError(f"parameter 'index' must be in 0..{args.sequences - 1} (the "
                         f"sequences of --batch {args.sequences}), got {args.index}")
    twice = sorted({s for s in args.scores if args.scores.count(s) > 1})
    if twice:
        raise ValueError(f"parameter 'score' names {twice[0]!r} twice")
    device = resolve_device(args.device)
    cfg = merged_config(args, args.load, free=("T", "seed"))
    if cfg.model not in SCREENED:
        raise ValueError(f"parameter 'model' must be one of {', '.join(SCREENED)} "
                         f"(a model with a relevant set), got {cfg.model!r}")
    out = None if args.plot is None else claim_plot(args.plot, force=args.force)
    check_memory(len(args.scores) * estimate_forward(cfg, cfg.T, args.sequences, trace=True),
                 device, skip=args.no_memory_check,
                 what=f"screening {cfg.model} at T = {cfg.T} ({args.sequences} sequences, "
                      f"nu = {cfg.nu}, rho = {cfg.rho}, hidden {cfg.hidden}, "
                      f"{len(args.scores)} score functions)",
                 reduce="--T, --batch" + ("" if args.load else ", --rho, --nu, --hidden")
                        + " or the score functions")
    model = (build(cfg, device) if args.load is None
             else restore(load(args.load, device), device))
    runs, report = {}, {"model": cfg.model, "task": cfg.task, "T": cfg.T, "nu": cfg.nu,
                        "rho": cfg.rho, "trained": args.load is not None, "scores": {}}
    with tqdm(total=len(args.scores) * tasks.sequence_length(cfg.T), unit="step",
              disable=not progress(args), leave=False,
              desc=f"screening ({args.scores[0]})") as bar:
        for name in args.scores:
            bar.set_description_str(f"screening ({name})")
            trace, x, summary = inspect(model.core, cfg.task, cfg.T, score=name,
                                        batch=args.sequences, seed=cfg.seed,
                                        tick=bar.update if progress(args) else None)
            runs[name] = (trace, x, cfg.task)
            summary["relevant_time"] = trace.relevant_time[args.index].tolist()
            summary["relevant_score"] = trace.relevant_score[args.index].tolist()
            report["scores"][name] = summary
    if out is not None:
        state = "untrained" if args.load is None else "trained"
        plot(runs, cfg.nu, args.index, out,
             f"{state} {cfg.model} on {cfg.task}, T = {cfg.T}, rho = {cfg.rho}")
        report["plot"] = str(out)
    if args.json:
        print(to_json(report))
        return 0
    marker = cfg.T + tasks.K - 1
    print(f"{'untrained' if args.load is None else 'trained'} {cfg.model} on {cfg.task} T={cfg.T} "
          f"(nu={cfg.nu}, rho={cfg.rho}), batch {args.sequences}, seed {cfg.seed}")
    print(f"{'score':<12} {'favour':>8} {'early':>8} {'late':>8} {'recall':>8}  "
          f"relevant set at the marker (step {marker}), sequence {args.index}")
    for name, s in report["scores"].items():
        held = sorted(i for i in s["relevant_time"][marker] if i >= 0)
        cells = (_num(s[k]) for k in ("favour", "early_score", "late_score", "symbol_recall"))
        print(f"{name:<12} {' '.join(cells)}  {held}")
    for note in dict.fromkeys(s["favour_note"] for s in report["scores"].values()):
        if note:
            print(f"favour n/a: {note}")
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
    p.add_argument("--load", type=path_option, help="checkpoint of a trained relrnn/rellstm")
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
    p.add_argument("--plot", type=path_option,
                   help="image (.png, .pdf, .svg, ...) of relevant-set membership "
                   "over time, in an existing directory")
    p.add_argument("--force", action="store_true", help="overwrite --plot")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda[:N]")
    add_resource_options(p)
    p.add_argument("--json", action="store_true", help="print JSON, no progress bar")
    p.set_defaults(run=_screen)
