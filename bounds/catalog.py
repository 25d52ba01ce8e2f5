"""The bound catalog B0-B7 of THEORY.md section 4: one :class:`Bound` per item.

Two shapes of bound:

* :class:`ClosedFormBound` (B0, B4, B5, B6, B7): a sympy expression in typed scalar parameters,
  lambdified once into a numpy-vectorised evaluator, with a log10 form derived symbolically
  (``expand_log``; ``log Gamma`` becomes ``loggamma``) so it stays finite where the value
  underflows.
* :class:`ProfileBound` (B1, B2, B2+, B3): a function of a fixed pattern, beta, gamma and
  per-step arrays, evaluated for every t = 0..T-1 by the O(edges) recursions of
  :mod:`bounds.recursions`, in the linear or the log domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp

from bounds.domains import (
    NONNEG_INT,
    NONNEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    UNIT,
    UNIT_CLOSED,
    Domain,
    Param,
)
from bounds.hypotheses import HYPOTHESES
from bounds.patterns import as_pattern
from bounds.recursions import check_step_shape, dominant_path, max_path, path_sum

LN10 = float(np.log(10.0))


@dataclass(frozen=True)
class Bound:
    """A named claim of THEORY.md section 4 with its statement, hypotheses and parameters."""

    name: str
    theory_id: str
    kind: str  # "upper", "lower" or "exact"
    statement: str
    latex: str
    hypotheses: tuple[str, ...]
    params: tuple[Param, ...]

    @property
    def expr(self) -> sp.Expr | None:
        return None

    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def _bind(self, kw: dict[str, object]) -> dict[str, object]:
        expected = ", ".join(self.param_names())
        unknown = sorted(set(kw) - set(self.param_names()))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r} for bound {self.name!r}; "
                             f"expected: {expected}")
        missing = [n for n in self.param_names() if n not in kw]
        if missing:
            raise ValueError(f"missing parameter {missing[0]!r} for bound {self.name!r}; "
                             f"expected: {expected}")
        return {p.name: self._check(p, kw[p.name]) for p in self.params}

    def _check(self, p: Param, value: object) -> object:
        return value if p.domain is None else p.domain.check(p.name, value)

    def check_hypotheses(self, **context: object) -> dict[str, bool | None]:
        """Each hypothesis key -> True/False where a predicate could run on ``context``."""
        return {k: HYPOTHESES[k].check(**context) for k in self.hypotheses}

    def describe(self) -> dict[str, object]:
        """A JSON-ready description (the CLI's ``bounds show``)."""
        return {
            "name": self.name,
            "theory_id": self.theory_id,
            "kind": self.kind,
            "statement": self.statement,
            "latex": self.latex,
            "hypotheses": [HYPOTHESES[k].text for k in self.hypotheses],
            "params": {p.name: f"{p.doc}; {p.domain or 'a fixed pattern'}" for p in self.params},
            "expression": None if self.expr is None else str(self.expr),
        }


def _loggamma_form(expr: sp.Expr) -> sp.Expr:
    """``log(expr)`` expanded, with ``log(Gamma(x))`` rewritten as ``loggamma(x)``."""
    out = sp.expand_log(sp.log(expr), force=True)
    return out.replace(
        lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sp.gamma),
        lambda e: sp.loggamma(e.args[0].args[0], evaluate=False),
    )


#: Below this x, ``lgamma_ratio`` subtracts log-Gammas directly (they are < 40: the
#: difference loses less than 40 u); from it on, Stirling's series with four terms (truncation
#: below 1e-20 at x = 20).
STIRLING_FROM = 20.0


def _stirling_remainder(x: np.ndarray) -> np.ndarray:
    """log Gamma(x) - ((x - 1/2) log x - x + log(2 pi)/2) for x >= :data:`STIRLING_FROM`."""
    with np.errstate(over="ignore"):  # x^2 past 1e308 (x > 1.3e154): r = 0, as it should be
        r = 1.0 / (x * x)
    return (1.0 / 12 - r * (1.0 / 360 - r * (1.0 / 1260 - r / 1680))) / x


