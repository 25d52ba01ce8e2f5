"""The figures of paper_figs at the ``tiny`` scale: each writes a non-empty PNG, its data and
the command that made it, and its numbers are those of a direct call of the measurement API
(or of a closed form written out here) on the same parameters; the tradeoff-table generator on
fixed inputs; the output-file rules of ``untangle figs``."""

from __future__ import annotations

import csv
import importlib
import json
import math
import os
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st

from bounds import dependency_depth, patterns, sparsity
from paper_figs import FIGURES
from verify import build, controlled, measure
from verify.cli import main as cli

# Values go through CSV with 12 significant digits: 1e-10 relative (absolute on log10 values)
# covers that rounding; equal computations agree far closer.
CSV_TOL = 1e-10


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Every figure made once at the tiny scale (training runs shared in one runs folder)."""
    root = tmp_path_factory.mktemp("figs")
    out = {}
    for name in FIGURES:
        module = importlib.import_module(f"paper_figs.{name}")
        extra = {"runs": root / "runs"} if getattr(module, "TRAINING", False) else {}
        data = module.make(root / name, "tiny", "cpu", **extra)
        out[name] = (root / name, data)
    return out


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _close(got: str | float, want: float) -> bool:
    got = float(got)
    if math.isnan(want) or math.isinf(want):
        return got == want or (math.isnan(got) and math.isnan(want))
    return abs(got - want) <= CSV_TOL * max(1.0, abs(want))


def _relrnn(p: dict, T: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """The relevancy model of F1/F2, built here: relrnn, V = c I, U scaled, attention 0."""
    n = p["hidden"]
    model = build("relrnn", n, hidden=n, nu=p["nu"], rho=p["rho"], seed=0,
                  dtype=torch.float64)
    with torch.no_grad():
        model.cell.V.copy_(p["c"] * torch.eye(n, dtype=torch.float64))
        model.cell.U.mul_(p["input_scale"])
        for q in model.memory.parameters():
            q.zero_()
    return model, torch.as_tensor(np.random.default_rng([0, 1]).standard_normal((1, T, n)))


def test_every_figure_writes_its_png_data_and_command(made):
    for name, (out, _) in made.items():
        module = importlib.import_module(f"paper_figs.{name}")
        for file in (*module.FILES, "command.txt"):
            assert (out / file).stat().st_size > 0, (name, file)
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 20_000  # a drawn figure, not an empty canvas
        assert len(_csv(out / f"{name}.csv")) >= 1
        json.loads((out / f"{name}.json").read_text())
        first, timing = (out / "command.txt").read_text().splitlines()[:2]
        assert first == (f"python -m paper_figs.{name} --out {out} --scale tiny "
                         f"--device cpu")
        assert timing.startswith("# ") and " s wall on " in timing


def test_f1_panels_are_direct_measurements(made):
    from paper_figs.f1_patterns import SCALES

    out, data = made["f1_patterns"]
    p, T, n = SCALES["tiny"], SCALES["tiny"]["T"], SCALES["tiny"]["hidden"]
    rows = _csv(out / "f1_patterns.csv")
    built = {"none": patterns.none(T), "uniform": patterns.uniform(T),
             "window": patterns.window(T, p["width"]), "sparse": patterns.sparse(T, p["kappa"])}
    x = torch.as_tensor(np.random.default_rng([0, 1]).standard_normal((1, T, n)))
    runs = {key: measure(controlled("identity", n, n, "tanh", scale=p["c"],
                                    input_scale=p["input_scale"], pattern=pattern, seed=0,
                                    device="cpu"), x)
            for key, pattern in built.items()}
    runs["relevancy"] = measure(*_relrnn(p, T))
    assert set(runs) == {r["panel"] for r in rows} == set(data["panels"])
    for key, m in runs.items():
        mine = [r for r in rows if r["panel"] == key]
        assert [int(r["t"]) for r in mine] == list(range(T))
        for t, r in enumerate(mine):
            assert _close(r["log10_measured"], m.log10_norm2[t])
            for v in m.verdicts.values():
                assert _close(r[f"log10_{v.theory_id}_{v.name}"], v.log10_bound[t])
                assert r[f"holds_{v.theory_id}_{v.name}"] == str(int(v.holds[t]))
    # what each panel is about applies there
    assert all(r["log10_B7_relevancy_lower"] != "nan" for r in rows
               if r["panel"] == "relevancy" and r["holds_B7_relevancy_lower"] == "1")
    assert any(r["holds_B7_relevancy_lower"] == "1" for r in rows)
    assert all(r["holds_B6_window_lower"] == "1" for r in rows if r["panel"] == "window")
    assert all(r["holds_B0_rnn_upper"] == "1" for r in rows if r["panel"] == "none")


def test_f1_names_the_bounds_drawn_on_top_of_each_other():
    from paper_figs.f1_patterns import coinciding

    T = 8
    x = torch.as_tensor(np.random.default_rng([0, 1]).standard_normal((1, T, 2)))
    m = measure(controlled("identity", 2, 2, "tanh", scale=0.9, input_scale=0.5,
                           pattern=patterns.uniform(T), device="cpu"), x)
    live = [v for v in m.verdicts.values() if v.applicable.any()]
    # uniform attention is a window of width T with one hop: gamma mu / T three times
    assert coinciding(live) == ["B4 = B5 = B6"]
    assert coinciding([m.verdicts["uniform_lower"], m.verdicts["path_sum_upper"]]) == []


def test_f2_follows_the_closed_forms(made):
    from paper_figs.f2_horizon import SCALES

    out, data = made["f2_horizon"]
    p = SCALES["tiny"]
    c, g = p["c"], p["gamma"]
    rows = _csv(out / "f2_horizon.csv")
    for r in rows:
        T = int(r["T"])
        if r["family"] == "rnn":  # ||dh_T/dh_0|| = c^T, B0 with equality
            assert _close(r["log10_measured"], T * math.log10(c))
            assert _close(r["log10_bound"], T * math.log10(c)) and r["holds"] == "True"
        elif r["family"] == "uniform":
            cg = c * g
            exact = (math.log(cg / T) + math.lgamma(T + cg) - math.lgamma(T)
                     - math.lgamma(1 + cg)) / math.log(10)
            assert _close(r["log10_measured"], exact)
            want = exact if r["bound"] == "uniform_exact" else math.log10(g * c / T)
            assert _close(r["log10_bound"], want) and r["holds"] == "True"
        else:
            m = measure(*_relrnn(p, T))
            assert _close(r["log10_measured"], m.log10_norm2[1])
            assert _close(r["log10_bound"], m.verdicts["relevancy_lower"].log10_bound[1])
    assert {r["family"] for r in rows} == {"rnn", "uniform", "relevancy"}
    assert data["slopes"]["rnn_per_step"] == pytest.approx(math.log10(c), abs=1e-12)
    for family in ("rnn", "uniform"):  # the sweep tables are there, one row per T
        lines = (out / f"f2_horizon.{family}.jsonl").read_text().splitlines()
        assert len(lines) == 1 + len(p["Ts"])


def test_f3_hub_patterns_have_the_kappa_and_depth_asked_and_one_path():
    from paper_figs.f3_kappa_depth import hub_pattern
    from proofs.paths import edge_weights, paths

    for kappa in (1, 2, 3, 5):
        for d in (1, 2, 3, 6):
            pattern, s = hub_pattern(kappa, d, 6)
            assert s == max(kappa - 1, 1)  # the earliest source with kappa - 1 fillers before it
            assert sparsity(pattern) == kappa and pattern.T == s + 6
            assert dependency_depth(pattern, 0.0, 0.5)[s] == d
            assert dependency_depth(pattern, 0.5, 0.5)[s] == d
            edges = edge_weights(pattern.dense(), 0.0, 0.5, pattern.T)
            assert len(list(paths(edges, s, pattern.T))) == 1
    with pytest.raises(ValueError, match="'d' must divide"):
        hub_pattern(2, 4, 6)


def test_f3_aligned_single_path_attains_the_bound(made):
    from paper_figs.f3_kappa_depth import SCALES, hub_pattern

    out, data = made["f3_kappa_depth"]
    p = SCALES["tiny"]
    n = p["hidden"]
    rows = _csv(out / "f3_kappa_depth.csv")
    assert sorted((r["network"], float(r["beta"]), int(r["kappa"]), int(r["d"])) for r in rows) \
        == sorted((net, beta, kappa, d) for net in ("aligned", "random") for beta in (0.0, 0.5)
                  for kappa in {1, 2, 3} for d in {1, 2, 4})  # the tiny grid, each point once
    for net in ("aligned", "random"):
        for beta in (0.0, 0.5):
            excess = [float(r["log10_bound"]) - float(r["log10_measured"]) for r in rows
                      if r["network"] == net and float(r["beta"]) == beta]
            assert data["largest_bound_minus_measured_decades"][f"{net}, beta={beta:g}"] == \
                pytest.approx(max(excess), abs=2 * CSV_TOL)
    for r in rows:
        kappa, d, beta = int(r["kappa"]), int(r["d"]), float(r["beta"])
        if r["network"] == "aligned":
            law = d * math.log10(p["gamma"] * p["c"] / kappa)  # (gamma c / kappa)^d
            assert _close(r["log10_bound"], law) and r["B5_holds"] == "True"
            if beta == 0.0:
                assert _close(r["log10_measured"], law)
            else:
                assert float(r["log10_measured"]) >= law - CSV_TOL
        else:
            assert r["B5_applicable"] == "False"
            pattern, s = hub_pattern(kappa, d, p["D"])
            model = controlled("orthogonal", n, n, "tanh", scale=p["c"],
                               input_scale=p["input_scale"], beta=beta, gamma=p["gamma"],
                               pattern=pattern, seed=0, device="cpu")
            x = torch.as_tensor(np.random.default_rng([0, 1]).standard_normal((1, pattern.T,
                                                                               n)))
            m = measure(model, x)
            assert _close(r["log10_measured"], m.log10_norm2[s])
            assert _close(r["mu"], m.mu[s:].min())
    assert data["B5_held_where_applicable"]


def test_f4_profiles_are_the_training_profiles_of_the_checkpoints(made):
    from verify.training import build as build_classifier
    from verify.training import load, profiles, restore

    out, data = made["f4_profiles"]
    rows = _csv(out / "f4_profiles.csv")
    assert set(data["models"]) == {"rnn", "memrnn", "relrnn", "lstm", "rellstm"}
    for model in ("rnn", "relrnn", "rellstm"):
        ck = load(data["models"][model]["checkpoint"])
        cfg = ck["config"]
        init = profiles(build_classifier(cfg), cfg.task, cfg.T, cfg.batch)
        final = profiles(restore(ck), cfg.task, cfg.T, cfg.batch)
        mine = [r for r in rows if r["model"] == model]
        assert len(mine) == cfg.T + 21
        for t, r in enumerate(mine):
            for kind in ("loss", "recall"):
                assert _close(r[f"{kind}_init"], init[kind][t])
                assert _close(r[f"{kind}_final"], final[kind][t])


TABLE_ROWS = [
    {"key": "rnn", "label": "rnn", "attended_mean": 0.0, "attended_max": 0,
     "step_s": 1.25e-5, "kept_bytes": 2**20, "log10_grad": -3.14159, "t": 1, "depth": 99.0},
    {"key": "relevancy", "label": "relrnn nu = 10, rho = 15", "attended_mean": 22.75,
     "attended_max": 25, "step_s": 4e-4, "kept_bytes": 0, "log10_grad": -0.5,
     "t": 1, "depth": 1.0},
    {"key": "sparse", "label": "sparse", "attended_mean": 3.0, "attended_max": 3,
     "step_s": 2e-5, "kept_bytes": 3 * 2**19, "log10_grad": -12.0, "t": 1,
     "depth": float("inf")},
]


def test_tradeoff_table_on_fixed_inputs():
    from paper_figs.f5_tradeoff import tradeoff_table

    got = tradeoff_table(TABLE_ROWS, T=100, n=64)
    want = (
        "Measured at T = 100, n = 64, batch 10 (forward time and memory), t = 1; the "
        "asymptotic columns are THEORY.md section 4's.\n\n"
        "| model (measured network) | states attended per step | measured: mean (max) | "
        "forward compute, T steps | measured: us per step | inference memory | "
        "measured: MiB kept for backprop | gradient to a state T-t back | "
        "measured: log10 norm at T-t = 99 (depth d) |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        "| RNN (rnn) | 0 | 0.0 (0) | O(T n^2) | 12.5 | O(n) | 1.00 | "
        "upper bound (beta*lambda)^(T-t): vanishes | -3.14 (d = 99) |\n"
        "| relevancy screening nu, rho (relrnn nu = 10, rho = 15) | nu + rho | 22.8 (25) | "
        "O(T n^2 + T (nu+rho) n) | 400.0 | O((nu+rho) n) | 0.00 | "
        "Omega(1/(nu+rho)) for retained events | -0.5 (d = 1) |\n"
        "| kappa-sparse, depth d (sparse) | kappa | 3.0 (3) | O(T n^2 + T kappa n) | 20.0 | "
        "pattern-dependent | 1.50 | Omega(kappa^-d) | -12 (d = inf) |\n")
    assert got == want
    with pytest.raises(ValueError, match="unknown table row 'lstm'"):
        tradeoff_table([{**TABLE_ROWS[0], "key": "lstm"}], T=100, n=64)
    with pytest.raises(ValueError, match="at least one"):
        tradeoff_table([], T=100, n=64)


def test_kept_for_backward_counts_the_saved_storages_once():
    from paper_figs.f5_tradeoff import kept_for_backward

    a = torch.ones(100, dtype=torch.float64, requires_grad=True)
    b = torch.ones(100, dtype=torch.float64, requires_grad=True)
    # a * b saves a and b (800 bytes each); sum saves nothing
    assert kept_for_backward(lambda: (a * b).sum()) == 1600
    # a * a saves a twice: one storage
    assert kept_for_backward(lambda: (a * a).sum()) == 800
    # a view of a saved tensor is its storage: a[:10] * b[:10] saves 2 x 800 bytes
    assert kept_for_backward(lambda: (a[:10] * b[:10]).sum()) == 1600
    with torch.no_grad():
        assert kept_for_backward(lambda: (a * b).sum()) == 0


@pytest.mark.parametrize("name", ["rnn", "relrnn", "memrnn"])
def test_kept_for_backward_sees_what_the_fused_path_keeps(name):
    """The fused training path keeps its states outside autograd's saved tensors: at least
    the state table [h_i | W_h h_i] (B, T+1, 2n) and the s_t (T, B, n) of the forward (the
    rnn has no W_h half), which the count must include."""
    from paper_figs.f5_tradeoff import kept_for_backward
    from verify.models import build, fused

    B, T, n = 3, 12, 4
    model = build(name, 5, hidden=n, nu=2, rho=2, dtype=torch.float64)
    x = torch.randn(B, T, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert fused.applies(model, None, False, False)
    width = n if name == "rnn" else 2 * n
    least = 8 * (B * (T + 1) * width + T * B * n)
    assert kept_for_backward(lambda: model(x, trace=False).h.sum()) >= least


def test_f5_cost_accuracy_and_table_are_measured(made):
    from paper_figs.f5_tradeoff import SCALES
    from verify.training import evaluate, load, restore

    out, data = made["f5_tradeoff"]
    p = SCALES["tiny"]
    cost = _csv(out / "f5_tradeoff.csv")
    assert {r["model"] for r in cost} == {"rnn", "memrnn", "relrnn", "lstm", "rellstm"}
    assert all(float(r["step_s"]) > 0 and int(r["kept_bytes"]) > 0 for r in cost)
    kept = {r["model"]: int(r["kept_bytes"]) for r in cost}
    assert kept["memrnn"] > kept["rnn"]  # attention keeps its scores and states
    for task in ("copy", "denoise"):
        ck = load(data["training"][task]["relrnn"]["checkpoint"])
        cfg = ck["config"]
        want = evaluate(restore(ck), task, cfg.T, batch=cfg.batch)["accuracy"]
        assert data["accuracy"][task]["relrnn"] == want
    table = {r["key"]: r for r in data["table"]}
    n, T = p["hidden"], p["T"]
    x = torch.as_tensor(np.random.default_rng([0, 1]).standard_normal((1, T, n)))
    window = measure(controlled("orthogonal", n, n, "tanh", seed=0, device="cpu",
                                pattern=patterns.window(T, p["width"])), x)
    rnn = measure(build("rnn", n, hidden=n, seed=0, dtype=torch.float64), x)
    for key, m in (("window", window), ("rnn", rnn)):
        assert table[key]["log10_grad"] == pytest.approx(m.log10_norm2[1], abs=1e-12)
        assert table[key]["depth"] == m.depth[1]
    assert table["window"]["attended_max"] == p["width"]
    assert table["memrnn"]["attended_max"] == T - 1  # S_t = {1..t}, h_0 left out
    md = (out / "f5_tradeoff.md").read_text()
    assert md.count("\n| ") == 6 and "| full attention (MemRNN) (memrnn) | t+1 |" in md


def test_f6_gap_is_the_full_mode_measurement(made):
    from paper_figs.f6_score_gap import SEQUENCE_SEED
    from verify.training import build as build_classifier
    from verify.training import load, restore, tasks

    out, data = made["f6_score_gap"]
    rows = _csv(out / "f6_score_gap.csv")
    ck_path = next(Path(d) for d in (Path(out).parent / "runs").glob("copy-memrnn-*.pt"))
    ck = load(ck_path)
    x, _ = tasks.batch("copy", ck["config"].T, 1, torch.Generator().manual_seed(SEQUENCE_SEED),
                       dtype=torch.float64)
    for state, classifier in (("init", build_classifier(ck["config"])),
                              ("trained", restore(ck))):
        full = measure(classifier.core.double(), x, mode="full")
        mine = [r for r in rows if r["model"] == "memrnn" and r["state"] == state]
        assert len(mine) == full.T
        for t, r in enumerate(mine):
            assert _close(r["gap"], full.gap[t])
            assert _close(r["log10_full"], full.log10_norm2[t])
    assert all(0 <= v for v in data["largest_gap"].values())
    for key, largest in data["largest_gap"].items():  # "model, state": the finite gaps' max
        model, state = key.split(", ")
        gaps = [float(r["gap"]) for r in rows if (r["model"], r["state"]) == (model, state)
                and math.isfinite(float(r["gap"]))]
        assert _close(largest, max(gaps))


def test_f7_paths_cancel_and_the_naive_bound_exceeds_the_norm(made):
    out, data = made["f7_counterexample"]
    n = 2
    total = [[Fraction(0)] * n for _ in range(n)]
    for path in data["paths"]:
        for i in range(n):
            for j in range(n):
                total[i][j] += Fraction(path["term"][i][j])
    assert total == [[0, 0], [0, 0]]  # the exact terms cancel: G_0 = 0
    assert data["measured_norm_G0"] < 1e-15
    ev = data["certificate"]["evidence"]["counterexample"]
    J = [np.array(sp.Matrix(sp.sympify(v)).tolist(), dtype=float) for v in ev["J"].values()]
    mu = [np.linalg.svd(Jk, compute_uv=False)[-1] for Jk in J]
    best = max(float(Fraction(pth["W"])) * np.prod([mu[k - 1] for k in pth["path"][1:]])
               for pth in data["paths"])
    assert data["M_mu0_on_measured_mu"] == pytest.approx(best, rel=1e-14)
    assert data["M_mu0_on_measured_mu"] > 1e10 * data["measured_norm_G0"]
    assert data["verdicts"]["nonneg_lower"].split()[3:5] == ["not", "applicable:"]
    assert "holds at 3 of 3" in data["verdicts"]["dominant_path_lower"]
    rows = _csv(out / "f7_counterexample.csv")
    assert len(rows) == len(data["paths"]) * n * n
    # one row per path and entry (i, j), 1-based, holding that entry of the JSON's exact term
    terms = {" -> ".join(map(str, pth["path"])): pth["term"] for pth in data["paths"]}
    seen = set()
    for r in rows:
        i, j = (int(v) - 1 for v in r["entry"].strip("()").split(","))
        assert r["exact"] == terms[r["path"]][i][j]
        assert float(r["value"]) == pytest.approx(float(Fraction(r["exact"])), rel=CSV_TOL)
        seen.add((r["path"], i, j))
    assert len(seen) == len(rows)


@given(sigma=st.floats(-3, 3), a=st.floats(-1e3, 1e3))
def test_f7_kinked_nonlinearity_is_continuous_with_the_stated_slopes(sigma, a):
    """phi(a) = a below 1, 1 + sigma (a - 1) from 1 on (written here), and phi' its slope."""
    from paper_figs.f7_counterexample import kinked

    phi = kinked(sigma)
    x = torch.tensor([a, 1.0, 1.0 - 1e-12], dtype=torch.float64)
    expected = [a if a < 1 else 1 + sigma * (a - 1), 1.0, 1.0 - 1e-12]
    assert phi.fn(x).tolist() == pytest.approx(expected, rel=1e-15, abs=1e-15)
    assert phi.derivative(x).tolist() == [1.0 if a < 1 else sigma, sigma, 1.0]


