"""The certificate record, its registry, and the helpers every family of certificates shares.

A certificate is the outcome of checking one claim of THEORY.md (Lemma 1, B0..B7, ...) by one
method: symbolic (sympy), exact rational arithmetic, or numeric over seeded random draws. Its
``evidence`` says what was computed and by how much the claim held (the margin).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from bounds import get
from bounds.domains import POSITIVE_INT


def jsonable(value: object) -> object:
    """``value`` with sympy numbers as strings (rationals stay exact), numpy scalars and arrays
    as Python numbers and lists, tuples as lists, mapping keys as strings."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, sp.Basic):
        return int(value) if value.is_Integer else str(value)
    return value


@dataclass(frozen=True)
class Certificate:
    """The result of certifying ``claim`` (a THEORY.md item id) by ``method``.

    ``evidence`` is JSON-ready (it is converted by :func:`jsonable` on construction); it holds
    a one-line ``summary`` and what was computed: sizes, number of cases, the grid, margins.
    """

    claim: str
    method: str
    passed: bool
    evidence: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "evidence", jsonable(self.evidence))

    def to_json(self) -> dict[str, object]:
        """``{"claim", "method", "passed", "evidence"}``."""
        return {"claim": self.claim, "method": self.method, "passed": self.passed,
                "evidence": self.evidence}


def undefined(value: object) -> bool:
    """True for a value no inequality can be read from: NaN, or a sympy number that is not
    extended-real (``zoo`` from a division by zero, ``nan``)."""
    if isinstance(value, sp.Basic):
        return value.is_extended_real is not True
    return bool(np.isnan(value))


@dataclass
class SmallestMargin:
    """Running minimum of ``margin = value - bound`` (or ``bound - value`` for an upper bound)
    over the cases checked, with the case where it occurs. A margin that is undefined (a bound
    evaluating to NaN or ``zoo``) is counted apart and fails the check."""

    value: object = None
    at: dict = field(default_factory=dict)
    cases: int = 0
    undefined: int = 0
    at_undefined: dict = field(default_factory=dict)

    def add(self, margin: object, **case: object) -> None:
        self.cases += 1
        if undefined(margin):
            self.undefined += 1
            if self.undefined == 1:
                self.at_undefined = case
        elif self.value is None or margin < self.value:
            self.value, self.at = margin, case

    @property
    def holds(self) -> bool:
        """True when at least one case was checked, every margin is defined and none is
        negative."""
        return (self.cases > 0 and not self.undefined and self.value is not None
                and self.value >= 0)

    def evidence(self) -> dict[str, object]:
        exact = isinstance(self.value, sp.Basic)
        out = {
            "cases": self.cases,
            "smallest_margin": str(self.value) if exact else self.value,
            "smallest_margin_float": None if self.value is None else float(self.value),
            "at": self.at,
        }
        if self.undefined:
            out["undefined_margins"] = self.undefined
            out["first_undefined_at"] = self.at_undefined
        return out


@dataclass
class Equalities:
    """The cases where a bound is attained, so the certificate requires EQUALITY (exact, or
    within a stated round-off tolerance), not only the inequality: a formula that holds but is
    loose fails here. ``where`` says which cases these are."""

    where: str
    required: int = 0
    failures: list = field(default_factory=list)
    failed: int = 0

    def require(self, equal: bool, **case: object) -> None:
        """Count one attained case; ``equal`` is whether the bound equals the value there."""
        self.required += 1
        if not equal:
            self.failed += 1
            if len(self.failures) < 5:
                self.failures.append(case)

    @property
    def holds(self) -> bool:
        """True when at least one equality was required and every one was met."""
        return self.required > 0 and not self.failed

    def summary(self) -> str:
        return (f"equality required in {self.required} cases ({self.where}), met in "
                f"{self.required - self.failed}")

    def evidence(self) -> dict[str, object]:
        return {"where": self.where, "required": self.required,
                "met": self.required - self.failed, "failures": self.failures}


_REGISTRY: list[Callable[[], Certificate]] = []


def register_certificate(fn: Callable[[], Certificate]) -> Callable[[], Certificate]:
    """Add a zero-argument certificate function to the registry (import order is run order)."""
    _REGISTRY.append(fn)
    return fn


def registered() -> tuple[Callable[[], Certificate], ...]:
    """The registered certificate functions, in registration order."""
    return tuple(_REGISTRY)


def positive_ints(name: str, values: object) -> list[int]:
    """``values`` (an int or a sequence of them) as a list of ints >= 1, or a ValueError
    naming the parameter and the accepted range."""
    arr = np.atleast_1d(np.asarray(list(values) if not np.isscalar(values) else values))
    if arr.size == 0:
        raise ValueError(f"parameter {name!r} must hold at least one integer >= 1")
    return [int(v) for v in POSITIVE_INT.check(name, arr)]


def catalog_symbols(name: str) -> dict[str, sp.Symbol]:
    """The sympy symbols of a catalog bound's parameters, by name (same assumptions)."""
    return {p.name: p.symbol for p in get(name).params}


def substitute(expr: sp.Expr, symbols: Mapping[str, sp.Symbol], **values: object) -> sp.Expr:
    """``expr`` with each named symbol replaced exactly by ``sympify(value)`` (no floats)."""
    return expr.xreplace({symbols[k]: sp.sympify(v) for k, v in values.items()})