def lgamma_ratio(x: object, s: object) -> np.ndarray:
    """``log Gamma(x + s) - log Gamma(x)`` for x >= 1, s >= 0, to a few units of roundoff
    relative to the result: for large x the two log-Gammas are about x log x and their
    difference (about s log x) would lose all but a few digits, so it is formed as
    ``(x - 1/2) log1p(s/x) + s log(x + s) - s`` plus the difference of Stirling remainders
    (THEORY.md section 4, B4's exact form at large T)."""
    from scipy.special import gammaln

    x, s = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(s, dtype=float))
    out = np.empty(x.shape)
    small = x < STIRLING_FROM
    out[small] = gammaln(x[small] + s[small]) - gammaln(x[small])
    xl, sl = x[~small], s[~small]
    out[~small] = ((xl - 0.5) * np.log1p(sl / xl) + sl * np.log(xl + sl) - sl
                   + _stirling_remainder(xl + sl) - _stirling_remainder(xl))
    return out


@dataclass(frozen=True)
class ClosedFormBound(Bound):
    """A bound with a closed form ``expr`` in scalar parameters (numpy-broadcast numerically).

    ``constraints`` are (message, predicate over the bound numeric parameters) pairs, e.g.
    ``0 <= t < T``. ``via_log`` evaluates the value as ``exp`` of the log form (for Gamma
    ratios that overflow term by term). ``ln`` is a numerically stable evaluator of the natural
    log, used instead of the lambdified log form where that cancels (Gamma ratios at large
    arguments); it takes the parameters in order.
    """

    closed_form: sp.Expr = sp.S.Zero
    constraints: tuple[tuple[str, Callable[..., np.ndarray]], ...] = ()
    via_log: bool = False
    ln: Callable[..., np.ndarray] | None = None

    @property
    def expr(self) -> sp.Expr:
        return self.closed_form

    @property
    def symbols(self) -> list[sp.Symbol]:
        return [p.symbol for p in self.params]

    @cached_property
    def _value_fn(self) -> Callable[..., np.ndarray]:
        if self.via_log:
            log_fn = self._ln_fn
            return lambda *a: np.exp(log_fn(*a))
        return sp.lambdify(self.symbols, self.closed_form, modules=["scipy", "numpy"],
                           dummify=True)

    @cached_property
    def _ln_fn(self) -> Callable[..., np.ndarray]:
        if self.ln is not None:
            return self.ln
        return sp.lambdify(self.symbols, _loggamma_form(self.closed_form),
                           modules=["scipy", "numpy"], dummify=True)

    def _args(self, kw: dict[str, object]) -> list[np.ndarray]:
        vals = self._bind(kw)
        for message, ok in self.constraints:
            if not np.all(ok(**vals)):
                raise ValueError(f"{message} (bound {self.name!r})")
        return [vals[n] for n in self.param_names()]

    def evaluate(self, **kw: object) -> np.ndarray:
        """The bound's value, broadcast over array-valued parameters."""
        with np.errstate(divide="ignore", over="ignore", under="ignore"):
            return np.asarray(self._value_fn(*self._args(kw)), dtype=float)

    def log10(self, **kw: object) -> np.ndarray:
        """``log10`` of the bound from its symbolic log form (finite where the value is 0)."""
        with np.errstate(divide="ignore"):
            return np.asarray(self._ln_fn(*self._args(kw)), dtype=float) / LN10


PATTERN = Param("pattern", "fixed attention pattern alpha, T x T, row t over 0..t", None)
BETA = Param("beta", "weight of the recurrent state h_t in s_t", NONNEGATIVE)
GAMMA = Param("gamma", "weight of the attention read c_t in s_t", NONNEGATIVE)


def _steps_param(name: str, doc: str) -> Param:
    return Param(name, f"{doc}, per step k = 1..T (array of length T, or a scalar); 0 allowed "
                 "(a dead step: the paths through it contribute 0)", NONNEGATIVE)


LAM_STEPS = _steps_param("lam", "lambda_k = ||J_k||_2")
MU_STEPS = _steps_param("mu", "mu_k = sigma_min(J_k) <= lambda_k")
C_STEPS = _steps_param("c", "c_k with J_k = c_k I")
#: The per-step parameters: sympy arrays are validated by the recursions, which keep them exact.
STEP_PARAMS = frozenset(p.name for p in (LAM_STEPS, MU_STEPS, C_STEPS))


