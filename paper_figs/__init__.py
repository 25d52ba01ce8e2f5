"""The paper's figures, regenerated from measurements (``untangle figs``; THEORY.md sections
4-9). One module per figure, each with ``make(out, scale, device) -> dict`` (writes the PNG,
its data and ``command.txt`` under ``out``, returns the data) and ``main()`` for
``python -m paper_figs.<name>``:

=================== ===========================================================================
f1_patterns         ||dh_T/dh_t|| against t for each canonical pattern, every applicable bound
f2_horizon          ||dh_T/dh_0|| against T: exponential (RNN), polynomial (uniform, B4 exact),
                    a floor (relevancy screening, B7)
f3_kappa_depth      the kappa^-d law (B5): measured against (gamma mu / kappa)^d, aligned and
                    random networks
f4_profiles         ||dL/dh_t|| on copy for the five models, at initialisation and trained
f5_tradeoff         cost (time per step, peak memory) against T beside accuracy; the tradeoff
                    table of THEORY.md section 4, measured
f6_score_gap        the score-term gap of learned attention against t, initialised and trained
f7_counterexample   the cancelling paths of the smallest case where ||G_0|| < M_mu(0) (B3 is
                    needed)
f8_kappa_tradeoff   depth d against kappa at a fixed distance for window, strided and sparse
                    attention, the bound (gamma mu / kappa)^d and the per-step cost
=================== ===========================================================================

Scales: ``tiny`` (the test suite), ``small`` (the default: every figure on a 2-core CPU in
minutes), ``paper`` (GPU sizes). Training runs go to a checkpoint folder shared by the figures
(default ``runs/`` beside the figure folders) and are reused when present. Grids over
``untangle measure``'s options (F2, F8) run as sweeps (:mod:`paper_figs.swept`), their tables
beside the figure.
"""

#: The figures, in order (module names in this package).
FIGURES = ("f1_patterns", "f2_horizon", "f3_kappa_depth", "f4_profiles", "f5_tradeoff",
           "f6_score_gap", "f7_counterexample", "f8_kappa_tradeoff")
#: The scales every figure accepts.
SCALES = ("tiny", "small", "paper")

__all__ = ["FIGURES", "SCALES"]