def test_f8_window_family_follows_b6(made):
    from paper_figs.f8_kappa_tradeoff import SCALES

    out, data = made["f8_kappa_tradeoff"]
    p = SCALES["tiny"]
    D, n = p["D"], p["hidden"]
    rows = _csv(out / "f8_kappa_tradeoff.csv")
    x = torch.as_tensor(np.random.default_rng([0, 1]).standard_normal((1, D, n)))
    for r in (r for r in rows if r["family"] == "window"):
        nu = int(r["parameter"])
        d = math.ceil(D / nu)
        assert int(r["kappa"]) == nu and float(r["d"]) == d
        assert _close(r["log10_bound"], d * math.log10(0.5 * p["c"] / nu))
        m = measure(controlled("identity", n, n, "linear", scale=p["c"], device="cpu",
                               pattern=patterns.window(D, nu)), x)
        assert _close(r["log10_measured"], m.log10_norm2[0])
    strided = [r for r in rows if r["family"] == "strided"]
    assert [int(r["kappa"]) for r in strided] == [math.ceil(D / int(r["parameter"]))
                                                  for r in strided]
    sparse = [r for r in rows if r["family"] == "sparse"]
    assert [int(r["parameter"]) for r in sparse] == [1, 2, 4, 8]  # the powers of 2 up to D
    for r in sparse:  # the seeded sparse pattern of measure --pattern sparse --seed 0
        pattern = patterns.sparse(D, int(r["parameter"]), seed=0)
        rows_of = [pattern.row(t)[0] for t in range(pattern.T)]
        assert int(r["kappa"]) == max(len(s) for s in rows_of)
        assert _close(r["attended_per_step"], np.mean([len(s) for s in rows_of]))
        m = measure(controlled("identity", n, n, "linear", scale=p["c"], device="cpu",
                               pattern=pattern), x)
        assert _close(r["log10_measured"], m.log10_norm2[0])
    for r in rows:  # B5 applies exactly where it has a value at t = 0
        assert (r["B5_applicable"] == "True") == (not math.isnan(float(r["log10_bound"])))
    for family in ("window", "strided", "sparse"):  # the largest applicable bound, then kappa
        mine = [r for r in rows if r["family"] == family and r["B5_applicable"] == "True"]
        top = max(float(r["log10_bound"]) for r in mine)
        kappa = min(int(r["kappa"]) for r in mine if float(r["log10_bound"]) == top)
        assert data["best"][family]["kappa"] == kappa
        assert _close(data["best"][family]["log10_bound"], top)
        assert r["B5_holds"] == "True"
    for family in ("window", "strided", "sparse"):  # each family's grid is a sweep: a header
        table = (out / f"f8_kappa_tradeoff.{family}.jsonl").read_text().splitlines()
        assert len(table) == 1 + len([r for r in rows if r["family"] == family])
    for family, top in data["best"].items():
        mine = [float(r["log10_bound"]) for r in rows if r["family"] == family]
        assert top["log10_bound"] == pytest.approx(max(mine), abs=CSV_TOL)


