"""Hypotheses of the catalog's bounds: each a statement and a machine-checkable predicate over
what a measured run knows (THEORY.md sections 4 and 9). This module is the one source of truth
for applicability: a measurement keeps the raw facts (pattern, beta, gamma, per-step values,
the relevant-set trace) and every verdict asks the predicates here.

A predicate reads named context values and returns an :class:`Outcome`: whether the hypothesis
holds (for the whole run, or per t = 0..T-1) and, where it fails, why. Context keys:

* ``mode`` (``fixed``/``full``) and ``learned`` (attention weights depend on the states);
* ``beta``, ``gamma``, ``pattern`` (the weights the run actually used, a :class:`Pattern`);
* ``jac`` (T, n, n) step Jacobians, or ``steps``, their summary :func:`step_summary`;
* ``mu_steps`` (mu_k, k = 1..T) and ``mu`` (a scalar or per-t lower bound used for mu_k);
* ``relevant_time``, ``alpha_last``, ``nu``, ``rho``: a relevancy model's trace of the
  measured sequence (:func:`retained_events`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bounds.patterns import Pattern, as_pattern
from bounds.recursions import dependency_depth, sparsity

#: Relative tolerance for "J_k is a multiple of I" on measured float64 Jacobians: round-off of
#: diag(phi') V is a few ulps of ||J_k||, so 1e-12 separates aligned from generic matrices.
ALIGNED_RTOL = 1e-12
#: Relative tolerance for pattern weights compared with a closed form (uniform, window).
WEIGHT_RTOL = 1e-12
#: :func:`step_summary` works on at most this many entries at once (32 MB of float64).
SUMMARY_ENTRIES = 2**22


@dataclass(frozen=True)
class Outcome:
    """``holds``: a bool for the whole run, or a bool array over t; None when the context lacks
    what the predicate needs. ``why_not``: the reason it fails (where it fails)."""

    holds: bool | np.ndarray | None
    why_not: str = ""

    @property
    def everywhere(self) -> bool | None:
        """True/False for the whole run (all t), None when unknown."""
        return None if self.holds is None else bool(np.all(self.holds))


def step_summary(jac: object) -> dict[str, np.ndarray]:
    """Per step k = 1..T of measured Jacobians (T, n, n): ``aligned`` (J_k = c_k I up to
    :data:`ALIGNED_RTOL`), ``c`` (trace(J_k)/n, the c_k where aligned) and ``nonnegative``
    (J_k entrywise >= 0)."""
    j = np.asarray(jac, dtype=float)
    if j.ndim != 3 or j.shape[1] != j.shape[2]:
        raise ValueError(f"parameter 'jac' must have shape (T, n, n), got {j.shape}")
    n = j.shape[1]
    c = np.trace(j, axis1=1, axis2=2) / n
    off, scale = np.empty(j.shape[0]), np.empty(j.shape[0])
    nonnegative = np.empty(j.shape[0], dtype=bool)
    step = max(1, SUMMARY_ENTRIES // max(1, n * n))  # temporaries of bounded size
    for lo in range(0, j.shape[0], step):
        part, cs = j[lo:lo + step], c[lo:lo + step]
        off[lo:lo + step] = np.abs(part - cs[:, None, None] * np.eye(n)).max(axis=(1, 2))
        scale[lo:lo + step] = np.abs(part).max(axis=(1, 2))
        nonnegative[lo:lo + step] = np.all(part >= 0, axis=(1, 2))
    return {"aligned": off <= ALIGNED_RTOL * scale, "c": c, "nonnegative": nonnegative}


def factored_step_summary(d: np.ndarray, V: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`step_summary` of ``J_k = diag(d_k) V`` (d (T, n), V (n, n), float32 or float64,
    finite) from the factors, in O(T n + n^2): the values of :func:`step_summary` of the dense
    ``fl(d_ki V_ij)`` bit for bit. Rounding is monotone and odd, so a row's largest
    ``|fl(d_i V_ij)|`` is ``fl(|d_i| max_j |V_ij|)`` (off the diagonal and in all), and its
    smallest ``fl(d_i V_ij)`` is ``fl(d_i min_j V_ij)`` for ``d_i > 0``, ``fl(d_i max_j V_ij)``
    for ``d_i < 0`` and a zero for ``d_i = 0``."""
    d, V = np.asarray(d), np.asarray(V)
    if d.ndim != 2 or V.shape != (d.shape[1], d.shape[1]) or d.dtype != V.dtype:
        raise ValueError(f"parameters 'd' and 'V' must have shapes (T, n) and (n, n) and one "
                         f"dtype, got {d.shape} {d.dtype} and {V.shape} {V.dtype}")
    if not (np.isfinite(d).all() and np.isfinite(V).all()):
        raise ValueError("parameters 'd' and 'V' must be finite")
    n = V.shape[0]
    A = np.abs(V)
    off_max = np.where(np.eye(n, dtype=bool), 0, A).max(axis=1)   # 0 is below every |V_ij|
    diag = (d * np.diagonal(V)).astype(float)                      # J_k's diagonal (T, n)
    c = diag.sum(axis=1) / n
    off = np.maximum((np.abs(d) * off_max).astype(float).max(axis=1),
                     np.abs(diag - c[:, None]).max(axis=1))
    scale = (np.abs(d) * A.max(axis=1)).astype(float).max(axis=1)
    low = np.where(d > 0, d * V.min(axis=1), np.where(d < 0, d * V.max(axis=1), 0))
    return {"aligned": off <= ALIGNED_RTOL * scale, "c": c,
            "nonnegative": np.all(low >= 0, axis=1)}


