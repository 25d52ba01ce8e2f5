"""``untangle train`` (THEORY.md section 8): train a model on copy or denoise, with checkpoints,
a metrics log and gradient profiles."""

from __future__ import annotations

import argparse
import sys

from verify.commands.common import (
    add_resource_options,
    merged_config,
    path_option,
    progress,
    threads,
    to_json,
)


def _train(args: argparse.Namespace) -> int:
    from verify.device import resolve_device
    from verify.files import input_file
    from verify.resources import check_memory, estimate_train
    from verify.training.train import train

    threads(args)
    if args.force and args.save is None and args.resume is None:
        raise ValueError("parameter 'force' goes with --save or --resume (it lets the "
                         "checkpoint overwrite a file)")
    if args.resume is not None:
        input_file(args.resume, "--resume", "checkpoint file")
    cfg = merged_config(args, args.resume)
    _given(args, cfg.model)
    device = resolve_device(args.device)
    check_memory(estimate_train(cfg), device, skip=args.no_memory_check,
                 what=f"training {cfg.model} at T = {cfg.T} (hidden {cfg.hidden}, batch "
                      f"{cfg.batch})",
                 reduce="--T, --hidden or --batch" + (" (memrnn's memory grows as T^2)"
                                                      if cfg.model == "memrnn" else ""))
    summary = train(cfg, args.steps, device=device, save=args.save, resume=args.resume,
                    force=args.force, log_every=args.log_every, save_every=args.save_every,
                    progress=progress(args))
    if summary["repaired"]:
        print(f"untangle train: note: rewrote {' and '.join(summary['repaired'])} from the "
              f"checkpoint (missing, of another run, or behind it)", file=sys.stderr)
    if args.json:
        print(to_json(summary))
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


def _given(args: argparse.Namespace, model: str) -> None:
    """Refuse (ValueError) --nu, --rho and --score for a model without a relevant set, which
    would not use them."""
    from verify.models.zoo import SCREENED
    from verify.option_uses import SCREENED_OPTIONS

    for name in SCREENED_OPTIONS:
        if getattr(args, name) is not None and model not in SCREENED:
            raise ValueError(f"parameter {name!r} is not used by the {model!r} model; it goes "
                             f"with --model {' or '.join(SCREENED)} (a buffer and a relevant "
                             f"set)")


def register(p: argparse.ArgumentParser) -> None:
    """The options of ``untangle train``."""
    from verify.models.relevance import SCORES
    from verify.models.zoo import MODELS
    from verify.training.tasks import TASKS

    p.description = ("Train rnn, memrnn, relrnn, lstm or rellstm on the copy or denoise task. "
                     "Options left out take the defaults (THEORY.md section 8) or, with "
                     "--resume, the checkpoint's values. Ctrl-C (or SIGTERM) saves the last "
                     "completed step and exits 130; --resume continues bit for bit. A loss or "
                     "gradient that is not finite, or a loss above 1e3 x the first step's, "
                     "stops the run (exit 2) and keeps the last checkpoint.")
    p.add_argument("--task", choices=tuple(TASKS))
    p.add_argument("--model", choices=MODELS)
    p.add_argument("--T", type=int, help="delay (sequence length T + 20; default 100)")
    p.add_argument("--steps", type=int, required=True, help="total optimizer steps")
    p.add_argument("--nu", type=int,
                   help="buffer size (relrnn, rellstm; default: copy 10, denoise 15)")
    p.add_argument("--rho", type=int, help="relevant-set size (relrnn, rellstm; default: 15)")
    p.add_argument("--score", choices=tuple(SCORES),
                   help="relevancy score (relrnn, rellstm; default accumulated)")
    p.add_argument("--hidden", type=int, help="hidden size (default 128)")
    p.add_argument("--lr", type=float, help="RMSprop learning rate (default 1e-3; 2e-4 for "
                                            "copy at T >= 1000 with rnn, memrnn or relrnn)")
    p.add_argument("--batch", type=int, help="batch size (default 10)")
    p.add_argument("--seed", type=int, help="seed of the initialisation and data (default 0)")
    p.add_argument("--dtype", choices=("float32", "float64"), help="default float32")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda[:N]")
    p.add_argument("--save", type=path_option,
                   help="checkpoint path, in an existing directory; the metrics log "
                   "and gradient profile go beside it (<stem>.metrics.jsonl, "
                   "<stem>.profile.json), all three written together")
    p.add_argument("--resume", type=path_option,
                   help="checkpoint to continue (saved in place unless --save)")
    p.add_argument("--force", action="store_true",
                   help="let --save (or --resume in place) overwrite existing files")
    p.add_argument("--log-every", type=int,
                   help="steps per metrics row (default 50, or the resumed run's)")
    p.add_argument("--save-every", type=int,
                   help="steps per checkpoint, which the metrics log is written with (default "
                   "500, or the resumed run's)")
    add_resource_options(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary, no progress bar")
    p.set_defaults(run=_train)
