"""Helpers shared by the ``untangle`` commands. Light at import (argparse and the standard
library only); each helper imports what it needs when called."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from verify.training.config import Config


def comma_list(kind: type) -> Callable[[str], list]:
    """An argparse type: ``"3,7"`` -> ``[3, 7]`` of ``kind``."""
    def parse(text: str) -> list:
        try:
            return [kind(v.replace(" ", "")) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__} values, got {text!r}") from None
    return parse


def set_threads(n: int | None) -> None:
    """``torch.set_num_threads(n)`` unless n is None; n >= 1."""
    if n is not None:
        if n < 1:
            raise ValueError(f"parameter 'threads' must be an integer >= 1, got {n}")
        import torch

        torch.set_num_threads(n)


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