@dataclass(frozen=True)
class ProfileBound(Bound):
    """A bound over a fixed pattern, evaluated for every t = 0..T-1 (O(edges) recursions).

    ``compute(params, log10)`` returns the bound (or its log10) as an array over t.
    """

    compute: Callable[[dict[str, object], bool], np.ndarray] = field(
        default=lambda vals, log10: np.zeros(0))

    def _check(self, p: Param, value: object) -> object:
        if p.domain is None:
            return as_pattern(value)
        if p.name in STEP_PARAMS and np.asarray(value).dtype == object:
            return np.asarray(value)
        return value if isinstance(value, sp.Basic) else super()._check(p, value)

    def _vals(self, kw: dict[str, object]) -> dict[str, object]:
        vals = self._bind(kw)
        for name in STEP_PARAMS & vals.keys():
            check_step_shape(vals["pattern"].T, vals[name], name)
        if "mu" in vals and "lam" in vals:
            T = vals["pattern"].T
            mu, lam = (np.broadcast_to(np.asarray(vals[k], float), (T,)) for k in ("mu", "lam"))
            if np.any(mu > lam):
                k = int(np.argmax(mu > lam)) + 1
                raise ValueError(f"parameter 'mu' must satisfy mu_k <= lam_k "
                                 f"(sigma_min <= norm), violated at k = {k}")
        return vals

    def evaluate(self, **kw: object) -> np.ndarray:
        """The bound for every t = 0..T-1 (exact when the inputs are sympy Rationals)."""
        return self.compute(self._vals(kw), False)

    def log10(self, **kw: object) -> np.ndarray:
        """``log10`` of the bound for every t, computed in the log domain."""
        return self.compute(self._vals(kw), True)


def _on_steps(recursion: Callable[..., np.ndarray], steps: str):
    """``compute`` for a bound that is one recursion over the per-step array ``steps``."""
    def compute(vals: dict[str, object], log10: bool) -> np.ndarray:
        return recursion(vals["pattern"], vals["beta"], vals["gamma"], vals[steps], log10=log10,
                         name=steps)
    return compute


def _dominant(vals: dict[str, object], log10: bool) -> np.ndarray:
    """B3: ``A - D`` with ``A = W(xi*) prod mu`` and ``D = P_lambda - W(xi*) prod lambda`` (the
    other paths' share, formed first so that a lone path gives D = 0 exactly and A survives).
    Linear: exact for exact inputs; in float64 a rounding excess of B over P counts as D = 0,
    and where P overflows A - D is formed from the logs (+-inf past float64's range).
    log10: ``log10 max(A - D, 0)`` from the logs of A, B and P; -inf where A = 0 (every path
    crosses a step with mu_k = 0) or D >= A."""
    pattern, beta, gamma, mu, lam = (vals[k] for k in ("pattern", "beta", "gamma", "mu", "lam"))
    lead, along = dominant_path(pattern, beta, gamma, mu, lam, log10=log10)
    total = path_sum(pattern, beta, gamma, lam, log10=log10)
    if not log10:
        rest = total - along if total.dtype == object else _excess(total, along)
        out = lead - (rest if rest.dtype == object else np.maximum(rest, 0.0))
        if out.dtype == object or np.isfinite(total).all():
            return out
        # P overflowed (past 1e308): A - D from the logs, as a float (+-inf past the range)
        logs = [np.asarray(x, dtype=float) for x in
                dominant_path(pattern, beta, gamma, mu, lam, log10=True)]
        big = ~np.isfinite(total)
        out[big] = _difference(logs[0][big], _log10_rest(
            logs[1][big], path_sum(pattern, beta, gamma, lam, log10=True)[big]))
        return out
    out = np.full(lead.shape, -np.inf)
    live = np.isfinite(lead)  # A > 0, so B >= A > 0 and P >= B (mu_k <= lam_k)
    a, b, p = lead[live], along[live], total[live]
    with np.errstate(divide="ignore"):
        ratio = _log10_rest(b, p) - a  # log10(D / A)
        keep = ratio < 0
        kept = np.full(a.shape, -np.inf)
        kept[keep] = a[keep] + np.log1p(-(10.0 ** ratio[keep])) / LN10
    out[live] = kept
    return out


