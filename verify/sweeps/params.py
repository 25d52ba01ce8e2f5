"""The parameters a sweep point of each kind takes: their JSON type, default and accepted names.

``measure`` takes the options of ``untangle measure`` (THEORY.md sections 5 and 6; dashes as
underscores), ``train`` those of ``untangle train`` (THEORY.md section 8). The seed is not
among them: a spec gives its seeds apart (:mod:`verify.sweeps.spec`). A spec's values are
checked by type here; ranges and combinations are the point's to check (a point that raises
is recorded with its error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from bounds.patterns import KINDS as PATTERNS
from verify.device import DTYPES
from verify.measurement import MODES
from verify.models.nonlin import KINDS as NONLINS
from verify.models.relevance import SCORES
from verify.models.spectra import KINDS as SPECTRA
from verify.models.zoo import MODELS
from verify.training.config import Config
from verify.training.tasks import TASKS

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
    None) and, for a string, the accepted ``choices``."""

    type: str
    default: object = REQUIRED
    choices: tuple[str, ...] = ()

    def check(self, where: str, value: object) -> object:
        """``value`` in its one canonical form (a float parameter's ``1`` is ``1.0``; complex
        numbers as ``str(complex(v))``), or a ValueError naming ``where`` (e.g. grid.T[0])."""
        if value is None and self.default is None:
            return None
        out = _convert(self.type, value)
        if out is None:
            what = TYPES[self.type] + (" or null" if self.default is None else "")
            raise ValueError(f"spec {where!r}: expected {what}, got {value!r}")
        if self.choices and out not in self.choices:
            raise ValueError(f"spec {where!r}: must be one of {', '.join(self.choices)}, "
                             f"got {value!r}")
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


#: ``untangle measure``'s options (its defaults, except T, which a sweep must give, and
#: device, cpu so that a sweep's rows do not depend on the machine's hardware), and
#: ``profile``: also keep the arrays over t in the row.
MEASURE = {
    "T": Param("int"),
    "pattern": Param("str", "none", PATTERNS),
    "width": Param("int", 4),
    "stride": Param("int", 2),
    "kappa": Param("int", 3),
    "events": Param("ints", []),
    "learned": Param("bool", False),
    "include_h0": Param("bool", False),
    "hidden": Param("int", 16),
    "inputs": Param("int", None),
    "spectrum": Param("str", "orthogonal", SPECTRA),
    "scale": Param("float", 1.0),
    "gain": Param("float", 1.0),
    "sigma": Param("floats", None),
    "eigenvalues": Param("complexes", None),
    "nonnormal": Param("float", 0.0),
    "nonlin": Param("str", "tanh", NONLINS),
    "input_scale": Param("float", 1.0),
    "bias_scale": Param("float", 0.0),
    "beta": Param("float", None),
    "gamma": Param("float", None),
    "mode": Param("str", "fixed", MODES),
    "dtype": Param("str", "float64", tuple(DTYPES)),
    "device": Param("str", "cpu"),
    "profile": Param("bool", False),
}

_CONFIG = {f.name: f.default for f in fields(Config)}
_CONFIG_TYPES = {"task": Param("str", _CONFIG["task"], tuple(TASKS)),
                 "model": Param("str", _CONFIG["model"], MODELS),
                 "score": Param("str", _CONFIG["score"], tuple(SCORES)),
                 "dtype": Param("str", _CONFIG["dtype"], tuple(DTYPES)),
                 "lr": Param("float", _CONFIG["lr"])}
#: :class:`verify.training.Config`'s fields with its defaults (seed apart), ``steps`` (must be
#: given) and ``device`` (cpu).
TRAIN = {
    **{name: _CONFIG_TYPES.get(name, Param("int", default))
       for name, default in _CONFIG.items() if name != "seed"},
    "steps": Param("int"),
    "device": Param("str", "cpu"),
}

#: sweep kind -> its parameters
PARAMS: dict[str, dict[str, Param]] = {"measure": MEASURE, "train": TRAIN}
