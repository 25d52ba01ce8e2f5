"""The networks the figures measure (THEORY.md sections 1, 6 and 7).

* :func:`options`: the options of ``untangle measure`` (its defaults, with overrides), which
  :func:`verify.measurement.runs.network` turns into the command's network and inputs, so a
  figure's panel is the run of that command.
* :func:`inputs`: a figure's input sequence, :func:`verify.measurement.runs.sequence` (the
  measure command's inputs for the same seed).
* :func:`screened`: a relevancy-screening network (relrnn) with V = c I, its input weights
  scaled (tanh near its linear regime: every J_k = diag(phi') c is nonnegative) and zero
  attention parameters (uniform weights over its <= nu + rho slots): the setting of B7.
"""

from __future__ import annotations

import torch

from verify.measurement.runs import sequence as inputs
from verify.models import Recurrent, build
from verify.sweeps.params import MEASURE, REQUIRED

__all__ = ["inputs", "options", "screened"]


def options(*, seed: int = 0, **overrides: object) -> dict[str, object]:
    """``untangle measure``'s options (as the sweeps name them, with ``seed``) with
    ``overrides``; T must be given."""
    unknown = sorted(set(overrides) - set(MEASURE))
    if unknown:
        raise ValueError(f"unknown measure option {unknown[0]!r}; known: {', '.join(MEASURE)}")
    out = {name: p.default for name, p in MEASURE.items()}
    out.update(overrides, seed=seed)
    if out["T"] == REQUIRED:
        raise ValueError("parameter 'T' must be given")
    return out


def screened(hidden: int, *, nu: int, rho: int, c: float, input_scale: float, seed: int = 0,
             device: str = "cpu") -> Recurrent:
    """relrnn (float64) with ``V = c I``, input weights times ``input_scale`` (its U has the
    law of a controlled network's with that input scale) and every attention parameter 0, so
    each step weighs its slots uniformly (:mod:`verify.models.zoo`)."""
    model = build("relrnn", hidden, hidden=hidden, nu=nu, rho=rho, seed=seed,
                  dtype=torch.float64, device=device)
    with torch.no_grad():
        model.cell.V.copy_(c * torch.eye(hidden, dtype=torch.float64))
        model.cell.U.mul_(input_scale)
        for p in model.memory.parameters():
            p.zero_()
    return model
