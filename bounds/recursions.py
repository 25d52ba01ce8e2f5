"""The dependency graph G and its O(edges) backward recursions (THEORY.md sections 2-4).

Edge ``i -> t+1`` carries ``w(i -> t+1) = beta*[i == t] + gamma*alpha[t, i]`` and exists iff
the weight is nonzero. Every quantity of the catalog over a fixed pattern is one backward pass
over the nodes ``T, T-1, .., 0`` in some semiring:

* scalar path sum  ``P_x(t) = sum_xi W(xi) prod_{k in xi, k > t} x_k``   (sum, product)
* max-product path ``M_x(t) = max_xi W(xi) prod x_k``                    (max, product)
* dependency depth ``d(t, T)``, the fewest edges from t to T               (min, plus)

each also in the log domain (log-sum-exp / max-plus on natural logs), so that products over
10^5 steps are reported as finite logarithms instead of underflowing to 0.
Paths are never enumerated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from bounds.domains import NONNEGATIVE, POSITIVE
from bounds.patterns import Pattern, as_pattern


@dataclass(frozen=True)
class Graph:
    """Predecessors of every node j = 1..T of G: ``src[ptr[j-1]:ptr[j]]`` with ``weight``."""

    T: int
    ptr: np.ndarray
    src: np.ndarray
    weight: np.ndarray

    def preds(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """``(i, w(i -> j))`` for the edges into node ``j``."""
        lo, hi = self.ptr[j - 1], self.ptr[j]
        return self.src[lo:hi], self.weight[lo:hi]

    def num_edges(self) -> int:
        return int(self.src.size)


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

    Exact (sympy) when the pattern or beta or gamma is; then the other coefficient must be an
    int or a sympy number."""
    p = as_pattern(pattern)
    beta, gamma = _coefficient("beta", beta), _coefficient("gamma", gamma)
    exact = p.exact or isinstance(beta, sp.Basic) or isinstance(gamma, sp.Basic)
    if exact:
        beta, gamma = _exact("beta", beta), _exact("gamma", gamma)
    dtype = object if exact else float
    steps = np.arange(p.T)
    src = np.concatenate([p.indices, steps])
    dst = np.concatenate([np.repeat(steps, p.support_sizes()), steps]) + 1
    w = np.concatenate([gamma * p.weights.astype(dtype), np.full(p.T, beta, dtype=dtype)])
    order = np.lexsort((src, dst))
    src, dst, w = src[order], dst[order], w[order]
    first = np.flatnonzero(np.r_[True, (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])])
    src, dst, w = src[first], dst[first], np.add.reduceat(w, first)
    keep = w != 0
    src, dst, w = src[keep], dst[keep], w[keep].astype(dtype)
    ptr = np.searchsorted(dst, np.arange(1, p.T + 2))
    return Graph(p.T, ptr, src, w)


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
    """Per-step values x_1..x_T (a scalar is broadcast); positive, finite; exact stays exact."""
    arr = np.asarray(x)
    if arr.dtype != object:
        arr = POSITIVE.check(name, arr)
    elif not all(v.is_positive and v.is_finite for v in arr.ravel()):
        raise ValueError(f"parameter {name!r} must be {POSITIVE}")
    if g.weight.dtype == object and arr.dtype != object:
        arr = np.array([_exact(name, v) for v in arr.ravel()], dtype=object).reshape(arr.shape)
    if arr.ndim == 0:
        arr = np.full(g.T, arr.item(), dtype=arr.dtype)
    if arr.shape != (g.T,):
        raise ValueError(f"parameter {name!r} must be a scalar or have length T = {g.T} "
                         f"(x_1..x_T), got shape {arr.shape}")
    return arr


def _backward(g: Graph, x: np.ndarray, ring: _Semiring) -> np.ndarray:
    """``p_T = one``, ``p_i = plus_{j > i} w(i->j) x_j p_j``; returns p_0..p_{T}."""
    exact = not ring.log and (x.dtype == object or g.weight.dtype == object)
    p = np.full(g.T + 1, ring.zero, dtype=object if exact else float)
    p[g.T] = ring.one
    w = np.log(g.weight.astype(float)) if ring.log else g.weight
    xs = np.log(x.astype(float)) if ring.log else x
    for j in range(g.T, 0, -1):
        lo, hi = g.ptr[j - 1], g.ptr[j]
        if lo == hi:
            continue
        idx = g.src[lo:hi]
        step = ring.times(xs[j - 1], p[j])
        p[idx] = ring.plus(p[idx], ring.times(w[lo:hi], step))
    return p


