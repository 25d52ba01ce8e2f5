"""Measurement on real networks (THEORY.md sections 1, 2, 5-9): models with controlled spectra
and attention (:mod:`verify.models`), the Jacobian profile dh_T/dh_t and its comparison with the
bounds (:mod:`verify.measurement`), the paper's tasks and training (:mod:`verify.training`) and the
``untangle`` command line (:mod:`verify.commands`, entry point :mod:`verify.cli`).

The public names below are imported on first use, so that ``import verify`` (and with it the
command line's start) does not import torch::

    from verify import controlled, measure
"""

from __future__ import annotations

import importlib

#: Public name -> the module that defines it.
_HOME = {
    "MODELS": "verify.models.zoo",
    "Classifier": "verify.models.zoo",
    "Recurrent": "verify.models.rollout",
    "RecurrentModel": "verify.models.rollout",
    "Rollout": "verify.models.rollout",
    "Trace": "verify.models.rollout",
    "build": "verify.models.zoo",
    "controlled": "verify.models.zoo",
    "vanilla": "verify.models.zoo",
    "Measurement": "verify.measurement.jacobian_profile",
    "measure": "verify.measurement.jacobian_profile",
    "Config": "verify.training.config",
    "evaluate": "verify.training.evaluate",
    "train": "verify.training.train",
    "tasks": "verify.training",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> object:
    if name not in _HOME:
        raise AttributeError(f"module 'verify' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
