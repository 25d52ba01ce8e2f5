"""Checkpoints of a training run (THEORY.md section 8): the :class:`Config`, the run's id
(a random token drawn when the run starts and kept by every resume, also stamped in each row
of its metrics log and in its profile file), the step, model and optimizer states, the data
generator's state, the metrics rows logged so far, the steps since the last row and the steps
per row and per checkpoint, so that a resumed run repeats an uninterrupted one bit for bit on
the CPU, and its metrics log can be rebuilt from the checkpoint alone.

Loaded with ``torch.load(..., weights_only=True)`` only: a file that is not a checkpoint, or
one that holds Python objects, is refused as such, never unpickled. Its contents are checked
too: a weight or optimizer state that is not finite is refused when the file is loaded, and a
state dict that does not fit its config's model (a tensor missing, unknown or of another
shape) when the model is restored; each refusal is one line naming the file and the first bad
tensor. Written atomically
(:func:`verify.files.atomic_write`): a reader sees the old checkpoint or the new one.
"""

from __future__ import annotations

import math
import pickle
import warnings
from dataclasses import fields
from pathlib import Path

import torch

from verify import files
from verify.device import resolve_device
from verify.models.zoo import Classifier
from verify.training.config import Config, build

#: Checkpoint format name and version; a checkpoint of another format or version is refused.
FORMAT = "untangle-checkpoint"
VERSION = 4

#: The keys of a checkpoint, by format version. Version 2 (no metrics rows, no partial
#: window, no first loss, no steps per row and checkpoint) is still read: its metrics log is
#: the file beside it. Version 3 has no run id (``run`` comes back None).
KEYS = {
    2: {"format", "version", "config", "step", "model", "optimizer", "data_rng", "elapsed_s",
        "cpu_s", "profile"},
    3: {"format", "version", "config", "step", "model", "optimizer", "data_rng", "elapsed_s",
        "cpu_s", "profile", "metrics", "window", "first_loss", "every"},
}
KEYS[4] = KEYS[3] | {"run"}


def _refuse(path: Path, why: str) -> ValueError:
    return ValueError(f"checkpoint {str(path)!r} {why}")


def _read(path: Path, device: torch.device) -> object:
    """``torch.load`` with ``weights_only=True``; anything it cannot read is "not a
    checkpoint" (torch's own message, which advises loading unsafely, is not passed on)."""
    try:
        with warnings.catch_warnings():  # torch's notes on foreign pickles: refused below
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=device, weights_only=True)
    except (OSError, MemoryError):
        raise
    except RuntimeError as err:
        if "out of memory" in str(err) or isinstance(err, torch.OutOfMemoryError):
            raise
        raise _refuse(path, "is not an untangle checkpoint (not a file written by torch.save)"
                      ) from None
    except pickle.UnpicklingError:
        raise _refuse(path, "is not an untangle checkpoint: it is not a torch file of tensors "
                      "and plain data (files holding other Python objects are never "
                      "unpickled)") from None
    except Exception:  # torch.load raises KeyError, EOFError, ... on other files
        raise _refuse(path, "is not an untangle checkpoint (not a file written by torch.save)"
                      ) from None


def _finite(value: torch.Tensor, what: str, path: Path) -> None:
    """Refuse a floating-point tensor with a NaN or an infinite entry, naming ``what``."""
    if value.is_floating_point() or value.is_complex():
        bad = ~torch.isfinite(value)
        if bool(bad.any()):
            first = tuple(int(i) for i in bad.nonzero()[0].tolist())
            raise _refuse(path, f"has {what} that is not finite ({value[first].item()} at "
                          f"index {first}, shape {tuple(value.shape)})")


