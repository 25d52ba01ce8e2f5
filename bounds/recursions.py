"""The dependency graph G and its O(edges) backward recursions (THEORY.md sections 2-4).

Edge ``i -> t+1`` carries ``w(i -> t+1) = beta*[i == t] + gamma*alpha[t, i]`` and exists iff
the weight is nonzero. Every quantity of the catalog over a fixed pattern is one backward pass
over the nodes ``T, T-1, .., 0`` in some semiring:

* scalar path sum  ``P_x(t) = sum_xi W(xi) prod_{k in xi, k > t} x_k``   (sum, product)
* max-product path ``M_x(t) = max_xi W(xi) prod x_k``                    (max, product)
* dependency depth ``d(t, T)``, the fewest edges from t to T               (min, plus)

each also in the log domain (log-sum-exp / max-plus on natural logs), so that products over
10^5 steps are reported as finite logarithms instead of underflowing to 0. A float linear
value is checked against its log-domain twin and replaced by it where a running product
over- or underflowed on the way (:func:`_checked`), so it is the exact value to 1e-9
relative (inf past 1e308, 0 below the subnormal range) whatever the path products did.
Per-step values may be 0 (THEORY.md section 9: a dead step): a path through such a step
contributes 0 (log -inf), and a quantity every path of which crosses one is 0 (log -inf).
Paths are never enumerated.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from bounds.domains import NONNEGATIVE
from bounds.patterns import Pattern, as_pattern


@dataclass(frozen=True)
class Graph:
    """Predecessors of every node j = 1..T of G: ``src[ptr[j-1]:ptr[j]]`` with ``weight``.

    ``weight`` is float64 or exact. For a float graph ``log_weight`` is its natural log formed
    from the logs of beta, gamma and alpha, so it stays accurate where the float product
    underflows (an edge of weight 1e-330 is in G with log weight -759.9, though its float
    weight is 0); an exact graph forms it on demand (:meth:`logs`)."""

    T: int
    ptr: np.ndarray
    src: np.ndarray
    weight: np.ndarray
    log_weight: np.ndarray | None = None
    #: The last :data:`MEMO_SIZE` float path sums and depths over this graph, by (semiring,
    #: steps) or minimum weight: one measurement's verdicts ask for log10 P_lambda more than
    #: once (B1, B3), and d(t, T) twice (its depth, B5's hypothesis).
    memo: dict[tuple[str, bytes], np.ndarray] = field(default_factory=dict, repr=False,
                                                       compare=False)

    def logs(self) -> np.ndarray:
        """Natural logs of the edge weights (of exact rationals from their integer numerator
        and denominator, so that no weight underflows)."""
        if self.log_weight is not None:
            return self.log_weight
        return np.array([math.log(w.p) - math.log(w.q) if w.is_Rational else math.log(float(w))
                         for w in self.weight], dtype=float)

    def preds(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """``(i, w(i -> j))`` for the edges into node ``j``."""
        lo, hi = self.ptr[j - 1], self.ptr[j]
        return self.src[lo:hi], self.weight[lo:hi]

    def num_edges(self) -> int:
        return int(self.src.size)

    def dst(self) -> np.ndarray:
        """The head j of every edge, aligned with ``src``."""
        return np.repeat(np.arange(1, self.T + 1), np.diff(self.ptr))


def _coefficient(name: str, value: object) -> object:
    """beta or gamma: a finite real >= 0; sympy numbers stay exact."""
    if isinstance(value, sp.Basic):
        if not (value.is_real and value.is_finite and value >= 0):
            raise ValueError(f"parameter {name!r} must be {NONNEGATIVE}, got {value}")
        return value
    return float(NONNEGATIVE.check(name, value))


def _exact(name: str, value: object) -> object:
    """In exact arithmetic, an int becomes a sympy Integer; a float is refused, not rounded."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, (int, np.integer)) or float(value).is_integer():
        return sp.Integer(int(value))
    raise ValueError(f"parameter {name!r} must be an int or a sympy number when the pattern "
                     f"or another coefficient is exact, got the float {value!r}")


