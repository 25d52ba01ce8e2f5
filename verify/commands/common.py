"""Helpers shared by the ``untangle`` commands. Light at import (argparse and the standard
library only); each helper imports what it needs when called.

The rules every command follows: torch runs on 1 CPU thread unless ``--threads N``
(:func:`threads`); the memory a command will need is checked before the work unless
``--no-memory-check`` (:mod:`verify.resources`); output files follow :mod:`verify.files`;
``--json`` prints strict JSON (:func:`to_json`) and turns the progress bars off
(:func:`progress`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from verify.files import EMPTY_PATH, named_path
from verify.resources import MEMORY_OPTION

if TYPE_CHECKING:
    from verify.training.config import Config

THREADS_HELP = ("torch CPU threads (default 1: on a machine shared with other work, torch's "
                "default of one thread per core can be tens of times slower; give N > 1 on a "
                "machine of your own)")
MEMORY_HELP = ("skip the check that refuses work whose estimated memory exceeds what is "
               "available (the smallest of MemAvailable, the room under ulimit -v and under "
               "the cgroup's memory.max, or the CUDA device's free memory)")


def comma_list(kind: type, minimum: float | None = None, *,
               distinct: bool = False) -> Callable[[str], list]:
    """An argparse type: ``"3,7"`` -> ``[3, 7]`` of ``kind``; at least one value, each
    ``>= minimum`` when given, and with ``distinct`` each at most once."""
    def parse(text: str) -> list:
        try:
            values = [kind(v.replace(" ", "")) for v in text.split(",") if v.strip()]
        except ValueError:
            values = None
        if not values or (minimum is not None and min(values) < minimum):
            least = "" if minimum is None else f" >= {minimum}"
            each = ", each once" if distinct else ""
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__} values{least}{each}, got {text!r}")
        twice = [v for i, v in enumerate(values) if v in values[:i]]
        if distinct and twice:
            raise argparse.ArgumentTypeError(f"{twice[0]!r} is given twice in {text!r} (each "
                                             f"value once)")
        return values
    return parse


def path_option(text: str) -> str:
    """An argparse type for every option that names a file or folder: the text itself, refused
    when empty (:func:`verify.files.named_path`), before any work."""
    try:
        named_path(text, "path")
    except ValueError:
        raise argparse.ArgumentTypeError(EMPTY_PATH) from None
    return text


def add_resource_options(p: argparse.ArgumentParser) -> None:
    """``--threads N`` and ``--no-memory-check``, with the same help in every command."""
    p.add_argument("--threads", type=int, metavar="N", help=THREADS_HELP)
    p.add_argument(MEMORY_OPTION, dest="no_memory_check", action="store_true",
                   help=MEMORY_HELP)


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads(args: argparse.Namespace) -> int:
    """Set torch's intra-op threads, and its inter-op threads where torch still allows it,
    to ``args.threads``, default 1; return the number. A ValueError unless it is in
    1..:func:`cores` (more threads than cores only compete with each other)."""
    n = getattr(args, "threads", None)
    n = 1 if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= cores():
        raise ValueError(f"parameter 'threads' must be an integer >= 1 and <= {cores()} "
                         f"(the cores here), got {n!r}")
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # only possible before the first inter-op parallel work
        pass
    return n


def progress(args: argparse.Namespace) -> bool:
    """Whether to show progress bars (on stderr): always, except with ``--json``."""
    return not getattr(args, "json", False)


def finite(obj: object) -> object:
    """``obj`` with every non-finite float replaced by None, tuples and arrays (anything with
    ``tolist``) as lists, recursively: ready for strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return finite(obj.tolist())
    return obj


def to_json(obj: object, **kwargs: object) -> str:
    """Strict JSON (never ``NaN`` or ``Infinity``: non-finite numbers become null)."""
    return json.dumps(finite(obj), allow_nan=False, **kwargs)


def merged_config(args: argparse.Namespace, checkpoint: str | None,
                  free: tuple[str, ...] = ()) -> Config:
    """The training Config of the options given (attributes of ``args`` named as Config fields,
    None when left out) over ``checkpoint``'s or the defaults. An option that contradicts the
    checkpoint is an error, except those in ``free``, which override it."""
    from dataclasses import asdict

    from verify.training.checkpoint import load
    from verify.training.config import Config

    given = {k: getattr(args, k) for k in Config.names() if getattr(args, k, None) is not None}
    if checkpoint is None:
        return Config(**given)
    base = asdict(load(checkpoint)["config"])
    clash = {k: (v, base[k]) for k, v in given.items() if v != base[k] and k not in free}
    if clash:
        said = ", ".join(f"--{k} {v!r} (checkpoint: {c!r})" for k, (v, c) in clash.items())
        raise ValueError(f"checkpoint {checkpoint!r} is another run: {said}")
    return Config(**{**base, **given})
