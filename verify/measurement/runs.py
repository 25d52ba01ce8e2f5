"""The network and inputs of a measurement run: from its options (:func:`network`), THEORY.md
section 1's network with V from ``spectrum`` and attention from a pattern or relevancy
screening (sections 6 and 7), every weight drawn from ``seed``, measured on the N(0, 1) inputs
of ``numpy.random.default_rng([seed, 1])``, shared by ``untangle measure`` and the sweeps, so a
row of a sweep is the command's run; or from a checkpoint (:func:`checkpoint_run`), a trained
model on one sequence of its task (section 8)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from bounds.patterns import Pattern
from verify.models import Recurrent, controlled
from verify.option_uses import RELEVANCY


def network(options: Mapping[str, object], pattern: Pattern | None
            ) -> tuple[Recurrent, torch.Tensor]:
    """The model and its one input sequence (1, T, inputs) for ``options`` (the measure
    command's option names: spectrum, hidden, inputs, nonlin, scale, gain, sigma,
    eigenvalues, nonnormal, seed, beta, gamma, learned, include_h0, input_scale, bias_scale,
    device, dtype; for relevancy screening, ``pattern`` :data:`verify.option_uses.RELEVANCY`,
    also T, width (the buffer nu), rho and score) and ``pattern``, the fixed pattern or the
    learned attention's support (None for relevancy screening)."""
    o = options
    screened = o["pattern"] == RELEVANCY
    if screened != (pattern is None):
        raise ValueError("parameter 'pattern': None goes with relevancy screening, and "
                         "relevancy screening with None")
    inputs = o["hidden"] if o["inputs"] is None else o["inputs"]
    eigenvalues = None if o["eigenvalues"] is None else [complex(z) for z in o["eigenvalues"]]
    model = controlled(
        o["spectrum"], o["hidden"], inputs, o["nonlin"], scale=o["scale"], gain=o["gain"],
        sigma=o["sigma"], eigenvalues=eigenvalues, nonnormal=o["nonnormal"], seed=o["seed"],
        beta=o["beta"], gamma=o["gamma"], pattern=pattern, learned=o["learned"],
        include_h0=o["include_h0"], input_scale=o["input_scale"], bias_scale=o["bias_scale"],
        device=o["device"], dtype=o["dtype"],
        **({"relevant_set": (o["width"], o["rho"]), "score": o["score"]} if screened else {}))
    return model, sequence(o["T"] if screened else pattern.T, inputs, o["seed"])


def sequence(T: int, m: int, seed: int) -> torch.Tensor:
    """One input sequence (1, T, m) of N(0, 1) entries (float64) from
    ``numpy.random.default_rng([seed, 1])``: the inputs :func:`network` gives for ``seed``."""
    return torch.as_tensor(np.random.default_rng([seed, 1]).standard_normal((1, T, m)))


def checkpoint_run(ck: dict, T: int, seed: int, dtype: str, device: torch.device | str
                   ) -> tuple[Recurrent, torch.Tensor]:
    """The core of the checkpoint ``ck`` (:func:`verify.training.checkpoint.load`) cast to
    ``dtype``, and one sequence (1, T + 20, inputs) of its task at delay ``T``: the first of
    the task's batch drawn from a generator seeded with ``seed``
    (:func:`verify.training.tasks.batch`, THEORY.md section 8)."""
    from verify.device import resolve_dtype
    from verify.training import tasks
    from verify.training.checkpoint import restore

    dt = resolve_dtype(dtype)
    x, _ = tasks.batch(ck["config"].task, tasks.check_T(T), 1,
                       torch.Generator().manual_seed(seed), dtype=dt, device=device)
    return restore(ck, device).core.to(dt), x
