"""Checkpoints of a training run (THEORY.md section 8): the :class:`Config`, the step, model
and optimizer states and the data generator's state, so that a resumed run repeats an
uninterrupted one bit for bit on the CPU. Loaded with ``weights_only=True``: a file that is not
a checkpoint is refused as such, never unpickled."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from verify.device import resolve_device
from verify.models.zoo import Classifier
from verify.training.config import Config, build

#: Checkpoint format name and version; a checkpoint of another format or version is refused.
FORMAT = "untangle-checkpoint"
VERSION = 2


def load(path: Path | str, device: torch.device | str = "cpu") -> dict:
    """A checkpoint written by :func:`verify.training.train.train`, checked: format, version,
    config."""
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


def restore(ck: dict, device: torch.device | str = "cpu") -> Classifier:
    """The trained classifier of checkpoint ``ck`` (from :func:`load`)."""
    model = build(ck["config"], device)
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint weights do not fit a {ck['config'].model} model: "
                         f"{err}") from None
    return model


def save(obj: dict, path: Path) -> None:
    """Write ``obj`` to ``path`` atomically (a temporary file renamed over it)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
