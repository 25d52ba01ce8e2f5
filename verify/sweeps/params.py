"""The parameters a sweep point of each kind takes: their JSON type, default and accepted names.

``measure`` takes the options of ``untangle measure`` (THEORY.md sections 5 and 6; dashes as
underscores), ``train`` those of ``untangle train`` (THEORY.md section 8). The seed is not
among them: a spec gives its seeds apart (:mod:`verify.sweeps.spec`). A spec's values are
checked here, each on its own, by type and by the range the commands check (the same
functions: ``T``, ``hidden`` ... >= 1, ``scale`` and ``gain`` > 0, ``beta``, ``gamma``,
``sigma`` ... >= 0, ``events`` distinct steps >= 0, a train ``T`` >= K, ``lr`` > 0, a
``device`` that is there); combinations (learned attention over the pattern ``none``,
events beyond T, a ``sigma`` of another length than ``hidden``) are the point's to check,
and a point that raises is recorded with its error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

from bounds.domains import NONNEG_INT, NONNEGATIVE, POSITIVE, POSITIVE_INT
from bounds.patterns import KINDS as PATTERNS
from bounds.patterns import event_steps
from verify.device import DTYPES, resolve_device
from verify.measurement import MODES
from verify.models.nonlin import KINDS as NONLINS
from verify.models.relevance import SCORES
from verify.models.spectra import KINDS as SPECTRA
from verify.models.zoo import MODELS, SCREENED
from verify.option_uses import (
    LEARNED_OPTIONS,
    PATTERN_USES,
    RELEVANCY,
    SCREENED_OPTIONS,
    SPECTRUM_USES,
)
from verify.training.config import Config
from verify.training.tasks import TASKS, check_T

#: A parameter with this default must be given (in the spec's ``grid`` or ``fixed``).
REQUIRED = "required"
#: JSON type of a parameter -> what the error says it expects.
TYPES = {"int": "an integer", "float": "a finite number", "bool": "true or false",
         "str": "a string", "ints": "a list of integers", "floats": "a list of finite numbers",
         "complexes": "a list of numbers or complex strings such as \"0.5+0.2j\""}


@dataclass(frozen=True)
class Param:
    """One parameter: its JSON ``type`` (a key of :data:`TYPES`), its ``default``
    (:data:`REQUIRED` when it must be given; None allowed as a value only when the default is
    None), for a string the accepted ``choices``, and ``valid(name, value)``, the range check
    the commands run on the value (a ValueError naming ``parameter 'name'``), if any."""

    type: str
    default: object = REQUIRED
    choices: tuple[str, ...] = ()
    valid: Callable[[str, object], object] | None = None

    def check(self, where: str, value: object, name: str = "") -> object:
        """``value`` of the parameter ``name`` in its one canonical form (a float parameter's
        ``1`` is ``1.0``; complex numbers as ``str(complex(v))``), or a ValueError naming
        ``where`` (e.g. grid.T[0]): a value of another type, not among the choices, or out of
        the range :attr:`valid` accepts."""
        if value is None and self.default is None:
            return None
        out = _convert(self.type, value)
        if out is None:
            what = TYPES[self.type] + (" or null" if self.default is None else "")
            raise ValueError(f"spec {where!r}: expected {what}, got {value!r}")
        if self.choices and out not in self.choices:
            raise ValueError(f"spec {where!r}: must be one of {', '.join(self.choices)}, "
                             f"got {value!r}")
        if self.valid is not None:
            try:
                self.valid(name or where, out)
            except ValueError as err:
                raise ValueError(f"spec {where!r}: {err}") from None
        return out


def _convert(kind: str, v: object) -> object | None:
    """``v`` as JSON type ``kind``, or None when it is not one."""
    if kind == "bool":
        return v if isinstance(v, bool) else None
    if kind == "str":
        return v if isinstance(v, str) else None
    if kind == "int":
        return v if isinstance(v, int) and not isinstance(v, bool) else None
    if kind == "float":
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        return float(v) if ok else None
    if not isinstance(v, list):
        return None
    if kind == "complexes":
        items = [_complex(x) for x in v]
    else:
        items = [_convert(kind[:-1], x) for x in v]
    return None if any(x is None for x in items) else items


def _complex(v: object) -> str | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        z = complex(v)
    elif isinstance(v, str):
        try:
            z = complex(v.replace(" ", ""))
        except ValueError:
            return None
    else:
        return None
    return str(z) if math.isfinite(z.real) and math.isfinite(z.imag) else None


def _device(name: str, value: object) -> object:
    """:func:`verify.device.resolve_device` (auto, cpu, cuda, cuda:N; CUDA only when here)."""
    return resolve_device(value)


def _train_T(name: str, value: object) -> object:
    """:func:`verify.training.tasks.check_T` (T >= K)."""
    return check_T(value)


#: ``untangle measure``'s options (its defaults, except T, which a sweep must give, and
#: device, cpu so that a sweep's rows do not depend on the machine's hardware), and
#: ``profile``: also keep the arrays over t in the row.
MEASURE = {
    "T": Param("int", valid=POSITIVE_INT.check),
    "pattern": Param("str", "none", (*PATTERNS, RELEVANCY)),
    "width": Param("int", 4, valid=POSITIVE_INT.check),
    "stride": Param("int", 2, valid=POSITIVE_INT.check),
    "kappa": Param("int", 3, valid=POSITIVE_INT.check),
    "events": Param("ints", [], valid=lambda name, v: event_steps(v, name)),
    "rho": Param("int", 4, valid=NONNEG_INT.check),
    "score": Param("str", "accumulated", tuple(SCORES)),
    "learned": Param("bool", False),
    "include_h0": Param("bool", False),
    "hidden": Param("int", 16, valid=POSITIVE_INT.check),
    "inputs": Param("int", None, valid=POSITIVE_INT.check),
    "spectrum": Param("str", "orthogonal", SPECTRA),
    "scale": Param("float", 1.0, valid=POSITIVE.check),
    "gain": Param("float", 1.0, valid=POSITIVE.check),
    "sigma": Param("floats", None, valid=NONNEGATIVE.check),
    "eigenvalues": Param("complexes", None),
    "nonnormal": Param("float", 0.0, valid=NONNEGATIVE.check),
    "nonlin": Param("str", "tanh", NONLINS),
    "input_scale": Param("float", 1.0, valid=NONNEGATIVE.check),
    "bias_scale": Param("float", 0.0, valid=NONNEGATIVE.check),
    "beta": Param("float", None, valid=NONNEGATIVE.check),
    "gamma": Param("float", None, valid=NONNEGATIVE.check),
    "mode": Param("str", "fixed", MODES),
    "dtype": Param("str", "float64", tuple(DTYPES)),
    "device": Param("str", "cpu", valid=_device),
    "profile": Param("bool", False),
}

_CONFIG = {f.name: f.default for f in fields(Config)}
#: the checks of :class:`verify.training.Config` (and of train()'s steps), field by field
_CONFIG_TYPES = {"task": Param("str", _CONFIG["task"], tuple(TASKS)),
                 "model": Param("str", _CONFIG["model"], MODELS),
                 "T": Param("int", _CONFIG["T"], valid=_train_T),
                 "nu": Param("int", _CONFIG["nu"], valid=POSITIVE_INT.check),
                 "rho": Param("int", _CONFIG["rho"], valid=NONNEG_INT.check),
                 "score": Param("str", _CONFIG["score"], tuple(SCORES)),
                 "hidden": Param("int", _CONFIG["hidden"], valid=POSITIVE_INT.check),
                 "lr": Param("float", _CONFIG["lr"], valid=POSITIVE.check),
                 "batch": Param("int", _CONFIG["batch"], valid=POSITIVE_INT.check),
                 "dtype": Param("str", _CONFIG["dtype"], tuple(DTYPES))}
#: :class:`verify.training.Config`'s fields with its defaults (seed apart), ``steps`` (must be
#: given) and ``device`` (cpu).
TRAIN = {
    **{name: _CONFIG_TYPES.get(name, Param("int", default))
       for name, default in _CONFIG.items() if name != "seed"},
    "steps": Param("int", valid=POSITIVE_INT.check),
    "device": Param("str", "cpu", valid=_device),
}

#: sweep kind -> its parameters
PARAMS: dict[str, dict[str, Param]] = {"measure": MEASURE, "train": TRAIN}

#: sweep kind -> {parameter: (the parameter whose values use it, those values)}: the
#: commands' rules (:mod:`verify.option_uses`). A spec that gives such a parameter where no
#: point of the sweep uses it is refused (:mod:`verify.sweeps.spec`).
USES: dict[str, dict[str, tuple[str, tuple[object, ...]]]] = {
    "measure": {**{name: ("pattern", kinds) for name, kinds in PATTERN_USES.items()},
                **{name: ("spectrum", kinds) for name, kinds in SPECTRUM_USES.items()},
                **{name: ("learned", (True,)) for name in LEARNED_OPTIONS}},
    "train": {name: ("model", SCREENED) for name in SCREENED_OPTIONS},
}
#: sweep kind -> parameters (with a :data:`USES` rule) that enter a point's key only where
#: the point uses them: added after sweep tables were written, they leave those tables' keys
#: as they were (:func:`verify.sweeps.grid.point_key`).
KEYED_WHERE_USED: dict[str, tuple[str, ...]] = {"measure": ("rho", "score")}
