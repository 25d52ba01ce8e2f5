"""Brute-force references, independent of the code under test: THEORY.md written out literally
(every path enumerated, every product multiplied), in float64 or in exact Fractions."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from fractions import Fraction

import numpy as np


def edge_weight(alpha: np.ndarray, beta: float, gamma: float, i: int, j: int) -> float:
    """w(i -> j) straight from THEORY.md section 2 (j = t + 1)."""
    t = j - 1
    return (beta if i == t else 0) + gamma * alpha[t, i]


def all_paths(T: int, t: int) -> Iterator[tuple[int, ...]]:
    """Every increasing node sequence t = k_0 < ... < k_m = T (not only the edges of G)."""
    inner = range(t + 1, T)
    for r in range(len(inner) + 1):
        for mid in itertools.combinations(inner, r):
            yield (t, *mid, T)


def weighted_paths(alpha, beta, gamma, t: int) -> list[tuple[tuple[int, ...], object]]:
    """``(xi, W(xi))`` for every path xi of G from t to T (the sequences with W != 0)."""
    T = alpha.shape[0]
    out = []
    for path in all_paths(T, t):
        w = math.prod(edge_weight(alpha, beta, gamma, a, b) for a, b in itertools.pairwise(path))
        if w != 0:
            out.append((path, w))
    return out


def path_terms(alpha, beta, gamma, x: Sequence, t: int) -> list:
    """``W(xi) prod_{k in xi, k > t} x_k`` for every path xi of G from t to T."""
    return [w * math.prod(x[k - 1] for k in path[1:])
            for path, w in weighted_paths(alpha, beta, gamma, t)]


def exact_inputs(alpha: np.ndarray, beta: float, gamma: float, *steps: Sequence
                 ) -> tuple[object, ...]:
    """The exact rational values of float inputs: ``(alpha, beta, gamma, *steps)`` as Fractions
    (alpha as an object array), for references free of round-off and underflow."""
    a = np.array([[Fraction(float(v)) for v in row] for row in alpha], dtype=object)
    xs = [[Fraction(float(v)) for v in s] for s in steps]
    return (a, Fraction(float(beta)), Fraction(float(gamma)), *xs)


def log10_exact(q: Fraction) -> float:
    """``log10 q`` of a rational q >= 0 (-inf at 0), from its integer numerator and denominator
    (no underflow: 10^-400 gives -400)."""
    if q == 0:
        return -math.inf
    return math.log10(q.numerator) - math.log10(q.denominator)


def jacobian_path_sum(alpha, beta, gamma, J: np.ndarray, t: int) -> np.ndarray:
    """Lemma 1's right-hand side: sum over paths of W(xi) J_{k_m} ... J_{k_1} (J[k-1] = J_k)."""
    n = J.shape[1]
    total = np.zeros((n, n))
    for path, w in weighted_paths(alpha, beta, gamma, t):
        prod = np.eye(n)
        for k in path[1:]:
            prod = J[k - 1] @ prod
        total += w * prod
    return total
