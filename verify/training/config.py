"""What defines a training run (THEORY.md section 8) and the classifier it trains."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from bounds.domains import NONNEG_INT, POSITIVE, POSITIVE_INT, check_seed
from verify.device import resolve_device, resolve_dtype
from verify.models import relevance, zoo
from verify.training import tasks

#: The largest seed: the data generator's torch seed is a signed 64-bit integer.
MAX_SEED = 2**63 - 1

#: THEORY.md section 8's RMSprop learning rate, and the smaller one it takes for the copy task
#: at T = 1000 (here from T = 1000 on) with a tanh model.
REFERENCE_LR, LONG_COPY_LR, LONG_COPY_T = 1e-3, 2e-4, 1000


def reference_lr(task: str, model: str, T: int) -> float:
    """THEORY.md section 8's learning rate for a run: 2e-4 for copy at T >= 1000 with a tanh
    model (rnn, memrnn, relrnn), else 1e-3."""
    long_copy = task == "copy" and model in zoo.TANH and T >= LONG_COPY_T
    return LONG_COPY_LR if long_copy else REFERENCE_LR


@dataclass(frozen=True)
class Config:
    """A training run (its length and device are not part of it). ``nu``, ``rho`` and ``lr``
    default to the task's reference values (copy: 10, 15; denoise: 15, 15;
    :func:`reference_lr`)."""

    task: str = "copy"
    model: str = "relrnn"
    T: int = 100
    nu: int | None = None
    rho: int | None = None
    score: str = "accumulated"
    hidden: int = 128
    lr: float | None = None
    batch: int = 10
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        spec = tasks.get(self.task)
        if self.nu is None:
            object.__setattr__(self, "nu", spec.nu)
        if self.rho is None:
            object.__setattr__(self, "rho", spec.rho)
        object.__setattr__(self, "T", tasks.check_T(self.T))
        if self.model not in zoo.MODELS:
            raise ValueError(f"parameter 'model': unknown model {self.model!r}; known: "
                             f"{', '.join(zoo.MODELS)}")
        # sizes as ints (an integral float such as hidden=2.0 is taken as the int it names)
        for name, domain in (("nu", POSITIVE_INT), ("rho", NONNEG_INT),
                             ("hidden", POSITIVE_INT), ("batch", POSITIVE_INT)):
            value = getattr(self, name)
            domain.check(name, value)
            object.__setattr__(self, name, int(value))  # exact for ints beyond 2^53
        relevance.score_fn(self.score)
        lr = reference_lr(self.task, self.model, self.T) if self.lr is None else self.lr
        object.__setattr__(self, "lr", check_lr(lr, self.dtype))
        check_seed(self.seed, MAX_SEED)  # torch.Generator.manual_seed takes a signed int64

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def check_lr(lr: object, dtype: str) -> float:
    """``lr`` as a float in ``(0, largest dtype]`` (the optimizer holds lr in the parameters'
    dtype), or a ValueError naming 'lr' and that range."""
    lr = float(POSITIVE.check("lr", lr))
    top = torch.finfo(resolve_dtype(dtype)).max
    if lr > top:
        raise ValueError(f"parameter 'lr' must be a real number > 0 and <= {top:.4g} (the "
                         f"largest {dtype}), got {lr:g}")
    return lr


def build(cfg: Config, device: torch.device | str = "cpu") -> zoo.Classifier:
    """The untrained classifier of ``cfg``, every parameter drawn from ``cfg.seed``."""
    spec = tasks.get(cfg.task)
    core = zoo.build(cfg.model, spec.inputs, hidden=cfg.hidden, nu=cfg.nu, rho=cfg.rho,
                     score=cfg.score, seed=cfg.seed, dtype=resolve_dtype(cfg.dtype),
                     device=resolve_device(device))
    return zoo.Classifier(core, spec.classes, seed=cfg.seed)
