"""Spectral norm, Frobenius norm and sigma_min of many matrices at once, on their device, and
their log10 with a carried scale (THEORY.md section 5: the Jacobian profile and its log domain).

Each matrix X is first scaled by a power of two (exact) so that ``max |X| in [1/2, 1)``; then:

* Frobenius: the square root of the sum of squares (relative error <= (n^2 + 2) u).
* Spectral norm and sigma_min: eigenvalues of the Gram matrix ``H = X^T X`` (batched
  ``eigvalsh``). Forming H moves each eigenvalue by at most ``gamma_n ||X||_F^2`` (each entry
  is an inner product of length n: ``|dH| <= gamma_n |X|^T |X|``), the symmetric eigensolver by
  at most ``p(n) u ||H||_2`` more (backward stable; we take p(n) = n), so every computed
  ``lambda_i`` is within ``delta = 4 n u ||X||_F^2`` of ``sigma_i^2`` (Weyl). Hence
  ``||X||_2`` has relative error <= ``delta / ||X||_2^2 <= 4 n^2 u`` (2e-12 at n = 64), and
  ``sigma_min = sqrt(lambda_min)`` has relative error <= ``delta / lambda_min``, which squares
  the condition number: it is kept only where that bound is <= :data:`SIGMA_MIN_RTOL`, and
  recomputed by a batched SVD elsewhere (absolute error ~ n u ||X||_2, the best available).

u is float64's unit roundoff: a float32 mantissa is measured in float64, exactly as given.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

#: Largest certified relative error accepted for sigma_min from the Gram route (the
#: measurement's own tolerance, THEORY.md section 9); beyond it sigma_min comes from an SVD.
SIGMA_MIN_RTOL = 1e-10

#: Matrices per batch: at most this many entries (about 32 MB of float64 per temporary).
CHUNK_ENTRIES = 2**22

U64 = float(np.finfo(np.float64).eps) / 2
LOG10_2 = math.log10(2.0)


def gram_spectrum(Y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For a batch Y (B, n, n) of float64 matrices: the eigenvalues of ``Y^T Y`` (ascending),
    ``||Y||_F^2`` and the bound ``delta = 4 n u ||Y||_F^2`` on ``|lambda_i - sigma_i^2|``."""
    fro2 = torch.linalg.vector_norm(Y, dim=(1, 2)) ** 2
    lam = torch.linalg.eigvalsh(Y.mT @ Y)
    return lam, fro2, 4 * Y.shape[-1] * U64 * fro2


def _chunk(X: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """log10 of (||X||_2, ||X||_F, sigma_min) of the scaled matrices and log10 of the scale."""
    X = X.to(torch.float64)
    e = torch.frexp(X.abs().amax(dim=(1, 2)))[1][:, None, None].to(torch.float64)
    half = torch.div(e, 2, rounding_mode="floor")  # two exact steps: 2^-e alone may overflow
    Y = X * torch.exp2(-half) * torch.exp2(half - e)
    lam, fro2, delta = gram_spectrum(Y)
    lmin = lam[:, 0]
    smin = lmin.clamp(min=0).sqrt()
    redo = torch.nonzero((fro2 > 0) & ~(delta <= SIGMA_MIN_RTOL * lmin)).flatten()
    if redo.numel():
        smin[redo] = torch.linalg.svdvals(Y.index_select(0, redo))[:, -1]
    return (lam[:, -1].clamp(min=0).log10() / 2, fro2.log10() / 2, smin.log10(),
            e.flatten() * LOG10_2)


def norms(M: Tensor | np.ndarray, log10_scale: Tensor | np.ndarray) -> dict[str, np.ndarray]:
    """Norms of ``G_t = M[t] * 10**log10_scale[t]`` for the T matrices M (T, n, n), computed
    in float64 on M's device (see the module docstring for the method and its error bounds).

    Returns float64 numpy arrays of length T: ``log10_norm2``, ``log10_fro``,
    ``log10_sigma_min`` (finite where G_t != 0, -inf where G_t = 0 or where the SVD finds
    sigma_min = 0 exactly) and their linear values ``norm2``, ``fro``, ``sigma_min`` (which
    underflow to 0 where the log10 is below about -308).
    """
    X = torch.as_tensor(M)
    if X.ndim != 3 or X.shape[1] != X.shape[2] or X.dtype not in (torch.float32, torch.float64):
        raise ValueError("parameter 'M' must be a float32 or float64 array of shape (T, n, n)")
    scale = np.asarray(torch.as_tensor(log10_scale).cpu(), dtype=float)
    if scale.shape != (X.shape[0],) or np.isnan(scale).any() or (scale == np.inf).any():
        raise ValueError(f"parameter 'log10_scale' must hold T = {X.shape[0]} numbers < inf, "
                         f"got shape {scale.shape}")
    step = max(1, CHUNK_ENTRIES // max(1, X.shape[1] ** 2))
    parts = [torch.stack(_chunk(X[i:i + step]), 1).cpu().numpy()
             for i in range(0, X.shape[0], step)]
    logs = np.concatenate(parts) if parts else np.zeros((0, 4))
    out = {name: logs[:, k] + logs[:, 3] + scale  # -inf where G_t = 0 (or sigma_min = 0)
           for k, name in enumerate(("log10_norm2", "log10_fro", "log10_sigma_min"))}
    return {**out, **{k[6:]: 10.0 ** v for k, v in out.items()}}