def _check(ck: dict, path: Path) -> None:
    """Types of the fields every command relies on."""
    def number(key: str, lo: float = 0.0) -> None:
        v = ck[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v < lo:
            raise _refuse(path, f"has a bad {key!r}: {v!r}")

    number("step")
    if not isinstance(ck["step"], int):
        raise _refuse(path, f"has a bad 'step': {ck['step']!r}")
    number("elapsed_s")
    number("cpu_s")
    if not isinstance(ck["model"], dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ck["model"].items()):
        raise _refuse(path, "has a bad 'model': not a state dict of tensors")
    for name, value in ck["model"].items():
        _finite(value, f"a weight {name!r}", path)
    if not isinstance(ck["optimizer"], dict) or set(ck["optimizer"]) != {"state", "param_groups"}:
        raise _refuse(path, "has a bad 'optimizer': not an optimizer state dict")
    state = ck["optimizer"]["state"]
    if not isinstance(state, dict) or not all(isinstance(v, dict) for v in state.values()):
        raise _refuse(path, "has a bad 'optimizer': not an optimizer state dict")
    for index, slots in state.items():
        for key, value in slots.items():
            if isinstance(value, torch.Tensor):
                _finite(value, f"an optimizer state {key!r} of parameter {index}", path)
    rng = ck["data_rng"]
    if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8:
        raise _refuse(path, "has a bad 'data_rng': not a generator state")
    if not isinstance(ck["profile"], dict) or "init" not in ck["profile"]:
        raise _refuse(path, "has a bad 'profile'")
    if ck["version"] >= 3:
        if not isinstance(ck["metrics"], list) or not all(
                isinstance(r, dict) and isinstance(r.get("step"), int) for r in ck["metrics"]):
            raise _refuse(path, "has bad 'metrics' rows")
        window = ck["window"]
        if not isinstance(window, dict) or set(window) != {"loss", "accuracy"} or not all(
                isinstance(v, torch.Tensor) and v.ndim == 1 for v in window.values()) \
                or window["loss"].shape != window["accuracy"].shape:
            raise _refuse(path, "has a bad 'window'")
        if ck["first_loss"] is not None:
            number("first_loss")
        every = ck["every"]
        if not isinstance(every, dict) or set(every) != {"log_every", "save_every"} or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1
                for v in every.values()):
            raise _refuse(path, "has a bad 'every'")
    if ck["version"] >= 4 and not (isinstance(ck["run"], str) and ck["run"].isalnum()):
        raise _refuse(path, f"has a bad 'run': {ck['run']!r}")


def load(path: Path | str, device: torch.device | str = "cpu") -> dict:
    """A checkpoint written by :func:`verify.training.train.train`, checked: a file torch reads
    with ``weights_only=True``, the format, a known version, exactly that version's keys, the
    config (every field known and valid), the types of the states, and that every weight and
    optimizer state is finite. ``path`` is added: the file it was read from (what
    :func:`restore` names). Version 2 checkpoints come back with ``metrics`` None, an empty
    ``window`` and ``first_loss`` None, and before version 4 ``run`` is None."""
    path = files.input_file(path, "checkpoint", "checkpoint file")
    ck = _read(path, resolve_device(device))
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an untangle checkpoint")
    version = ck.get("version")
    if version not in KEYS:
        raise _refuse(path, f"has format version {version}; this untangle reads versions "
                      f"{', '.join(map(str, KEYS))}")
    missing, unknown = KEYS[version] - set(ck), set(ck) - KEYS[version]
    if missing:
        raise _refuse(path, f"lacks {', '.join(map(repr, sorted(missing)))}")
    if unknown:
        raise _refuse(path, f"has unknown keys {', '.join(map(repr, sorted(unknown)))}")
    _check(ck, path)
    ck["config"] = _config(ck["config"], path)
    if version == 2:
        empty = torch.zeros(0)
        ck.update(metrics=None, window={"loss": empty, "accuracy": empty}, first_loss=None)
    ck.setdefault("run", None)
    ck["path"] = path
    return ck


def _config(raw: object, path: Path) -> Config:
    names = {f.name for f in fields(Config)}
    if not isinstance(raw, dict):
        raise _refuse(path, "has a bad 'config'")
    missing, unknown = names - set(raw), set(raw) - names
    if missing or unknown:
        said = [f"lacks {', '.join(map(repr, sorted(missing)))}"] if missing else []
        said += [f"has unknown {', '.join(map(repr, sorted(unknown)))}"] if unknown else []
        raise _refuse(path, f"has a config that {' and '.join(said)}")
    try:
        return Config(**raw)
    except ValueError as err:
        raise _refuse(path, f"has a bad config: {err}") from None


def restore(ck: dict, device: torch.device | str = "cpu") -> Classifier:
    """The trained classifier of checkpoint ``ck`` (from :func:`load`). A state dict that does
    not fit the model of its config is refused in one line naming the file and the first
    tensor that is missing, unknown or of another shape."""
    model = build(ck["config"], device)
    path = Path(ck.get("path", "<checkpoint>"))
    expected, found = model.state_dict(), ck["model"]
    what = f"does not fit its config's {ck['config'].model} model"
    for name, value in expected.items():
        if name not in found:
            raise _refuse(path, f"{what}: it lacks the tensor {name!r} (shape "
                          f"{tuple(value.shape)})")
        if found[name].shape != value.shape:
            raise _refuse(path, f"{what}: tensor {name!r} has shape "
                          f"{tuple(found[name].shape)}, expected {tuple(value.shape)}")
    unknown = [name for name in found if name not in expected]
    if unknown:
        raise _refuse(path, f"{what}: unknown tensor {unknown[0]!r} (shape "
                      f"{tuple(found[unknown[0]].shape)})")
    model.load_state_dict(found)
    return model


def save(obj: dict, path: Path) -> None:
    """Write ``obj`` to ``path`` atomically (:func:`verify.files.atomic_write`)."""
    files.atomic_write(path, lambda f: torch.save(obj, f))
