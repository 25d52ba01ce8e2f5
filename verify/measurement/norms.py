"""Spectral norm, Frobenius norm and sigma_min of many matrices at once, on their device, and
their log10 with a carried scale (THEORY.md section 5: the Jacobian profile and its log domain).

Each matrix X is first scaled by a power of two (exact) so that ``max |X| in [1/2, 1)``, then
``H = X^T X`` is formed (batched):

* Frobenius: ``sqrt(trace H)`` (relative error <= (n + 2) u).
* Spectral norm and sigma_min from the eigenvalues of H (batched ``eigvalsh``). Forming H
  moves each eigenvalue by at most ``gamma_n ||X||_F^2`` (each entry is an inner product of
  length n: ``|dH| <= gamma_n |X|^T |X|``), the symmetric eigensolver by at most
  ``p(n) u ||H||_2`` more (backward stable; we take p(n) = n), so every computed ``lambda_i``
  is within ``delta = 4 n u ||X||_F^2`` of ``sigma_i^2`` (Weyl). Hence ``||X||_2`` has
  relative error <= ``delta / ||X||_2^2 <= 4 n^2 u`` (2e-12 at n = 64), and
  ``sigma_min = sqrt(lambda_min)`` has relative error <= ``delta / lambda_min``, which squares
  the condition number: it is kept only where that bound is <= :data:`SIGMA_MIN_RTOL`.
* Elsewhere both come from a batched SVD (absolute error ~ n u ||X||_2, the best available).
  A Cholesky factor ``H = L L^T`` sends a matrix there without the eigenvalues when the bound
  cannot hold: ``lambda_min = sigma_min(L)^2 <= min_i L_ii^2``. Products of many Jacobians
  are ill-conditioned (kappa > 10^7 for most t of a tanh network's profile), so in practice
  the SVD does most of the work; the Gram route pays off on well-conditioned profiles.

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


def gram(Y: Tensor) -> tuple[Tensor, Tensor]:
    """For a batch Y (B, n, n) of float64 matrices: ``H = Y^T Y`` and the bound
    ``delta = 4 n u ||Y||_F^2`` on ``|lambda_i(H) - sigma_i(Y)^2|`` (module docstring)."""
    H = Y.mT @ Y
    return H, 4 * Y.shape[-1] * U64 * H.diagonal(dim1=1, dim2=2).sum(-1)


def certified(lam: Tensor, delta: Tensor) -> Tensor:
    """Where ``sqrt(lam_min)`` is sigma_min to :data:`SIGMA_MIN_RTOL` (``lam`` ascending)."""
    return delta <= SIGMA_MIN_RTOL * lam[:, 0]


def _chunk(X: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """log10 of (||X||_2, ||X||_F, sigma_min) of the scaled matrices and log10 of the scale."""
    X = X.to(torch.float64)
    # 2^-e is finite for e >= -1021; a smaller (subnormal) peak keeps max |Y| >= 2^-53
    e = torch.frexp(X.abs().amax(dim=(1, 2)))[1].clamp(min=-1021).to(torch.float64)
    Y = X * torch.exp2(-e)[:, None, None]
    H, delta = gram(Y)
    fro2 = H.diagonal(dim1=1, dim2=2).sum(-1)
    L, info = torch.linalg.cholesky_ex(H)
    hopeful = (info == 0) & (delta <= SIGMA_MIN_RTOL * L.diagonal(dim1=1, dim2=2).amin(-1) ** 2)
    norm2, smin = torch.zeros_like(fro2), torch.zeros_like(fro2)
    idx = torch.nonzero(hopeful).flatten()
    lam = torch.linalg.eigvalsh(H.index_select(0, idx))
    norm2[idx], smin[idx] = lam[:, -1].sqrt(), lam[:, 0].clamp(min=0).sqrt()
    idx = torch.cat([idx[~certified(lam, delta[idx])],
                     torch.nonzero(~hopeful & (fro2 > 0)).flatten()])
    if idx.numel():
        sv = torch.linalg.svdvals(Y.index_select(0, idx))
        norm2[idx], smin[idx] = sv[:, 0], sv[:, -1]
    return norm2.log10(), fro2.log10() / 2, smin.log10(), e * LOG10_2


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
