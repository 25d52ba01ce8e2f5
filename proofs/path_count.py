"""The full-attention graph has 2^(T-t-1) paths from t to T (THEORY.md sections 2 and 4, B4).

With uniform full attention and beta, gamma > 0, G has every edge i -> j, j > i. Symbolically:
the count satisfies ``N_T = 1``, ``N_t = sum_{j=t+1}^{T} N_j``; the formula solves it when
``N(T-1) = 1`` and ``N(t) = 1 + sum_{j=t+1}^{T-1} N(j)`` for symbolic t < T - 1 (sympy
summation), which is induction on T - t. Against enumeration, for T = 1..10 and every t, the
count is computed four independent ways: brute-force path enumeration (:mod:`proofs.paths`),
a counting recursion over the predecessors of :func:`bounds.graph`, and the exact path sum
:func:`bounds.path_sum` on the beta = 0, gamma = 1 pattern with ``x_k = k``, where every edge
into node k weighs ``gamma*alpha[k-1, i] = 1/k``, so each path contributes ``prod (1/k) k = 1``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from bounds import graph, path_sum, patterns
from proofs.certificate import Certificate, positive_ints, register_certificate
from proofs.paths import edge_weights, paths

t_, T_, j_ = sp.symbols("t T j", integer=True, nonnegative=True)

#: THEORY's count of paths t -> T in the full-attention graph.
CLAIMED = 2 ** (T_ - t_ - 1)


def _dp_count(T: int) -> list[int]:
    """``N_T = 1``, ``N_i = sum over edges i -> j of N_j``, over bounds.graph's edges."""
    g = graph(patterns.uniform(T), 0.5, 0.5)
    count = [0] * T + [1]
    for j in range(T, 0, -1):
        for i in g.preds(j)[0]:
            count[int(i)] += count[j]
    return count[:T]


def check_path_count(formula: sp.Expr = CLAIMED, T_max: int = 10) -> Certificate:
    """Certify that ``formula`` (in the symbols t, T) counts the paths t -> T of uniform full
    attention: symbolically by induction, and against enumeration for T = 1..T_max."""
    (T_max,) = positive_ints("T_max", T_max)
    base = sp.simplify(formula.subs(t_, T_ - 1) - 1)
    step = sp.simplify(formula - 1 - sp.summation(formula.subs(t_, j_), (j_, t_ + 1, T_ - 1)))
    symbolic = base == 0 and step == 0
    rows, mismatches = [], []
    for T in range(1, T_max + 1):
        alpha = patterns.uniform(T).dense()
        edges = edge_weights(alpha, 0.5, 0.5, T)
        full = len(edges) == T * (T + 1) // 2
        dp = _dp_count(T)
        via_sum = path_sum(patterns.uniform(T, exact=True), sp.Integer(0), sp.Integer(1),
                           np.array([sp.Integer(k) for k in range(1, T + 1)], dtype=object))
        for t in range(T):
            counts = {
                "enumerated": sum(1 for _ in paths(edges, t, T)),
                "graph_dp": dp[t],
                "path_sum": via_sum[t],
                "formula": formula.subs({t_: t, T_: T}),
            }
            if not full or len({sp.sympify(v) for v in counts.values()}) != 1:
                mismatches.append({"T": T, "t": t, "all_edges": full, **counts})
            rows.append(counts["enumerated"])
    passed = symbolic and not mismatches
    return Certificate("paths", "sympy induction (summation) + enumeration, graph DP and "
                       f"exact path sum for T = 1..{T_max}", passed, {
                           "summary": (f"formula {formula}: base {base}, step residual {step}; "
                                       f"{len(rows)} (T, t) cases, {len(mismatches)} mismatches"),
                           "formula": str(formula),
                           "base_case_residual": base,
                           "induction_step_residual": step,
                           "cases": len(rows),
                           "paths_enumerated": sum(rows),
                           "mismatches": mismatches[:5],
                       })


@register_certificate
def path_count() -> Certificate:
    """2^(T-t-1) paths from t to T under uniform full attention."""
    return check_path_count()