def _steps(context: dict[str, object]) -> dict[str, np.ndarray] | None:
    if context.get("steps") is not None:
        return context["steps"]
    return None if context.get("jac") is None else step_summary(context["jac"])


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0]) + 1


def aligned(steps: dict[str, np.ndarray]) -> Outcome:
    """Every J_k = c_k I with c_k >= 0 (B2)."""
    if not np.all(steps["aligned"]):
        return Outcome(False, f"J_k is not a multiple of I (first at k = "
                              f"{_first(~steps['aligned'])})")
    if np.any(steps["c"] < 0):
        return Outcome(False, f"J_k = c_k I with c_k < 0 (first at k = {_first(steps['c'] < 0)})")
    return Outcome(True)


def aligned_constant(steps: dict[str, np.ndarray]) -> Outcome:
    """Every J_k = c I with one c > 0 (B4's exact form)."""
    out = aligned(steps)
    if not out.holds:
        return out
    c = steps["c"]
    if not (c[0] > 0 and np.allclose(c, c[0], rtol=ALIGNED_RTOL, atol=0)):
        return Outcome(False, "J_k = c_k I with c_k not one constant c > 0")
    return Outcome(True)


def nonnegative(steps: dict[str, np.ndarray]) -> Outcome:
    """Every J_k entrywise >= 0 (B2+)."""
    if np.all(steps["nonnegative"]):
        return Outcome(True)
    return Outcome(False, f"J_k has a negative entry (first at k = "
                          f"{_first(~steps['nonnegative'])})")


def aligned_or_nonnegative(steps: dict[str, np.ndarray]) -> Outcome:
    """Every J_k = c_k I (c_k >= 0), or every J_k entrywise >= 0 (B4-B7: paths cannot
    cancel)."""
    a, b = aligned(steps), nonnegative(steps)
    if a.holds or b.holds:
        return Outcome(True)
    return Outcome(False, f"paths may cancel: {a.why_not}; {b.why_not}")


def is_aligned(jac: object) -> bool:
    """Every ``J_k = c_k I`` with ``c_k > 0`` (B2), up to :data:`ALIGNED_RTOL`."""
    steps = step_summary(jac)
    return bool(aligned(steps).holds and np.all(steps["c"] > 0))


def is_nonnegative(jac: object) -> bool:
    """Every J_k entrywise >= 0 (B2+)."""
    return bool(nonnegative(step_summary(jac)).holds)


def fixed_alpha(mode: str, learned: bool) -> Outcome:
    """The Jacobian measured is the one with attention weights held fixed (Lemma 1)."""
    if mode == "full" and learned:
        return Outcome(False, "attention is learned and live (mode full): the measured "
                              "Jacobian has score terms")
    return Outcome(True)


def rnn(gamma: float, pattern: Pattern | None = None) -> Outcome:
    """``gamma = 0``, or no attention at all (an empty pattern): the plain RNN (B0)."""
    if float(gamma) == 0.0 or (pattern is not None and as_pattern(pattern).empty):
        return Outcome(True)
    return Outcome(False, f"gamma = {float(gamma):g} with a non-empty attention pattern")


def beta_zero(beta: float) -> Outcome:
    """``beta = 0``: no direct recurrent term (the exact form of B4)."""
    return Outcome(True) if float(beta) == 0.0 else Outcome(False, f"beta = {float(beta):g}")


