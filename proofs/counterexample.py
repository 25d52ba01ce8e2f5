"""B3 is needed: the naive bound ``||dh_T/dh_t|| >= M_mu(t)`` fails for sign-indefinite J.

Setting of THEORY.md section 4 ("B3 is needed"): n = 2, T = 3, uniform full attention,
beta = gamma = 1/2, t = 0. A seeded search draws J_1, J_2, J_3 with entries from a small grid
of integers and halves until ``||G_0||_2 < M_mu(0)`` (G_0 = dh_3/dh_0 from Lemma 1's adjoint
recursion, M_mu the max-product path over the enumerated paths, mu_k = sigma_min(J_k) > 0);
then shrinks it greedily: an entry is replaced by a simpler grid value (earlier in
:data:`GRID`) whenever the violation persists, until no single replacement keeps it (a local
minimum in that order; this is what hypothesis's ``find`` does, without its database). The
result is re-verified independently: exactly in sympy (Rational G_0 from the explicit path
sum, singular values as radicals, compared at 50 digits), and against the catalog's
``nonneg_lower`` and numpy's SVD. B3's dominant-path bound and B1 still hold on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import sympy as sp

from bounds import get, patterns
from proofs.certificate import Certificate, register_certificate
from proofs.paths import adjoint, edge_weights, path_sum_matrix, paths

T, N_HIDDEN = 3, 2
BETA = GAMMA = sp.Rational(1, 2)
#: Entry values, simplest first: the shrinker only moves an entry towards the front.
GRID = tuple(sp.Rational(v) for v in ("0", "1", "-1", "1/2", "-1/2", "2", "-2"))
#: A violation must exceed float64 round-off by far: ||G_0|| < (1 - SEARCH_RTOL) M_mu(0).
#: Entries are small grid values, so both sides carry relative errors ~1e-15.
SEARCH_RTOL = 1e-9
BATCH, MAX_BATCHES = 4000, 25
DIGITS = 50


def _setting(exact: bool) -> tuple[patterns.Pattern, dict]:
    p = patterns.uniform(T, exact=exact)
    beta, gamma = (BETA, GAMMA) if exact else (float(BETA), float(GAMMA))
    return p, edge_weights(p.dense(), beta, gamma, T)


def naive_gaps(J: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a batch J of shape (B, T, 2, 2): ``(||G_0||_2, M_mu(0), all J_k invertible)``."""
    _, edges = _setting(exact=False)
    Js = {k: J[:, k - 1] for k in range(1, T + 1)}
    G0 = adjoint(edges, Js, T, np.eye(N_HIDDEN))[0]
    norm = np.linalg.norm(G0, 2, axis=(-2, -1))
    mu = np.linalg.svd(J, compute_uv=False)[..., -1]
    M = np.zeros(len(J))
    for xi in paths(edges, 0, T):
        value = np.ones(len(J))
        for i, j in pairwise(xi):
            value = value * edges[i, j] * mu[:, j - 1]
        M = np.maximum(M, value)
    return norm, M, np.all(mu > 1e-12, axis=1)


def violates(J: np.ndarray) -> np.ndarray:
    """Which of the batch J break the naive bound by more than :data:`SEARCH_RTOL`."""
    norm, M, invertible = naive_gaps(J)
    return invertible & (norm < (1 - SEARCH_RTOL) * M)


def search(grid: Sequence[sp.Rational] = GRID, seed: int = 0) -> tuple[np.ndarray | None, int]:
    """The first violating draw (grid indices, shape (T, 2, 2)) and the number of draws."""
    values = np.array([float(v) for v in grid])
    rng = np.random.default_rng(seed)
    for b in range(MAX_BATCHES):
        idx = rng.integers(0, len(grid), size=(BATCH, T, N_HIDDEN, N_HIDDEN))
        hits = np.flatnonzero(violates(values[idx]))
        if hits.size:
            return idx[hits[0]], b * BATCH + int(hits[0]) + 1
    return None, MAX_BATCHES * BATCH


def shrink(idx: np.ndarray, grid: Sequence[sp.Rational] = GRID) -> tuple[np.ndarray, int]:
    """Greedy shrink: repeatedly apply the first single-entry move to a simpler grid value that
    keeps the violation, until none does. Returns the indices and the number of moves."""
    values = np.array([float(v) for v in grid])
    idx, moves = idx.copy(), 0
    while True:
        candidates = []
        for pos in np.ndindex(idx.shape):
            for v in range(idx[pos]):
                cand = idx.copy()
                cand[pos] = v
                candidates.append(cand)
        if not candidates:
            return idx, moves
        ok = np.flatnonzero(violates(values[np.array(candidates)]))
        if not ok.size:
            return idx, moves
        idx, moves = candidates[ok[0]], moves + 1


