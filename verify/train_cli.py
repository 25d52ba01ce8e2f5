"""``untangle train`` and ``untangle eval`` (THEORY.md section 8)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

import torch

from verify import tasks, zoo
from verify.device import resolve_device
from verify.screening import SCORES
from verify.train import Config, evaluate, load, restore, train

EVAL_TASKS = (*tasks.TASKS, "transfer")


def set_threads(n: int | None) -> None:
    """``torch.set_num_threads(n)`` unless n is None; n >= 1."""
    if n is not None:
        if n < 1:
            raise ValueError(f"parameter 'threads' must be an integer >= 1, got {n}")
        torch.set_num_threads(n)


def merged_config(args: argparse.Namespace, checkpoint: str | None,
                  free: tuple[str, ...] = ()) -> Config:
    """The Config of the options given (attributes of ``args`` named as Config fields, None
    when left out) over ``checkpoint``'s or the defaults. An option that contradicts the
    checkpoint is an error, except those in ``free``, which override it."""
    given = {k: getattr(args, k) for k in Config.names() if getattr(args, k, None) is not None}
    if checkpoint is None:
        return Config(**given)
    base = asdict(load(checkpoint)["config"])
    clash = {k: (v, base[k]) for k, v in given.items() if v != base[k] and k not in free}
    if clash:
        said = ", ".join(f"--{k} {v!r} (checkpoint: {c!r})" for k, (v, c) in clash.items())
        raise ValueError(f"checkpoint {checkpoint!r} is another run: {said}")
    return Config(**{**base, **given})


def _train(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    summary = train(merged_config(args, args.resume), args.steps, device=args.device,
                    save=args.save, resume=args.resume, force=args.force, log_every=args.log_every,
                    save_every=args.save_every, progress=not args.json)
    if args.json:
        print(json.dumps(summary))
    else:
        cfg = summary["config"]
        print(f"{cfg['model']} on {cfg['task']} T={cfg['T']}: {summary['steps']} steps, "
              f"eval accuracy (last K) {summary['eval_accuracy']:.3f}, "
              f"eval loss {summary['eval_loss']:.4f}")
        print(f"{summary['sec_per_step'] * 1e3:.1f} ms/step, wall {summary['elapsed_s']:.0f} s, "
              f"cpu {summary['cpu_s']:.0f} s, peak memory {summary['peak_mem_mb']:.0f} MiB "
              f"({summary['peak_mem_kind']})")
        if summary["checkpoint"]:
            print(f"saved {summary['checkpoint']}, {summary['metrics']}, "
                  f"{summary['profile_file']}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    device = resolve_device(args.device)
    ck = load(args.load, device)
    cfg = ck["config"]
    if args.task == "transfer":
        if args.T is None:
            raise ValueError("parameter 'T': eval --task transfer needs --T, the new length")
        task = cfg.task
    elif args.task != cfg.task:
        raise ValueError(f"parameter 'task': the checkpoint was trained on {cfg.task!r}, "
                         f"got {args.task!r} (use {cfg.task} or transfer)")
    else:
        task = args.task
    T = tasks.check_T(cfg.T if args.T is None else args.T)
    result = evaluate(restore(ck, device), task, T, batches=args.batches, batch=args.batch)
    result.update(model=cfg.model, trained_T=cfg.T, checkpoint=args.load)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{cfg.model} trained on {task} T={cfg.T}, evaluated at T={T}: accuracy (last K) "
              f"{result['accuracy']:.3f}, loss {result['loss']:.4f}")
        print(f"{result['sec_per_batch'] * 1e3:.1f} ms per batch of {args.batch} "
              f"({result['sec_per_step'] * 1e6:.0f} us per sequence step), peak memory "
              f"{result['peak_mem_mb']:.0f} MiB ({result['peak_mem_kind']})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on copy or denoise (THEORY.md section 8)",
                       description="Train rnn, memrnn, relrnn, lstm or rellstm on the copy or "
                       "denoise task. Options left out take the defaults (THEORY.md section 8) "
                       "or, with --resume, the checkpoint's values.")
    p.add_argument("--task", choices=tuple(tasks.TASKS))
    p.add_argument("--model", choices=zoo.MODELS)
    p.add_argument("--T", type=int, help="delay (sequence length T + 20; default 100)")
    p.add_argument("--steps", type=int, required=True, help="total optimizer steps")
    p.add_argument("--nu", type=int, help="buffer size (relrnn, rellstm; default 10)")
    p.add_argument("--rho", type=int, help="relevant-set size (default 15)")
    p.add_argument("--score", choices=tuple(SCORES), help="relevancy score (default accumulated)")
    p.add_argument("--hidden", type=int, help="hidden size (default 128)")
    p.add_argument("--lr", type=float, help="RMSprop learning rate (default 1e-3)")
    p.add_argument("--batch", type=int, help="batch size (default 10)")
    p.add_argument("--seed", type=int, help="seed of the initialisation and data (default 0)")
    p.add_argument("--dtype", choices=("float32", "float64"), help="default float32")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda[:N]")
    p.add_argument("--save", help="checkpoint path; the metrics log and gradient profile go "
                   "beside it (<stem>.metrics.jsonl, <stem>.profile.json)")
    p.add_argument("--resume", help="checkpoint to continue (saved in place unless --save)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--log-every", type=int, default=50, help="steps per metrics line")
    p.add_argument("--save-every", type=int, default=500, help="steps per checkpoint")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="print a JSON summary, no progress bar")
    p.set_defaults(run=_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint, e.g. at a larger T (transfer)",
                       description="Accuracy on the last K, loss and forward cost of a saved "
                       "model; --task transfer evaluates it on its training task at --T.")
    p.add_argument("--task", choices=EVAL_TASKS, default="transfer")
    p.add_argument("--load", required=True, help="checkpoint written by untangle train")
    p.add_argument("--T", type=int, help="delay to evaluate at (default: the trained T)")
    p.add_argument("--batches", type=int, default=20, help="fixed evaluation batches")
    p.add_argument("--batch", type=int, default=10, help="batch size")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda[:N]")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_eval)