def graph(pattern: object, beta: object, gamma: object) -> Graph:
    """The dependency graph G of THEORY.md section 2 for a fixed pattern and beta, gamma.

    ``i -> j`` is an edge iff ``w(i -> j) != 0`` in real arithmetic: the attention terms are
    present iff gamma != 0 (pattern entries are positive), the recurrent ones iff beta != 0.
    Exact (sympy) when the pattern or beta or gamma is; then the other coefficient must be an
    int or a sympy number.

    A float graph is kept with its :class:`~bounds.patterns.Pattern` object (read-only arrays,
    freed with the pattern), so the bounds and the measurement of one run build it once."""
    p = as_pattern(pattern)
    beta, gamma = _coefficient("beta", beta), _coefficient("gamma", gamma)
    exact = p.exact or isinstance(beta, sp.Basic) or isinstance(gamma, sp.Basic)
    if exact:
        return _build(p, _exact("beta", beta), _exact("gamma", gamma), True)
    built = _GRAPHS.setdefault(p, {})
    key = (float(beta), float(gamma))
    if key not in built:
        g = _build(p, beta, gamma, False)
        for a in (g.ptr, g.src, g.weight, g.log_weight):
            a.setflags(write=False)
        built[key] = g
    return built[key]


#: Float graphs built per pattern object and (beta, gamma), freed with the pattern.
_GRAPHS: weakref.WeakKeyDictionary[Pattern, dict[tuple[float, float], Graph]] = \
    weakref.WeakKeyDictionary()


def _build(p: Pattern, beta: object, gamma: object, exact: bool) -> Graph:
    """:func:`graph`'s construction. A pattern's rows are increasing within 0..t, so the
    recurrent edge t -> t+1 goes last among node t+1's predecessors: it is inserted after
    each row, in O(edges), and added to the attention edge t -> t+1 where S_t holds t
    (attention first, as the sum over the lexicographic edge order)."""
    dtype = object if exact else float
    steps = np.arange(p.T)
    none = np.zeros(0, np.int64)
    src, dst, w, lw = none, none, np.zeros(0, dtype), np.zeros(0)
    if gamma != 0:
        src, dst = p.indices.astype(np.int64), np.repeat(steps, p.support_sizes())
        if np.any(src > dst) or np.any((np.diff(dst) == 0) & (np.diff(src) <= 0)):
            raise ValueError("parameter 'pattern' must have increasing indices within 0..t "
                             "in every row t")
        w = gamma * p.weights.astype(dtype)
        lw = np.log(gamma) + np.log(p.weights) if not exact else lw
    if beta != 0:
        at = p.indptr[1:] if gamma != 0 else np.zeros(p.T, np.int64)
        src, dst = np.insert(src, at, steps), np.insert(dst, at, steps)
        w = np.insert(w, at, np.full(p.T, beta, dtype=dtype))
        lw = np.insert(lw, at, np.full(p.T, np.log(beta))) if not exact else lw
    dst = dst + 1
    dup = np.flatnonzero((src[1:] == src[:-1]) & (dst[1:] == dst[:-1]))
    if dup.size:
        w[dup] = w[dup] + w[dup + 1]
        if not exact:
            lw[dup] = np.logaddexp(lw[dup], lw[dup + 1])
        keep = np.ones(src.size, bool)
        keep[dup + 1] = False
        src, dst, w = src[keep], dst[keep], w[keep]
        lw = lw[keep] if not exact else lw
    ptr = np.searchsorted(dst, np.arange(1, p.T + 2))
    return Graph(p.T, ptr, src, w, None if exact else lw)


@dataclass(frozen=True)
class _Semiring:
    zero: object
    one: object
    plus: np.ufunc
    times: np.ufunc
    log: bool


