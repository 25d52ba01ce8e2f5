"""Spectral norm, Frobenius norm and sigma_min of many matrices at once, and their log10 with
a carried scale (THEORY.md section 5: the Jacobian profile and its log domain).

Each matrix X (float64, or a float32 one taken exactly as given) is scaled by a power of two,
exactly, so that ``max |X| in [1/2, 1)``: entries far below or above the float range's middle
(a mantissa of 10^-300, a subnormal one) are measured like O(1) ones. Then, in batches (on
the CPU, as many at once as torch has threads; the result does not depend on how many):

* Frobenius: the square root of the sum of squares (relative error <= (n^2 + 2) u).
* Spectral norm and sigma_min: the singular values of a batched SVD (LAPACK's gesdd through
  numpy on the CPU, torch's ``svdvals`` on an accelerator): ``||X||_2`` to a relative error
  of order n u, sigma_min to an absolute error of order n u ||X||_2 (so to a relative error
  of order n u kappa), the accuracy of a backward-stable SVD.

Step Jacobians kept factored, ``J_k = diag(d_k) V`` (:class:`DiagTimes`), take no SVD where
V has orthogonal rows of one length (the ``identity`` and ``orthogonal`` spectra, THEORY.md
section 1): there ``J_k J_k^T = c^2 diag(d_k)^2``, so the singular values of J_k are
``c |d_k|``. V V^T is formed in float64 (V scaled by a power of two), ``c^2`` is the mean of
its diagonal and ``f = ||V V^T / c^2 - I||_F``; the shortcut is taken where
``f <= ORTHOGONAL_TOL n u``, and then (Ostrowski's theorem on the congruence
``diag(d) (I + F) diag(d)``) every singular value has a relative error of at most about
f / 2, of order n u for sigma_min too; ``||J_k||_F = (sum_i d_i^2 (V V^T)_ii)^(1/2)`` holds
for any V and is used with it. Other V, float32 factors and non-finite entries take the SVD.

u is float64's unit roundoff. Why not the Gram route (eigenvalues of X^T X, cheaper than an
SVD): its error in sigma_min^2 is of order n u ||X||_F^2, so it certifies sigma_min to 1e-10
only for kappa below about 60 at n = 64, and profiles of real networks have kappa > 10^7 at
most t: it certified none of them and cost 15 to 100% on top of the SVD it fell back to.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

from verify.models.jacobians import DiagTimes
from verify.progress import Batched, Tick

#: Matrices per batch: at most this many entries (2 MiB of float64 per temporary, so that
#: the norms add little to a measurement's peak memory; a batch of 64 matrices of 64 x 64
#: already spends 99% of its time in LAPACK).
CHUNK_ENTRIES = 2**18

LOG10_2 = math.log10(2.0)
#: V V^T = c^2 (I + F) with ||F||_F at most this many n u counts as orthogonal rows of length
#: c (module docstring): a Haar-random orthogonal matrix from a float64 QR has 0.6 to 1.5 n u
#: at n = 2..256, a non-orthogonal one O(1).
ORTHOGONAL_TOL = 4
U = float(np.finfo(np.float64).eps) / 2


def _svdvals(Y: Tensor) -> Tensor:
    """Singular values (descending) of a batch: LAPACK's through numpy on the CPU (torch's
    batched CPU SVD nests its threads in LAPACK's and ran 4 to 30 times slower on a shared
    2-core machine; numpy's is the same gesdd, one call a matrix), torch's elsewhere."""
    if Y.device.type == "cpu":
        return torch.from_numpy(np.linalg.svd(Y.numpy(), compute_uv=False))
    return torch.linalg.svdvals(Y)


def _workers(device: torch.device) -> int:
    """Threads that take the batches: on the CPU torch's intra-op thread count (LAPACK's SVD
    runs one matrix per call and releases the GIL, so t threads take about 1/t of the
    time), elsewhere 1 (the device runs a batch at a time)."""
    return torch.get_num_threads() if device.type == "cpu" else 1


def _chunk(X: Tensor) -> Tensor:
    """(B, 4): log10 of ||Y||_2, ||Y||_F, sigma_min(Y) and of the scale 2^e, X = Y 2^e; a
    matrix with a nan entry gets nan, one with an infinite entry (and no nan) inf, inf, nan
    and 0: no SVD is taken of either."""
    X = X.to(torch.float64)
    peak = X.abs().amax(dim=(1, 2))  # nan where X has a nan (amax propagates it), else inf
    finite = torch.isfinite(peak)    # where X has an inf
    if not bool(finite.all()):
        logs = _chunk(torch.where(finite[:, None, None], X, 0.0))
        bad = torch.stack([peak, peak, torch.full_like(peak, math.nan),
                           torch.zeros_like(peak)], 1)
        return torch.where(finite[:, None], logs, bad)
    # 2^-e is finite for e >= -1021; a smaller (subnormal) peak keeps max |Y| >= 2^-53
    e = torch.frexp(peak)[1].clamp(min=-1021).to(torch.float64)
    Y = X * torch.exp2(-e)[:, None, None]
    sv = _svdvals(Y).to(Y.device)
    return torch.stack([sv[:, 0].log10(), torch.linalg.vector_norm(Y, dim=(1, 2)).log10(),
                        sv[:, -1].log10(), e * LOG10_2], 1)


def norms(M: Tensor | np.ndarray | DiagTimes, log10_scale: Tensor | np.ndarray, *,
          tick: Tick | None = None) -> dict[str, np.ndarray]:
    """Norms of ``G_t = M[t] * 10**log10_scale[t]`` for the T matrices M (T, n, n), or the
    step Jacobians of a :class:`~verify.models.jacobians.DiagTimes` (built a batch at a time),
    computed in float64 on M's device (see the module docstring for the method and its
    accuracy); ``tick`` (:mod:`verify.progress`) is told of the T matrices as their batches
    are done.

    Returns float64 numpy arrays of length T: ``log10_norm2``, ``log10_fro``,
    ``log10_sigma_min`` (finite where G_t != 0, -inf where G_t = 0 or where sigma_min = 0
    exactly: found so by the SVD, or a zero in d_k beside orthogonal rows of V) and their
    linear values ``norm2``, ``fro``, ``sigma_min`` (which underflow to 0 where the log10 is
    below about -308 and overflow to inf above 308). A matrix M[t] with an infinite entry (an
    overflowed measurement) has norms inf and sigma_min nan, one with a nan entry nan for all
    three: reported, not refused.
    """
    X = M if isinstance(M, DiagTimes) else _tensor(M)
    if (X is None or X.ndim != 3 or X.shape[1] != X.shape[2]
            or X.dtype not in (torch.float32, torch.float64)):
        raise ValueError("parameter 'M' must be a float32 or float64 array of shape (T, n, n)")
    scale = _tensor(log10_scale)
    scale = None if scale is None else np.asarray(scale.cpu(), dtype=float)
    if (scale is None or scale.shape != (X.shape[0],) or np.isnan(scale).any()
            or (scale == np.inf).any()):
        raise ValueError(f"parameter 'log10_scale' must hold T = {X.shape[0]} numbers < inf, "
                         f"got {'no array' if scale is None else f'shape {scale.shape}'}")
    if (rows := _orthogonal_rows(X)) is not None:  # V's rows orthogonal: no SVD
        logs = _scaled_rows(X.d, *rows)
    elif _one_matrix(X):  # every J_k the same (a linear cell: J_k = V): one SVD, T copies
        logs = np.repeat(_chunk(X[0:1]).cpu().numpy(), X.shape[0], axis=0)
    else:
        return _named(_logs(X, tick), scale)
    if tick is not None:
        tick(X.shape[0])
    return _named(logs, scale)


def _named(logs: np.ndarray, scale: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`norms`' arrays from the (T, 4) logs of :func:`_chunk` and the carried scale."""
    out = {name: logs[:, k] + logs[:, 3] + scale  # -inf where G_t = 0 (or sigma_min = 0)
           for k, name in enumerate(("log10_norm2", "log10_fro", "log10_sigma_min"))}
    return {**out, **{k[6:]: linear(v) for k, v in out.items()}}