def _uniform_rows(p: Pattern, sizes: np.ndarray) -> bool:
    """Row t of ``p`` holds ``sizes[t] >= 1`` entries, each ``1/sizes[t]`` to a relative
    :data:`WEIGHT_RTOL` (as ``numpy.isclose``). Checked on each row's smallest and largest
    weight, which bound ``|w - 1/s|`` over the row: O(T) memory beside the weights."""
    if not np.array_equal(p.support_sizes(), sizes):
        return False
    if not sizes.size:
        return True
    w = np.asarray(p.weights, dtype=float)
    b = 1.0 / sizes
    return all(np.isclose(f.reduceat(w, p.indptr[:-1]), b, rtol=WEIGHT_RTOL, atol=0).all()
               for f in (np.minimum, np.maximum))


def is_uniform_full(pattern: object) -> bool:
    """``S_t = {0..t}`` with ``alpha[t, i] = 1/(t+1)`` (B4): t + 1 entries in row t, which
    lie within 0..t, each 1/(t+1)."""
    p = as_pattern(pattern)
    return _uniform_rows(p, np.arange(1, p.T + 1))


def uniform_full(pattern: Pattern) -> Outcome:
    """Uniform full attention (B4)."""
    if is_uniform_full(pattern):
        return Outcome(True)
    return Outcome(False, f"the pattern ({as_pattern(pattern).kind}) is not uniform full "
                          f"attention S_t = {{0..t}}, alpha = 1/(t+1)")


def window_width(pattern: object) -> int | None:
    """``nu`` when the pattern is the sliding window of width nu, uniform on its support
    (THEORY.md section 6), else None."""
    p = as_pattern(pattern)
    if p.empty:
        return None
    nu = sparsity(p)
    t = np.arange(p.T)
    sizes = np.minimum(t + 1, nu)
    # row t's s increasing entries within 0..t are {t-s+1..t} iff the first is t-s+1
    same = (_uniform_rows(p, sizes)
            and np.array_equal(p.indices[p.indptr[:-1]], t - sizes + 1))
    return nu if same else None


def is_window(pattern: Pattern) -> Outcome:
    """A sliding window of width nu, uniform on its support (B6)."""
    if window_width(pattern) is not None:
        return Outcome(True)
    return Outcome(False, f"the pattern ({as_pattern(pattern).kind}) is not a sliding window "
                          f"uniform on its support")


def strong_paths(pattern: object, beta: float, gamma: float) -> np.ndarray:
    """Per t: a shortest path t -> T (d(t, T) edges) uses only edges of weight
    ``>= gamma/kappa`` (B5's hypothesis; False where T is unreachable, and everywhere for a
    pattern that attends nothing, kappa = 0). With gamma = 0 every edge qualifies: the
    hypothesis is reachability, and the bound (gamma mu/kappa)^d is 0."""
    p = as_pattern(pattern)
    kappa = sparsity(p)
    if kappa == 0:
        return np.zeros(p.T, dtype=bool)
    d = dependency_depth(p, beta, gamma)
    strong = dependency_depth(p, beta, gamma, min_weight=float(gamma) / kappa * (1 - 1e-12))
    return (strong == d) & np.isfinite(d)


def has_strong_paths(pattern: object, beta: float, gamma: float) -> bool:
    """B5's hypothesis at every t (:func:`strong_paths`)."""
    return bool(np.all(strong_paths(pattern, beta, gamma)))


def strong_path(pattern: Pattern, beta: float, gamma: float) -> Outcome:
    """Per t: a path of d(t, T) edges each of weight >= gamma/kappa (B5)."""
    ok = strong_paths(pattern, beta, gamma)
    return Outcome(ok, "" if ok.all() else "no shortest path t -> T with every edge weight "
                                           ">= gamma/kappa")


def mu_floor(mu: object, mu_steps: object) -> Outcome:
    """Per t: ``mu <= mu_k`` for every step k = t+1..T (the scalar mu of B4-B7)."""
    steps = np.asarray(mu_steps, dtype=float)
    floor = np.minimum.accumulate(steps[::-1])[::-1]  # min over k >= t+1, at index t
    ok = np.broadcast_to(np.asarray(mu, dtype=float), floor.shape) <= floor
    return Outcome(ok, "" if ok.all() else "mu exceeds some mu_k on the way to T")


