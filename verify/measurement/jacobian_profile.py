"""Measure the Jacobian products ``G_t = dh_T/dh_t`` of a real network and hold them against
the catalog's bounds on the same run (THEORY.md sections 2, 3 and 5).

One sequence is measured: ``x[batch_index]`` (default 0); sequences of a batch do not interact,
so its G_t is that of the batch run. Two modes:

* ``fixed``: attention weights detached (Lemma 1's setting). A model whose cell has step
  Jacobians (``step_jacobians`` not None: the vanilla cell) goes through Lemma 1's matrix
  adjoint recursion (:func:`verify.measurement.adjoint.adjoint`, log-scaled, so long horizons
  do not underflow); any other cell through autograd on the probes with ``detach_attention``.
* ``full``: autograd on the probes through learned attention (score terms live; a model says
  it has them with ``learned``). The fixed G_t is computed too and the score-term gap
  ``||G_full - G_fixed||_2 / ||G_full||_2`` is reported per t. A fixed pattern has no score
  terms, so there ``full`` equals ``fixed``.

Autograd values are linear: they underflow to 0 (log10 -inf) at horizons the adjoint handles.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from bounds import catalog
from bounds.hypotheses import is_aligned, is_nonnegative
from bounds.patterns import Pattern
from bounds.recursions import dependency_depth, graph, sparsity
from verify.measurement.adjoint import adjoint
from verify.models.rollout import RecurrentModel, Rollout

MODES = ("fixed", "full")
LN10 = math.log(10.0)


@dataclass
class Measurement:
    """The Jacobian profile of one run. Arrays over t = 0..T-1 (entry t is about dh_T/dh_t),
    except ``lam``/``mu`` over steps k = 1..T (entry k-1 is step k, the catalog's layout).

    Linear norms may underflow to 0; their ``log10_*`` twins include the carried log-scale and
    stay finite (-inf only where G_t = 0). ``depth`` is inf where T is unreachable from t.
    ``bounds``/``bounds_log10``: catalog name -> values over t, for the bounds evaluated (see
    :func:`catalog_bounds`). ``G_t = mantissa[t] * 10**log10_scale[t]``.
    """

    norm2: np.ndarray
    fro: np.ndarray
    sigma_min: np.ndarray
    log10_norm2: np.ndarray
    log10_fro: np.ndarray
    log10_sigma_min: np.ndarray
    lam: np.ndarray | None
    mu: np.ndarray | None
    kappa: int
    depth: np.ndarray
    bounds: dict[str, np.ndarray]
    bounds_log10: dict[str, np.ndarray]
    hypotheses: dict[str, bool]
    mode: str
    device: str
    dtype: str
    mantissa: np.ndarray
    log10_scale: np.ndarray
    grad_norm: np.ndarray | None = None
    gap: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def T(self) -> int:
        return self.norm2.size

    def jacobian(self, t: int) -> np.ndarray:
        """``G_t = dh_T/dh_t`` as a float64 (n, n) array (it may underflow to 0)."""
        return self.mantissa[t] * 10.0 ** self.log10_scale[t]

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict; non-finite numbers (inf depth, log10 of 0) become null."""

        def clean(a: np.ndarray | None) -> list | None:
            if a is None:
                return None
            a = np.asarray(a, dtype=float)
            return [float(v) if math.isfinite(v) else None for v in a]

        return {
            "t": list(range(self.T)),
            "norm2": clean(self.norm2), "fro": clean(self.fro),
            "sigma_min": clean(self.sigma_min), "log10_norm2": clean(self.log10_norm2),
            "log10_fro": clean(self.log10_fro), "log10_sigma_min": clean(self.log10_sigma_min),
            "lam": clean(self.lam), "mu": clean(self.mu), "kappa": self.kappa,
            "depth": clean(self.depth),
            "bounds": {k: clean(v) for k, v in self.bounds.items()},
            "bounds_log10": {k: clean(v) for k, v in self.bounds_log10.items()},
            "hypotheses": dict(self.hypotheses), "mode": self.mode, "device": self.device,
            "dtype": self.dtype, "grad_norm": clean(self.grad_norm), "gap": clean(self.gap),
            "notes": list(self.notes),
        }


def _probe_jacobians(model: RecurrentModel, x: Tensor, detach: bool) -> tuple[Tensor, Rollout]:
    """``G_t`` for t = 0..T (T+1, n, n) of the single sequence ``x`` by autograd on the probes
    (one backward pass per row of h_T), and the rollout."""
    T = x.shape[1]
    probe = x.new_zeros(1, T + 1, model.hidden, requires_grad=True)
    r = model(x, probe=probe, detach_attention=detach, trace=model.learned)
    hT = r.h[0, T]
    rows = [torch.autograd.grad(hT[i], probe, retain_graph=True)[0][0] for i in range(hT.numel())]
    return torch.stack(rows, 1), r


def _norms(mantissa: np.ndarray, log10_scale: np.ndarray) -> dict[str, np.ndarray]:
    """Spectral, Frobenius norms and sigma_min of ``mantissa * 10**log10_scale``, and log10."""
    sv = np.linalg.svd(mantissa, compute_uv=False)
    with np.errstate(divide="ignore"):
        logs = {
            "log10_norm2": np.log10(sv[:, 0]) + log10_scale,
            "log10_fro": np.log10(np.linalg.norm(sv, axis=1)) + log10_scale,
            "log10_sigma_min": np.log10(sv[:, -1]) + log10_scale,
        }
    return {**logs, **{k[6:]: 10.0 ** v for k, v in logs.items()}}


def catalog_bounds(pattern: Pattern, beta: float, gamma: float, J: np.ndarray,
                   lam: np.ndarray, mu: np.ndarray
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, bool],
                              list[str]]:
    """The catalog's profile bounds on measured step Jacobians ``J`` (T, n, n), with
    ``lam_k = ||J_k||_2`` and ``mu_k = sigma_min(J_k)``: ``path_sum_upper`` (B1) and
    ``dominant_path_lower`` (B3) always, ``aligned_exact`` (B2) when every J_k = c_k I,
    ``nonneg_lower`` (B2+) when every J_k >= 0. Returns (bounds, bounds_log10, hypotheses,
    notes).

    The catalog takes per-step values > 0. A step with ``lam_k = 0`` enters B1 as the least
    positive float (B1 only grows with lambda, so it stays a valid upper bound). If
    ``mu_k = 0`` at some steps, the last of them k0 bounds nothing at t >= k0 (paths from t use
    steps > t only), so the mu bounds are exact there; at t < k0 they are reported as the
    trivial lower bound 0.
    """
    T = pattern.T
    hyp = {"aligned": is_aligned(J), "nonnegative": is_nonnegative(J),
           "mu_floor": bool(np.all(mu > 0))}
    notes = []
    lam_pos = np.where(lam > 0, lam, np.finfo(float).tiny)
    if np.any(lam == 0):
        notes.append("lambda_k = 0 at some steps: B1 uses the least positive float there")
    zeros = np.flatnonzero(mu == 0)
    k0 = int(zeros[-1]) + 1 if zeros.size else 0
    mu_pos = np.where(np.arange(1, T + 1) <= k0, lam_pos, mu)
    if k0:
        notes.append(f"mu_k = 0 at step {k0} (the last such step): the mu lower bounds are "
                     f"reported as 0 for t < {k0}")
    trivial = np.arange(T) < k0
    out, out_log = {}, {}

    def put(name: str, lower_mu: bool = False, **steps: np.ndarray) -> None:
        b = catalog.get(name)
        lin = np.asarray(b.evaluate(pattern=pattern, beta=beta, gamma=gamma, **steps), float)
        log = np.asarray(b.log10(pattern=pattern, beta=beta, gamma=gamma, **steps), float)
        if lower_mu:
            lin, log = np.where(trivial, 0.0, lin), np.where(trivial, -np.inf, log)
        out[name], out_log[name] = lin, log

    put("path_sum_upper", lam=lam_pos)
    put("dominant_path_lower", True, mu=mu_pos, lam=lam_pos)
    if hyp["aligned"]:
        put("aligned_exact", c=np.trace(J, axis1=1, axis2=2) / J.shape[1])
    if hyp["nonnegative"]:
        put("nonneg_lower", True, mu=mu_pos)
    return out, out_log, hyp, notes