def _exact_norms(J: list[sp.Matrix]) -> tuple[sp.Matrix, sp.Float, sp.Float, list[int]]:
    """Exact G_0 (explicit path sum), ||G_0||_2 and M_mu(0) at :data:`DIGITS` digits, and the
    maximising path."""
    _, edges = _setting(exact=True)
    G0 = path_sum_matrix(edges, dict(enumerate(J, start=1)), 0, T, sp.eye(N_HIDDEN))
    norm = max(sp.N(s, DIGITS) for s in G0.singular_values())
    mu = [min(sp.N(s, DIGITS) for s in Jk.singular_values()) for Jk in J]
    best, best_path = sp.Float(0, DIGITS), []
    for xi in paths(edges, 0, T):
        value = sp.prod(edges[i, j] * mu[j - 1] for i, j in pairwise(xi))
        if value > best:
            best, best_path = value, list(xi)
    return G0, norm, best, best_path


def check_naive_bound_fails(grid: Sequence[sp.Rational] = GRID, seed: int = 0) -> Certificate:
    """Search, shrink and re-verify a counterexample to ``||G_0||_2 >= M_mu(0)``; passes iff
    one is found, it is sign-indefinite, and every independent re-check confirms the gap."""
    if len(set(grid)) < 2:
        raise ValueError(f"parameter 'grid' must hold at least 2 distinct values, got {grid}")
    found, trials = search(grid, seed)
    method = (f"seeded search (seed {seed}) over J_k with entries in "
              f"{{{', '.join(map(str, grid))}}}, greedy shrink, exact re-check")
    if found is None:
        return Certificate("B3 is needed", method, False, {
            "summary": f"no counterexample in {trials} draws", "trials": trials,
            "grid": list(grid)})
    idx, moves = shrink(found, grid)
    J = [sp.Matrix(N_HIDDEN, N_HIDDEN, [grid[i] for i in idx[k].ravel()]) for k in range(T)]
    G0, norm, M, best_path = _exact_norms(J)
    Jf = np.array([np.array(Jk.tolist(), dtype=float) for Jk in J])
    p, _ = _setting(exact=False)
    sv = np.linalg.svd(Jf, compute_uv=False)
    mu, lam = sv[:, -1], sv[:, 0]
    catalog_M = float(get("nonneg_lower").evaluate(pattern=p, beta=float(BETA),
                                                   gamma=float(GAMMA), mu=mu)[0])
    numpy_norm = float(np.linalg.norm(np.array(G0.tolist(), dtype=float), 2))
    b3 = float(get("dominant_path_lower").evaluate(pattern=p, beta=float(BETA),
                                                   gamma=float(GAMMA), mu=mu, lam=lam)[0])
    b1 = float(get("path_sum_upper").evaluate(pattern=p, beta=float(BETA), gamma=float(GAMMA),
                                              lam=lam)[0])
    gap = M - norm
    checks = {
        "exact_gap_positive": bool(gap > sp.Float(10) ** (-30)),
        "catalog_M_mu_matches_exact": abs(catalog_M - float(M)) <= 1e-12 * float(M),
        "numpy_norm_below_catalog_M_mu": numpy_norm < catalog_M,
        "sign_indefinite": any(x < 0 for Jk in J for x in Jk),
        "B3_and_B1_hold": b3 <= numpy_norm <= b1,
    }
    return Certificate("B3 is needed", method, all(checks.values()), {
        "summary": (f"||G_0||_2 = {float(norm):.6g} < M_mu(0) = {float(M):.6g} "
                    f"(gap {float(gap):.3g}) after {trials} draws and {moves} shrink moves"),
        "setting": {"n": N_HIDDEN, "T": T, "t": 0, "pattern": "uniform", "beta": BETA,
                    "gamma": GAMMA},
        "counterexample": {
            "J": {f"J_{k + 1}": [[str(x) for x in row] for row in J[k].tolist()]
                  for k in range(T)},
            "G_0": [[str(x) for x in row] for row in G0.tolist()],
            "norm_G0": str(norm), "M_mu0": str(M), "gap": str(gap),
            "max_product_path": best_path,
            "mu_k": mu.tolist(), "lambda_k": lam.tolist(),
            "B3_dominant_lower": b3, "B1_path_sum_upper": b1,
        },
        "trials": trials, "shrink_moves": moves, "checks": checks,
    })


@register_certificate
def naive_bound_fails() -> Certificate:
    """B3 is needed: a shrunk counterexample to the naive bound."""
    return check_naive_bound_fails()
