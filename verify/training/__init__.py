"""The paper's tasks and training (THEORY.md section 8): copy and denoise
(:mod:`verify.training.tasks`), runs and their checkpoints, evaluation, gradient profiles,
and the relevant-set report of relevancy-screening models."""

from verify.training import tasks
from verify.training.checkpoint import load, restore
from verify.training.config import Config, build
from verify.training.evaluate import evaluate, grad_profile, profiles
from verify.training.train import train

__all__ = ["Config", "build", "evaluate", "grad_profile", "load", "profiles", "restore", "tasks",
           "train"]
