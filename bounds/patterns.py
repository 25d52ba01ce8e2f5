"""Fixed attention patterns (THEORY.md sections 1 and 6).

A pattern is a T x T row-stochastic, lower-triangular matrix ``alpha``: row t is supported on
``S_t`` within ``0..t``. It is stored row-compressed (``indptr``, ``indices``, ``weights``), so
patterns with O(T) entries (``none``, ``window``, ``strided``) scale to T = 10^5 and more.
Weights are float64, or exact ``sympy.Rational`` objects when built with ``exact=True``.

The one exception to row-stochasticity is the ``none`` pattern (the plain RNN), whose every row
is empty (``S_t`` empty, so ``c_t = 0``). A matrix with some empty rows and some non-empty rows
is refused: a row of zeros in a user's matrix is far more often a mistake than a design.

The named constructors count a pattern's entries first (:func:`entries`) and refuse, naming
T, one whose arrays could not fit in the machine's physical memory.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy as sp

from bounds.domains import NONNEG_INT, POSITIVE_INT, check_fits, check_seed, count

#: Row sums of a float pattern may differ from 1 by at most this much (absolute); nothing is
#: renormalised. 1e-10 admits float64 round-off of rows with up to ~10^5 entries.
ROW_SUM_ATOL = 1e-10

KINDS = ("none", "uniform", "window", "strided", "sparse", "events")


@dataclass(frozen=True, eq=False)
class Pattern:
    """A validated fixed attention pattern ``alpha`` (THEORY.md section 1).

    Row t holds ``indices[indptr[t]:indptr[t+1]]`` (increasing, within 0..t) with the matching
    ``weights``. Build one with the constructors below or :func:`from_matrix`; the constructor
    of the class itself does not validate.
    """

    T: int
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    kind: str = "matrix"

    @property
    def exact(self) -> bool:
        """True when the weights are exact sympy Rationals."""
        return self.weights.dtype == object

    @property
    def empty(self) -> bool:
        """True for the plain-RNN pattern (every S_t empty)."""
        return self.indices.size == 0

    def row(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """``(S_t, alpha[t, S_t])``."""
        lo, hi = self.indptr[t], self.indptr[t + 1]
        return self.indices[lo:hi], self.weights[lo:hi]

    def support_sizes(self) -> np.ndarray:
        """``|S_t|`` for t = 0..T-1."""
        return np.diff(self.indptr)

    def dense(self) -> np.ndarray:
        """The T x T matrix alpha (float64, or object dtype when exact)."""
        out = np.zeros((self.T, self.T), dtype=self.weights.dtype)
        if self.exact:
            out[:] = sp.Integer(0)
        rows = np.repeat(np.arange(self.T), self.support_sizes())
        out[rows, self.indices] = self.weights
        return out

    def mask(self) -> np.ndarray:
        """Boolean T x T support matrix: ``mask[t, i]`` iff ``i in S_t``."""
        out = np.zeros((self.T, self.T), dtype=bool)
        out[np.repeat(np.arange(self.T), self.support_sizes()), self.indices] = True
        return out


def _check_T(T: object) -> int:
    return int(POSITIVE_INT.check("T", T))


def entries(kind: str, T: int, *, nu: int = 1, k: int = 1, kappa: int = 1,
            E: Sequence[int] = ()) -> int:
    """The number of entries ``sum_t |S_t|`` of the named pattern (:data:`KINDS`), exactly,
    without building it: none 0, uniform T(T+1)/2, window and sparse ``m(m+1)/2 + (T-m) w``
    with ``m = min(w, T)``, strided ``T + sum_t floor(t/k)``, events the window's plus, per
    event e, the rows ``t >= e + nu`` that reach it only as an event."""
    T, nu, k, kappa = int(T), max(int(nu), 1), max(int(k), 1), max(int(kappa), 1)
    if T < 1 or kind == "none":
        return 0
    if kind == "uniform":
        return T * (T + 1) // 2
    if kind == "window":
        return capped_entries(T, nu)
    if kind == "sparse":
        return capped_entries(T, kappa)
    if kind == "strided":
        q, r = divmod(T, k)
        return T + k * q * (q - 1) // 2 + r * q
    if kind == "events":
        return capped_entries(T, nu) + sum(max(0, T - int(e) - nu)
                                           for e in set(E) if 0 <= int(e) < T)
    raise ValueError(f"parameter 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")


def capped_entries(T: int, w: int) -> int:
    """``sum_{t=0}^{T-1} min(t + 1, w)``: the entries of a window of width w over T steps."""
    m = min(w, T)
    return m * (m + 1) // 2 + (T - m) * w


def _check_fits(kind: str, T: int, exact: bool, **sizes: object) -> None:
    """Refuse a pattern whose arrays alone (an index and a weight per entry, 16 bytes, or a
    sympy Rational's 56 for ``exact``; a row pointer per step) exceed physical memory."""
    n = entries(kind, T, **sizes)
    check_fits("T", T, (56 if exact else 16) * n + 8 * (T + 1),
               f"the {kind} pattern ({count(n)} entries)")


def from_supports(
    T: int, supports: Iterable[Iterable[int]], kind: str = "matrix", exact: bool = False
) -> Pattern:
    """The pattern uniform on the given supports: ``alpha[t, i] = 1/|S_t|`` for i in S_t."""
    T = _check_T(T)
    rows = [_support(s) for s in supports]
    if len(rows) != T:
        raise ValueError(f"parameter 'supports' must have T = {T} rows, got {len(rows)}")
    sizes = np.array([r.size for r in rows], dtype=np.int64)
    for t, r in enumerate(rows):
        if r.size and (r[0] < 0 or r[-1] > t):
            raise ValueError(f"parameter 'supports': row {t} must lie within 0..{t} (causal)")
    if sizes.any() and not sizes.all():
        t = int(np.argmin(sizes))
        raise ValueError(f"parameter 'supports': row {t} is empty while others are not")
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    indices = np.concatenate(rows)
    if exact:
        weights = np.array([sp.Rational(1, s) for s in sizes for _ in range(s)], dtype=object)
    else:
        weights = np.repeat(1.0 / np.maximum(sizes, 1), sizes)
    return Pattern(T, indptr, indices, weights, kind)


def _support(s: Iterable[int]) -> np.ndarray:
    """One row's support, increasing and without repeats (a range is taken as it is)."""
    if isinstance(s, range) and s.step > 0:
        return np.arange(s.start, s.stop, s.step, dtype=np.int64)
    return np.unique(np.asarray(list(s), dtype=np.int64))


def none(T: int) -> Pattern:
    """The plain RNN: every ``S_t`` empty (THEORY.md section 6, pattern ``none``)."""
    T = _check_T(T)
    _check_fits("none", T, False)
    return Pattern(T, np.zeros(T + 1, np.int64), np.zeros(0, np.int64), np.zeros(0), "none")


def uniform(T: int, exact: bool = False) -> Pattern:
    """Uniform full attention: ``S_t = {0..t}``, ``alpha[t, i] = 1/(t+1)`` (B4)."""
    T = _check_T(T)
    _check_fits("uniform", T, exact)
    return from_supports(T, (range(t + 1) for t in range(T)), "uniform", exact)


def window(T: int, nu: int, exact: bool = False) -> Pattern:
    """Sliding window of width nu: ``S_t = {max(0, t-nu+1) .. t}`` (B6)."""
    T = _check_T(T)
    nu = int(POSITIVE_INT.check("nu", nu))
    _check_fits("window", T, exact, nu=nu)
    return from_supports(T, (range(max(0, t - nu + 1), t + 1) for t in range(T)), "window", exact)


def strided(T: int, k: int, exact: bool = False) -> Pattern:
    """Strided attention with stride k: ``S_t = {t, t-k, t-2k, ...} ∩ [0, t]``."""
    T = _check_T(T)
    k = int(POSITIVE_INT.check("k", k))
    _check_fits("strided", T, exact, k=k)
    return from_supports(T, (range(t % k, t + 1, k) for t in range(T)), "strided", exact)


def sparse(T: int, kappa: int, seed: int = 0, exact: bool = False) -> Pattern:
    """kappa-sparse random attention: ``S_t = {t}`` plus kappa-1 distinct earlier states drawn
    with ``seed`` (all of ``0..t`` when ``t < kappa``)."""
    T = _check_T(T)
    kappa = int(POSITIVE_INT.check("kappa", kappa))
    _check_fits("sparse", T, exact, kappa=kappa)
    rng = np.random.default_rng(check_seed(seed))
    supports = []
    for t in range(T):
        if t < kappa:
            supports.append(range(t + 1))
        else:
            earlier = rng.choice(t, size=kappa - 1, replace=False)
            supports.append([t, *earlier.tolist()])
    return from_supports(T, supports, "sparse", exact)


def event_steps(E: Iterable[int], name: str = "E", T: int | None = None) -> np.ndarray:
    """The event steps ``E`` of :func:`events`, each an integer >= 0 (below ``T`` when given)
    named once, as a float64 array; else a ValueError naming ``name``."""
    within = "" if T is None else f" in 0..{T - 1}"
    if isinstance(E, str | bytes) or not isinstance(E, Iterable):
        raise ValueError(f"parameter {name!r} must be a sequence of time steps{within}, "
                         f"got {E!r}")
    ev = NONNEG_INT.check(name, list(E)).reshape(-1)
    steps, counts = np.unique(ev, return_counts=True)
    if ev.size and counts.max() > 1:
        twice = int(np.argmax(counts))
        raise ValueError(f"parameter {name!r} must name each time step once, got "
                         f"{steps[twice]:g} {counts[twice]} times")
    if T is not None and ev.size and ev.max() >= T:
        raise ValueError(f"parameter {name!r} must hold time steps{within}, got {ev.max():g}")
    return ev


def events(T: int, E: Sequence[int], nu: int, exact: bool = False) -> Pattern:
    """Relevant events: ``S_t = (E ∩ [0, t]) ∪ {max(0, t-nu+1) .. t}`` (B7); ``E`` names
    each step once."""
    T = _check_T(T)
    nu = int(POSITIVE_INT.check("nu", nu))
    ev = event_steps(E, "E", T).astype(np.int64)
    _check_fits("events", T, exact, nu=nu, E=ev.tolist())
    supports = (
        set(ev[ev <= t].tolist()) | set(range(max(0, t - nu + 1), t + 1)) for t in range(T)
    )
    return from_supports(T, supports, "events", exact)


def from_matrix(alpha: object, atol: float = ROW_SUM_ATOL) -> Pattern:
    """Validate a user-given T x T matrix and return it as a :class:`Pattern`.

    Accepted: square, finite, entrywise >= 0, causal (``alpha[t, i] = 0`` for i > t), every
    row summing to 1 within ``atol`` (or every row zero: the ``none`` pattern). A sympy Matrix
    or an array of sympy Rationals is kept exact and its rows must sum to exactly 1.
    """
    exact = isinstance(alpha, sp.MatrixBase) or (
        isinstance(alpha, np.ndarray) and alpha.dtype == object
    )
    if exact:
        a = np.array(sp.Matrix(alpha).applyfunc(sp.nsimplify).tolist(), dtype=object)
    else:
        try:
            a = np.asarray(alpha, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("parameter 'pattern' must be a numeric T x T matrix") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 1:
        raise ValueError(f"parameter 'pattern' must be a square T x T matrix with T >= 1, "
                         f"got shape {a.shape}")
    T = a.shape[0]
    num = a.astype(float)
    if not np.all(np.isfinite(num)):
        raise ValueError("parameter 'pattern' must be finite (found NaN or inf)")
    if np.any(num < 0):
        t, i = np.argwhere(num < 0)[0]
        raise ValueError(f"parameter 'pattern' must be entrywise >= 0: alpha[{t}, {i}] < 0")
    upper = np.triu(num, k=1)
    if np.any(upper != 0):
        t, i = np.argwhere(upper != 0)[0]
        raise ValueError(f"parameter 'pattern' must be causal (alpha[t, i] = 0 for i > t): "
                         f"alpha[{t}, {i}] = {num[t, i]:g}")
    nonzero = num != 0
    if not nonzero.any():
        return none(T)
    sums = a.sum(axis=1)
    ok = (sums == 1) if exact else np.abs(sums.astype(float) - 1.0) <= atol
    if not np.all(ok):
        t = int(np.argmin(ok))
        raise ValueError(f"parameter 'pattern': row {t} must lie on the simplex (sum to 1"
                         f"{'' if exact else f' within {atol:g}'}), sums to {float(sums[t])!r}")
    sizes = nonzero.sum(axis=1)
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    rows, cols = np.nonzero(nonzero)
    return Pattern(T, indptr, cols.astype(np.int64), a[rows, cols], "matrix")


def load(path: str | Path) -> Pattern:
    """A T x T pattern from a file: ``.npy`` (never unpickled), ``.csv`` (comma-separated
    rows, blank lines ignored) or ``.json`` (a list of rows), validated by
    :func:`from_matrix`. Every refusal is a ValueError naming the pattern file: missing, a
    directory, not of these kinds, empty, not numbers (booleans and objects included), ragged
    rows, not a square causal row-stochastic matrix."""
    p = Path(path)
    where = f"pattern file {str(path)!r}"

    def refuse(why: str) -> ValueError:
        return ValueError(f"parameter 'pattern': {where} {why}")

    def same_length(rows: list[list[float]], names: list[int]) -> list[list[float]]:
        if not rows or not any(rows):
            raise refuse("is empty")
        for name, row in zip(names, rows, strict=True):
            if len(row) != len(rows[0]):
                raise refuse(f"is ragged: row {name} has {len(row)} entries, row {names[0]} "
                             f"has {len(rows[0])}")
        return rows

    def npy() -> np.ndarray:
        with p.open("rb") as f:
            if f.read(6) != b"\x93NUMPY":
                raise refuse("is not a .npy file")
            f.seek(0)
            try:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            except (ValueError, EOFError):
                raise refuse("is not a readable .npy array: its header is damaged") from None
            data = p.stat().st_size - f.tell()
        if not dtype.hasobject:  # an array of Python objects is refused below, unread
            declared = math.prod(shape) * dtype.itemsize
            if declared != data:
                raise refuse(f"is not a readable .npy array: its header declares shape "
                             f"{tuple(shape)} of {dtype} ({declared} bytes), but {data} bytes "
                             f"follow it")
        try:
            a = np.load(p, allow_pickle=False)
        except (ValueError, EOFError):
            raise refuse("is not a readable .npy array of numbers (truncated, or it holds "
                         "Python objects)") from None
        if a.dtype.kind not in "iuf":
            raise refuse(f"must hold real numbers, got dtype {a.dtype}")
        if a.size == 0:
            raise refuse("is empty")
        return a

    def csv(text: str) -> list[list[float]]:
        rows, names = [], []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append([float(cell) for cell in line.split(",")])
                except ValueError:
                    raise refuse(f"line {n}: {line.strip()!r} is not comma-separated "
                                 f"numbers") from None
                names.append(n)
        return same_length(rows, names)

    def rows_of(text: str) -> list[list[float]]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise refuse(f"is not valid JSON ({err.msg}, line {err.lineno})") from None
        if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
            raise refuse("must hold a list of rows, e.g. [[1, 0], [0.5, 0.5]]")
        for n, row in enumerate(data):
            for v in row:
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise refuse(f"row {n}: {json.dumps(v)} is not a number")
        return same_length(data, list(range(len(data))))

    if p.is_dir():
        raise refuse("is a directory")
    if not p.exists():
        raise ValueError(f"parameter 'pattern': no such file {str(path)!r}")
    if not p.is_file():
        raise refuse("is not a regular file")
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".csv", ".json"):
        raise ValueError(f"parameter 'pattern': file must end in .npy, .csv or .json, "
                         f"got {str(path)!r}")
    if suffix == ".npy":
        matrix = npy()
    else:
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise refuse("is not text") from None
        matrix = csv(text) if suffix == ".csv" else rows_of(text)
    try:
        return from_matrix(matrix)
    except ValueError as err:
        raise ValueError(f"{err} (in {where})") from None


def as_pattern(pattern: object) -> Pattern:
    """A :class:`Pattern` as is; anything else through :func:`from_matrix`."""
    return pattern if isinstance(pattern, Pattern) else from_matrix(pattern)


def build(kind: str, T: int, *, nu: int = 1, k: int = 1, kappa: int = 1, seed: int = 0,
          E: Sequence[int] = (), exact: bool = False) -> Pattern:
    """Build a named pattern (THEORY.md section 6); ``kind`` is one of :data:`KINDS`."""
    if kind == "none":
        return none(T)
    if kind == "uniform":
        return uniform(T, exact)
    if kind == "window":
        return window(T, nu, exact)
    if kind == "strided":
        return strided(T, k, exact)
    if kind == "sparse":
        return sparse(T, kappa, seed, exact)
    if kind == "events":
        return events(T, E, nu, exact)
    raise ValueError(f"parameter 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