_SUM = _Semiring(0, 1, np.add, np.multiply, False)
_MAX = _Semiring(0, 1, np.maximum, np.multiply, False)
_LOGSUM = _Semiring(-np.inf, 0.0, np.logaddexp, np.add, True)
_LOGMAX = _Semiring(-np.inf, 0.0, np.maximum, np.add, True)


def _steps(g: Graph, x: object, name: str) -> np.ndarray:
    """Per-step values x_1..x_T (a scalar is broadcast); finite and >= 0; exact stays exact."""
    arr = np.asarray(x)
    if arr.dtype == object:
        vals = [sp.sympify(v) for v in arr.ravel()]
        bad = [v for v in vals if not (v >= 0 if v.is_Rational else
                                       v.is_real and v.is_finite and v.is_nonnegative)]
        if bad:
            raise ValueError(f"parameter {name!r} must be {NONNEGATIVE}, got {bad[0]}")
        arr = np.array(vals, dtype=object).reshape(arr.shape)
    else:
        arr = NONNEGATIVE.check(name, arr)
    if g.weight.dtype == object and arr.dtype != object:
        arr = np.array([_exact(name, v) for v in arr.ravel()], dtype=object).reshape(arr.shape)
    check_step_shape(g.T, arr, name)
    return np.full(g.T, arr.item(), dtype=arr.dtype) if arr.ndim == 0 else arr


def check_step_shape(T: int, x: object, name: str) -> None:
    """Refuse per-step values ``x`` (x_1..x_T) that are neither one number nor T of them,
    naming ``name``."""
    shape = np.shape(x)
    if shape not in ((), (T,)):
        raise ValueError(f"parameter {name!r} must be a scalar or have length T = {T} "
                         f"({name}_1..{name}_T), got shape {shape}")


def _log(x: np.ndarray) -> np.ndarray:
    """Natural log of values >= 0 as floats, with log 0 = -inf (no warning)."""
    with np.errstate(divide="ignore"):
        return np.log(x.astype(float))


def _backward(g: Graph, x: np.ndarray, ring: _Semiring) -> np.ndarray:
    """``p_T = one``, ``p_i = plus_{j > i} w(i->j) x_j p_j``; returns p_0..p_{T}."""
    exact = not ring.log and (x.dtype == object or g.weight.dtype == object)
    p = np.full(g.T + 1, ring.zero, dtype=object if exact else float)
    p[g.T] = ring.one
    w = g.logs() if ring.log else g.weight
    xs = _log(x) if ring.log else x
    with np.errstate(over="ignore"):  # a linear value past 1e308 is inf; the log domain has it
        for j in range(g.T, 0, -1):
            lo, hi = g.ptr[j - 1], g.ptr[j]
            if lo == hi or xs[j - 1] == ring.zero:  # a dead step adds nothing (not 0 * inf)
                continue
            idx = g.src[lo:hi]
            step = ring.times(xs[j - 1], p[j])
            p[idx] = ring.plus(p[idx], ring.times(w[lo:hi], step))
    return p


#: Path sums and depths a float graph keeps (:attr:`Graph.memo`), the oldest dropped first.
MEMO_SIZE = 4


def _profile(pattern: object, beta: object, gamma: object, x: object, name: str,
             ring: _Semiring, log10: bool) -> np.ndarray:
    g = graph(pattern, beta, gamma)
    xs = _steps(g, x, name)
    if xs.dtype == object:  # exact steps, or steps made exact for an exact graph
        return _profiled(g, xs, ring, log10)
    key = (f"{'sum' if ring is _SUM else 'max'}{' log10' if log10 else ''}",
           xs.astype(float).tobytes())
    return _memo(g, key, lambda: _profiled(g, xs, ring, log10))


