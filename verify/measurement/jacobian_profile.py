"""Measure the Jacobian products ``G_t = dh_T/dh_t`` of a real network and hold every bound of
the catalog against them (THEORY.md sections 2, 3, 5 and 9).

One sequence is measured: ``x[batch_index]`` (default 0); sequences of a batch do not interact,
so its G_t is that of the batch run. Two modes:

* ``fixed``: attention weights detached (Lemma 1's setting). A model whose cell has step
  Jacobians (``step_jacobians`` not None: the vanilla cell) goes through Lemma 1's matrix
  adjoint recursion by blocks (:func:`verify.measurement.adjoint.blocked_adjoint`, log-scaled,
  so long horizons do not underflow); any other cell through autograd on the probes with
  ``detach_attention``. Norms are batched (:func:`verify.measurement.norms.norms`).
* ``full``: autograd on the probes through learned attention (score terms live; a model says
  it has them with ``learned``). The fixed G_t is computed too and the score-term gap
  ``||G_full - G_fixed||_2 / ||G_full||_2`` is reported per t. A fixed pattern has no score
  terms, so there ``full`` equals ``fixed``.

Autograd values are linear: they underflow to 0 (log10 -inf) or overflow (norms inf, gap nan)
at horizons the adjoint handles; a note says where. States that leave the float range are an
error where G_t depends on them (learned weights, phi'(a_k)), a note where it does not.
The verdicts (:func:`verify.measurement.compare.compare`) are computed with the measurement.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from bounds import hypotheses
from bounds.patterns import Pattern
from bounds.recursions import dependency_depth, graph, sparsity
from verify.measurement.adjoint import blocked_adjoint
from verify.measurement.compare import Finding, Verdict, compare, context, steps_of
from verify.measurement.norms import CHUNK_ENTRIES, linear, norms
from verify.models import nonlin
from verify.models.jacobians import DiagTimes, StepJacobians
from verify.models.rollout import Recurrent, RecurrentModel, Rollout, Trace
from verify.progress import Tick

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MODES = ("fixed", "full")
LN10 = math.log(10.0)
LOG2_10 = math.log2(10.0)


@dataclass(repr=False)
class Measurement:
    """The Jacobian profile of one run and what the verdicts need.

    Arrays over t = 0..T-1 (entry t is about dh_T/dh_t), except the per-step ``lam``, ``mu``
    over k = 1..T (entry k-1 is step k, the catalog's layout; None where the cell has no J_k).
    Linear norms may underflow to 0; their ``log10_*`` twins include the carried log-scale and
    stay finite (-inf only where G_t = 0). ``G_t = mantissa[t] * 10**log10_scale[t]``, the
    mantissa in the run's dtype (a float32 run's is not copied to float64).

    ``pattern`` is the attention the run actually used (the fixed pattern, the learned weights
    recorded, or ``none``), ``steps`` the per-step summary of the J_k
    (:func:`bounds.hypotheses.step_summary`), ``trace`` the measured sequence's trace (learned
    attention, relevant set), ``depth`` d(t, T) (inf where T is unreachable), ``source`` what
    reproduces the run (a command line, or a description), ``verdicts`` every catalog bound
    against it (:mod:`verify.measurement.compare`).
    """

    T: int
    n: int
    mode: str
    device: str
    dtype: str
    beta: float
    gamma: float
    learned: bool
    pattern: Pattern
    mantissa: np.ndarray
    log10_scale: np.ndarray
    norm2: np.ndarray
    fro: np.ndarray
    sigma_min: np.ndarray
    log10_norm2: np.ndarray
    log10_fro: np.ndarray
    log10_sigma_min: np.ndarray
    lam: np.ndarray | None
    mu: np.ndarray | None
    steps: dict[str, np.ndarray] | None
    kappa: int
    depth: np.ndarray
    trace: Trace | None = None
    grad_norm: np.ndarray | None = None
    gap: np.ndarray | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    def jacobian(self, t: int) -> np.ndarray:
        """``G_t = dh_T/dh_t`` as a float64 (n, n) array (entries may underflow to 0, or
        overflow to +-inf where ``10 ** log10_scale[t]`` does; zeros stay 0)."""
        t = _index("t", t, self.T)
        M = self.mantissa[t]
        G = np.zeros(M.shape)
        nonzero = M != 0
        G[nonzero] = M[nonzero] * linear(self.log10_scale[t])
        return G

    @property
    def hypotheses(self) -> dict[str, bool]:
        """Which of the catalog's hypotheses hold on the whole run (those the run can
        decide), from :mod:`bounds.hypotheses`."""
        ctx = context(self)
        out = {}
        for key, h in hypotheses.HYPOTHESES.items():
            value = h.check(**ctx)
            if value is not None:
                out[key] = value
        out["step_jacobians"] = self.steps is not None
        return out

    @property
    def bounds_log10(self) -> dict[str, np.ndarray]:
        """log10 of every bound where it applies (nan elsewhere), for the applicable ones."""
        return {k: v.log10_bound for k, v in self.verdicts.items() if v.applicable.any()}

    @property
    def bounds(self) -> dict[str, np.ndarray]:
        """The applicable bounds' values (linear: 0 below about 10^-308, inf above 10^308;
        ``bounds_log10`` holds them all)."""
        return {k: linear(v) for k, v in self.bounds_log10.items()}

    def findings(self) -> list[Finding]:
        """Every violation beyond the rounding allowance where the hypotheses hold."""
        return [f for v in self.verdicts.values() for f in v.findings()]

    def plot(self, path: str | os.PathLike[str] | None = None, title: str = "") -> Figure:
        """log10 ||G_t|| against t with every applicable bound and the violations marked
        (:mod:`verify.measurement.plots`); saved to ``path`` when given
        (:func:`~verify.measurement.plots.save`: its folder must exist)."""
        from verify.measurement.plots import figure, save

        return save(lambda: figure(self, title), path)

    def __repr__(self) -> str:
        held = ", ".join(f"{v.theory_id} {v.holds_at}/{v.applicable_at}"
                         for v in self.verdicts.values() if v.applicable.any())
        return (f"Measurement(T={self.T}, n={self.n}, mode={self.mode}, "
                f"pattern={self.pattern.kind}, beta={self.beta:g}, gamma={self.gamma:g}, "
                f"dtype={self.dtype}, log10||G_0||={self.log10_norm2[0]:.6g}, "
                f"bounds held [{held}])")

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict; non-finite numbers (inf depth, log10 of 0) become null."""

        def clean(a: np.ndarray | None) -> list | None:
            if a is None:
                return None
            return [float(v) if math.isfinite(v) else None for v in np.asarray(a, dtype=float)]

        return {
            "t": list(range(self.T)),
            "norm2": clean(self.norm2), "fro": clean(self.fro),
            "sigma_min": clean(self.sigma_min), "log10_norm2": clean(self.log10_norm2),
            "log10_fro": clean(self.log10_fro), "log10_sigma_min": clean(self.log10_sigma_min),
            "lam": clean(self.lam), "mu": clean(self.mu), "kappa": self.kappa,
            "depth": clean(self.depth), "beta": self.beta, "gamma": self.gamma,
            "pattern": self.pattern.kind,
            "bounds": {k: clean(v) for k, v in self.bounds.items()},
            "bounds_log10": {k: clean(v) for k, v in self.bounds_log10.items()},
            "verdicts": {k: v.to_json() for k, v in self.verdicts.items()},
            "hypotheses": self.hypotheses, "mode": self.mode, "device": self.device,
            "dtype": self.dtype, "grad_norm": clean(self.grad_norm), "gap": clean(self.gap),
            "source": self.source, "notes": list(self.notes),
        }


