"""Training and evaluation on the paper's tasks (THEORY.md section 8).

Reference settings: RMSprop (alpha 0.99), lr 1e-3, gradient clipping at norm 1, batch 10,
hidden 128, orthogonal recurrent initialisation (:mod:`verify.zoo`), data drawn on the fly.

A checkpoint holds the :class:`Config`, the step, model and optimizer states and the data
generator's state, so a resumed run repeats an uninterrupted one bit for bit on the CPU. Beside
it go ``<stem>.metrics.jsonl`` (one line per ``log_every`` steps: loss, accuracy on the last K,
seconds per step, peak memory) and ``<stem>.profile.json`` (the loss-gradient profiles
``||dL/dh_t||`` of :func:`profiles` at initialisation and at the end, on one fixed batch).

Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA and the process's peak resident set
size on the CPU (``VmHWM`` on Linux, else ``ru_maxrss``: everything the process ever held,
Python and torch included); ``peak_mem_kind`` says which.
"""

from __future__ import annotations

import copy
import json
import math
import os
import resource
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from bounds.domains import NONNEG_INT, POSITIVE, POSITIVE_INT
from verify import screening, tasks, zoo
from verify.device import resolve_device, resolve_dtype

#: Checkpoint format name and version; a checkpoint of another format or version is refused.
FORMAT = "untangle-checkpoint"
VERSION = 1
#: RMSprop smoothing constant and gradient-clipping norm (THEORY.md section 8).
RMSPROP_ALPHA = 0.99
CLIP = 1.0
#: Seeds of the fixed batches for the gradient profile and for evaluation: the same inputs
#: for every model and run, and never those of a training stream.
PROFILE_SEED = 2**31 - 1
EVAL_SEED = 2**31 - 2


@dataclass(frozen=True)
class Config:
    """What defines a training run (the run length and device are not part of it)."""

    task: str = "copy"
    model: str = "relrnn"
    T: int = 100
    nu: int = 10
    rho: int = 15
    score: str = "accumulated"
    hidden: int = 128
    lr: float = 1e-3
    batch: int = 10
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        tasks.get(self.task)
        tasks.check_T(self.T)
        if self.model not in zoo.MODELS:
            raise ValueError(f"unknown model {self.model!r}; known: {', '.join(zoo.MODELS)}")
        POSITIVE_INT.check("nu", self.nu)
        NONNEG_INT.check("rho", self.rho)
        screening.score_fn(self.score)
        POSITIVE_INT.check("hidden", self.hidden)
        POSITIVE.check("lr", self.lr)
        POSITIVE_INT.check("batch", self.batch)
        NONNEG_INT.check("seed", self.seed)
        resolve_dtype(self.dtype)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def build(cfg: Config, device: torch.device | str = "cpu") -> zoo.Classifier:
    """The untrained classifier of ``cfg`` (seeded by ``cfg.seed``)."""
    spec = tasks.get(cfg.task)
    core = zoo.build(cfg.model, spec.inputs, hidden=cfg.hidden, nu=cfg.nu, rho=cfg.rho,
                     score=cfg.score, seed=cfg.seed, dtype=resolve_dtype(cfg.dtype),
                     device=resolve_device(device))
    return zoo.Classifier(core, spec.classes)


def beside(save: Path) -> tuple[Path, Path]:
    """The metrics log and gradient-profile paths that go with checkpoint ``save``."""
    return save.with_suffix(".metrics.jsonl"), save.with_suffix(".profile.json")


