"""Verdicts: every catalog bound held against a measured Jacobian profile (THEORY.md section 9).

Per bound and per t = 0..T-1:

* **applicable**: the bound's hypotheses hold on the measured run, checked by
  :mod:`bounds.hypotheses` on what the measurement kept (mode, pattern actually used, beta,
  gamma, per-step J_k summaries, mu_k, the relevant-set trace); where not, which failed.
  Parameters outside a closed form's domain (e.g. beta > 1 for B0) also make it not applicable.
* **holds**: measured <= bound (upper), >= bound (lower), = bound (exact), up to a rounding
  allowance: with ``u`` the dtype's unit roundoff, ``m = T - t`` steps, ``n`` the hidden size
  and ``S`` the log10 magnitude of the computation (the largest of measured, bound and the path
  sum P_lambda(t), whose terms every G_t sums), the two sides may differ by
  ``SAFETY * u * m * (n + ln(10) * |S|) * 10**S``: m products of n x n matrices carry a
  relative error of order m n u, and a log-scale accumulated over m steps one of m u |ln 10^S|.
* **margin** ``log10 measured - log10 bound`` and the tightest point (smallest |margin|).

A violation beyond the allowance where the hypotheses hold is a finding
(:class:`Finding`), reported with what reproduces it (the measurement's ``source``).

Closed-form bounds take the per-t parameters the measurement implies: ``mu`` the least mu_k on
the way (k = t+1..T), ``lam`` the largest lambda_k (B0), ``d`` = d(t, T) and ``kappa`` the
sparsity of the pattern used (B5), ``nu`` its window width (B6), ``nu``, ``rho`` of the
relevant set (B7).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bounds import CATALOG, get, hypotheses
from bounds.recursions import sparsity
from verify.progress import Tick

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from verify.measurement.jacobian_profile import Measurement

#: Unit roundoff u of each dtype (half the machine epsilon).
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24}
#: Safety factor on the rounding allowance (module docstring).
SAFETY = 4.0
LN10 = math.log(10.0)


@dataclass(frozen=True)
class Finding:
    """A bound violated beyond the rounding allowance on a run where its hypotheses hold."""

    bound: str
    theory_id: str
    t: int
    log10_measured: float
    log10_bound: float
    allowance: float
    reproduce: str

    def __str__(self) -> str:
        return (f"FINDING {self.theory_id} {self.bound} violated at t = {self.t}: log10 measured "
                f"{self.log10_measured:.12g}, log10 bound {self.log10_bound:.12g} (allowed "
                f"relative {self.allowance:.2g}); reproduce: {self.reproduce}")


@dataclass(frozen=True)
class Verdict:
    """One bound against one measurement; arrays over t = 0..T-1 (module docstring).

    ``log10_bound`` and ``margin`` are nan where the bound does not apply; ``holds`` is False
    there (a bound that does not apply is neither held nor violated); ``why_not`` says which
    hypotheses failed, ``failed`` names them (hypothesis keys, ``step_jacobians`` for a cell
    without J_k, ``parameters`` for values outside a closed form's domain)."""

    name: str
    theory_id: str
    kind: str
    applicable: np.ndarray
    why_not: str
    failed: tuple[str, ...]
    log10_measured: np.ndarray
    log10_bound: np.ndarray
    allowance: np.ndarray
    holds: np.ndarray
    tolerance: str
    reproduce: str = ""

    @property
    def margin(self) -> np.ndarray:
        """``log10 measured - log10 bound`` (nan where not applicable; +-inf where one side is
        0)."""
        with np.errstate(invalid="ignore"):
            return self.log10_measured - self.log10_bound

    @property
    def applicable_at(self) -> int:
        return int(self.applicable.sum())

    @property
    def holds_at(self) -> int:
        return int((self.applicable & self.holds).sum())

    @property
    def violations(self) -> np.ndarray:
        """The t where the bound applies and is violated beyond the allowance."""
        return np.flatnonzero(self.applicable & ~self.holds)

    def _pick(self, key: Callable[[np.ndarray], np.ndarray]) -> tuple[int, float] | None:
        where = np.flatnonzero(self.applicable & np.isfinite(self.margin))
        if where.size == 0:
            return None
        t = int(where[np.argmin(key(self.margin[where]))])
        return t, float(self.margin[t])

    @property
    def worst(self) -> tuple[int, float] | None:
        """(t, margin) where the bound comes closest to failing or fails most: the largest
        margin of an upper bound, the smallest of a lower one, the largest |margin| of an
        exact one; None where no finite margin applies."""
        sign = {"upper": lambda m: -m, "lower": lambda m: m, "exact": lambda m: -np.abs(m)}
        return self._pick(sign[self.kind])

    @property
    def tightest(self) -> tuple[int, float] | None:
        """(t, margin) with the smallest |margin|: where the bound comes closest to the
        measurement."""
        return self._pick(np.abs)

    def plot(self, path: str | os.PathLike[str] | None = None, title: str = "") -> Figure:
        """The measured norm, this bound where it applies and its violations against t
        (:func:`verify.measurement.plots.verdict_figure`); saved to ``path`` when given
        (:func:`~verify.measurement.plots.save`: its folder must exist)."""
        from verify.measurement.plots import save, verdict_figure

        return save(lambda: verdict_figure(self, title), path)

    def findings(self) -> list[Finding]:
        return [Finding(self.name, self.theory_id, int(t), float(self.log10_measured[t]),
                        float(self.log10_bound[t]), float(self.allowance[t]), self.reproduce)
                for t in self.violations]

    def summary(self) -> str:
        """One line: applicable or why not; holds at N of T; worst margin; tightest point."""
        T = self.applicable.size
        head = f"{self.theory_id:<4} {self.name:<20} {self.kind:<6}"
        if not self.applicable.any():
            return f"{head} not applicable: {self.why_not}"
        line = f"{head} holds at {self.holds_at} of {self.applicable_at} t"
        if self.applicable_at < T:
            line += f" (applies at {self.applicable_at} of {T}; elsewhere {self.why_not})"
        if self.worst is not None:
            t, m = self.worst
            line += f"; worst margin {m:+.3g} at t={t}"
        if self.tightest is not None:
            t, m = self.tightest
            line += f"; tightest at t={t} ({m:+.3g} decades)"
        if self.violations.size:
            line += f"; VIOLATED at t = {_some(self.violations)}"
        return line

    def to_json(self) -> dict[str, object]:
        worst, tight = self.worst, self.tightest
        return {
            "bound": self.name, "theory_id": self.theory_id, "kind": self.kind,
            "applicable": bool(self.applicable.any()), "applicable_at": self.applicable_at,
            "why_not": self.why_not or None, "failed_hypotheses": list(self.failed),
            "holds_at": self.holds_at, "violations": self.violations.tolist(),
            "worst": None if worst is None else {"t": worst[0], "margin": worst[1]},
            "tightest": None if tight is None else {"t": tight[0], "margin": tight[1]},
            "tolerance": self.tolerance,
        }


def _some(ts: np.ndarray, k: int = 8) -> str:
    shown = ", ".join(str(int(t)) for t in ts[:k])
    return shown + (f", ... ({ts.size} in all)" if ts.size > k else "")


def _suffix(values: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
    """``ufunc`` over steps k = t+1..T for each t: values[t:] reduced (index t of the result)."""
    return ufunc.accumulate(values[::-1])[::-1]


def context(m: Measurement) -> dict[str, object]:
    """What :mod:`bounds.hypotheses` reads, from the measurement."""
    ctx: dict[str, object] = {"mode": m.mode, "learned": m.learned, "beta": m.beta,
                              "gamma": m.gamma, "pattern": m.pattern, "steps": m.steps,
                              "mu_steps": m.mu}
    trace = m.trace
    if trace is not None and trace.relevant_time is not None:
        ctx.update(relevant_time=trace.relevant_time[0].cpu().numpy(),
                   alpha_last=trace.alpha[0, -1].cpu().double().numpy(),
                   nu=trace.nu, rho=trace.rho)
    if m.mu is not None:
        ctx["mu"] = _suffix(m.mu, np.minimum)
    return ctx


def _log10(name: str, **params: object) -> np.ndarray:
    return np.asarray(get(name).log10(**params), dtype=float)


def _profile(m: Measurement, name: str, **steps: np.ndarray) -> np.ndarray:
    return _log10(name, pattern=m.pattern, beta=m.beta, gamma=m.gamma, **steps)


def _rnn_upper(m: Measurement, ctx: dict) -> np.ndarray:
    return _log10("rnn_upper", beta=m.beta, lam=_suffix(m.lam, np.maximum), T=m.T,
                  t=np.arange(m.T))


def _uniform_lower(m: Measurement, ctx: dict) -> np.ndarray:
    return _log10("uniform_lower", gamma=m.gamma, mu=ctx["mu"], T=m.T)


def _uniform_exact(m: Measurement, ctx: dict) -> np.ndarray:
    return _log10("uniform_exact", c=m.steps["c"][0], gamma=m.gamma, T=m.T, t=np.arange(m.T))


def _sparse_lower(m: Measurement, ctx: dict) -> np.ndarray:
    out = np.full(m.T, np.nan)
    reach = np.isfinite(m.depth) & (m.depth >= 1)
    out[reach] = _log10("sparse_lower", gamma=m.gamma, mu=ctx["mu"][reach],
                        kappa=sparsity(m.pattern), d=m.depth[reach])
    return out


def _window_lower(m: Measurement, ctx: dict) -> np.ndarray:
    return _log10("window_lower", gamma=m.gamma, mu=ctx["mu"],
                  nu=hypotheses.window_width(m.pattern), T=m.T, t=np.arange(m.T))


def _relevancy_lower(m: Measurement, ctx: dict) -> np.ndarray:
    return np.broadcast_to(_log10("relevancy_lower", gamma=m.gamma, mu=ctx["mu"],
                                  nu=ctx["nu"], rho=ctx["rho"]), (m.T,))


#: Catalog name -> the log10 bound over t on a measurement (given the hypotheses' context).
EVALUATE: dict[str, Callable[[Measurement, dict], np.ndarray]] = {
    "rnn_upper": _rnn_upper,
    "uniform_lower": _uniform_lower,
    "uniform_exact": _uniform_exact,
    "sparse_lower": _sparse_lower,
    "window_lower": _window_lower,
    "relevancy_lower": _relevancy_lower,
    "path_sum_upper": lambda m, ctx: _profile(m, "path_sum_upper", lam=m.lam),
    "aligned_exact": lambda m, ctx: _profile(m, "aligned_exact", c=m.steps["c"]),
    "nonneg_lower": lambda m, ctx: _profile(m, "nonneg_lower", mu=m.mu),
    "dominant_path_lower": lambda m, ctx: _profile(m, "dominant_path_lower", mu=m.mu,
                                                   lam=m.lam),
}


def _scale(m: Measurement) -> np.ndarray:
    """log10 P_lambda(t), the size of the terms every G_t sums (-inf without lambda_k)."""
    if m.lam is None:
        return np.full(m.T, -np.inf)
    return _profile(m, "path_sum_upper", lam=m.lam)


def tolerance_text(dtype: str) -> str:
    """How the rounding allowance is derived (module docstring), with the dtype's u."""
    return (f"|measured - bound| <= {SAFETY:g} u (T - t)(n + ln10 |S|) 10^S, "
            f"u = {UNIT_ROUNDOFF[dtype]:.3g} ({dtype}), "
            f"S = max(log10 measured, log10 bound, log10 P_lambda(t))")


def _holds(kind: str, measured: np.ndarray, bound: np.ndarray, scale: np.ndarray,
           allowance_of: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(holds, allowance) per t, comparing 10**measured and 10**bound relative to 10**S."""
    bound = np.where(np.isnan(bound), -np.inf, bound)  # not applicable: no size
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        S = np.fmax(np.fmax(measured, bound), scale)
        allowance = allowance_of(S)
        finite = np.isfinite(S)
        a = np.where(finite, 10.0 ** (measured - np.where(finite, S, 0.0)), 0.0)
        b = np.where(finite, 10.0 ** (bound - np.where(finite, S, 0.0)), 0.0)
    if kind == "upper":
        ok = a <= b + allowance
    elif kind == "lower":
        ok = a >= b - allowance
    else:
        ok = np.abs(a - b) <= allowance
    return ok | ~finite, allowance


def steps_of(bounds: str | Iterable[str] | None = None) -> int:
    """The steps :func:`compare` ticks for ``bounds``."""
    return 1 + len(_names(bounds))


def _names(bounds: str | Iterable[str] | None) -> list[str]:
    if bounds is None:
        return list(CATALOG)
    items = [bounds] if isinstance(bounds, str) else list(bounds)
    return [get(b).name for b in items]


def compare(m: Measurement, bounds: str | Iterable[str] | None = None, *,
            tick: Tick | None = None) -> dict[str, Verdict]:
    """The :class:`Verdict` of each bound (names or THEORY ids; all of the catalog by default)
    on measurement ``m``, in catalog order; ``tick`` (:mod:`verify.progress`) is told of one
    step for the scale of the terms and one per bound (:func:`steps_of` in all)."""
    ctx = context(m)
    T, n = m.T, m.n
    u = UNIT_ROUNDOFF[m.dtype]
    steps = T - np.arange(T)
    scale = _scale(m)
    if tick is not None:
        tick(1)

    def allowance_of(S: np.ndarray) -> np.ndarray:
        return SAFETY * u * steps * (n + LN10 * np.abs(np.nan_to_num(S, neginf=0.0)))

    # each hypothesis is decided once; B1's bound is the scale P_lambda itself
    outcomes: dict[str, hypotheses.Outcome] = {}
    known = {} if m.lam is None else {"path_sum_upper": scale}
    out = {}
    for name in _names(bounds):
        bound = get(name)
        ok = np.ones(T, dtype=bool)
        reasons, failed = [], []
        for key in bound.hypotheses:
            if key not in outcomes:
                outcomes[key] = hypotheses.HYPOTHESES[key].evaluate(**ctx)
            outcome = outcomes[key]
            if outcome.holds is None:
                ok[:] = False
                reasons.append(outcome.why_not)
                failed.append(key)
            elif not np.all(outcome.holds):
                ok &= np.broadcast_to(np.asarray(outcome.holds, dtype=bool), (T,))
                reasons.append(outcome.why_not)
                failed.append(key)
        if m.lam is None and {"lam", "mu", "c"} & set(bound.param_names()):
            ok[:] = False
            reasons.append(hypotheses.NO_JACOBIANS)
            failed.append("step_jacobians")
        log10_bound = np.full(T, np.nan)
        if ok.any():
            try:
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    log10_bound = known[name] if name in known else EVALUATE[name](m, ctx)
            except ValueError as err:
                ok[:] = False
                reasons.append(str(err))
                failed.append("parameters")
            ok &= ~np.isnan(log10_bound)
        log10_bound = np.where(ok, log10_bound, np.nan)
        holds, allowance = _holds(bound.kind, m.log10_norm2, log10_bound, scale, allowance_of)
        out[name] = Verdict(name, bound.theory_id, bound.kind, ok, "; ".join(reasons),
                            tuple(failed), m.log10_norm2, log10_bound, allowance, holds & ok,
                            tolerance_text(m.dtype), m.source)
        if tick is not None:
            tick(1)
    return out