def _ticks_itself(model: RecurrentModel) -> bool:
    """Whether ``model`` takes the protocol's optional ``tick`` (this toolkit's models do; a
    model of another's, written to the protocol's required arguments, may not)."""
    call = model.forward if isinstance(model, torch.nn.Module) else model.__call__
    try:
        params = inspect.signature(call).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "tick" or p.kind is p.VAR_KEYWORD for p in params)


def _run(model: RecurrentModel, x: Tensor, tick: Tick | None, **kw: object
         ) -> tuple[Rollout, Tick | None]:
    """``model(x, **kw)``, ticking its T steps; returns the rollout and the tick each backward
    pass through it needs to be told of by hand (None where the model's hooks tell it)."""
    if tick is None:
        return model(x, **kw), None
    if _ticks_itself(model):
        return model(x, tick=tick, **kw), None
    r = model(x, **kw)
    tick(x.shape[1])
    return r, lambda: tick(x.shape[1])


#: Rows of h_T whose gradients one backward pass of :func:`_probe_jacobians` takes together
#: (a batched vector-Jacobian product): 4 to 8 times faster than a pass a row (relrnn and the
#: LSTM at n = 128; full mode with learned full attention at T = 300, n = 64 and T = 1000,
#: n = 32), for 2 to 12% more peak memory there.
ROWS_PER_PASS = 32


