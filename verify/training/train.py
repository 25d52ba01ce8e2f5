"""Training on the paper's tasks (THEORY.md section 8).

Reference settings: RMSprop (alpha 0.99), lr 1e-3, gradient clipping at norm 1, batch 10,
hidden 128, orthogonal recurrent initialisation (:mod:`verify.models.zoo`), data drawn on the
fly from a seeded generator.

Beside the checkpoint (:mod:`verify.training.checkpoint`) go ``<stem>.metrics.jsonl`` (one line
per ``log_every`` steps: loss, accuracy on the last K, seconds per step, peak memory) and
``<stem>.profile.json`` (the loss-gradient profiles ``||dL/dh_t||`` of
:func:`verify.training.evaluate.profiles` at initialisation and at the end, on one fixed
batch).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from bounds.domains import POSITIVE_INT
from verify.device import resolve_device, resolve_dtype
from verify.training import tasks
from verify.training.checkpoint import FORMAT, VERSION, load, restore
from verify.training.checkpoint import save as save_checkpoint
from verify.training.config import Config, build
from verify.training.evaluate import evaluate, peak_memory, profiles, sync

#: RMSprop smoothing constant and gradient-clipping norm (THEORY.md section 8).
RMSPROP_ALPHA = 0.99
CLIP = 1.0


def beside(save: Path) -> tuple[Path, Path]:
    """The metrics log and gradient-profile paths that go with checkpoint ``save``."""
    return save.with_suffix(".metrics.jsonl"), save.with_suffix(".profile.json")


def _claim(paths: list[Path], force: bool, own: Path | None) -> None:
    """Refuse to overwrite an existing file unless ``force`` (``own``: the resumed checkpoint,
    whose files a resumed run updates in place)."""
    for p in paths:
        if p.exists() and not force and (own is None or p not in beside(own) + (own,)):
            raise ValueError(f"{str(p)!r} exists; pass --force to overwrite it")


def train(cfg: Config, steps: int, *, device: torch.device | str = "cpu",
          save: Path | str | None = None, resume: Path | str | None = None,
          force: bool = False, log_every: int = 50, save_every: int = 500,
          progress: bool = True) -> dict:
    """Train ``cfg`` up to ``steps`` optimizer steps in all (a resumed run continues from its
    checkpoint's step) and return a summary: final evaluation, seconds per step, peak memory,
    wall and CPU seconds, and the files written. ``resume`` must hold a run of ``cfg``."""
    POSITIVE_INT.check("steps", steps)
    POSITIVE_INT.check("log_every", log_every)
    POSITIVE_INT.check("save_every", save_every)
    device = resolve_device(device)
    save = Path(save) if save is not None else (Path(resume) if resume is not None else None)
    resume = Path(resume) if resume is not None else None
    ck = load(resume, device) if resume is not None else None
    if ck is not None and ck["config"] != cfg:
        raise ValueError(f"checkpoint {str(resume)!r} holds a different run: {ck['config']}")
    if save is not None:
        _claim([save, *beside(save)], force, resume)
        save.parent.mkdir(parents=True, exist_ok=True)
    model = restore(ck, device) if ck is not None else build(cfg, device)
    opt = torch.optim.RMSprop(model.parameters(), lr=cfg.lr, alpha=RMSPROP_ALPHA)
    gen = torch.Generator()
    if ck is None:
        gen.manual_seed(cfg.seed)
        start, elapsed, cpu = 0, 0.0, 0.0
        profile = {"t": list(range(tasks.sequence_length(cfg.T) + 1)),
                   "init": profiles(model, cfg.task, cfg.T, cfg.batch), "final": None}
    else:
        opt.load_state_dict(ck["optimizer"])
        gen.set_state(ck["data_rng"].cpu())
        start, elapsed, cpu, profile = ck["step"], ck["elapsed_s"], ck["cpu_s"], ck["profile"]
    if start >= steps:
        raise ValueError(f"parameter 'steps' must exceed the checkpoint's step {start}, "
                         f"got {steps}")
    metrics = beside(save)[0] if save is not None else None
    if metrics is not None:
        log = beside(resume)[0] if resume is not None else None
        kept = [] if log is None or not log.exists() else [
            line for line in log.read_text().splitlines() if json.loads(line)["step"] <= start]
        metrics.write_text("".join(line + "\n" for line in kept))

    def checkpoint(step: int) -> None:
        save_checkpoint({"format": FORMAT, "version": VERSION, "config": asdict(cfg),
                      "step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                      "data_rng": gen.get_state(), "elapsed_s": elapsed, "cpu_s": cpu,
                      "profile": profile}, save)

    dtype = resolve_dtype(cfg.dtype)
    bar = tqdm(total=steps, initial=start, disable=not progress, desc=f"{cfg.model} {cfg.task}")
    window: list[tuple[torch.Tensor, torch.Tensor]] = []
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for step in range(start + 1, steps + 1):
        x, y = tasks.batch(cfg.task, cfg.T, cfg.batch, gen, dtype=dtype, device=device)
        opt.zero_grad(set_to_none=True)
        logits, _ = model(x)
        loss = tasks.loss(logits, y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        window.append((loss.detach(), tasks.accuracy(logits.detach(), y)))
        saving = save is not None and step % save_every == 0 and step < steps
        if saving or step % log_every == 0 or step == steps:
            sync(device)
            t1, c1 = time.perf_counter(), time.process_time()
            elapsed, cpu = elapsed + t1 - t0, cpu + c1 - c0
            mem, kind = peak_memory(device)
            row = {"step": step, "loss": torch.stack([w[0] for w in window]).mean().item(),
                   "accuracy": torch.stack([w[1] for w in window]).mean().item(),
                   "sec_per_step": (t1 - t0) / len(window), "elapsed_s": elapsed,
                   "cpu_s": cpu, "peak_mem_mb": mem, "peak_mem_kind": kind}
            if not math.isfinite(row["loss"]):
                raise ValueError(f"training diverged at step {step} (loss {row['loss']}); "
                                 f"lower --lr")
            bar.set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row['accuracy']:.3f}")
            bar.update(len(window))
            if metrics is not None:
                with metrics.open("a") as f:
                    f.write(json.dumps(row) + "\n")
            if saving:
                checkpoint(step)
            window = []
            t0, c0 = time.perf_counter(), time.process_time()
    bar.close()
    profile["final"] = profiles(model, cfg.task, cfg.T, cfg.batch)
    if save is not None:
        checkpoint(steps)
        beside(save)[1].write_text(json.dumps(profile))
    result = evaluate(model, cfg.task, cfg.T, batch=cfg.batch)
    return {"config": asdict(cfg), "steps": steps, "device": str(device),
            "eval_loss": result["loss"], "eval_accuracy": result["accuracy"],
            "last_loss": row["loss"], "last_accuracy": row["accuracy"],
            "sec_per_step": elapsed / steps,
            "elapsed_s": elapsed, "cpu_s": cpu, "peak_mem_mb": mem, "peak_mem_kind": kind,
            "profile": profile,
            "checkpoint": None if save is None else str(save),
            "metrics": None if metrics is None else str(metrics),
            "profile_file": None if save is None else str(beside(save)[1])}
