"""The training runs the figures share (THEORY.md section 8): one checkpoint per configuration
and length in a runs folder, trained once and reused by every figure that asks for it (the
metrics log and the gradient profiles of :func:`verify.training.train` beside it). A run cut
short is resumed from its last checkpoint by the next figure that needs it; an interrupted
run says so (:class:`verify.training.train.Interrupted`, whose advice is not ``--resume``,
which the figures do not take). Training shows its progress bars on stderr."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from paper_figs import output
from verify.training import Config, evaluate, load, restore, train
from verify.training.train import Interrupted, beside, repair

#: Steps per metrics line and per intermediate checkpoint.
LOG_EVERY, SAVE_EVERY = 25, 250
#: The models of THEORY.md section 8's profiles and tradeoff.
MODELS = ("rnn", "memrnn", "relrnn", "lstm", "rellstm")
#: The training runs of each scale, shared by the figures that train (same configs, so one
#: checkpoint each): T, hidden size, learning rate, batch, buffer nu and relevant set rho
#: (None: the task's reference values), optimizer steps. ``small`` is a short CPU budget: a
#: short delay and a learning rate 3x the reference 1e-3; ``paper`` is THEORY.md section 8's
#: reference setting.
SCALES = {
    "tiny": {"T": 10, "hidden": 4, "lr": 1e-3, "batch": 2, "nu": 2, "rho": 2, "steps": 3},
    "small": {"T": 10, "hidden": 64, "lr": 3e-3, "batch": 10, "nu": 5, "rho": 10,
              "steps": 1000},
    "paper": {"T": 100, "hidden": 128, "lr": 1e-3, "batch": 10, "nu": None, "rho": None,
              "steps": 20000},
}
SEED = 0
#: What an interrupted training run advises, with and without a checkpoint saved.
RESUMES = ("make the figure again (the same command): it reuses the finished runs and resumes "
           "this one from that checkpoint")
RESTARTS = ("make the figure again (the same command): it reuses the finished runs and starts "
            "this one afresh")


def runs_folder(runs: Path | None, out: Path) -> Path:
    """``runs``, or by default ``runs/`` beside the figure folder ``out``; a ValueError when
    its parent folder does not exist."""
    runs = Path(out).parent / "runs" if runs is None else Path(runs)
    if not runs.exists() and not runs.parent.is_dir():
        raise ValueError(f"parameter 'runs': the parent folder {str(runs.parent)!r} of "
                         f"{str(runs)!r} does not exist; create it first")
    return runs


def config(task: str, model: str, scale: str) -> Config:
    """The training run of ``model`` on ``task`` at ``scale`` (:data:`SCALES`)."""
    p = output.params(SCALES, scale)
    return Config(task=task, model=model, T=p["T"], nu=p["nu"], rho=p["rho"],
                  hidden=p["hidden"], lr=p["lr"], batch=p["batch"], seed=SEED)


def trained(task: str, model: str, scale: str, runs: Path, device: str, *,
            progress: bool = True) -> Path:
    """The checkpoint of :func:`config` trained for its scale's steps (:func:`checkpoint`)."""
    steps = SCALES[scale]["steps"]
    return checkpoint(config(task, model, scale), steps, runs, device, progress=progress)


def checkpoint(cfg: Config, steps: int, runs: Path, device: str, *,
               progress: bool = True) -> Path:
    """The checkpoint of ``cfg`` trained for ``steps`` optimizer steps, under ``runs``: the one
    there when it holds this run (resumed when it stopped short), else trained now, with
    progress bars on stderr unless not ``progress``. Its name says the task, model, T and
    steps, and a hash of the whole config."""
    key = hashlib.sha1(json.dumps(asdict(cfg), sort_keys=True).encode()).hexdigest()[:8]
    path = Path(runs) / f"{cfg.task}-{cfg.model}-T{cfg.T}-{steps}steps-{key}.pt"
    resume = None
    if path.exists():
        ck = load(path)
        if ck["config"] != cfg or ck["step"] > steps:
            raise ValueError(f"checkpoint {str(path)!r} holds another run ({ck['config']}, "
                             f"step {ck['step']}); move it away")
        if ck["step"] == steps and ck["profile"]["final"] is not None:
            repair(ck)  # a kill between the checkpoint and its log leaves the log behind
            return path
        resume = path
    path.parent.mkdir(exist_ok=True)
    try:
        train(cfg, steps, device=device, save=path, resume=resume, progress=progress,
              log_every=LOG_EVERY, save_every=SAVE_EVERY)
    except Interrupted as stop:
        raise stop.advise(RESUMES if stop.saved else RESTARTS) from None
    return path


def summary(path: Path, device: str = "cpu") -> dict[str, object]:
    """What the figures read of a run: its config, steps, wall and CPU seconds, the metrics
    rows, the gradient profiles at initialisation and at the end (log10 ||dL/dh_t||, t = 0..T+20,
    of the training loss and of the recall loss) and the accuracy on the evaluation batches."""
    ck = load(path, device)
    metrics, profile = beside(Path(path))
    cfg = ck["config"]
    result = evaluate(restore(ck, device), cfg.task, cfg.T, batch=cfg.batch)
    return {"config": asdict(cfg), "steps": ck["step"], "wall_s": ck["elapsed_s"],
            "cpu_s": ck["cpu_s"],
            "metrics": [json.loads(line) for line in metrics.read_text().splitlines()],
            "profile": json.loads(profile.read_text()), "eval_accuracy": result["accuracy"],
            "checkpoint": str(path)}