def _profile(pattern: object, beta: object, gamma: object, x: object, name: str,
             ring: _Semiring, log10: bool) -> np.ndarray:
    g = graph(pattern, beta, gamma)
    xs = _steps(g, x, name)
    p = _backward(g, xs, _LOGSUM if ring is _SUM else _LOGMAX) if log10 else _backward(g, xs, ring)
    return (p[:-1].astype(float) / np.log(10.0)) if log10 else p[:-1]


def path_sum(pattern: object, beta: object, gamma: object, x: object,
             log10: bool = False) -> np.ndarray:
    """Scalar path sum ``P_x(t)`` for t = 0..T-1 (THEORY.md section 4); ``x`` holds x_1..x_T.

    With ``log10=True`` returns ``log10 P_x(t)`` computed in the log domain (-inf where no path
    reaches T). Exact (sympy Rational) inputs give exact outputs in the linear domain.
    """
    return _profile(pattern, beta, gamma, x, "x", _SUM, log10)


def max_path(pattern: object, beta: object, gamma: object, x: object,
             log10: bool = False) -> np.ndarray:
    """Max-product path ``M_x(t) = max_xi W(xi) prod x_k`` for t = 0..T-1 (THEORY.md §4)."""
    return _profile(pattern, beta, gamma, x, "x", _MAX, log10)


def dominant_path(pattern: object, beta: object, gamma: object, mu: object,
                  lam: object) -> tuple[np.ndarray, np.ndarray]:
    """For every t, the path xi* maximising ``W(xi) prod mu_k`` (ties: the later successor),
    and ``(log10 W(xi*) prod mu_k, log10 W(xi*) prod lambda_k)`` along it (B3)."""
    g = graph(pattern, beta, gamma)
    lmu = np.log(_steps(g, mu, "mu").astype(float))
    llam = np.log(_steps(g, lam, "lam").astype(float))
    best = np.full(g.T + 1, -np.inf)
    along = np.full(g.T + 1, -np.inf)
    best[g.T] = along[g.T] = 0.0
    lw = np.log(g.weight.astype(float))
    for j in range(g.T, 0, -1):
        lo, hi = g.ptr[j - 1], g.ptr[j]
        idx = g.src[lo:hi]
        # associated as in _backward, so a lone path's product matches P bit for bit
        cand = lw[lo:hi] + (lmu[j - 1] + best[j])
        better = cand > best[idx]
        best[idx] = np.where(better, cand, best[idx])
        along[idx] = np.where(better, lw[lo:hi] + (llam[j - 1] + along[j]), along[idx])
    return best[:-1] / np.log(10.0), along[:-1] / np.log(10.0)


def dependency_depth(pattern: object, beta: object, gamma: object,
                     min_weight: float = 0.0) -> np.ndarray:
    """``d(t, T)``: fewest edges on a path from t to T in G, for t = 0..T-1 (THEORY.md §3).

    Breadth-first distance computed by the (min, +) recursion; ``inf`` where T is unreachable.
    With ``min_weight`` > 0 only edges of weight ``>= min_weight`` count (B5's strong paths).
    """
    g = graph(pattern, beta, gamma)
    strong = g.weight.astype(float) >= min_weight
    d = np.full(g.T + 1, np.inf)
    d[g.T] = 0.0
    for j in range(g.T, 0, -1):
        lo, hi = g.ptr[j - 1], g.ptr[j]
        idx = g.src[lo:hi][strong[lo:hi]]
        d[idx] = np.minimum(d[idx], d[j] + 1.0)
    return d[:-1]


def sparsity(pattern: object) -> int:
    """``kappa = max_t |S_t|`` (THEORY.md section 3); 0 for the ``none`` pattern."""
    p: Pattern = as_pattern(pattern)
    return int(p.support_sizes().max())
