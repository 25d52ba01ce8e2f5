"""Brute-force references, independent of the code under test: THEORY.md written out literally
(every path enumerated, every product multiplied)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np


def edge_weight(alpha: np.ndarray, beta: float, gamma: float, i: int, j: int) -> float:
    """w(i -> j) straight from THEORY.md section 2 (j = t + 1)."""
    t = j - 1
    return beta * (i == t) + gamma * alpha[t, i]


def all_paths(T: int, t: int) -> Iterator[tuple[int, ...]]:
    """Every increasing node sequence t = k_0 < ... < k_m = T (not only the edges of G)."""
    inner = range(t + 1, T)
    for r in range(len(inner) + 1):
        for mid in itertools.combinations(inner, r):
            yield (t, *mid, T)


def path_terms(alpha, beta, gamma, x: Sequence, t: int) -> list:
    """``W(xi) prod_{k in xi, k > t} x_k`` for every path xi of G from t to T."""
    T = alpha.shape[0]
    terms = []
    for path in all_paths(T, t):
        w = math.prod(edge_weight(alpha, beta, gamma, a, b) for a, b in itertools.pairwise(path))
        if w != 0:
            terms.append(w * math.prod(x[k - 1] for k in path[1:]))
    return terms


def jacobian_path_sum(alpha, beta, gamma, J: np.ndarray, t: int) -> np.ndarray:
    """Lemma 1's right-hand side: sum over paths of W(xi) J_{k_m} ... J_{k_1} (J[k-1] = J_k)."""
    T, n = alpha.shape[0], J.shape[1]
    total = np.zeros((n, n))
    for path in all_paths(T, t):
        w = math.prod(edge_weight(alpha, beta, gamma, a, b) for a, b in itertools.pairwise(path))
        if w != 0:
            prod = np.eye(n)
            for k in path[1:]:
                prod = J[k - 1] @ prod
            total += w * prod
    return total
