"""``untangle eval`` (THEORY.md section 8): accuracy, loss and forward cost of a checkpoint on
its task, at its trained T or (``--task transfer``) at another."""

from __future__ import annotations

import argparse

from verify.commands.common import (
    add_resource_options,
    path_option,
    progress,
    threads,
    to_json,
)


def _eval(args: argparse.Namespace) -> int:
    from bounds.domains import POSITIVE_INT
    from verify.device import resolve_device
    from verify.files import input_file
    from verify.resources import check_memory, estimate_forward
    from verify.training import tasks
    from verify.training.checkpoint import load, restore
    from verify.training.evaluate import evaluate

    threads(args)
    input_file(args.load, "--load", "checkpoint file")
    POSITIVE_INT.check("batches", args.batches)
    POSITIVE_INT.check("batch", args.batch)
    device = resolve_device(args.device)
    ck = load(args.load, device)
    cfg = ck["config"]
    if args.task == "transfer":
        task = cfg.task
    elif args.task != cfg.task:
        raise ValueError(f"parameter 'task': the checkpoint was trained on {cfg.task!r}, "
                         f"got {args.task!r} (use {cfg.task} or transfer)")
    else:
        task = args.task
    T = tasks.check_T(cfg.T if args.T is None else args.T)
    check_memory(estimate_forward(cfg, T, args.batch), device, skip=args.no_memory_check,
                 what=f"evaluating {cfg.model} at T = {T} (batch {args.batch})",
                 reduce="--T or --batch")
    result = evaluate(restore(ck, device), task, T, batches=args.batches, batch=args.batch,
                      progress=progress(args))
    result.update(model=cfg.model, trained_T=cfg.T, checkpoint=args.load)
    if args.json:
        print(to_json(result))
    else:
        print(f"{cfg.model} trained on {task} T={cfg.T}, evaluated at T={T}: accuracy (last K) "
              f"{result['accuracy']:.3f}, loss {result['loss']:.4f}")
        print(f"{result['sec_per_batch'] * 1e3:.1f} ms per batch of {args.batch} "
              f"({result['sec_per_step'] * 1e6:.0f} us per sequence step), peak memory "
              f"{result['peak_mem_mb']:.0f} MiB ({result['peak_mem_kind']})")
    return 0


def register(p: argparse.ArgumentParser) -> None:
    """The options of ``untangle eval``."""
    p.description = ("Accuracy on the last K, loss and forward cost of a saved model; "
                     "--task transfer evaluates it on its training task at --T.")
    p.add_argument("--task", choices=("copy", "denoise", "transfer"), default="transfer",
                   help="the checkpoint's task, or transfer (default: its task at --T, which "
                   "defaults to the trained T)")
    p.add_argument("--load", required=True, type=path_option,
                   help="checkpoint written by untangle train")
    p.add_argument("--T", type=int, help="delay to evaluate at (default: the trained T)")
    p.add_argument("--batches", type=int, default=20, help="fixed evaluation batches")
    p.add_argument("--batch", type=int, default=10, help="batch size")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda[:N]")
    add_resource_options(p)
    p.add_argument("--json", action="store_true", help="print JSON, no progress bar")
    p.set_defaults(run=_eval)
