"""The Jacobian-profile benchmark: ``measure`` against the plain-PyTorch ways and the floor
(THEORY.md sections 2 and 5), on one sequence of a tanh network with a Gaussian V.

For each case (pattern, T, n), on the same model and inputs:

* (a) ``measure`` in fixed mode (Lemma 1's adjoint recursion, with every verdict);
* (b) the batched vector-Jacobian product: one backward pass through the unrolled model with
  ``is_grads_batched`` over the n basis vectors of h_T, giving every G_t at once;
* (c) the naive way: for each t, ``torch.autograd.functional.jacobian`` of h_T with respect to
  h_t (a forward and n backward passes per t, so O(T^2)); timed on a few t and extrapolated to
  all T when T is large (the result says so);
* (d) the floor: the flop count ``2 T n^3 + 2 E n^2`` (T products K_j = G_j J_j, and one
  n x n accumulation per edge of the dependency graph) divided by the matrix-product rate
  measured in the same run.

Within (a), the time of its norms is reported too: the singular values of the T matrices G_t
and the T step Jacobians J_k (:func:`verify.measurement.norms.norms`, LAPACK's SVD), work the
floor does not count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from bounds import patterns
from bounds.recursions import graph
from verify.bench.timing import peak_memory, timed
from verify.measurement import Measurement, measure, norms
from verify.models import Recurrent, build, controlled
from verify.option_uses import RELEVANCY
from verify.resources import estimate_measure, pattern_entries

#: Patterns of the benchmark: uniform full attention, a window of 32, relevancy screening
#: (a relrnn measured with its attention held fixed).
PATTERNS = ("full", "window32", "relevancy")
#: At most this many t are timed for the naive way; beyond, the time is extrapolated.
NAIVE_SAMPLE = 4
#: The buffer and relevant-set sizes of the relevancy case's relrnn (:func:`verify.models.build`'s
#: defaults).
RELEVANCY_NU, RELEVANCY_RHO = 10, 15


@dataclass(frozen=True)
class Case:
    pattern: str
    T: int
    n: int


def entries(case: Case) -> int:
    """The attention entries ``sum_t |S_t|`` of a case's pattern: T(T+1)/2 for full, the
    window of 32's, and for relevancy at most the buffer and the relevant set at every step
    (relrnn's defaults, nu = 10 and rho = 15)."""
    if case.pattern == "full":
        return pattern_entries("uniform", case.T)
    if case.pattern == "window32":
        return pattern_entries("window", case.T, nu=32)
    return pattern_entries(RELEVANCY, case.T, nu=RELEVANCY_NU, rho=RELEVANCY_RHO)


def estimate(case: Case) -> int:
    """Bytes a case needs: ``measure``'s estimate (:func:`verify.resources.estimate_measure`,
    float64) of its T, n and pattern; the baselines, run one at a time, hold the same
    (T + 1) n^2 Jacobians."""
    return estimate_measure(case.T, case.n, entries(case), "fixed", False, dtype="float64")


def model_of(case: Case, dtype: torch.dtype, device: torch.device) -> Recurrent:
    """The network of a case, seeded (seed 0)."""
    if case.pattern == "relevancy":
        return build("relrnn", case.n, hidden=case.n, nu=RELEVANCY_NU, rho=RELEVANCY_RHO,
                     dtype=dtype, device=device)
    p = (patterns.uniform(case.T) if case.pattern == "full"
         else patterns.window(case.T, 32))
    return controlled("gaussian", case.n, case.n, "tanh", pattern=p, device=device,
                      dtype=dtype)


def batched_vjp(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(b): every G_t = dh_T/dh_t, (n, T+1, n), by one batched backward pass."""
    T, n = x.shape[1], model.hidden
    probe = x.new_zeros(1, T + 1, n, requires_grad=True)
    hT = model(x, probe=probe, detach_attention=True, trace=False).h[0, T]
    eye = torch.eye(n, dtype=x.dtype, device=x.device)
    (G,) = torch.autograd.grad(hT, probe, grad_outputs=eye, is_grads_batched=True)
    return G[:, 0]


def naive_jacobian(model: torch.nn.Module, x: torch.Tensor, t: int) -> torch.Tensor:
    """(c) for one t: dh_T/dh_t by ``torch.autograd.functional.jacobian`` (n x n)."""
    T, n = x.shape[1], model.hidden
    rest = x.new_zeros(1, T + 1, n)

    def h_T(p_t: torch.Tensor) -> torch.Tensor:
        probe = torch.cat([rest[:, :t], p_t.reshape(1, 1, n), rest[:, t + 1:]], dim=1)
        return model(x, probe=probe, detach_attention=True, trace=False).h[0, T]

    return torch.autograd.functional.jacobian(h_T, x.new_zeros(n))


def norms_of(model: Recurrent, x: torch.Tensor, m: Measurement) -> Callable[[], None]:
    """The norms ``measure`` takes, as a call to time: of the G_t of ``m`` and of the
    model's J_k on ``x`` (the forward pass that gives them is run now, not in the call)."""
    J = model.step_jacobians(model(x, detach_attention=True, trace=False), 0, factored=True)

    def call() -> None:
        norms(m.mantissa, m.log10_scale)
        norms(J, np.zeros(x.shape[1]))
    return call


def flops(case: Case, m) -> float:
    """The floor's operation count: 2 T n^3 + 2 E n^2 on the pattern the run used."""
    edges = graph(m.pattern, m.beta, m.gamma).num_edges()
    return 2.0 * case.T * case.n**3 + 2.0 * edges * case.n**2


def run_case(case: Case, rate: float, dtype: torch.dtype, device: torch.device, *,
             baselines: bool = True, repeats: int = 3, min_s: float = 0.0
             ) -> dict[str, object]:
    """Time and peak memory of (a), (b), (c) and the floor (d) for one case (times of at
    least ``repeats`` calls and ``min_s`` seconds: :func:`verify.bench.timing.timed`)."""
    model = model_of(case, dtype, device)
    x = torch.randn(1, case.T, case.n, dtype=dtype, device=device,
                    generator=torch.Generator(device=device).manual_seed(1))
    m = measure(model, x)
    row: dict[str, object] = {"pattern": case.pattern, "T": case.T, "n": case.n}
    row["measure_s"] = timed(lambda: measure(model, x), device, repeats, min_s=min_s)
    row["measure_peak_bytes"] = peak_memory(lambda: measure(model, x), device)
    row["norms_s"] = timed(norms_of(model, x, m), device, repeats, min_s=min_s)
    row["storage_floor_bytes"] = float(case.T * case.n**2 * x.element_size())
    row["flop"] = flops(case, m)
    row["floor_s"] = row["flop"] / rate
    row["measure_flop_per_s"] = row["flop"] / row["measure_s"]
    row["vs_floor"] = row["measure_s"] / row["floor_s"]
    if baselines:
        row["vjp_s"] = timed(lambda: batched_vjp(model, x), device, repeats, min_s=min_s)
        row["vjp_peak_bytes"] = peak_memory(lambda: batched_vjp(model, x), device)
        row["speedup_vs_vjp"] = row["vjp_s"] / row["measure_s"]
        ts = list(range(case.T)) if case.T <= NAIVE_SAMPLE else [
            round(i * (case.T - 1) / (NAIVE_SAMPLE - 1)) for i in range(NAIVE_SAMPLE)]
        each = timed(lambda: [naive_jacobian(model, x, t) for t in ts], device, 1,
                     warmup=False) / len(ts)
        row["naive_s"] = each * case.T
        row["naive_extrapolated"] = len(ts) < case.T
        row["speedup_vs_naive"] = row["naive_s"] / row["measure_s"]
    return row