def peak_memory(device: torch.device) -> tuple[float, str]:
    """Peak memory in MiB and what it is (module docstring)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    status = Path("/proc/self/status")
    if status.exists():  # Linux: VmHWM starts afresh at exec, unlike ru_maxrss
        line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024, "cpu_peak_rss"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_peak_rss"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def grad_profile(model: zoo.Classifier, task: str, T: int, batch: int, *,
                 recall_only: bool = False) -> list[float | None]:
    """``||dL/dh_t||`` for t = 0..T+20 on the fixed batch of :data:`PROFILE_SEED`: the norm
    over (batch, n) of the gradient of the batch-mean loss (the training loss, or with
    ``recall_only`` the loss on the last K steps alone, whose gradient reaches early states
    only through the recurrence and the attention), by one backward pass through zero probes
    (:mod:`verify.rollout`), in a float64 copy of the model so that vanishing values stay
    representable. Returned as log10 (None for an exact 0)."""
    model = copy.deepcopy(model).double()
    device = next(model.parameters()).device
    x, y = tasks.batch(task, T, batch, torch.Generator().manual_seed(PROFILE_SEED),
                       dtype=torch.float64, device=device)
    probe = x.new_zeros(batch, x.shape[1] + 1, model.core.hidden, requires_grad=True)
    logits, _ = model(x, probe=probe)
    window = slice(-tasks.K, None) if recall_only else slice(None)
    (g,) = torch.autograd.grad(tasks.loss(logits[:, window], y[:, window]), probe)
    logs = torch.linalg.vector_norm(g, dim=(0, 2)).log10().tolist()
    return [v if math.isfinite(v) else None for v in logs]


def profiles(model: zoo.Classifier, cfg: Config) -> dict[str, list[float | None]]:
    """:func:`grad_profile` of the training loss (``loss``) and of the recall loss
    (``recall``), log10 over t = 0..T+20."""
    return {"loss": grad_profile(model, cfg.task, cfg.T, cfg.batch),
            "recall": grad_profile(model, cfg.task, cfg.T, cfg.batch, recall_only=True)}


@torch.no_grad()
def evaluate(model: zoo.Classifier, task: str, T: int, *, batches: int = 20,
             batch: int = 10) -> dict[str, float | str]:
    """Loss and accuracy on the last K over ``batches`` fixed batches (:data:`EVAL_SEED`), with
    the forward cost: seconds per batch and per sequence step, and peak memory."""
    POSITIVE_INT.check("batches", batches)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    gen = torch.Generator().manual_seed(EVAL_SEED)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    loss = correct = seconds = 0.0
    for _ in range(batches):
        x, y = tasks.batch(task, T, batch, gen, dtype=dtype, device=device)
        _sync(device)
        start = time.perf_counter()
        logits, _ = model(x)
        _sync(device)
        seconds += time.perf_counter() - start
        loss += tasks.loss(logits, y).item()
        correct += tasks.accuracy(logits, y).item()
    mem, kind = peak_memory(device)
    return {"task": task, "T": T, "loss": loss / batches, "accuracy": correct / batches,
            "sec_per_batch": seconds / batches,
            "sec_per_step": seconds / batches / tasks.sequence_length(T),
            "peak_mem_mb": mem, "peak_mem_kind": kind}


def load(path: Path | str, device: torch.device | str = "cpu") -> dict:
    """A checkpoint written by :func:`train`, checked: format, version, config."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist")
    try:
        ck = torch.load(path, map_location=resolve_device(device), weights_only=True)
    except Exception as err:  # any unreadable file: say so without a traceback
        raise ValueError(f"checkpoint {str(path)!r} is not readable by torch.load: {err}") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an untangle checkpoint")
    if ck.get("version") != VERSION:
        raise ValueError(f"checkpoint {str(path)!r} has format version {ck.get('version')}; "
                         f"this untangle reads version {VERSION}")
    ck["config"] = Config(**ck["config"])
    return ck


def restore(ck: dict, device: torch.device | str = "cpu") -> zoo.Classifier:
    """The trained classifier of checkpoint ``ck`` (from :func:`load`)."""
    model = build(ck["config"], device)
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint weights do not fit a {ck['config'].model} model: "
                         f"{err}") from None
    return model


def _claim(paths: list[Path], force: bool, own: Path | None) -> None:
    """Refuse to overwrite an existing file unless ``force`` (``own``: the resumed checkpoint,
    whose files a resumed run updates in place)."""
    for p in paths:
        if p.exists() and not force and (own is None or p not in beside(own) + (own,)):
            raise ValueError(f"{str(p)!r} exists; pass --force to overwrite it")


def _atomic_save(obj: object, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


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
                   "init": profiles(model, cfg), "final": None}
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
        _atomic_save({"format": FORMAT, "version": VERSION, "config": asdict(cfg),
                      "step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                      "data_rng": gen.get_state(), "elapsed_s": elapsed, "cpu_s": cpu,
                      "profile": profile}, save)

    dtype = resolve_dtype(cfg.dtype)
    bar = tqdm(total=steps, initial=start, disable=not progress, desc=f"{cfg.model} {cfg.task}")
    window: list[tuple[torch.Tensor, torch.Tensor]] = []
    _sync(device)
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
            _sync(device)
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
    profile["final"] = profiles(model, cfg)
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
