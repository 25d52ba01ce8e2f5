"""Typed parameter domains: the accepted range of every catalog parameter, as a sympy symbol
with assumptions and as a numeric check that raises a ValueError naming the parameter."""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass

import numpy as np
import sympy as sp


@dataclass(frozen=True)
class Domain:
    """A real interval ``lo .. hi`` (open or closed at each end), optionally integers only."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = True
    hi_open: bool = True
    integer: bool = False

    def __str__(self) -> str:
        if self.integer:
            hi = "" if math.isinf(self.hi) else f" and <= {self.hi:g}"
            lo = self.lo + 1 if self.lo_open else self.lo
            return f"an integer >= {lo:g}{hi}"
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        lo = "-inf" if math.isinf(self.lo) else f"{self.lo:g}"
        hi = "inf" if math.isinf(self.hi) else f"{self.hi:g}"
        return f"a real number in {left}{lo}, {hi}{right}"

    def assumptions(self) -> dict[str, bool]:
        """sympy assumptions implied by the domain (used to build the parameter's Symbol)."""
        out: dict[str, bool] = {"real": True}
        if self.integer:
            out["integer"] = True
        if self.lo > 0 or (self.lo == 0 and self.lo_open):
            out["positive"] = True
        elif self.lo >= 0:
            out["nonnegative"] = True
        return out

    def check(self, name: str, value: object) -> np.ndarray:
        """Return ``value`` as a float array, or raise ValueError naming ``name`` and the range.
        Booleans, strings and complex numbers are refused: ``True`` is not the number 1 here,
        ``"3"`` is text, and a cast to real would drop an imaginary part without a word."""
        try:
            raw = np.asarray(value)
            if raw.dtype.kind in "bcSU" or _holds_refused(value):
                raise TypeError
            arr = raw.astype(float, copy=False)
        except (TypeError, ValueError):
            raise ValueError(f"parameter {name!r} must be {self}, got {value!r}") from None
        bad = ~np.isfinite(arr)
        bad |= (arr <= self.lo) if self.lo_open else (arr < self.lo)
        bad |= (arr >= self.hi) if self.hi_open else (arr > self.hi)
        if self.integer:
            bad |= arr != np.round(arr)
        if np.any(bad):
            first = np.atleast_1d(arr)[np.atleast_1d(bad)][0]
            raise ValueError(f"parameter {name!r} must be {self}, got {first:g}")
        return arr


#: What :meth:`Domain.check` refuses even where numpy would make a float of it.
_REFUSED = (bool, np.bool_, str, bytes, complex, np.complexfloating)


def _holds_refused(value: object) -> bool:
    """Whether ``value`` is a bool, a string or a complex number, or a (nested) list or tuple
    holding one."""
    if isinstance(value, _REFUSED):
        return True
    return isinstance(value, (list, tuple)) and any(_holds_refused(v) for v in value)


POSITIVE = Domain(lo=0.0)
NONNEGATIVE = Domain(lo=0.0, lo_open=False)
UNIT = Domain(lo=0.0, hi=1.0, hi_open=False)
UNIT_CLOSED = Domain(lo=0.0, hi=1.0, lo_open=False, hi_open=False)
POSITIVE_INT = Domain(lo=0.0, integer=True)
NONNEG_INT = Domain(lo=0.0, lo_open=False, integer=True)


def check_seed(seed: object, top: int | None = None) -> int:
    """``seed`` as an int >= 0 (and <= ``top`` when given), or a ValueError naming it: numpy's
    generators take an int of any size whole, so it is never passed through a float (where
    seeds above 2^53 would collide); floats, bools and negative numbers are refused."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"parameter 'seed' must be an integer >= 0, got {seed!r}")
    if top is not None and seed > top:
        raise ValueError(f"parameter 'seed' must be an integer >= 0 and <= {top}, got {seed}")
    return int(seed)


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(name: str, value: object, need: float, what: str) -> None:
    """Refuse, naming parameter ``name`` = ``value``, a size whose ``what`` needs at least
    ``need`` bytes, more than the machine's physical memory: such a value could only end in
    an allocation failure, or in a loop that runs for ever before it."""
    have = physical_memory()
    if have is not None and need > have:
        raise ValueError(f"parameter {name!r} = {value} is too large: {what} would take at "
                         f"least {count(need)} bytes, more than this machine's memory "
                         f"({count(have)} bytes)")


def count(x: float) -> str:
    """A count or a size in bytes for a message: exact below 10^9, else to 4 digits."""
    return f"{int(x)}" if x < 1e9 else f"{x:.4g}"


@dataclass(frozen=True)
class Param:
    """One typed parameter of a bound: name, meaning, domain and its sympy symbol."""

    name: str
    doc: str
    domain: Domain

    @property
    def symbol(self) -> sp.Symbol:
        return sp.Symbol(self.name, **self.domain.assumptions())
