"""F7: B3 is needed (THEORY.md section 4). The smallest sign-indefinite case found by the
certificate :func:`proofs.counterexample.check_naive_bound_fails` (n = 2, T = 3, uniform full
attention, beta = gamma = 1/2), where the naive lower bound ||G_0|| >= M_mu(0) fails because
the paths of Lemma 1 cancel, drawn path by path.

The certificate's J_1..J_3 are diagonal with entries 1 and one other slope sigma, so they are
the step Jacobians of a real network (:func:`network`): V = I, U = I, b = 0 and a
piecewise-linear phi of slope 1 below 1 and sigma from 1 on, driven by inputs of growing size
(+-100^k at step k) that put each unit on the side its J_k asks for. The figure measures that
network (``verify.measure``): its J_k must equal the certificate's (checked), its G_0 is the
certificate's (0 up to rounding), B2+'s value M_mu(0) on the measured mu_k (the catalog's
``nonneg_lower``, whose hypothesis fails here, so its verdict is "not applicable") lies above
the measured ||G_0||, while the verdicts of B1 and B3 (which apply) hold.

Writes ``f7_counterexample.png``, ``f7_counterexample.json`` (J_k, each path's weight W(xi)
and term W(xi) J...J exactly and measured, G_0, M_mu(0), the verdicts) and
``f7_counterexample.csv`` (one row per path and matrix entry).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp
import torch

from paper_figs import output

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bounds.patterns import Pattern
    from verify.models import Recurrent
    from verify.models.nonlin import Nonlinearity

NAME = "f7_counterexample"
FILES = (f"{NAME}.png", f"{NAME}.csv", f"{NAME}.json")
#: The certificate has one size: every scale draws the same case.
SCALES = {"tiny": {}, "small": {}, "paper": {}}
#: Input size at step k: +-BASE**k drives unit i above or below the kink of phi.
BASE = 100.0


def kinked(sigma: float) -> Nonlinearity:
    """phi(a) = a for a < 1 and 1 + sigma (a - 1) from 1 on: phi' is 1, or sigma."""
    from verify.models.nonlin import Nonlinearity

    return Nonlinearity(lambda a: torch.where(a < 1, a, 1 + sigma * (a - 1)),
                        lambda a: torch.where(a < 1, torch.ones_like(a),
                                              torch.full_like(a, sigma)),
                        f"kinked (slope 1, then {sigma:g})")


def network(J: list[sp.Matrix], beta: float, gamma: float, device: str
            ) -> tuple[Recurrent, torch.Tensor]:
    """A network whose step Jacobians are the diagonal ``J`` (entries 1 and one sigma), and its
    inputs (module docstring); a ValueError when ``J`` is not of that form."""
    from bounds.patterns import uniform
    from verify.models import vanilla

    diag = np.array([[float(Jk[i, i]) for i in range(Jk.rows)] for Jk in J])
    other = sorted(set(diag.ravel()) - {1.0})
    if any(not Jk.is_diagonal() for Jk in J) or len(other) > 1:
        raise ValueError("the counterexample's J_k must be diagonal with entries 1 and one "
                         "other slope to be realised as V = I with a kinked phi")
    sigma = other[0] if other else 1.0
    n, T = diag.shape[1], diag.shape[0]
    model = vanilla(np.eye(n), n, kinked(sigma), pattern=uniform(T), beta=beta, gamma=gamma,
                    device=device)
    with torch.no_grad():
        model.cell.U.copy_(torch.eye(n, dtype=torch.float64))
    sign = np.where(diag == 1.0, -1.0, 1.0)
    x = sign * BASE ** np.arange(1, T + 1)[:, None]
    return model, torch.as_tensor(x[None])


def path_terms(J: list[sp.Matrix], pattern: Pattern, beta: sp.Rational, gamma: sp.Rational,
               identity: sp.Matrix) -> list[dict[str, object]]:
    """Lemma 1's terms from t = 0 to T, enumerated (:mod:`proofs.paths`): each path, W(xi),
    and W(xi) J_{k_m} ... J_{k_1}."""
    from proofs.paths import edge_weights, path_products

    T = len(J)
    edges = edge_weights(pattern.dense(), beta, gamma, T)
    Js = dict(enumerate(J, start=1))
    return [{"path": xi, "W": w, "term": w * prod}
            for xi, w, prod in path_products(edges, Js, 0, T, identity)]