def _excess(total: np.ndarray, along: np.ndarray) -> np.ndarray:
    """``P - B`` in float64, nan (left to the log form) where both overflowed to inf."""
    with np.errstate(invalid="ignore"):
        return total - along


def _log10_rest(b: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``log10 D`` of ``D = P - B`` from ``log10 B`` and ``log10 P`` (-inf at D = 0)."""
    with np.errstate(divide="ignore"):
        return p + np.log10(-np.expm1(np.minimum(b - p, 0.0) * LN10))


def _difference(a: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``10^a - 10^d`` as floats, from the logs (-inf: 0): +-inf beyond float64's range."""
    hi, lo = np.maximum(a, d), np.minimum(a, d)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        size = hi + np.log10(-np.expm1((lo - hi) * LN10))  # log10 |10^a - 10^d|
        out = np.where(a >= d, 1.0, -1.0) * 10.0 ** size
    return np.where(np.isneginf(hi), 0.0, out)


def _sym(*params: Param) -> dict[str, sp.Symbol]:
    return {p.name: p.symbol for p in params}


_T = Param("T", "final time step (the loss is at h_T)", POSITIVE_INT)
_t = Param("t", "source time step, 0 <= t < T", NONNEG_INT)
_lam = Param("lam", "lambda_max >= ||J_k||_2 over the steps (0: every J_k = 0)", NONNEGATIVE)
_beta_unit = Param("beta", "weight of the recurrent state h_t in s_t", UNIT_CLOSED)
_gamma_unit = Param("gamma", "weight of the attention read c_t in s_t", UNIT)
_mu = Param("mu", "0 <= mu <= sigma_min(J_k) over the steps (mu = 0 gives the value 0)",
             NONNEGATIVE)
_c = Param("c", "J_k = c I for every k", POSITIVE)
_kappa = Param("kappa", "sparsity: max_t |S_t|", POSITIVE_INT)
_d = Param("d", "dependency depth d(t, T)", POSITIVE_INT)
_nu = Param("nu", "window / short-term buffer width", POSITIVE_INT)
_rho = Param("rho", "size of the relevant set", NONNEG_INT)
_T_AFTER_t = ("parameter 't' must satisfy 0 <= t < T", lambda t, T, **_: t < T)


def _closed_forms() -> list[ClosedFormBound]:
    s = _sym(_beta_unit, _lam, _T, _t, _gamma_unit, _mu, _c, _kappa, _d, _nu, _rho)
    beta, lam, T, t = s["beta"], s["lam"], s["T"], s["t"]
    gamma, mu, c = s["gamma"], s["mu"], s["c"]
    kappa, d, nu, rho = s["kappa"], s["d"], s["nu"], s["rho"]
    cg = c * gamma
    return [
        ClosedFormBound(
            "rnn_upper", "B0", "upper",
            "With gamma = 0, ||dh_T/dh_t|| <= prod_{k=t+1..T} beta*lambda_k "
            "<= (beta*lambda_max)^(T-t). Per-step products: path_sum_upper with the none "
            "pattern (same recursion, log domain available).",
            r"\left\|\frac{\partial h_T}{\partial h_t}\right\|_2 \le \prod_{k=t+1}^{T}"
            r"\beta\lambda_k \le (\beta\lambda_{\max})^{T-t}",
            ("fixed_alpha", "rnn"), (_beta_unit, _lam, _T, _t),
            closed_form=(beta * lam) ** (T - t), constraints=(_T_AFTER_t,)),
        ClosedFormBound(
            "uniform_lower", "B4", "lower",
            "Uniform full attention (S_t = {0..t}, alpha = 1/(t+1)), J_k aligned or "
            "nonnegative with mu_k >= mu: the hop t -> T has weight gamma/T, so "
            "||dh_T/dh_t|| >= gamma*mu/T: Omega(1/T), whatever T - t is.",
            r"\left\|\frac{\partial h_T}{\partial h_t}\right\|_2 \ge \frac{\gamma\mu}{T}",
            ("fixed_alpha", "uniform_full", "aligned_or_nonnegative", "mu_floor"),
            (_gamma_unit, _mu, _T),
            closed_form=gamma * mu / T),
        ClosedFormBound(
            "uniform_exact", "B4", "exact",
            "Uniform full attention, beta = 0, J_k = cI: ||dh_T/dh_t|| = P_c(t) = "
            "(c*gamma/T) prod_{k=t+1..T-1} (1 + c*gamma/k) = (c*gamma/T) Gamma(T + c*gamma) "
            "Gamma(t+1) / (Gamma(T) Gamma(t+1+c*gamma)) ~ c*gamma T^(c*gamma-1) Gamma(t+1) / "
            "Gamma(t+1+c*gamma) as T -> oo, and Gamma(t+1) / Gamma(t+1+c*gamma) ~ "
            "(t+1)^(-c*gamma) only for large t (at t = 0, c*gamma = 1/2 it is 1.128, so the "
            "prefactor is 0.564, not 0.5); exactly 1/(t+1) when c*gamma = 1.",
            r"\left\|\frac{\partial h_T}{\partial h_t}\right\|_2 = \frac{c\gamma}{T}\,"
            r"\frac{\Gamma(T+c\gamma)\,\Gamma(t+1)}{\Gamma(T)\,\Gamma(t+1+c\gamma)}",
            ("fixed_alpha", "uniform_full", "beta_zero", "aligned_constant"),
            (_c, _gamma_unit, _T, _t),
            closed_form=(cg / T) * sp.gamma(T + cg) * sp.gamma(t + 1)
            / (sp.gamma(T) * sp.gamma(t + 1 + cg)),
            constraints=(_T_AFTER_t,), via_log=True, ln=_uniform_exact_ln),
        ClosedFormBound(
            "sparse_lower", "B5", "lower",
            "If some path of d edges from t to T has every edge weight >= gamma/kappa (true "
            "when gamma/kappa <= beta and attention is uniform on supports of size <= kappa), "
            "and J_k is aligned or nonnegative with mu_k >= mu: ||dh_T/dh_t|| >= "
            "(gamma*mu/kappa)^d: Omega(kappa^-d), whatever T - t is.",
            r"\left\|\frac{\partial h_T}{\partial h_t}\right\|_2 \ge "
            r"\left(\frac{\gamma\mu}{\kappa}\right)^{d}",
            ("fixed_alpha", "strong_path", "aligned_or_nonnegative", "mu_floor"),
            (_gamma_unit, _mu, _kappa, _d),
            closed_form=(gamma * mu / kappa) ** d),
        ClosedFormBound(
            "window_lower", "B6", "lower",
            "Sliding window of width nu: d = ceil((T-t)/nu), so B5 with kappa = nu gives "
            "||dh_T/dh_t|| >= (gamma*mu/nu)^ceil((T-t)/nu): exponential decay in (T-t)/nu.",
            r"\left\|\frac{\partial h_T}{\partial h_t}\right\|_2 \ge "
            r"\left(\frac{\gamma\mu}{\nu}\right)^{\lceil (T-t)/\nu \rceil}",
            ("fixed_alpha", "window", "aligned_or_nonnegative", "mu_floor"),
            (_gamma_unit, _mu, _nu, _T, _t),
            closed_form=(gamma * mu / nu) ** sp.ceiling((T - t) / nu),
            constraints=(_T_AFTER_t,)),
        ClosedFormBound(
            "relevancy_lower", "B7", "lower",
            "Relevancy screening with buffer nu and relevant set rho: a retained relevant "
            "event i has a direct hop to every T > i + nu, so d = 1 and ||dh_T/dh_i|| >= "
            "gamma*mu/(nu+rho): Omega(1/(nu+rho)), independent of T.",
            r"\left\|\frac{\partial h_T}{\partial h_i}\right\|_2 \ge \frac{\gamma\mu}{\nu+\rho}",
            ("fixed_alpha", "retained_event", "aligned_or_nonnegative", "mu_floor"),
            (_gamma_unit, _mu, _nu, _rho),
            closed_form=gamma * mu / (nu + rho)),
    ]


def _profiles() -> list[ProfileBound]:
    return [
        ProfileBound(
            "path_sum_upper", "B1", "upper",
            "For any fixed pattern: ||dh_T/dh_t|| <= P_lambda(t), the scalar path sum "
            "p_T = 1, p_i = sum_{j>i} w(i->j) lambda_j p_j.",
            r"\left\|\frac{\partial h_T}{\partial h_t}\right\|_2 \le P_\lambda(t) = "
            r"\sum_{\xi: t\to T} W(\xi)\prod_{k\in\xi,k>t}\lambda_k",
            ("fixed_alpha",), (PATTERN, BETA, GAMMA, LAM_STEPS),
            compute=_on_steps(path_sum, "lam")),
        ProfileBound(
            "aligned_exact", "B2", "exact",
            "If every J_k = c_k I: ||dh_T/dh_t|| = P_c(t) exactly.",
            r"J_k = c_k I \;\Rightarrow\; \left\|\frac{\partial h_T}{\partial h_t}\right\|_2 "
            r"= P_c(t)",
            ("fixed_alpha", "aligned"), (PATTERN, BETA, GAMMA, C_STEPS),
            compute=_on_steps(path_sum, "c")),
        ProfileBound(
            "nonneg_lower", "B2+", "lower",
            "If every J_k is entrywise nonnegative: ||dh_T/dh_t|| >= M_mu(t), the max-product "
            "path (Perron-Frobenius: ||A + B|| >= ||A|| for nonnegative A, B); also "
            "||dh_T/dh_t||_F^2 >= sum over paths of ||A_xi||_F^2.",
            r"J_k \ge 0 \;\Rightarrow\; \left\|\frac{\partial h_T}{\partial h_t}\right\|_2 "
            r"\ge M_\mu(t) = \max_{\xi} W(\xi)\prod_{k\in\xi}\mu_k",
            ("fixed_alpha", "nonnegative"), (PATTERN, BETA, GAMMA, MU_STEPS),
            compute=_on_steps(max_path, "mu")),
        ProfileBound(
            "dominant_path_lower", "B3", "lower",
            "For any J and the path xi* maximising W(xi) prod mu_k: ||dh_T/dh_t|| >= "
            "W(xi*) prod mu_k - (P_lambda(t) - W(xi*) prod lambda_k). Always true; informative "
            "only when one path dominates. Ties go to the later successor (bounds."
            "dominant_path), also when every path crosses a step with mu_k = 0. The log10 form "
            "is log10 of max(bound, 0) (-inf where the bound is vacuous).",
            r"\left\|\frac{\partial h_T}{\partial h_t}\right\|_2 \ge W(\xi^*)\prod_{k\in\xi^*}"
            r"\mu_k - \Big(P_\lambda(t) - W(\xi^*)\prod_{k\in\xi^*}\lambda_k\Big)",
            ("fixed_alpha",), (PATTERN, BETA, GAMMA, MU_STEPS, LAM_STEPS),
            compute=_dominant),
    ]



def _uniform_exact_ln(c: np.ndarray, gamma: np.ndarray, T: np.ndarray, t: np.ndarray
                      ) -> np.ndarray:
    """log P_c(t) of B4's exact form: log(c gamma / T) + log Gamma(T + c gamma) - log Gamma(T)
    - (log Gamma(t + 1 + c gamma) - log Gamma(t + 1)), each difference by
    :func:`lgamma_ratio`."""
    cg = np.asarray(c, dtype=float) * np.asarray(gamma, dtype=float)
    with np.errstate(divide="ignore"):
        return (np.log(cg) - np.log(np.asarray(T, dtype=float)) + lgamma_ratio(T, cg)
                - lgamma_ratio(np.asarray(t, dtype=float) + 1, cg))

CATALOG: dict[str, Bound] = {b.name: b for b in (*_closed_forms(), *_profiles())}


def get(name: str) -> Bound:
    """The catalog entry ``name``, or the entry of a THEORY.md id (``"B7"``; ``"B4"`` is the
    lower bound ``uniform_lower``, its exact closed form is ``uniform_exact``); a ValueError
    listing the names and ids if there is none."""
    if name in CATALOG:
        return CATALOG[name]
    for bound in CATALOG.values():
        if bound.theory_id == name:
            return bound
    ids = ", ".join(dict.fromkeys(b.theory_id for b in CATALOG.values()))
    raise ValueError(f"unknown bound {name!r}; known: {', '.join(CATALOG)} (or an id: {ids})")


__all__ = ["CATALOG", "Bound", "ClosedFormBound", "Domain", "ProfileBound", "get"]
