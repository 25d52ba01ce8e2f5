"""Lemma 1's adjoint recursion with matrices, in one place (THEORY.md section 2):

    G_T = I,    G_i = sum_{j > i} w(i -> j) G_j J_j,    G_i = dh_T / dh_i  (alpha fixed).

Every G_i is carried as a mantissa and a natural-log scale, ``G_i = M_i exp(s_i)`` with
``max |M_i| = 1``, so products over 10^4 and more steps (0.5^20000 = 10^-6021) stay finite
(THEORY.md section 5, "Log domain"). ``K_j = M_j J_j`` is formed once per node, so the cost is
O(T n^3 + edges n^2). The scales live on the host (float64 numpy): one scalar read per node,
a device synchronisation on CUDA that the performance work may remove.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from bounds.recursions import Graph


def _successors(g: Graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges of ``g`` grouped by source: for node i, ``dst[ptr[i]:ptr[i+1]]`` (increasing)
    with weights ``w``."""
    dst = np.repeat(np.arange(1, g.T + 1), np.diff(g.ptr))
    order = np.lexsort((dst, g.src))
    ptr = np.concatenate([[0], np.cumsum(np.bincount(g.src, minlength=g.T + 1))])
    return ptr, dst[order], g.weight.astype(float)[order]


def adjoint(g: Graph, J: Tensor) -> tuple[Tensor, np.ndarray]:
    """``(M, s)`` with ``G_i = M[i] * exp(s[i])`` for i = 0..T, from the dependency graph ``g``
    (edge weights w(i -> j)) and the step Jacobians ``J`` (T, n, n), ``J[j-1] = J_j``.

    ``s[i] = -inf`` (and ``M[i] = 0``) where ``G_i = 0``: no path from i reaches T, or the
    paths cancel exactly. Each G_i pulls ``sum_j w(i -> j) K_j`` from its successors, with
    ``K_j = M_j J_j`` stored once per node.
    """
    T, n = J.shape[0], J.shape[-1]
    if g.T != T:
        raise ValueError(f"parameter 'J' must hold T = {g.T} step Jacobians, got {T}")
    ptr, dst, weight = _successors(g)
    ptr = ptr.tolist()
    M = J.new_zeros(T + 1, n, n)
    K = J.new_zeros(T + 1, n, n)
    M[T] = torch.eye(n, dtype=J.dtype, device=J.device)
    K[T] = J[T - 1]
    s = np.full(T + 1, -np.inf)
    s[T] = 0.0
    for i in range(T - 1, -1, -1):
        lo, hi = ptr[i], ptr[i + 1]
        if hi - lo == 1:
            top = s[dst[lo]]
            if top == -np.inf:
                continue
            G = K[dst[lo]] * weight[lo]
        else:
            js = dst[lo:hi]
            top = s[js].max(initial=-np.inf)
            if top == -np.inf:
                continue
            coef = torch.as_tensor(weight[lo:hi] * np.exp(s[js] - top), dtype=J.dtype,
                                   device=J.device)
            Ks = K[js[0]:js[-1] + 1] if js[-1] - js[0] + 1 == js.size else K[js]
            G = torch.tensordot(coef, Ks, 1)
        r = float(G.abs().amax())
        if r == 0.0:
            continue
        M[i] = G / r
        s[i] = top + math.log(r)
        if i:
            K[i] = M[i] @ J[i - 1]
    return M, s
