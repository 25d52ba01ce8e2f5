"""The point functions: one per sweep kind, ``fn(params) -> result`` with ``params`` all of the
kind's parameters and ``seed`` (:mod:`verify.sweeps.params`), the result a JSON-ready dict.
They are looked up by name in :data:`POINTS`, so that a worker process imports them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from bounds.patterns import build
from verify.measurement import Measurement, measure
from verify.measurement.runs import network
from verify.option_uses import RELEVANCY
from verify.training import Config, train

#: the train summary's entries a train row keeps
TRAIN_RESULT = ("eval_accuracy", "eval_loss", "last_accuracy", "last_loss", "sec_per_step")
#: the Measurement's arrays over t a measure row keeps with ``profile``
PROFILE = ("log10_norm2", "log10_fro", "log10_sigma_min", "depth", "lam", "mu", "bounds_log10",
           "gap")


def measure_point(params: Mapping[str, object]) -> dict[str, object]:
    """``untangle measure`` on ``params``: THEORY.md section 1's network (V from ``spectrum``,
    attention from ``pattern`` or relevancy screening, every weight drawn from ``seed``),
    measured on the N(0, 1) inputs of ``default_rng([seed, 1])`` (THEORY.md section 5); the
    row of :func:`measure_row`."""
    p = params
    pattern = None if p["pattern"] == RELEVANCY else build(
        p["pattern"], p["T"], nu=p["width"], k=p["stride"], kappa=p["kappa"], seed=p["seed"],
        E=p["events"])
    model, x = network(p, pattern)
    source = "untangle sweep point " + json.dumps(dict(p), sort_keys=True, default=str)
    return measure_row(measure(model, x, mode=p["mode"], source=source),
                       profile=p["profile"])


def measure_row(m: Measurement, *, profile: bool = False) -> dict[str, object]:
    """A measurement's row: at t = 0 (G_0 = dh_T/dh_0, the whole horizon) the log10 norms,
    depth d(0, T), the bounds (log10) and the score-term gap (``full`` mode); kappa, the
    bounds' hypotheses and notes; with ``profile`` the arrays over t = 0..T-1; and the bound
    verdicts when the Measurement's JSON has them (THEORY.md section 9). Non-finite values
    are null."""
    j = m.to_json()
    row = {"kappa": j["kappa"], "depth_0": j["depth"][0],
           "log10_norm2_0": j["log10_norm2"][0], "log10_fro_0": j["log10_fro"][0],
           "log10_sigma_min_0": j["log10_sigma_min"][0],
           "bounds_log10_0": {name: v[0] for name, v in j["bounds_log10"].items()},
           "gap_0": None if j["gap"] is None else j["gap"][0],
           "hypotheses": j["hypotheses"], "notes": j["notes"]}
    if profile:
        row["profile"] = {k: j[k] for k in PROFILE}
    if j.get("verdicts") is not None:  # per bound: applicable, holds at N of T, worst margin
        row["verdicts"] = j["verdicts"]
    return row


def train_point(params: Mapping[str, object]) -> dict[str, object]:
    """``untangle train`` on ``params`` (THEORY.md section 8): the final evaluation and the
    last logged window's loss and accuracy, seconds per step; nothing saved."""
    cfg = Config(**{name: params[name] for name in Config.names()})
    summary = train(cfg, params["steps"], device=params["device"], progress=False)
    return {k: summary[k] for k in TRAIN_RESULT}


#: sweep kind -> its point function
POINTS: dict[str, Callable[[Mapping[str, object]], dict[str, object]]] = {
    "measure": measure_point, "train": train_point}
