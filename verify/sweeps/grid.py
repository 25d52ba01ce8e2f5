"""A spec's points: the product of its grid's lists times its seeds, and a stable key of each.

Order: the grid's parameters in the order the spec gives them, the last varying fastest, and
for each combination the seeds in their order. A point's parameters are all of its kind's
(defaults, then ``fixed``, then the grid's values) and ``seed``; its key is the first 16 hex
digits of the SHA-256 of their canonical JSON with the kind, so the same parameters and seed
have the same key whatever spec or run produced them. Parameters added after tables were
written (:data:`verify.sweeps.params.KEYED_WHERE_USED`) enter a key only where the point uses
them, so the points of those tables keep their keys and resume. Points that differ only in
parameters they do not use compute the same thing (:func:`computation`), which a sweep
computes once (:mod:`verify.sweeps.runner`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field

from verify.option_uses import learned_attention
from verify.sweeps.params import KEYED_WHERE_USED, PARAMS, USES
from verify.sweeps.spec import Spec


def point_key(kind: str, params: dict[str, object]) -> str:
    """The key of the point of ``kind`` with ``params`` (seed included), less the parameters
    of :data:`verify.sweeps.params.KEYED_WHERE_USED` that the point does not use."""
    keyed = {name: value for name, value in params.items()
             if name not in KEYED_WHERE_USED.get(kind, ()) or _uses(kind, name, params)}
    text = json.dumps({"kind": kind, "params": keyed}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _uses(kind: str, name: str, params: dict[str, object]) -> bool:
    selector, users = USES[kind][name]
    return params.get(selector) in users


def computation(kind: str, params: dict[str, object]) -> str:
    """What the point of ``kind`` with ``params`` computes, as canonical JSON: its parameters
    less those it does not use (:data:`verify.sweeps.params.USES`: ``gain`` beside the
    identity spectrum, ``width`` beside the pattern ``none``), with a measure point's
    ``learned`` read as whether its attention is learned (relevancy screening's always is).
    Points with the same computation have the same result."""
    p = dict(params)
    if kind == "measure":
        p["learned"] = learned_attention(p["pattern"], p["learned"])
    used = {name: value for name, value in p.items()
            if name not in USES.get(kind, {}) or _uses(kind, name, p)}
    return json.dumps(used, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Point:
    """One point of a sweep: every parameter of its kind and ``seed``; its ``key`` and what it
    ``computes`` (:func:`computation`)."""

    kind: str
    params: dict[str, object]
    key: str = field(init=False)
    computes: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", point_key(self.kind, self.params))
        object.__setattr__(self, "computes", computation(self.kind, self.params))


def expand(spec: Spec) -> list[Point]:
    """The points of ``spec`` in the order of this module's docstring."""
    defaults = {name: p.default for name, p in PARAMS[spec.kind].items()}
    names = list(spec.grid)
    return [Point(spec.kind, {**defaults, **spec.fixed, **dict(zip(names, combo, strict=True)),
                              "seed": seed})
            for combo in itertools.product(*spec.grid.values()) for seed in spec.seeds]
