"""A sweep's specification: a JSON object

``{"kind": "measure" | "train", "grid": {param: [values...]}, "fixed": {param: value},
"seeds": [int...]}``

``grid`` and ``fixed`` default to ``{}``, ``seeds`` to ``[0]``. The points are the product of
the grid's lists times the seeds, each with the fixed values and the kind's defaults for the
rest (:mod:`verify.sweeps.grid`). Every key, parameter name, value type and value range
(:mod:`verify.sweeps.params`) is checked here; a bad one is a ValueError naming it
(``spec 'grid.hidden[1]': expected an integer, got 'a'``, ``spec 'fixed.T': parameter 'T' must
be an integer >= 1, got 0``), and so is a parameter that no point of the sweep uses, as
the commands refuse an option their run would not use (``eigenvalues`` where no point has the
``eigen`` spectrum: :data:`verify.sweeps.params.USES`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from verify import files
from verify.sweeps.params import PARAMS, REQUIRED, USES, Param
from verify.training.config import MAX_SEED, check_lr

KEYS = ("kind", "grid", "fixed", "seeds")


@dataclass(frozen=True)
class Spec:
    """A checked spec: values in their canonical form (:meth:`Param.check`)."""

    kind: str
    grid: dict[str, list]
    fixed: dict[str, object]
    seeds: list[int]

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "grid": self.grid, "fixed": self.fixed, "seeds": self.seeds}


def load(path: str | Path) -> Spec:
    """The spec in the JSON file ``path``."""
    try:
        text = files.input_file(path, "parameter 'spec'", "JSON spec file").read_text()
    except UnicodeDecodeError:
        raise ValueError(f"parameter 'spec': {str(path)!r} is not a text file") from None
    except OSError as err:
        raise ValueError(f"parameter 'spec': cannot read {str(path)!r}: {err.strerror}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"spec {str(path)!r} is not valid JSON: {err}") from None
    return parse(obj)


def parse(obj: object) -> Spec:
    """The spec ``obj`` (a parsed JSON object), checked."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"spec: expected a JSON object with keys {', '.join(KEYS)}, "
                         f"got {type(obj).__name__}")
    unknown = [k for k in obj if k not in KEYS]
    if unknown:
        raise ValueError(f"spec: unknown key {unknown[0]!r}; known: {', '.join(KEYS)}")
    kind = obj.get("kind")
    if kind not in PARAMS:
        said = "is missing" if kind is None else f"got {kind!r}"
        raise ValueError(f"spec 'kind': must be one of {', '.join(PARAMS)}; {said}")
    params = PARAMS[kind]
    grid = {name: _values(f"grid.{name}", _param(params, kind, "grid", name), values, name)
            for name, values in _object(obj, "grid").items()}
    fixed = {}
    for name, value in _object(obj, "fixed").items():
        param = _param(params, kind, "fixed", name)
        if name in grid:
            raise ValueError(f"spec 'fixed.{name}': also in 'grid'; give it in one of them")
        fixed[name] = param.check(f"fixed.{name}", value, name)
    missing = [n for n, p in params.items()
               if p.default == REQUIRED and n not in grid and n not in fixed]
    if missing:
        raise ValueError(f"spec: parameter {missing[0]!r} of kind {kind!r} is required; give "
                         f"it in 'grid' or 'fixed'")
    _refuse_unused(kind, grid, fixed)
    if kind == "train":
        _refuse_lr_beyond_dtype(grid, fixed)
    seeds = _values("seeds", Param("int"), obj.get("seeds", [0]), "seed")
    if any(s < 0 for s in seeds):
        raise ValueError(f"spec 'seeds': must be integers >= 0, got {min(seeds)}")
    if kind == "train" and max(seeds) > MAX_SEED:  # the Config's range: torch's seed
        raise ValueError(f"spec 'seeds': must be integers >= 0 and <= {MAX_SEED} for kind "
                         f"'train', got {max(seeds)}")
    return Spec(kind, grid, fixed, seeds)


def _refuse_unused(kind: str, grid: Mapping[str, list], fixed: Mapping[str, object]) -> None:
    """A ValueError for a parameter given (a value other than null or false) that no point of
    the sweep uses: every value the sweep takes of the parameter that uses it (:data:`USES`:
    its grid list, else its fixed value, else its default) is one that does not."""
    for name, (selector, users) in USES[kind].items():
        where = "grid" if name in grid else "fixed" if name in fixed else None
        if where is None:
            continue
        given = grid[name] if where == "grid" else [fixed[name]]
        if all(v is None or v is False for v in given):
            continue
        values = [v for _, v in _given(kind, selector, grid, fixed)]
        if not any(v in users for v in values):
            raise ValueError(
                f"spec '{where}.{name}': no point of the sweep uses it; it goes with "
                f"{selector} {' or '.join(json.dumps(u) for u in users)} (the sweep's "
                f"{selector}: {', '.join(json.dumps(v) for v in values)})")


def _given(kind: str, name: str, grid: Mapping[str, list], fixed: Mapping[str, object]
           ) -> list[tuple[str, object]]:
    """(spec key, value) of every value the sweep takes of ``name``: its grid list, else its
    fixed value, else its default (key 'default')."""
    if name in grid:
        return [(f"grid.{name}[{i}]", v) for i, v in enumerate(grid[name])]
    if name in fixed:
        return [(f"fixed.{name}", fixed[name])]
    return [("default", PARAMS[kind][name].default)]


def _refuse_lr_beyond_dtype(grid: Mapping[str, list], fixed: Mapping[str, object]) -> None:
    """A train sweep's lr must be representable in every dtype it is paired with
    (:func:`verify.training.config.check_lr`; the default, None, is the reference lr, 2e-4
    or 1e-3); the refusal names the lr's spec key."""
    for where, lr in _given("train", "lr", grid, fixed):
        if lr is None:
            continue
        for _, dtype in _given("train", "dtype", grid, fixed):
            try:
                check_lr(lr, dtype)
            except ValueError as err:
                raise ValueError(f"spec {where!r}: {err}") from None


def _object(obj: Mapping, key: str) -> Mapping:
    value = obj.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"spec {key!r}: expected an object {{parameter: ...}}, "
                         f"got {value!r}")
    return value


def _param(params: dict[str, Param], kind: str, where: str, name: str) -> Param:
    if name == "seed":
        raise ValueError(f"spec '{where}.seed': seeds go in 'seeds'")
    if name not in params:
        raise ValueError(f"spec '{where}.{name}': unknown parameter of kind {kind!r}; known: "
                         f"{', '.join(params)}")
    return params[name]


def _values(where: str, param: Param, values: object, name: str) -> list:
    """A grid list of the parameter ``name``: non-empty, each value checked, none repeated."""
    if not isinstance(values, list):
        raise ValueError(f"spec {where!r}: expected a list of values, got {values!r}")
    if not values:
        raise ValueError(f"spec {where!r}: empty list; give at least one value")
    out = [param.check(f"{where}[{i}]", v, name) for i, v in enumerate(values)]
    seen = set()
    for v in out:
        text = json.dumps(v)
        if text in seen:
            raise ValueError(f"spec {where!r}: value {v!r} is repeated")
        seen.add(text)
    return out
