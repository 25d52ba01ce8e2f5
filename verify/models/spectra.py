"""Recurrent matrices V with a controlled spectrum (THEORY.md section 6, "Spectra").

Every construction is seeded (numpy ``default_rng(seed)``) and returns a float64 ``(n, n)``
numpy array, so the same seed gives the same V on every device and dtype.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bounds.domains import NONNEGATIVE, POSITIVE, POSITIVE_INT, check_fits, check_seed

KINDS = ("identity", "orthogonal", "singular", "eigen", "gaussian", "nonneg")

#: Eigenvalues handed to ``eigen`` must be closed under conjugation up to this (absolute)
#: tolerance, the accuracy at which a user types a complex pair.
CONJ_ATOL = 1e-12


def haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed orthogonal matrix: QR of a Gaussian matrix, with the columns of Q
    multiplied by sign(diag R) so the distribution is exactly Haar (Mezzadri 2007)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def _values(name: str, values: object, n: int, dtype: type) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=dtype).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"parameter {name!r} must be a list of {n} numbers") from None
    if arr.shape != (n,):
        raise ValueError(f"parameter {name!r} must hold n = {n} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"parameter {name!r} must be finite (found NaN or inf)")
    return arr


def real_schur_form(eigenvalues: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block-diagonal D with the given eigenvalues (a real one as a 1x1 block, a pair
    ``a +- ib`` as ``[[a, b], [-b, a]]``) and the mask of the entries strictly above its
    diagonal blocks, where a non-normal part may go without changing the spectrum."""
    lam = eigenvalues
    n = lam.size
    real = lam[np.abs(lam.imag) <= CONJ_ATOL].real
    upper = lam[lam.imag > CONJ_ATOL]
    lower = lam[lam.imag < -CONJ_ATOL]
    if upper.size != lower.size or not np.allclose(
        np.sort_complex(upper.conj()), np.sort_complex(lower), rtol=0, atol=CONJ_ATOL
    ):
        raise ValueError("parameter 'eigenvalues' must be closed under complex conjugation "
                         "(V is real)")
    d = np.zeros((n, n))
    mask = np.triu(np.ones((n, n), dtype=bool), k=1)
    k = 0
    for z in np.sort_complex(upper):
        d[k:k + 2, k:k + 2] = [[z.real, z.imag], [-z.imag, z.real]]
        mask[k, k + 1] = False
        k += 2
    d[np.arange(k, n), np.arange(k, n)] = np.sort(real)
    return d, mask


def build_spectrum(kind: str, n: int, *, scale: float = 1.0, gain: float = 1.0,
                   sigma: Sequence[float] | None = None,
                   eigenvalues: Sequence[complex] | None = None,
                   nonnormal: float = 0.0, seed: int = 0) -> np.ndarray:
    """The recurrent matrix V, ``(n, n)`` float64, for ``kind`` in :data:`KINDS`:

    * ``identity``: ``c I`` with ``c = scale``;
    * ``orthogonal``: ``c Q``, Q Haar-random orthogonal;
    * ``singular``: ``P diag(sigma) Q^T`` with P, Q Haar; ``sigma`` (n values >= 0) defaults to
      ``scale * logspace(0, -1, n)`` (condition number 10);
    * ``eigen``: ``Q (D + N) Q^T`` with D the real Schur form of ``eigenvalues`` (closed under
      conjugation; default ``scale`` times the n-th roots of unity), N strictly block-upper
      triangular Gaussian with ``||N||_F = nonnormal`` (0: V is normal), Q Haar;
    * ``gaussian``: entries N(0, gain^2 / n);
    * ``nonneg``: entries Uniform(0, 1), rescaled so that ``||V||_2 = scale``.
    """
    n = int(POSITIVE_INT.check("n", n))
    check_fits("n", n, 8.0 * n * n, "an n x n float64 matrix")
    scale = float(POSITIVE.check("scale", scale))
    gain = float(POSITIVE.check("gain", gain))
    nonnormal = float(NONNEGATIVE.check("nonnormal", nonnormal))
    rng = np.random.default_rng(check_seed(seed))
    if kind == "identity":
        return scale * np.eye(n)
    if kind == "orthogonal":
        return scale * haar_orthogonal(n, rng)
    if kind == "singular":
        s = scale * np.logspace(0, -1, n) if sigma is None else _values("sigma", sigma, n, float)
        if np.any(s < 0):
            raise ValueError("parameter 'sigma' must hold singular values >= 0")
        return (haar_orthogonal(n, rng) * s) @ haar_orthogonal(n, rng).T
    if kind == "eigen":
        lam = (scale * np.exp(2j * np.pi * np.arange(n) / n) if eigenvalues is None
               else _values("eigenvalues", eigenvalues, n, complex))
        d, mask = real_schur_form(lam)
        if nonnormal > 0:
            if not mask.any():
                raise ValueError(f"parameter 'nonnormal' must be 0 when V has no entry above "
                                 f"its Schur blocks (n = {n})")
            part = np.where(mask, rng.standard_normal((n, n)), 0.0)
            d = d + nonnormal * part / np.linalg.norm(part)
        q = haar_orthogonal(n, rng)
        return q @ d @ q.T
    if kind == "gaussian":
        return rng.standard_normal((n, n)) * (gain / np.sqrt(n))
    if kind == "nonneg":
        v = rng.uniform(0.0, 1.0, (n, n))
        return v * (scale / np.linalg.norm(v, 2))
    raise ValueError(f"parameter 'spectrum' must be one of {', '.join(KINDS)}, got {kind!r}")