def _tensor(a: Tensor | np.ndarray) -> Tensor | None:
    """``a`` as a tensor, or None where it is not an array of real numbers (a string, None,
    an integer beyond int64)."""
    try:
        out = torch.as_tensor(a)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return None
    return None if out.is_complex() or out.dtype == torch.bool else out


def _one_matrix(X: Tensor | DiagTimes) -> bool:
    """Whether X is step Jacobians diag(d_k) V with one d for every k (checked exactly)."""
    return isinstance(X, DiagTimes) and len(X) > 1 and bool((X.d == X.d[:1]).all())


def _orthogonal_rows(X: Tensor | DiagTimes) -> tuple[Tensor, float, float] | None:
    """For step Jacobians diag(d_k) V with finite float64 factors and V = 2^e W, W W^T =
    c^2 (I + F), ||F||_F <= :data:`ORTHOGONAL_TOL` n u (module docstring): the diagonal of
    W W^T, log10 c and e log10 2; else None."""
    if not isinstance(X, DiagTimes) or X.dtype != torch.float64:
        return None
    V, n = X.V, X.V.shape[0]
    peak = V.abs().amax()
    if not (torch.isfinite(peak) and peak > 0 and torch.isfinite(X.d).all()):
        return None
    e = int(torch.frexp(peak)[1].clamp(min=-1021))
    W = V * 2.0 ** -e
    gram = W @ W.T
    c2 = float(gram.diagonal().mean())
    eye = torch.eye(n, dtype=gram.dtype, device=gram.device)
    if float(torch.linalg.matrix_norm(gram / c2 - eye)) > ORTHOGONAL_TOL * n * U:
        return None
    return gram.diagonal(), 0.5 * math.log10(c2), e * LOG10_2