def _memo(g: Graph, key: tuple[str, bytes], compute: Callable[[], np.ndarray]) -> np.ndarray:
    """A copy of ``g.memo[key]``, computed first where the graph does not hold it (the oldest
    entries dropped to keep :data:`MEMO_SIZE`); safe with threads: at worst two compute the
    same values."""
    value = g.memo.get(key)
    if value is None:
        value = compute()
        for old in list(g.memo)[:max(0, len(g.memo) - MEMO_SIZE + 1)]:
            g.memo.pop(old, None)
        g.memo[key] = value
    return value.copy()


def _profiled(g: Graph, xs: np.ndarray, ring: _Semiring, log10: bool) -> np.ndarray:
    """:func:`_profile`'s recursion: log10 values from the log semiring, or linear ones
    checked against it (:func:`_checked`)."""
    log_ring = _LOGSUM if ring is _SUM else _LOGMAX
    if log10:
        return _backward(g, xs, log_ring)[:-1].astype(float) / np.log(10.0)
    p = _backward(g, xs, ring)[:-1]
    return p if p.dtype == object else _checked(p, _backward(g, xs, log_ring)[:-1])


def _checked(linear: np.ndarray, logs: np.ndarray) -> np.ndarray:
    """Float linear values, each replaced by ``exp`` of its log-domain twin (natural logs)
    where the two differ by more than 1e-9 relative: the linear recursion loses a path whose
    running product over- or underflowed on the way (1e-300 * 1e-200 is 0 before a later
    1e200 would have brought it back), the log domain does not. Elsewhere the linear value
    is kept: to a few ulps, against ``|ln value|`` ulps through exp."""
    with np.errstate(over="ignore", under="ignore"):
        twin = np.exp(logs.astype(float))
    return np.where(np.isclose(linear, twin, rtol=1e-9, atol=0.0), linear, twin)


def path_sum(pattern: object, beta: object, gamma: object, x: object,
             log10: bool = False, *, name: str = "x") -> np.ndarray:
    """Scalar path sum ``P_x(t)`` for t = 0..T-1 (THEORY.md section 4); ``x`` holds x_1..x_T,
    each >= 0 (a refusal calls it ``name``: a bound's lam or c).

    With ``log10=True`` returns ``log10 P_x(t)`` computed in the log domain (-inf where no path
    reaches T or every path crosses a step with x_k = 0). Exact (sympy Rational) inputs give
    exact outputs in the linear domain.
    """
    return _profile(pattern, beta, gamma, x, name, _SUM, log10)


def max_path(pattern: object, beta: object, gamma: object, x: object,
             log10: bool = False, *, name: str = "x") -> np.ndarray:
    """Max-product path ``M_x(t) = max_xi W(xi) prod x_k`` for t = 0..T-1 (THEORY.md §4);
    x_k >= 0, 0 (log10 -inf) where every path crosses a step with x_k = 0 (a refusal calls x
    ``name``)."""
    return _profile(pattern, beta, gamma, x, name, _MAX, log10)