def draw(terms: list[dict], measured: dict[str, object]) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.8))
    left, right = fig.subplots(1, 2, width_ratios=(3, 2))
    n = terms[0]["term_float"].shape[0]
    entries = [(i, j) for i in range(n) for j in range(n)
               if any(r["term_float"][i, j] != 0 for r in terms)]
    names = ["(" + ",".join(map(str, r["path"])) + ")" for r in terms] + ["sum: G_0"]
    width = 0.8 / len(entries)
    for e, (i, j) in enumerate(entries):
        values = [r["term_float"][i, j] for r in terms] + [measured["G0"][i, j]]
        xs = np.arange(len(names)) + (e - (len(entries) - 1) / 2) * width
        left.bar(xs, values, width, color=f"C{e}", label=f"entry ({i + 1},{j + 1})")
    left.axhline(0, color="k", lw=0.8)
    left.annotate(f"G_0 = 0\n(measured\n{measured['norm_G0']:.1e})", (len(names) - 1, 0),
                  xytext=(0, 12), textcoords="offset points", ha="center", fontsize=9)
    left.set_xticks(np.arange(len(names)), names, fontsize=9)
    left.set_xlabel("path xi = (k_0, ..., k_m) from 0 to T: its term W(xi) J...J; their sum")
    left.set_ylabel("matrix entry (dimensionless)")
    left.set_title("Lemma 1's path terms cancel: G_0 = 0", fontsize=10)
    left.legend(fontsize=9)
    left.grid(alpha=0.3, axis="y")
    norms = [np.linalg.norm(r["term_float"], 2) for r in terms]
    lower = [r["W_mu"] for r in terms]
    xs = np.arange(len(terms))
    right.bar(xs - 0.2, norms, 0.4, color="0.6", label="||W(xi) J...J||_2")
    right.bar(xs + 0.2, lower, 0.4, color="C1", label="W(xi) prod mu_k")
    right.axhline(measured["M_mu0"], color="C1", ls=":", lw=2,
                  label=f"M_mu(0) = {measured['M_mu0']:.4g} (naive bound)")
    right.axhline(measured["norm_G0"], color="k", lw=2,
                  label=f"measured ||G_0||_2 = {measured['norm_G0']:.2g}")
    right.set_xticks(xs, names[:-1], fontsize=9)
    right.set_xlabel("path xi")
    right.set_ylabel("norm (dimensionless)")
    right.set_title("M_mu(0) above ||G_0||: the naive bound fails", fontsize=10)
    right.legend(fontsize=8, loc="upper left")
    right.grid(alpha=0.3, axis="y")
    fig.suptitle("F7: the smallest sign-indefinite counterexample (n = 2, T = 3, uniform "
                 "attention, beta = gamma = 1/2, t = 0)", fontsize=11)
    fig.tight_layout()
    return fig


def make(out: Path, scale: str = "small", device: str = "cpu", *, force: bool = False,
         command: str | None = None) -> dict[str, object]:
    """Certify, realise, measure, draw and write F7 under ``out``; returns the JSON's data."""
    from bounds import get
    from bounds.patterns import uniform
    from proofs.counterexample import check_naive_bound_fails
    from verify.measurement import measure

    output.params(SCALES, scale)
    command = command or output.command(NAME, out, scale, device)
    with output.Run(NAME, out, FILES, force, command) as run:
        cert = check_naive_bound_fails()
        if not cert.passed:
            raise ValueError(f"the certificate found no counterexample: "
                             f"{cert.evidence['summary']}")
        ev = cert.evidence
        setting = ev["setting"]
        beta, gamma = sp.Rational(setting["beta"]), sp.Rational(setting["gamma"])
        J = [sp.Matrix(sp.sympify(v)) for v in ev["counterexample"]["J"].values()]
        model, x = network(J, float(beta), float(gamma), device)
        m = measure(model, x, source=f"{NAME}: V = I, U = I, kinked phi, inputs {x.tolist()}")
        with torch.no_grad():
            Jm = model.step_jacobians(model(x, detach_attention=True)).cpu().numpy()
        if not np.array_equal(Jm, np.array([np.array(Jk.tolist(), dtype=float) for Jk in J])):
            raise ValueError(f"the realised network's J_k {Jm.tolist()} are not the "
                             f"certificate's")
        exact = path_terms(J, uniform(len(J), exact=True), beta, gamma, sp.eye(J[0].rows))
        mu = m.mu
        for r in exact:
            r["term_float"] = np.array(r["term"].tolist(), dtype=float)
            r["W_mu"] = float(r["W"]) * float(np.prod([mu[k - 1] for k in r["path"][1:]]))
        M0 = float(get("nonneg_lower").evaluate(pattern=m.pattern, beta=m.beta, gamma=m.gamma,
                                                mu=m.mu)[0])
        measured = {"G0": m.jacobian(0), "norm_G0": float(m.norm2[0]), "M_mu0": M0}
        rows = [{"path": " -> ".join(map(str, r["path"])), "W": str(r["W"]),
                 "entry": f"({i + 1},{j + 1})", "exact": str(r["term"][i, j]),
                 "value": float(r["term_float"][i, j])}
                for r in exact for i in range(J[0].rows) for j in range(J[0].cols)]
        data = {"certificate": cert.to_json(), "source": m.source,
                "paths": [{"path": list(r["path"]), "W": str(r["W"]),
                           "term": [[str(v) for v in row] for row in r["term"].tolist()],
                           "norm": float(np.linalg.norm(r["term_float"], 2)),
                           "W_prod_mu": r["W_mu"]} for r in exact],
                "measured_G0": measured["G0"], "measured_norm_G0": measured["norm_G0"],
                "measured_log10_norm_G0": float(m.log10_norm2[0]),
                "M_mu0_on_measured_mu": M0,
                "verdicts": {k: v.summary() for k, v in m.verdicts.items()}}
        run.write(rows, data, draw(exact, measured))
    return data


main = output.entry(NAME, make)


if __name__ == "__main__":
    sys.exit(main())
