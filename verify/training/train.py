"""Training on the paper's tasks (THEORY.md section 8).

Reference settings: RMSprop (alpha 0.99), lr 1e-3, gradient clipping at norm 1, batch 10,
hidden 128, orthogonal recurrent initialisation (:mod:`verify.models.zoo`), data drawn on the
fly from a seeded generator.

**Files.** Beside the checkpoint ``X.pt`` (:mod:`verify.training.checkpoint`) go
``X.metrics.jsonl`` (one row per ``log_every`` steps: loss, accuracy on the last K, seconds per
step, peak memory, the run's id) and ``X.profile.json`` (the run's id and the loss-gradient
profiles ``||dL/dh_t||`` of :func:`verify.training.evaluate.profiles` at initialisation and,
once the run is done, at the end). The three are written together, every ``save_every``
steps, at the end and on an interrupt, each atomically (:mod:`verify.files`), the checkpoint
first; the checkpoint also holds the rows and the profiles, and the other two are rebuilt
from it. So files of two runs never stand together, and a log never runs ahead of its
checkpoint:

* a run writing ``X.pt`` for the first time (a new run, ``--force`` over another, or a resume
  saved elsewhere) first removes the ``X.metrics.jsonl`` and ``X.profile.json`` that are
  there, then renames its checkpoint into place, then writes the two;
* a run resumed in place first rewrites (:func:`repair`) a log or profile file that is not
  the one its checkpoint makes: missing, of another run, or behind it (a kill between the
  checkpoint and the log).

A kill at any moment thus leaves a checkpoint with the log and profile of its own run, up to
its step or behind it, or without them. Nothing is written before the first checkpoint, so a
run killed before it leaves the files that were there (none, for a new path).

**Interrupts.** SIGINT (Ctrl-C) and SIGTERM stop a run cleanly: a signal during a step's
forward or backward pass abandons that step (its batch is drawn again on resume), one during
the update finishes it; the last completed step is saved and :class:`Interrupted` (a
``KeyboardInterrupt``) is raised, so that ``untangle train`` exits 130. ``resume`` then
continues bit for bit. Further signals are ignored until the save is done.

**Divergence.** A run stops with :class:`Diverged` (a ``ValueError``, exit status 2) before
applying the update of a step whose loss is not finite, whose gradient norm before clipping
is not finite, or whose loss *explodes*: exceeds :data:`EXPLODE` times the loss of the run's
first step. The last checkpoint written stays as it was.
"""

from __future__ import annotations

import contextlib
import json
import math
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from types import FrameType

import torch
from torch import nn
from tqdm import tqdm

from bounds.domains import POSITIVE_INT
from verify import files
from verify.device import resolve_device, resolve_dtype
from verify.training import tasks
from verify.training.checkpoint import FORMAT, VERSION, load, restore
from verify.training.checkpoint import save as save_checkpoint
from verify.training.config import Config, build
from verify.training.evaluate import evaluate, peak_memory, profiles, sync

#: RMSprop smoothing constant and gradient-clipping norm (THEORY.md section 8).
RMSPROP_ALPHA = 0.99
CLIP = 1.0
#: A step's loss above EXPLODE times the run's first loss stops the run (module docstring).
EXPLODE = 1e3
#: Default steps per metrics row and per checkpoint of a new run.
LOG_EVERY = 50
SAVE_EVERY = 500


class Interrupted(KeyboardInterrupt):
    """Training stopped by SIGINT or SIGTERM after saving its last completed step: ``step``,
    ``where`` it was saved (a sentence), ``saved`` whether a checkpoint holds it, and
    ``advice`` how to continue; its text gives the step, where and the advice."""

    def __init__(self, step: int, where: str, saved: bool, advice: str = "") -> None:
        self.step, self.where, self.saved, self.advice = step, where, saved, advice
        super().__init__(f"stopped after step {step}; {where}"
                         + (f"; {advice}" if advice else ""))

    def advise(self, advice: str) -> Interrupted:
        """The same stop with other ``advice`` (for a caller that continues runs its own
        way)."""
        return Interrupted(self.step, self.where, self.saved, advice)