def _check(x: object, mode: str, batch_index: int) -> None:
    if mode not in MODES:
        raise ValueError(f"parameter 'mode' must be one of {', '.join(MODES)}, got {mode!r}")
    if not isinstance(x, Tensor) or x.ndim != 3:
        raise ValueError("parameter 'x' must be a tensor of shape (B, T, inputs)")
    if x.shape[1] < 1:
        raise ValueError("parameter 'T' (x.shape[1]) must be an integer >= 1, got 0")
    if not 0 <= batch_index < x.shape[0]:
        raise ValueError(f"parameter 'batch_index' must be in 0..{x.shape[0] - 1}, "
                         f"got {batch_index}")


def measure(model: RecurrentModel, x: Tensor, *, mode: str = "fixed",
            loss: Callable[[Rollout], Tensor] | None = None,
            batch_index: int = 0) -> Measurement:
    """Measure ``G_t = dh_T/dh_t`` for t = 0..T-1 on the sequence ``x[batch_index]``
    (THEORY.md section 5), its norms, lambda_k and mu_k, kappa and d(t, T), the catalog's
    bounds and their hypotheses, and, given ``loss(rollout) -> scalar`` over the whole batch
    ``x``, the loss-gradient profile ``||dL/dh_t||`` of that sequence (alpha detached in
    ``fixed`` mode, live in ``full``).
    """
    _check(x, mode, batch_index)
    T = x.shape[1]
    beta, gamma, live = float(model.beta), float(model.gamma), bool(model.learned)
    with torch.no_grad():
        r = model(x[batch_index:batch_index + 1], detach_attention=True, trace=live)
    x = x.to(device=r.h.device, dtype=r.h.dtype)
    xb = x[batch_index:batch_index + 1]
    notes: list[str] = []
    J = gap = None
    Jt = model.step_jacobians(r, 0)
    if Jt is not None:
        pattern = r.trace.weights(T)
        M, s = adjoint(graph(pattern, beta, gamma), Jt)
        mantissa, log10_scale = M[:T].double().cpu().numpy(), s[:T] / LN10
        J = Jt.double().cpu().numpy()
    else:
        G, r = _probe_jacobians(model, xb, detach=True)
        mantissa, log10_scale = G[:T].double().cpu().numpy(), np.zeros(T)
        pattern = r.trace.weights(T)
        notes.append("J_k is not defined for this cell: lambda, mu and the J bounds are skipped")
    if mode == "full" and live:
        full = _probe_jacobians(model, xb, detach=False)[0][:T].double().cpu().numpy()
        fixed = mantissa * 10.0 ** log10_scale[:, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):  # G_full may underflow to 0
            gap = _spectral(full - fixed) / _spectral(full)
        mantissa, log10_scale = full, np.zeros(T)
    if mode == "full" and not live:
        notes.append("no learned attention: no score terms, full equals fixed")
    hypotheses = {"fixed_alpha": mode == "fixed" or not live, "step_jacobians": J is not None,
                  "rnn": pattern.empty or gamma == 0}
    bounds, bounds_log10, lam, mu = {}, {}, None, None
    if J is not None:
        sv = np.linalg.svd(J, compute_uv=False)
        lam, mu = sv[:, 0], sv[:, -1]
        bounds, bounds_log10, hyp, more = catalog_bounds(pattern, beta, gamma, J, lam, mu)
        hypotheses.update(hyp)
        notes += more
    return Measurement(
        **_norms(mantissa, log10_scale), lam=lam, mu=mu, kappa=sparsity(pattern),
        depth=dependency_depth(pattern, beta, gamma), bounds=bounds, bounds_log10=bounds_log10,
        hypotheses=hypotheses, mode=mode, device=str(x.device),
        dtype=str(x.dtype).removeprefix("torch."), mantissa=mantissa, log10_scale=log10_scale,
        grad_norm=None if loss is None else _loss_profile(model, x, loss, mode, batch_index),
        gap=gap, notes=notes)


def _spectral(G: np.ndarray) -> np.ndarray:
    return np.linalg.norm(G, 2, axis=(1, 2))


def _loss_profile(model: RecurrentModel, x: Tensor, loss: Callable[[Rollout], Tensor],
                  mode: str, b: int) -> np.ndarray:
    """``||dL/dh_t||`` for t = 0..T-1 of sequence b (total derivative, via the probes)."""
    probe = x.new_zeros(x.shape[0], x.shape[1] + 1, model.hidden, requires_grad=True)
    L = loss(model(x, probe=probe, detach_attention=mode == "fixed"))
    if not isinstance(L, Tensor) or L.numel() != 1:
        raise ValueError("parameter 'loss' must map a Rollout to a scalar tensor")
    g = torch.autograd.grad(L.reshape(()), probe)[0][b, :-1]
    return torch.linalg.vector_norm(g, dim=-1).double().cpu().numpy()