def _better(cand: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Elementwise ``cand > best``, for floats and for exact sympy numbers alike."""
    if cand.dtype != object:
        return cand > best
    return np.array([bool(c > b) for c, b in zip(cand, best, strict=True)], dtype=bool)


def _select(g: Graph, mu: np.ndarray) -> np.ndarray:
    """The first edge of xi*(i) for every node i = 0..T (-1 at T and where T is unreachable):
    the edge to the latest successor j maximising ``w(i->j) mu_j M_mu(j)``. Compared exactly
    for exact inputs, else on logs (no underflow ties); a node all of whose paths have
    W prod mu = 0 still gets a path (its latest successor that reaches T)."""
    exact = g.weight.dtype == object or mu.dtype == object
    w, x = (g.weight, mu) if exact else (g.logs(), _log(mu))
    times = np.multiply if exact else np.add
    best = np.zeros(g.T + 1, dtype=object if exact else float)
    best[g.T] = 1 if exact else 0.0
    edge = np.full(g.T + 1, -1)
    chosen = np.zeros(g.T + 1, dtype=bool)
    chosen[g.T] = True
    for j in range(g.T, 0, -1):
        lo, hi = g.ptr[j - 1], g.ptr[j]
        if lo == hi or not chosen[j]:
            continue
        idx = g.src[lo:hi]
        cand = times(w[lo:hi], times(x[j - 1], best[j]))
        better = ~chosen[idx]
        better[~better] = _better(cand[~better], best[idx][~better])
        best[idx[better]] = cand[better]
        edge[idx[better]] = np.arange(lo, hi)[better]
        chosen[idx] = True
    return edge


def _along(g: Graph, edge: np.ndarray, x: np.ndarray, log: bool) -> np.ndarray:
    """``W(xi*) prod x_k`` along the selected paths, for nodes 0..T (0 / -inf where none),
    associated as in :func:`_backward` so that a lone path matches P_x bit for bit."""
    exact = not log and (x.dtype == object or g.weight.dtype == object)
    w, xs = (g.logs(), _log(x)) if log else (g.weight, x)
    times = np.add if log else np.multiply
    v = np.full(g.T + 1, -np.inf if log else 0, dtype=object if exact else float)
    v[g.T] = 0 if log else 1
    dst = g.dst()
    dead = -np.inf if log else 0
    with np.errstate(over="ignore"):  # as in _backward
        for i in range(g.T - 1, -1, -1):
            e = edge[i]
            if e >= 0:
                j = dst[e]
                v[i] = dead if xs[j - 1] == dead else times(w[e], times(xs[j - 1], v[j]))
    return v


def dominant_path(pattern: object, beta: object, gamma: object, mu: object, lam: object,
                  log10: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """For every t = 0..T-1, ``(W(xi*) prod mu_k, W(xi*) prod lambda_k)`` along the path
    xi*(t) maximising ``W(xi) prod mu_k`` (B3): from t the latest successor j maximising
    ``w(t->j) mu_j M_mu(j)``, then xi*(j); so the first value is ``M_mu(t)``. Where every path
    has a step with mu_k = 0, xi*(t) is still a path (the latest successors), with first value
    0. Returns log10 values (-inf for 0 or where T is unreachable) when ``log10``, else linear
    values (exact for exact inputs)."""
    g = graph(pattern, beta, gamma)
    mu, lam = _steps(g, mu, "mu"), _steps(g, lam, "lam")
    edge = _select(g, mu)
    lead, along = (_along(g, edge, x, log10)[:-1] for x in (mu, lam))
    if log10:
        return lead / np.log(10.0), along / np.log(10.0)
    if lead.dtype == object:
        return lead, along
    return tuple(_checked(v, _along(g, edge, x, True)[:-1])
                 for v, x in ((lead, mu), (along, lam)))


def dependency_depth(pattern: object, beta: object, gamma: object,
                     min_weight: float = 0.0) -> np.ndarray:
    """``d(t, T)``: fewest edges on a path from t to T in G, for t = 0..T-1 (THEORY.md §3).

    Breadth-first distance computed by the (min, +) recursion; ``inf`` where T is unreachable.
    With ``min_weight`` > 0 only edges of weight ``>= min_weight`` count (B5's strong paths).
    """
    g = graph(pattern, beta, gamma)

    def depth() -> np.ndarray:
        strong = g.weight.astype(float) >= min_weight
        d = np.full(g.T + 1, np.inf)
        d[g.T] = 0.0
        for j in range(g.T, 0, -1):
            lo, hi = g.ptr[j - 1], g.ptr[j]
            idx = g.src[lo:hi][strong[lo:hi]]
            d[idx] = np.minimum(d[idx], d[j] + 1.0)
        return d[:-1]

    if g.weight.dtype == object:
        return depth()
    return _memo(g, ("depth", np.float64(min_weight).tobytes()), depth)


def sparsity(pattern: object) -> int:
    """``kappa = max_t |S_t|`` (THEORY.md section 3); 0 for the ``none`` pattern."""
    p: Pattern = as_pattern(pattern)
    return int(p.support_sizes().max())