def retained_events(relevant_time: object, alpha_last: object, nu: int, rho: int
                    ) -> np.ndarray:
    """Per t = 0..T-1, from a relevancy model's trace of one sequence: ``relevant_time``
    (T, rho), the time index in each relevant-set slot when step s attends (-1: empty), and
    ``alpha_last`` (T,), the weights of step T-1. True where h_t entered the relevant set
    (step t + nu) and stayed to step T-1, and step T-1 gives it weight >= 1/(nu + rho): then
    the hop t -> T weighs >= gamma/(nu + rho) (B7)."""
    held = np.asarray(relevant_time, dtype=np.int64)
    T = held.shape[0]
    # A state is in the set only from step t + nu on, at most once per step: it stayed to
    # the end iff it is held at all T - (t + nu) of those steps.
    count = np.bincount(held[held >= 0], minlength=T)[:T]
    t = np.arange(T)
    floor = 1.0 / (nu + rho) * (1 - WEIGHT_RTOL)
    weights = np.asarray(alpha_last, dtype=float)
    return (t >= 1) & (t + nu <= T - 1) & (count == T - t - nu) & (weights >= floor)


def retained_event(relevant_time: object, alpha_last: object, nu: int, rho: int) -> Outcome:
    """Per t: h_t is a relevant event retained to the end, attended at step T-1 with weight
    >= 1/(nu + rho) (B7; :func:`retained_events`)."""
    ok = retained_events(relevant_time, alpha_last, nu, rho)
    return Outcome(ok, "" if ok.all() else "h_t is not a relevant event retained to step T-1 "
                                           "with weight >= 1/(nu+rho)")


@dataclass(frozen=True)
class Hypothesis:
    """One hypothesis: a key, its statement, the context keys its predicate needs (and those it
    reads when present), and the predicate (returning an :class:`Outcome`)."""

    key: str
    text: str
    needs: tuple[str, ...] = ()
    predicate: Callable[..., Outcome] | None = None
    optional: tuple[str, ...] = ()
    #: What a run lacking the needed context is told (default: the missing keys).
    unmeasured: str = ""

    def evaluate(self, **context: object) -> Outcome:
        """The outcome on ``context`` (module docstring); ``holds`` None when the context lacks
        what the predicate needs, with the missing keys in ``why_not``."""
        context = {**context, "steps": _steps(context)}
        missing = [k for k in self.needs if context.get(k) is None]
        if self.predicate is None or missing:
            return Outcome(None, self.unmeasured or f"{self.key} not measured (needs "
                                                    f"{', '.join(missing) or 'a predicate'})")
        given = [k for k in self.optional if context.get(k) is not None]
        return self.predicate(**{k: context[k] for k in (*self.needs, *given)})

    def check(self, **context: object) -> bool | None:
        """True/False for the whole run where the predicate can run on ``context``, else
        None."""
        return self.evaluate(**context).everywhere


NO_JACOBIANS = "J_k is not defined for this cell (no step Jacobians)"

HYPOTHESES: dict[str, Hypothesis] = {
    h.key: h
    for h in (
        Hypothesis("fixed_alpha", "attention weights alpha are held fixed (detached)",
                   ("mode", "learned"), fixed_alpha),
        Hypothesis("rnn", "gamma = 0 (plain RNN)", ("gamma",), rnn, ("pattern",)),
        Hypothesis("aligned", "every J_k = c_k I with c_k >= 0", ("steps",), aligned,
                   unmeasured=NO_JACOBIANS),
        Hypothesis("aligned_constant", "every J_k = c I with one constant c > 0", ("steps",),
                   aligned_constant, unmeasured=NO_JACOBIANS),
        Hypothesis("nonnegative", "every J_k is entrywise nonnegative", ("steps",), nonnegative,
                   unmeasured=NO_JACOBIANS),
        Hypothesis("beta_zero", "beta = 0", ("beta",), beta_zero),
        Hypothesis("uniform_full", "uniform full attention: S_t = {0..t}, alpha = 1/(t+1)",
                   ("pattern",), uniform_full),
        Hypothesis("aligned_or_nonnegative",
                   "every J_k = c_k I, or every J_k entrywise nonnegative", ("steps",),
                   aligned_or_nonnegative),
        Hypothesis("mu_floor", "mu_k >= mu for every step k on the way from t to T",
                   ("mu", "mu_steps"), mu_floor),
        Hypothesis("strong_path",
                   "a path of d edges from t to T has every edge weight >= gamma/kappa",
                   ("pattern", "beta", "gamma"), strong_path),
        Hypothesis("window", "sliding window of width nu, uniform on its support",
                   ("pattern",), is_window),
        Hypothesis("retained_event",
                   "h_t is a relevant event in the relevant set to the end (never evicted), "
                   "attended at step T-1 with weight >= 1/(nu + rho)",
                   ("relevant_time", "alpha_last", "nu", "rho"), retained_event,
                   unmeasured="the run has no relevant set (B7 is about relevancy screening)"),
    )
}