def _passes(n: int) -> int:
    """Backward passes :func:`_probe_jacobians` makes for n rows."""
    return -(-n // ROWS_PER_PASS)


def _probe_jacobians(model: RecurrentModel, x: Tensor, detach: bool,
                     tick: Tick | None = None) -> tuple[Tensor, Rollout]:
    """``G_t`` for t = 0..T (T+1, n, n) of the single sequence ``x`` by autograd on the probes
    (one batched backward pass per :data:`ROWS_PER_PASS` rows of h_T; a row at a time where
    the model's operations cannot be batched or the batch does not fit in memory), and the
    rollout; ``tick`` is told of T steps of the forward pass and T of each backward pass
    (:func:`_passes`)."""
    T, n = x.shape[1], model.hidden
    probe = x.new_zeros(1, T + 1, n, requires_grad=True)
    r, by_hand = _run(model, x, tick, probe=probe, detach_attention=detach,
                      trace=model.learned)
    hT = r.h[0, T]
    eye = torch.eye(n, dtype=hT.dtype, device=hT.device)
    rows = []
    for i in range(0, n, ROWS_PER_PASS):
        try:
            rows.append(torch.autograd.grad(hT, probe, grad_outputs=eye[i:i + ROWS_PER_PASS],
                                            retain_graph=True, is_grads_batched=True)[0][:, 0])
        except RuntimeError:  # no batching rule for an operation, or out of memory
            rows.append(torch.stack([torch.autograd.grad(hT[j], probe, retain_graph=True)[0][0]
                                     for j in range(i, min(i + ROWS_PER_PASS, n))]))
        if by_hand is not None:
            by_hand()
    return torch.cat(rows).transpose(0, 1), r


def _index(name: str, value: object, size: int) -> int:
    """``value`` as an index of ``size`` items: an integer (a numpy one too, not a boolean)
    in 0..size-1, no negative index from the end; else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not (
            0 <= value < size):
        raise ValueError(f"parameter {name!r} must be an integer in 0..{size - 1}, "
                         f"got {value!r}")
    return int(value)


def _check(model: object, x: object, mode: str, loss: object, batch_index: int) -> int:
    """Refuse bad input to :func:`measure`; return ``batch_index`` as an int."""
    if not isinstance(model, RecurrentModel):
        raise ValueError("parameter 'model' must be a recurrent model (verify.models.build, "
                         f"controlled or vanilla, or one with their interface), got "
                         f"{type(model).__name__}")
    if mode not in MODES:
        raise ValueError(f"parameter 'mode' must be one of {', '.join(MODES)}, got {mode!r}")
    if loss is not None and not callable(loss):
        raise ValueError(f"parameter 'loss' must be None or a function of a Rollout returning "
                         f"a scalar tensor, got {type(loss).__name__}")
    if not isinstance(x, Tensor) or x.ndim != 3:
        raise ValueError("parameter 'x' must be a tensor of shape (B, T, inputs)")
    if x.shape[0] < 1:
        raise ValueError("parameter 'x' must hold at least one sequence (B >= 1), got 0")
    if x.shape[1] < 1:
        raise ValueError("parameter 'T' (x.shape[1]) must be an integer >= 1, got 0")
    return _index("batch_index", batch_index, x.shape[0])


def measure(model: RecurrentModel, x: Tensor, *, mode: str = "fixed",
            loss: Callable[[Rollout], Tensor] | None = None, batch_index: int = 0,
            source: str = "", progress: bool = False) -> Measurement:
    """Measure ``G_t = dh_T/dh_t`` for t = 0..T-1 on the sequence ``x[batch_index]``
    (THEORY.md section 5), its norms, lambda_k and mu_k, kappa and d(t, T), and the verdict
    of every catalog bound (section 9); given ``loss(rollout) -> scalar`` over the whole batch
    ``x``, also the loss-gradient profile ``||dL/dh_t||`` of that sequence (alpha detached in
    ``fixed`` mode, live in ``full``). ``source`` says what reproduces the run (it goes with
    any finding); by default a description of the model and the call. ``progress`` shows
    each stage on stderr (:func:`_Stages`), moving within the stage about every 1% of its
    steps: the time steps of the forward and backward passes, the adjoint's nodes, the
    matrices whose norms are taken, the bounds.
    """
    batch_index = _check(model, x, mode, loss, batch_index)
    stages = _Stages(progress)
    try:  # the bar is closed on every exit: an error line starts on its own
        return _measured(model, x, mode, loss, batch_index, source, stages)
    finally:
        stages.close()


def _measured(model: RecurrentModel, x: Tensor, mode: str,
              loss: Callable[[Rollout], Tensor] | None, batch_index: int, source: str,
              stages: _Stages) -> Measurement:
    """:func:`measure` once its input is checked, showing its stages on ``stages``."""
    T = x.shape[1]
    n = model.hidden
    beta, gamma, live = float(model.beta), float(model.gamma), bool(model.learned)
    tick = stages.tick
    stages.start("forward", T)
    with torch.no_grad():
        r, _ = _run(model, x[batch_index:batch_index + 1], tick, detach_attention=True,
                    trace=live)
    x = x.to(device=r.h.device, dtype=r.h.dtype)
    xb = x[batch_index:batch_index + 1]
    notes = _overflow_notes(model, r.h[0])
    J = gap = None
    Jt = (model.step_jacobians(r, 0, factored=True) if isinstance(model, Recurrent)
          else model.step_jacobians(r, 0))
    if Jt is not None:
        stages.start("G_t (Lemma 1's adjoint)", T + 1)
        pattern = r.trace.weights(T)
        M, s = blocked_adjoint(graph(pattern, beta, gamma), Jt, tick=tick)
        mantissa, log10_scale = M[:T], s[:T] / LN10
        J = Jt
    else:
        stages.start("G_t (autograd)", (_passes(n) + 1) * T)
        G, r = _probe_jacobians(model, xb, detach=True, tick=tick)
        mantissa, log10_scale = G[:T], np.zeros(T)
        pattern = r.trace.weights(T)
        notes.append("J_k is not defined for this cell: lambda_k, mu_k and the bounds that "
                     "need them do not apply")
    if mode == "full" and live:
        stages.start("G_t with live attention (autograd)", (_passes(n) + 1) * T)
        full = _probe_jacobians(model, xb, detach=False, tick=tick)[0][:T].double().cpu(
            ).numpy()
        fixed = mantissa.double().cpu().numpy()
        gap = _gap(full, fixed, log10_scale)
        notes += _unscaled_notes(full, fixed)
        mantissa, log10_scale = torch.from_numpy(full), np.zeros(T)
    if mode == "full" and not live:
        notes.append("no learned attention: no score terms, full equals fixed")
    stages.start("norms", (2 if J is not None else 1) * T + (2 * T if loss else 0))
    lam = mu = steps = None
    if J is not None:
        step = norms(J, np.zeros(T), tick=tick)
        lam, mu = step["norm2"], step["sigma_min"]
        steps = _step_summary(J)
    dtype = str(x.dtype).removeprefix("torch.")
    m = Measurement(
        T=T, n=n, mode=mode, device=str(x.device), dtype=dtype, beta=beta,
        gamma=gamma, learned=live, pattern=pattern, mantissa=mantissa.cpu().numpy(),
        log10_scale=log10_scale, **norms(mantissa, log10_scale, tick=tick), lam=lam, mu=mu,
        steps=steps, kappa=sparsity(pattern), depth=dependency_depth(pattern, beta, gamma),
        trace=r.trace if live else None,
        grad_norm=None if loss is None else _loss_profile(model, x, loss, mode, batch_index,
                                                          tick),
        gap=gap, source=source or _describe(model, x, mode, batch_index), notes=notes)
    stages.start("verdicts", steps_of())
    m.verdicts = compare(m, tick=tick)
    return m


class _Stages:
    """The progress of :func:`measure` on stderr: one bar, reset at each stage to that
    stage's steps and named ``measure: STAGE``; ``tick`` moves it (None when ``progress`` is
    off, so that no loop calls it)."""

    def __init__(self, progress: bool) -> None:
        self.progress, self.bar = progress, None
        self.tick: Tick | None = self._tick if progress else None

    def _tick(self, steps: int) -> None:
        self.bar.update(steps)

    def start(self, name: str, steps: int) -> None:
        """Begin stage ``name`` of ``steps`` steps."""
        if self.bar is None:
            self.bar = tqdm(total=steps, desc=f"measure: {name}", unit="step",
                            file=sys.stderr, disable=not self.progress, leave=False)
        else:
            self.bar.set_description_str(f"measure: {name}", refresh=False)
            self.bar.reset(total=steps)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _describe(model: RecurrentModel, x: Tensor, mode: str, batch_index: int) -> str:
    name = getattr(model, "name", type(model).__name__)
    return (f"measure(<{name} model, hidden {model.hidden}>, x of shape {tuple(x.shape)}, "
            f"mode={mode!r}, batch_index={batch_index}); keep the model and x to reproduce")


def _step_summary(J: StepJacobians) -> dict[str, np.ndarray]:
    """:func:`bounds.hypotheses.step_summary` of the step Jacobians: from the factors of a
    :class:`~verify.models.jacobians.DiagTimes` with finite entries
    (:func:`bounds.hypotheses.factored_step_summary`, the same values in O(T n + n^2)),
    else a batch of :data:`verify.measurement.norms.CHUNK_ENTRIES` entries at a time."""
    if isinstance(J, DiagTimes) and bool(torch.isfinite(J.d).all() & torch.isfinite(J.V).all()):
        return hypotheses.factored_step_summary(J.d.cpu().numpy(), J.V.cpu().numpy())
    step = max(1, CHUNK_ENTRIES // J.shape[1] ** 2)
    parts = [hypotheses.step_summary(J[lo:lo + step].double().cpu().numpy())
             for lo in range(0, J.shape[0], step)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _overflow_notes(model: RecurrentModel, h: Tensor) -> list[str]:
    """A note where the states h (T+1, n) leave the dtype's range and G_t does not depend on
    them (a linear vanilla cell, a fixed pattern: J_k = V, alpha given); a ``ValueError``
    where it does (learned weights or phi'(a_k) of inf or nan are not the network's)."""
    bad = torch.nonzero(~torch.isfinite(h).all(dim=1)).flatten()
    if bad.numel() == 0:
        return []
    t, dtype = int(bad[0]), str(h.dtype).removeprefix("torch.")
    where = f"the forward pass leaves {dtype}'s range at t = {t} (h_t is not finite)"
    if (isinstance(model, Recurrent) and not model.learned
            and getattr(model.cell, "phi", None) is nonlin.LINEAR):
        return [f"{where}; G_t does not depend on the states (a linear cell and a fixed "
                f"pattern), so the profile stands, but ||dL/dh_t|| does not"]
    raise ValueError(f"parameter 'x': {where}, and G_t depends on the states (attention "
                     f"weights or phi'(a_k)); measure at most T = {t - 1} steps, or scale "
                     f"the weights or inputs down")


def _gap(full: np.ndarray, M: np.ndarray, log10_scale: np.ndarray) -> np.ndarray:
    """The score-term gap ``||F_t - G_t||_2 / ||F_t||_2`` (THEORY.md section 2) of the live
    G_t ``full`` (T, n, n) and the fixed ``G_t = M[t] 10**log10_scale[t]``, both scaled
    by one power of two per t so that neither overflows nor turns 0 * inf into nan; nan
    where F_t is not finite or F_t = G_t = 0, inf where F_t = 0 != G_t (a fixed G_t = 0, scale
    -inf, is a zero matrix: gap 1 against a live F_t != 0)."""
    gap = np.full(full.shape[0], np.nan)
    ok = np.isfinite(full).all(axis=(1, 2))
    F, M, scale2 = full[ok], M[ok], log10_scale[ok] * LOG2_10
    zero = scale2 == -np.inf  # G_t = 0: no path reaches T, or the paths cancel
    M, scale2 = np.where(zero[:, None, None], 0.0, M), np.where(zero, 0.0, scale2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.fmax(np.log2(np.abs(F).max(axis=(1, 2), initial=0.0)),
                    np.log2(np.abs(M).max(axis=(1, 2), initial=0.0)) + scale2)
        r = np.where(np.isfinite(r), np.ceil(r), 0.0)[:, None, None]
        Fs = np.ldexp(F, -r.astype(int))
        k = np.floor(scale2[:, None, None] - r)
        Gs = np.ldexp(M * np.exp2(scale2[:, None, None] - r - k), k.astype(int))
        gap[ok] = (np.linalg.norm(Fs - Gs, 2, axis=(1, 2))
                   / np.linalg.norm(Fs, 2, axis=(1, 2)))
    return gap


def _unscaled_notes(full: np.ndarray, M: np.ndarray) -> list[str]:
    """Notes where the live G_t ``full`` (autograd, no log scale) left float64's range: not
    finite, or 0 where the fixed G_t (mantissa ``M``) is not."""
    notes = []
    for where, what in ((~np.isfinite(full).all(axis=(1, 2)),
                         "overflows float64 (norms inf or nan, gap nan)"),
                        ((full == 0).all(axis=(1, 2)) & (M != 0).any(axis=(1, 2)),
                         "is 0 (below about 1e-308 it underflows: log10 -inf)")):
        if where.any():
            t = np.flatnonzero(where)
            notes.append(f"G_t with live attention (autograd, no log scale) {what} at "
                         f"{t.size} of the T steps, t in {t[0]}..{t[-1]}; mode fixed "
                         f"carries a log scale")
    return notes


def _loss_profile(model: RecurrentModel, x: Tensor, loss: Callable[[Rollout], Tensor],
                  mode: str, b: int, tick: Tick | None = None) -> np.ndarray:
    """``||dL/dh_t||`` for t = 0..T-1 of sequence b (total derivative, via the probes);
    ``tick`` is told of the T steps of the forward and of the backward pass."""
    probe = x.new_zeros(x.shape[0], x.shape[1] + 1, model.hidden, requires_grad=True)
    r, by_hand = _run(model, x, tick, probe=probe, detach_attention=mode == "fixed")
    L = loss(r)
    if not isinstance(L, Tensor) or L.numel() != 1:
        raise ValueError("parameter 'loss' must map a Rollout to a scalar tensor")
    g = torch.autograd.grad(L.reshape(()), probe)[0][b, :-1]
    if by_hand is not None:
        by_hand()
    return torch.linalg.vector_norm(g, dim=-1).double().cpu().numpy()
