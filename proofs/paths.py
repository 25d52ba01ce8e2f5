"""Explicit paths of the dependency graph and the Jacobians they sum to (THEORY.md section 2).

These are the certificates' independent references: paths are enumerated one by one and
matrices multiplied out, with no use of :mod:`bounds.recursions`. Everything is generic over the
entry type, so the same code runs on sympy expressions (symbols or Rationals) and on float64.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import combinations, pairwise

import sympy as sp

Edges = dict[tuple[int, int], object]


def edge_weights(alpha: object, beta: object, gamma: object, T: int) -> Edges:
    """The edges ``i -> j`` of G with ``w(i -> j) = beta*[i == j-1] + gamma*alpha[j-1, i]``,
    kept where the weight is not (structurally) zero; ``alpha`` is indexable as ``[t, i]``."""
    edges: Edges = {}
    for j in range(1, T + 1):
        for i in range(j):
            w = gamma * alpha[j - 1, i] + (beta if i == j - 1 else 0)
            if w != 0:
                edges[i, j] = w
    return edges


def paths(edges: Edges, t: int, T: int) -> Iterator[tuple[int, ...]]:
    """Every path ``t = k_0 < k_1 < ... < k_m = T`` of G, by brute force over the subsets of
    intermediate nodes (2^(T-t-1) candidates)."""
    inner = range(t + 1, T)
    for m in range(T - t):
        for mids in combinations(inner, m):
            xi = (t, *mids, T)
            if all(e in edges for e in pairwise(xi)):
                yield xi


def path_products(edges: Edges, J: Mapping[int, object], t: int, T: int,
                  identity: object) -> Iterator[tuple[tuple[int, ...], object, object]]:
    """``(xi, W(xi), J_{k_m} ... J_{k_1})`` for every path xi from t to T (Lemma 1's terms)."""
    for xi in paths(edges, t, T):
        weight, product = 1, identity
        for i, j in pairwise(xi):
            weight = weight * edges[i, j]
            product = J[j] @ product
        yield xi, weight, product


def path_sum_matrix(edges: Edges, J: Mapping[int, object], t: int, T: int,
                    identity: object) -> object:
    """Lemma 1: ``dh_T/dh_t = sum_xi W(xi) J_{k_m} ... J_{k_1}`` over the enumerated paths."""
    total = 0 * identity
    for _, weight, product in path_products(edges, J, t, T, identity):
        total = total + weight * product
    return total


def adjoint(edges: Edges, J: Mapping[int, object], T: int, identity: object) -> list[object]:
    """Lemma 1's adjoint recursion ``G_T = I``, ``G_i = sum_{j > i} w(i -> j) G_j J_j``;
    returns ``[G_0, ..., G_T]`` with ``G_i = dh_T/dh_i``."""
    G: list[object] = [0 * identity for _ in range(T)] + [identity]
    for (i, j), w in sorted(edges.items(), key=lambda e: -e[0][1]):
        G[i] = G[i] + w * (G[j] @ J[j])
    return G


def aligned_scalars(edges: Edges, c: Sequence[object], T: int) -> list[object | None]:
    """For ``J_k = c_k I`` (2 x 2, exact sympy): ``s_t`` with ``dh_T/dh_t = G_t = s_t I`` for
    t = 0..T-1, from the adjoint recursion multiplied out (None where G_t is not a multiple of
    I, which Lemma 1 rules out); then ``||dh_T/dh_t||_2 = |s_t|``."""
    eye = sp.eye(2)
    G = adjoint(edges, {k: c[k - 1] * eye for k in range(1, T + 1)}, T, eye)
    return [G[t][0, 0] if G[t] == G[t][0, 0] * eye else None for t in range(T)]