class Diverged(ValueError):
    """Training stopped at a step whose loss or gradient is not finite or exploded."""


def beside(save: Path) -> tuple[Path, Path]:
    """The metrics log and gradient-profile paths that go with checkpoint ``save``."""
    return save.with_suffix(".metrics.jsonl"), save.with_suffix(".profile.json")


def _log_text(rows: list[dict]) -> str:
    """The metrics log of ``rows``: one JSON object per line."""
    return "".join(json.dumps(r) + "\n" for r in rows)


def _profile_text(run: str | None, profile: dict) -> str:
    """The profile file of run ``run`` (None: a run of a version-3 checkpoint, whose profile
    file had no id)."""
    return json.dumps(profile if run is None else {"run": run, **profile})


def repair(ck: dict, save: Path | str | None = None) -> list[Path]:
    """Rewrite the metrics log and profile file beside ``save`` (default: the checkpoint's own
    file) where they are not those checkpoint ``ck`` (:func:`~verify.training.checkpoint.load`)
    makes: missing, unreadable, of another run or behind it; return the files rewritten. A
    version-2 checkpoint, whose rows are the log's, is left alone."""
    if ck["metrics"] is None:
        return []
    save = Path(ck["path"] if save is None else save)
    done = []
    for path, text in zip(beside(save), (_log_text(ck["metrics"]),
                                         _profile_text(ck["run"], ck["profile"])), strict=True):
        try:
            same = path.read_text(encoding="utf-8") == text
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            files.write_text(path, text)
            done.append(path)
    return done


def _claim(save: Path, force: bool, own: Path | None) -> None:
    """:func:`verify.files.claim_output` for a checkpoint and its two companions; ``own`` is
    the resumed checkpoint, whose files a resumed run updates in place."""
    mine = () if own is None else (own, *beside(own))
    for p in (save, *beside(save)):
        files.claim_output(p, force=force or p in mine, option="--save")