@pytest.mark.parametrize("name", FIGURES)
def test_every_make_refuses_to_overwrite_by_default(made, name):
    """From Python as from the command line: a figure already there is refused (checked
    before any work) unless ``force``."""
    out, _ = made[name]
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    with pytest.raises(ValueError, match="exists; pass --force"):
        importlib.import_module(f"paper_figs.{name}").make(out, "tiny", "cpu")
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before


def test_make_refuses_missing_parents_and_unknown_scales(tmp_path):
    from paper_figs import f8_kappa_tradeoff

    with pytest.raises(ValueError, match="directory .* does not exist"):
        f8_kappa_tradeoff.make(tmp_path / "no" / "f8", "tiny", "cpu")
    with pytest.raises(ValueError, match="'scale' must be one of tiny, small, paper"):
        f8_kappa_tradeoff.make(tmp_path / "f8", "huge", "cpu")
    assert not (tmp_path / "f8").exists()  # nothing written before the checks


def test_figs_command_writes_refuses_and_forces(tmp_path, capsys):
    out = tmp_path / "f7"
    assert cli(["figs", "f7", "--out", str(out), "--scale", "tiny", "--device", "cpu"]) == 0
    said = capsys.readouterr().out
    assert "f7_counterexample: " in said and "load average" in said
    assert (out / "command.txt").read_text().startswith(
        f"untangle figs f7_counterexample --out {out} --scale tiny --device cpu --threads 1\n"
        f"# made by: untangle figs f7 --out {out} --scale tiny --device cpu\n")
    assert cli(["figs", "f7", "--out", str(out), "--scale", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists; pass --force" in err
    assert cli(["figs", "f7", "--out", str(out), "--scale", "tiny", "--force"]) == 0
    assert cli(["figs", "f7", "--out", str(tmp_path / "a" / "b"), "--scale", "tiny"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli(["figs", "f9"]) == 2
    assert "'name' must be all or one of" in capsys.readouterr().err


def test_every_file_of_a_figure_is_written_atomically(tmp_path, monkeypatch, atomic_writes):
    """Each file ``untangle figs`` leaves (PNG, CSV, JSON, command.txt) went through the one
    atomic write, and a failure in the middle of writing one (here the PNG, on a rerun with
    --force) leaves that file as it was: a reader sees the old file or the new one."""
    from verify import files

    out = tmp_path / "f7"
    assert cli(["figs", "f7", "--out", str(out), "--scale", "tiny", "--device", "cpu"]) == 0
    written = list(atomic_writes)
    assert sorted(written) == sorted(p.name for p in out.iterdir())
    real = files.atomic_write  # the fixture's spy, which writes
    png = out / "f7_counterexample.png"
    before = png.read_bytes()

    def half(path, write, **kw):
        if Path(path).suffix == ".png":
            return real(path, lambda f: (f.write(b"half a PNG"), 1 / 0), **kw)
        return real(path, write, **kw)

    monkeypatch.setattr(files, "atomic_write", half)
    with pytest.raises(ZeroDivisionError):
        cli(["figs", "f7", "--out", str(out), "--scale", "tiny", "--device", "cpu",
             "--force"])
    assert png.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == sorted(set(written))  # no temporaries


def test_figs_summary_counts_the_figures_and_gives_the_load(tmp_path, capsys, monkeypatch):
    """The last line counts the figures made (singular for one) and gives the machine's load
    average, two decimals each, at the start and at the end; 'unknown' where the platform
    has none."""
    import paper_figs

    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.125, 2.0))
    assert cli(["figs", "f7", "--out", str(tmp_path / "one"), "--scale", "tiny"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("1 figure at scale tiny: ")
    assert last.endswith("load average 0.50 0.12 2.00 at the start, 0.50 0.12 2.00 at the end")
    monkeypatch.delattr(os, "getloadavg")
    monkeypatch.setattr(paper_figs, "FIGURES", ("f7_counterexample", "f1_patterns"))
    assert cli(["figs", "all", "--out", str(tmp_path), "--scale", "tiny"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["f7_counterexample", "f1_patterns"]
    assert lines[-1].startswith("2 figures at scale tiny: ")
    assert lines[-1].endswith("load average unknown at the start, unknown at the end")
    assert (tmp_path / "f1_patterns" / "command.txt").exists()


def test_figs_threads_go_to_blas_before_numpy_loads(monkeypatch):
    """``--threads`` sets the BLAS thread variables only while numpy is not loaded yet (they
    are read at load) and never overrides one the environment sets."""
    from verify.commands import figs

    keys = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
    for key in keys:
        monkeypatch.delenv(key, raising=False)
    figs._blas_threads(3)  # numpy is loaded here: too late, nothing set
    assert [os.environ.get(key) for key in keys] == [None, None, None]
    monkeypatch.setenv("MKL_NUM_THREADS", "7")
    monkeypatch.delitem(sys.modules, "numpy")
    figs._blas_threads(3)
    assert [os.environ.get(key) for key in keys] == ["3", "7", "3"]


def test_figs_all_checks_every_folder_before_any_work(tmp_path, capsys):
    """With all, a figure whose file exists stops the run before the first figure is made."""
    (tmp_path / "f8_kappa_tradeoff").mkdir()
    (tmp_path / "f8_kappa_tradeoff" / "command.txt").write_text("x")
    assert cli(["figs", "all", "--out", str(tmp_path), "--scale", "tiny"]) == 2
    assert "f8_kappa_tradeoff" in capsys.readouterr().err
    assert not (tmp_path / "f1_patterns").exists()


def test_an_unwritable_folder_is_refused(tmp_path, monkeypatch):
    """Writability is probed by creating an anonymous file (the tests may run as root, who
    writes anywhere, so the probe is made to fail)."""
    from paper_figs import output
    from verify import files

    probed = []

    def refuse(dir: object) -> None:
        probed.append(Path(dir))
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.tempfile, "TemporaryFile", refuse)
    with pytest.raises(ValueError, match="is not writable"):
        output.check(tmp_path / "f1", ("a.png",), force=False)
    assert probed == [tmp_path]  # the parent, as f1 does not exist yet


def test_the_training_runs_of_the_figures_show_their_progress(tmp_path, capfd):
    from paper_figs import training

    cfg = training.config("copy", "rnn", "tiny")
    training.checkpoint(cfg, 3, tmp_path, "cpu")
    err = capfd.readouterr().err
    assert "rnn copy" in err and "3/3" in err and "initial gradient profiles" in err
    training.checkpoint(cfg, 3, tmp_path, "cpu")  # reused: no training, no bar
    assert capfd.readouterr().err == ""


def test_an_interrupted_figure_says_how_to_finish_it_and_that_does(tmp_path, monkeypatch,
                                                                    capsys):
    """SIGINT during the first training run of F4 (rnn, step 2 of 3): exit 130 and one line
    that names the figure's own command (figs has no --resume); that command finishes the
    figure, resuming the saved run (its run id is kept) instead of starting it again."""
    import shlex
    import signal

    from verify.training import load

    real, calls = torch.nn.utils.clip_grad_norm_, []

    def interrupt_at_2(params, max_norm):  # once per optimizer step, in its backward part
        calls.append(1)
        if len(calls) == 2:
            signal.raise_signal(signal.SIGINT)
        return real(params, max_norm)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", interrupt_at_2)
    out, runs = tmp_path / "f4", tmp_path / "runs"
    argv = ["figs", "f4", "--out", str(out), "--scale", "tiny", "--runs", str(runs)]
    assert cli(argv) == 130
    err = capsys.readouterr().err
    (ck,) = runs.glob("*.pt")
    command = (f"untangle figs f4_profiles --out {out} --scale tiny --device auto --threads 1 "
               f"--runs {runs}")
    assert err.strip().splitlines()[-1] == (
        f"untangle: interrupted: stopped after step 1; the last checkpoint is '{ck}' (step 1); "
        f"run {command} to finish f4_profiles: it reuses the finished training runs in "
        f"{runs} and resumes this one from that checkpoint")
    assert "--resume" not in err and ck.name.startswith("copy-rnn-")
    run = load(ck)["run"]
    monkeypatch.undo()
    assert cli(shlex.split(command)[1:]) == 0
    assert load(ck)["step"] == 3 and load(ck)["run"] == run
    assert (out / "f4_profiles.png").exists()


def test_a_runs_folder_needs_its_parent_before_any_figure(tmp_path, capsys):
    """``--runs`` may name a folder not made yet (the first training run makes it), but not
    one whose parent is missing: refused in one line naming the option, nothing made; by
    default the runs go beside the figure folders."""
    from paper_figs import training

    out = tmp_path / "f4"
    missing = tmp_path / "no" / "runs"
    assert cli(["figs", "f4", "--out", str(out), "--scale", "tiny", "--runs",
                str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "parameter 'runs'" in err and str(missing.parent) in err
    assert not out.exists() and not missing.parent.exists()
    assert training.runs_folder(None, out) == tmp_path / "runs"
    assert training.runs_folder(tmp_path / "new", out) == tmp_path / "new"


@pytest.mark.parametrize("errors, message", [
    ((None, "boom", None), "sweep point b failed: boom"),
    ((None, "first", "second"), "sweep point b failed: first"),
    ((None, None, None), None),
])
def test_a_figures_sweep_names_its_first_failed_point(errors, message, monkeypatch, tmp_path):
    """A figure stops on a failed sweep point and names the first one, with its error; with
    none failed it gets the rows in the grid's order."""
    import verify.sweeps
    from paper_figs import swept

    rows = [{"key": k, "error": e} for k, e in zip("abc", errors, strict=True)]
    monkeypatch.setattr(verify.sweeps, "run", lambda spec, table, **kw: rows)
    if message is None:
        assert swept.results({}, tmp_path / "t.jsonl") == rows
    else:
        with pytest.raises(ValueError, match=f"^{message}$"):
            swept.results({}, tmp_path / "t.jsonl")


def test_python_m_of_a_figure_makes_it_and_refuses_in_one_line(tmp_path, capsys):
    """``python -m paper_figs.<name>``'s ``main``: makes the figure (exit 0, the line says
    where, command.txt says the command and a wall time no longer than the call took), and
    refuses a missing parent folder in one line with exit 2."""
    import time

    from paper_figs import f7_counterexample

    out = tmp_path / "f7"
    argv = ["--out", str(out), "--scale", "tiny"]
    start = time.perf_counter()
    assert f7_counterexample.main(argv) == 0
    took = time.perf_counter() - start
    assert capsys.readouterr().out.startswith(f"f7_counterexample: wrote {out} in ")
    command, timing = (out / "command.txt").read_text().splitlines()[:2]
    assert command == f"python -m paper_figs.f7_counterexample --out {out} --scale tiny"
    assert 0 <= float(timing.split()[1]) <= took + 0.05  # printed to 0.1 s
    assert f7_counterexample.main(["--out", str(tmp_path / "no" / "f7"), "--scale",
                                   "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "python -m paper_figs.f7_counterexample: error: ")


def test_a_figures_network_options_are_the_measure_commands():
    """``networks.options``: the measure command's defaults with overrides and the seed; an
    unknown option and a missing T are refused by name; ``networks.inputs`` are the inputs
    the command's network gets for the same seed."""
    from paper_figs import networks
    from verify.measurement.runs import network

    with pytest.raises(ValueError, match="^unknown measure option 'widht'; known: "):
        networks.options(T=5, widht=3)
    with pytest.raises(ValueError, match="^parameter 'T' must be given$"):
        networks.options()
    o = networks.options(T=6, hidden=3, pattern="window", width=2, seed=4)
    assert (o["T"], o["hidden"], o["seed"]) == (6, 3, 4)
    _, x = network(o, patterns.window(6, 2))
    assert torch.equal(networks.inputs(6, 3, 4), x) and x.dtype == torch.float64
    expected = np.random.default_rng([4, 1]).standard_normal((1, 6, 3))  # written out here
    np.testing.assert_array_equal(x.numpy(), expected)