def _scaled_rows(d: Tensor, rows: Tensor, log10_c: float, log10_scale: float) -> np.ndarray:
    """(T, 4) as :func:`_chunk` gives them, for J_k = diag(d_k) V with V's rows orthogonal
    (:func:`_orthogonal_rows`: their squared lengths ``rows`` in W = V 2^-e, log10 c, e log10
    2): ``||J_k||_2 = c max |d_k|``, ``sigma_min = c min |d_k|``, ``||J_k||_F^2 = sum_i
    d_i^2 rows_i``, each d_k scaled by a power of two first (no underflow of its squares)."""
    a = d.abs()
    e = torch.frexp(a.amax(dim=1))[1].clamp(min=-1021).to(torch.float64)
    b = a * torch.exp2(-e)[:, None]
    return torch.stack([b.amax(dim=1).log10() + log10_c,
                        torch.linalg.vector_norm(b * rows.sqrt(), dim=1).log10(),
                        b.amin(dim=1).log10() + log10_c,
                        e * LOG10_2 + log10_scale], 1).cpu().numpy()


def _logs(X: Tensor | DiagTimes, tick: Tick | None) -> np.ndarray:
    """(T, 4): :func:`_chunk` of every matrix, a batch at a time, the batches shared among
    :func:`_workers` threads, ``tick`` told as they are done."""
    step = max(1, CHUNK_ENTRIES // max(1, X.shape[1] ** 2))
    done = Batched(tick, X.shape[0]) if tick is not None else None
    starts = range(0, X.shape[0], step)
    parts = []
    with ThreadPoolExecutor(_workers(X.device)) as pool:
        for i, part in zip(starts, pool.map(lambda i: _chunk(X[i:i + step]).cpu().numpy(),
                                            starts), strict=True):
            parts.append(part)
            if done is not None:
                done(min(step, X.shape[0] - i))
    if done is not None:
        done.flush()
    return np.concatenate(parts) if parts else np.zeros((0, 4))


def linear(log10: np.ndarray) -> np.ndarray:
    """``10 ** log10`` as float64: 0 below about -308 (underflow) and inf above about 308
    (overflow; the log10 value is the measurement there), without a warning."""
    with np.errstate(over="ignore"):
        return 10.0 ** np.asarray(log10, dtype=float)
