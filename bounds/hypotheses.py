"""Hypotheses of the catalog's bounds, as text and, where one exists, a machine-checkable
predicate over what a measurement knows: the pattern, beta, gamma and the Jacobians J_k."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bounds.patterns import as_pattern
from bounds.recursions import dependency_depth, sparsity

#: Relative tolerance for "J_k is a multiple of I" on measured float64 Jacobians: round-off of
#: diag(phi') V is a few ulps of ||J_k||, so 1e-12 separates aligned from generic matrices.
ALIGNED_RTOL = 1e-12


@dataclass(frozen=True)
class Hypothesis:
    """One hypothesis: a key, its statement, and a predicate over named context values."""

    key: str
    text: str
    needs: tuple[str, ...] = ()
    predicate: Callable[..., bool] | None = None

    def check(self, **context: object) -> bool | None:
        """True/False when the predicate exists and the context has what it needs, else None."""
        if self.predicate is None or any(context.get(k) is None for k in self.needs):
            return None
        return bool(self.predicate(**{k: context[k] for k in self.needs}))


def _jacobians(jac: object) -> np.ndarray:
    j = np.asarray(jac, dtype=float)
    if j.ndim != 3 or j.shape[1] != j.shape[2]:
        raise ValueError(f"parameter 'jac' must have shape (T, n, n), got {j.shape}")
    return j


def is_aligned(jac: object) -> bool:
    """Every ``J_k = c_k I`` with ``c_k > 0`` (B2), up to :data:`ALIGNED_RTOL`."""
    j = _jacobians(jac)
    n = j.shape[1]
    c = np.trace(j, axis1=1, axis2=2) / n
    off = np.abs(j - c[:, None, None] * np.eye(n)).max(axis=(1, 2))
    scale = np.abs(j).max(axis=(1, 2))
    return bool(np.all(c > 0) and np.all(off <= ALIGNED_RTOL * scale))


def is_nonnegative(jac: object) -> bool:
    """Every J_k entrywise >= 0 (B2+)."""
    return bool(np.all(_jacobians(jac) >= 0))


def is_rnn(gamma: float) -> bool:
    """``gamma = 0``: no attention term (B0)."""
    return float(gamma) == 0.0


def is_beta_zero(beta: float) -> bool:
    """``beta = 0``: no direct recurrent term (the exact form of B4)."""
    return float(beta) == 0.0


def is_uniform_full(pattern: object) -> bool:
    """``S_t = {0..t}`` with ``alpha[t, i] = 1/(t+1)`` (B4)."""
    p = as_pattern(pattern)
    t = np.repeat(np.arange(p.T), p.support_sizes())
    return bool(np.array_equal(p.support_sizes(), np.arange(1, p.T + 1))
                and np.allclose(p.weights.astype(float), 1.0 / (t + 1), rtol=1e-12, atol=0))


def has_strong_paths(pattern: object, beta: float, gamma: float) -> bool:
    """B5's hypothesis at every t: a shortest path t -> T (d(t, T) edges) uses only edges of
    weight ``>= gamma/kappa``."""
    p = as_pattern(pattern)
    kappa = sparsity(p)
    if kappa == 0 or float(gamma) == 0:
        return False
    d = dependency_depth(p, beta, gamma)
    strong = dependency_depth(p, beta, gamma, min_weight=float(gamma) / kappa * (1 - 1e-12))
    return bool(np.all(strong == d) and np.all(np.isfinite(d)))


HYPOTHESES: dict[str, Hypothesis] = {
    h.key: h
    for h in (
        Hypothesis("fixed_alpha", "attention weights alpha are held fixed (detached)"),
        Hypothesis("rnn", "gamma = 0 (plain RNN)", ("gamma",), is_rnn),
        Hypothesis("aligned", "every J_k = c_k I with c_k > 0", ("jac",), is_aligned),
        Hypothesis("nonnegative", "every J_k is entrywise nonnegative", ("jac",), is_nonnegative),
        Hypothesis("beta_zero", "beta = 0", ("beta",), is_beta_zero),
        Hypothesis("uniform_full", "uniform full attention: S_t = {0..t}, alpha = 1/(t+1)",
                   ("pattern",), is_uniform_full),
        Hypothesis("aligned_or_nonnegative",
                   "every J_k = c_k I, or every J_k entrywise nonnegative",
                   ("jac",), lambda jac: is_aligned(jac) or is_nonnegative(jac)),
        Hypothesis("mu_floor", "mu_k >= mu > 0 for every step k on the path"),
        Hypothesis("strong_path",
                   "a path of d edges from t to T has every edge weight >= gamma/kappa",
                   ("pattern", "beta", "gamma"), has_strong_paths),
        Hypothesis("window", "sliding window of width nu, uniform on its support"),
        Hypothesis("retained_event",
                   "event i is in the relevant set (never evicted) and every step attends "
                   "to at most nu + rho states, uniformly"),
    )
}