class _Stop:
    """The signal handler of a run (module docstring, "Interrupts")."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.abandonable = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:
            return
        self.signal = signum
        if self.abandonable:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[_Stop]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)
               if signal.getsignal(s) is not signal.SIG_IGN}  # nohup's wish stands
        try:
            yield self
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)


def _old_rows(resume: Path, start: int) -> list[dict]:
    """Rows up to ``start`` of the log beside a version-2 checkpoint (which holds none)."""
    log = beside(resume)[0]
    if not log.exists():
        return []
    rows = []
    for n, line in enumerate(log.read_text().splitlines(), 1):
        try:
            row = json.loads(line)
            step = row["step"]
        except (ValueError, TypeError, KeyError):
            raise ValueError(f"metrics log {str(log)!r}: line {n} is not a metrics row") from None
        if step <= start:
            rows.append(row)
    return rows


def _divergence(step: int, loss: float, norm: float, first: float | None) -> str | None:
    """Why step ``step`` diverged (module docstring), or None."""
    if not math.isfinite(loss):
        return f"the loss is {loss}"
    if not math.isfinite(norm):
        return f"the gradient norm before clipping is {norm}"
    if first is not None and loss > EXPLODE * first:
        return f"the loss {loss:.4g} exceeds {EXPLODE:g} x the first step's loss {first:.4g}"
    return None


def train(cfg: Config, steps: int, *, device: torch.device | str = "cpu",
          save: Path | str | None = None, resume: Path | str | None = None,
          force: bool = False, log_every: int | None = None, save_every: int | None = None,
          progress: bool = True) -> dict:
    """Train ``cfg`` up to ``steps`` optimizer steps in all (a resumed run continues from its
    checkpoint's step) and return a summary: final evaluation, seconds per step, peak memory,
    wall and CPU seconds, the files written, and ``repaired``: the log and profile files a
    resume in place rewrote from its checkpoint (:func:`repair`). ``resume`` must hold a run
    of ``cfg``.
    ``log_every`` and ``save_every`` default to the resumed run's, else to
    :data:`LOG_EVERY` and :data:`SAVE_EVERY`. Raises :class:`Interrupted` on SIGINT/SIGTERM
    and :class:`Diverged` (module docstring)."""
    if not isinstance(cfg, Config):
        raise ValueError(f"parameter 'cfg' must be a verify.training.config.Config, got "
                         f"{type(cfg).__name__}")
    steps = int(POSITIVE_INT.check("steps", steps))
    device = resolve_device(device)
    resume = None if resume is None else files.named_path(resume, "--resume")
    save = resume if save is None else files.named_path(save, "--save")
    ck = load(resume, device) if resume is not None else None
    if ck is not None and ck["config"] != cfg:
        raise ValueError(f"checkpoint {str(resume)!r} holds a different run: {ck['config']}")
    every = {"log_every": LOG_EVERY, "save_every": SAVE_EVERY, **(ck or {}).get("every", {})}
    log_every = int(POSITIVE_INT.check("log_every", every["log_every"] if log_every is None
                                       else log_every))
    save_every = int(POSITIVE_INT.check("save_every", every["save_every"] if save_every is None
                                        else save_every))
    start = 0 if ck is None else ck["step"]
    if ck is not None and (start > steps or (start == steps and ck["profile"]["final"])):
        raise ValueError(f"parameter 'steps' must exceed the checkpoint's step {start}, "
                         f"got {steps}")
    if save is not None:
        _claim(save, force, resume)
    model = restore(ck, device) if ck is not None else build(cfg, device)
    run = ck["run"] if ck is not None and ck["run"] is not None else secrets.token_hex(8)
    repaired = repair(ck) if ck is not None and save == resume else []
    opt = torch.optim.RMSprop(model.parameters(), lr=cfg.lr, alpha=RMSPROP_ALPHA)
    gen = torch.Generator()
    dtype = resolve_dtype(cfg.dtype)
    if ck is None:
        gen.manual_seed(cfg.seed)
        elapsed, cpu, rows, first = 0.0, 0.0, [], None
        window: list[tuple[torch.Tensor, torch.Tensor]] = []
        profile = {"t": list(range(tasks.sequence_length(cfg.T) + 1)),
                   "init": profiles(model, cfg.task, cfg.T, cfg.batch, progress=progress,
                                    label="initial"),
                   "final": None}
    else:
        try:
            opt.load_state_dict(ck["optimizer"])
            gen.set_state(ck["data_rng"].cpu())
        except (ValueError, KeyError, RuntimeError):
            raise ValueError(f"checkpoint {str(resume)!r} has an optimizer or generator state "
                             f"that does not fit its model") from None
        elapsed, cpu, profile, first = ck["elapsed_s"], ck["cpu_s"], ck["profile"], \
            ck["first_loss"]
        rows = ck["metrics"] if ck["metrics"] is not None else _old_rows(resume, start)
        window = [(a.to(device), b.to(device))
                  for a, b in zip(ck["window"]["loss"], ck["window"]["accuracy"], strict=True)]
    metrics = beside(save)[0] if save is not None else None
    done = start
    written: int | None = start if ck is not None and save == resume else None
    t0, c0 = time.perf_counter(), time.process_time()
    since = t0

    def clock() -> tuple[float, float]:
        sync(device)
        return elapsed + time.perf_counter() - t0, cpu + time.process_time() - c0

    def persist() -> None:
        nonlocal written
        if save is None:
            return
        wall, proc = clock()
        state = {
            "format": FORMAT, "version": VERSION, "config": asdict(cfg), "run": run,
            "step": done, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "data_rng": gen.get_state(), "elapsed_s": wall, "cpu_s": proc, "profile": profile,
            "metrics": rows, "first_loss": first,
            "every": {"log_every": log_every, "save_every": save_every},
            "window": {key: torch.stack([w[i] for w in window]).cpu() if window
                       else torch.zeros(0) for i, key in enumerate(("loss", "accuracy"))}}
        if written is None:  # the first checkpoint at this path: other runs' files go first
            for companion in beside(save):
                files.remove(companion)
        save_checkpoint(state, save)
        files.write_text(metrics, _log_text(rows))
        files.write_text(beside(save)[1], _profile_text(run, profile))
        written = done

    def where() -> str:
        if save is None:
            return "nothing saved (no --save)"
        if written is None:
            return "no checkpoint written yet"
        return f"the last checkpoint is {str(save)!r} (step {written})"

    stop = _Stop()
    bar = tqdm(total=steps, initial=start, disable=not progress, desc=f"{cfg.model} {cfg.task}")
    try:
        with stop.installed():
            for step in range(start + 1, steps + 1):
                before = gen.get_state()
                try:
                    stop.abandonable = True
                    x, y = tasks.batch(cfg.task, cfg.T, cfg.batch, gen, dtype=dtype,
                                       device=device)
                    opt.zero_grad(set_to_none=True)
                    logits, _ = model(x)
                    loss = tasks.loss(logits, y)
                    loss.backward()
                    norm = nn.utils.clip_grad_norm_(model.parameters(), CLIP)
                    value, norm_value = loss.item(), norm.item()
                    stop.abandonable = False
                except KeyboardInterrupt:
                    stop.abandonable = False
                    gen.set_state(before)
                    break
                why = _divergence(step, value, norm_value, first)
                if why is not None:
                    raise Diverged(f"training diverged at step {step}: {why}; the update was "
                                   f"not applied and {where()}; lower --lr")
                opt.step()
                done, first = step, value if first is None else first
                window.append((loss.detach(), tasks.accuracy(logits.detach(), y)))
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)
                bar.update(1)
                if step % log_every == 0 or step == steps:
                    now = time.perf_counter()
                    wall, proc = clock()
                    mem, kind = peak_memory(device)
                    rows.append({
                        "step": step, "loss": torch.stack([w[0] for w in window]).mean().item(),
                        "accuracy": torch.stack([w[1] for w in window]).mean().item(),
                        "sec_per_step": (now - since) / len(window), "elapsed_s": wall,
                        "cpu_s": proc, "peak_mem_mb": mem, "peak_mem_kind": kind, "run": run})
                    bar.set_postfix(loss=f"{rows[-1]['loss']:.4f}",
                                    acc=f"{rows[-1]['accuracy']:.3f}", refresh=False)
                    window, since = [], time.perf_counter()
                if save is not None and (step % save_every == 0 or step == steps):
                    persist()
                if stop.signal is not None:
                    break
            if stop.signal is None and done == steps:
                try:
                    stop.abandonable = True
                    final = profiles(model, cfg.task, cfg.T, cfg.batch, progress=progress,
                                     label="final")
                    stop.abandonable = False
                except KeyboardInterrupt:
                    stop.abandonable = False
                else:
                    profile = {**profile, "final": final}
                    persist()
            if stop.signal is not None:
                if done > (written if written is not None else start):
                    persist()
                raise Interrupted(done, where(), written is not None,
                                  f"continue with --resume {save}" if written is not None
                                  else "")
    finally:
        bar.close()
    elapsed, cpu = clock()
    mem, kind = peak_memory(device)
    result = evaluate(model, cfg.task, cfg.T, batch=cfg.batch, progress=progress)
    last = rows[-1] if rows else {"loss": None, "accuracy": None}
    return {"config": asdict(cfg), "steps": steps, "device": str(device),
            "eval_loss": result["loss"], "eval_accuracy": result["accuracy"],
            "last_loss": last["loss"], "last_accuracy": last["accuracy"],
            "sec_per_step": elapsed / steps,
            "elapsed_s": elapsed, "cpu_s": cpu, "peak_mem_mb": mem, "peak_mem_kind": kind,
            "profile": profile,
            "checkpoint": None if save is None else str(save),
            "metrics": None if metrics is None else str(metrics),
            "profile_file": None if save is None else str(beside(save)[1]),
            "repaired": [str(p) for p in repaired]}
