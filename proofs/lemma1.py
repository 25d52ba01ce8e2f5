"""Lemma 1 (THEORY.md section 2), symbolically: sympy's Jacobian equals the path sum.

For n = 2, symbolic V, bias b and inputs u_k (standing for U x_k), an undefined function phi
applied entrywise, and states h_0..h_t free symbols, the forward pass

    s_k = beta h_k + gamma sum_i alpha[k, i] h_i,   a_{k+1} = V s_k + u_{k+1} + b,
    h_{k+1} = phi(a_{k+1})                                            (k = t .. T-1)

gives h_T; sympy differentiates it with respect to h_t. Lemma 1 says the result is
``sum_xi W(xi) J_{k_m} ... J_{k_1}`` with ``J_k = diag(phi'(a_k)) V``. The path side is built
from explicitly enumerated paths (:mod:`proofs.paths`). Each derivative sympy produces,
``Subs(Derivative(phi(x), x), x, a_k[i])``, is replaced by a symbol ``D_{k,i}`` standing for
``phi'(a_k[i])`` (the same symbol the path side uses); the replacement is injective, so the
difference is zero iff it expands to the zero polynomial. Lemma 1 uses no property of alpha
(not even row sums), so the generic pattern has a free symbol for every ``alpha[k, i]``, i <= k.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import sympy as sp

from proofs.certificate import Certificate, positive_ints, register_certificate
from proofs.draws import rational_pattern
from proofs.paths import Edges, edge_weights, path_sum_matrix

N = 2  #: hidden size of the symbolic model
PHI = sp.Function("phi")

#: ``formula(edges, J, t, T, identity) -> dh_T/dh_t``; Lemma 1's is the default.
Formula = Callable[[Edges, Mapping[int, sp.Matrix], int, int, sp.Matrix], sp.Matrix]
Case = tuple[str, object, sp.Expr, sp.Expr, int]


def _vector(name: str) -> sp.Matrix:
    return sp.Matrix(N, 1, lambda i, _: sp.Symbol(f"{name}_{i + 1}"))


def jacobian_difference(alpha: object, beta: sp.Expr, gamma: sp.Expr, T: int, t: int,
                        formula: Formula = path_sum_matrix) -> tuple[sp.Matrix, int, int]:
    """``expand(sympy's dh_T/dh_t) - expand(formula(...))`` for one (T, t) (sympy's Add
    collects like terms, so identical expansions cancel to 0), with the number of terms of the
    expanded Jacobian and the number of derivative atoms it contained."""
    V = sp.Matrix(N, N, lambda i, j: sp.Symbol(f"v_{i + 1}{j + 1}"))
    b = _vector("b")
    h = [_vector(f"h{k}") for k in range(t + 1)]
    a: dict[int, sp.Matrix] = {}
    for k in range(t, T):
        c = sp.zeros(N, 1)
        for i in range(k + 1):
            c += alpha[k, i] * h[i]
        a[k + 1] = V * (beta * h[k] + gamma * c) + _vector(f"u{k + 1}") + b
        h.append(a[k + 1].applyfunc(PHI))
    jac = h[T].jacobian(h[t])
    D = {(k, i): sp.Symbol(f"D{k}_{i + 1}") for k in a for i in range(N)}
    where = {a[k][i]: D[k, i] for k in a for i in range(N)}
    atoms = jac.atoms(sp.Subs)
    named = {}
    for s in atoms:
        (x,), (point,) = s.variables, s.point
        if s.expr == sp.Derivative(PHI(x), x) and point in where:
            named[s] = where[point]
    jac = jac.xreplace(named).applyfunc(sp.expand)
    terms = sum(len(sp.Add.make_args(e)) for e in jac)
    J = {k: sp.diag(*[D[k, i] for i in range(N)]) * V for k in a}
    edges = edge_weights(alpha, beta, gamma, T)
    diff = jac - formula(edges, J, t, T, sp.eye(N)).applyfunc(sp.expand)
    return diff, terms, len(atoms)


def check_lemma1(cases: Iterable[Case], method: str,
                 formula: Formula = path_sum_matrix) -> Certificate:
    """Certify Lemma 1 on every ``(label, alpha, beta, gamma, T)`` case and every t < T:
    passes iff every difference expands to exactly the zero matrix."""
    rows, failures = [], []
    for label, alpha, beta, gamma, T in cases:
        for t in range(T):
            diff, terms, atoms = jacobian_difference(alpha, beta, gamma, T, t, formula)
            nonzero = sum(e != 0 for e in diff)
            rows.append({"pattern": label, "T": T, "t": t, "jacobian_terms": terms,
                         "derivative_atoms": atoms, "nonzero_entries_of_difference": nonzero})
            if nonzero:
                failures.append(f"{label} T={T} t={t}")
    done = len(rows)
    return Certificate("Lemma 1", method, done > 0 and not failures, {
        "summary": (f"{done} (pattern, T, t) cases, n = {N}: Jacobian - path sum expands to 0"
                    if not failures else f"nonzero difference in {len(failures)}/{done} cases: "
                    f"{', '.join(failures[:4])}"),
        "n": N,
        "cases": rows,
        "failures": failures,
    })


def generic_cases(Ts: Sequence[int] = (2, 3, 4)) -> list[Case]:
    """A free symbol ``alpha_{k,i}`` for every i <= k, symbolic beta and gamma."""
    beta, gamma = sp.symbols("beta gamma")
    Ts = positive_ints("Ts", Ts)
    return [(f"generic T={T}", sp.Matrix(T, T, lambda k, i: sp.Symbol(f"alpha_{k}_{i}")
                                         if i <= k else 0), beta, gamma, T) for T in Ts]


def rational_cases(Ts: Sequence[int] = (2, 3, 4), draws: int = 3, seed: int = 0) -> list[Case]:
    """Seeded random row-stochastic rational patterns (:func:`proofs.draws.rational_pattern`)
    with rational beta in {0, 1/4, .., 1} and gamma in {1/4, .., 1}."""
    Ts = positive_ints("Ts", Ts)
    (draws,) = positive_ints("draws", draws)
    rng = np.random.default_rng(seed)
    out: list[Case] = []
    for d in range(draws):
        for T in Ts:
            alpha = rational_pattern(rng, T).dense()
            beta = sp.Rational(int(rng.integers(0, 5)), 4)
            gamma = sp.Rational(int(rng.integers(1, 5)), 4)
            out.append((f"rational#{d} T={T} beta={beta} gamma={gamma}", alpha, beta, gamma, T))
    return out


@register_certificate
def lemma1_generic() -> Certificate:
    """Lemma 1 for a generic symbolic pattern, T in {2, 3, 4}, every t < T."""
    return check_lemma1(generic_cases(), "sympy, generic symbolic alpha_{k,i}, beta, gamma: "
                        "Jacobian vs explicit path sum; symbolic V, b, u_k, phi; n = 2, "
                        "T in {2,3,4}")


@register_certificate
def lemma1_rational() -> Certificate:
    """Lemma 1 for seeded random rational row-stochastic patterns, T in {2, 3, 4}."""
    return check_lemma1(rational_cases(), "sympy, 3 seeded random rational patterns per T: "
                        "Jacobian vs explicit path sum; symbolic V, b, u_k, phi; n = 2, "
                        "T in {2,3,4}")
