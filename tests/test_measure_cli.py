"""``untangle measure`` (THEORY.md sections 5 and 6): the JSON contract, the long-horizon
acceptance run, table and plot, and bad input (exit 2, a message, no traceback)."""

import json
import math
import time

import numpy as np
import pytest
import torch
from protocol_models import HiddenCell

from verify.cli import main

KEYS = {"t", "norm2", "fro", "sigma_min", "log10_norm2", "lam", "mu", "kappa", "depth", "bounds",
        "bounds_log10", "verdicts", "hypotheses", "mode", "device", "dtype", "source"}
VERDICT_KEYS = {"bound", "theory_id", "kind", "applicable", "applicable_at", "why_not",
                "failed_hypotheses", "holds_at", "violations", "worst", "tightest", "tolerance"}


def untangle(capsys, *args):
    try:
        code = main(["measure", *map(str, args)])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def measured(capsys, *args):
    code, out, err = untangle(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_json_contract(capsys):
    T = 12
    d = measured(capsys, "--pattern", "window", "--width", 3, "--T", T, "--hidden", 4)
    assert KEYS <= set(d)
    assert d["t"] == list(range(T))
    for key in ("norm2", "fro", "sigma_min", "log10_norm2", "lam", "mu", "depth"):
        assert len(d[key]) == T, key
    assert set(d["bounds"]) == {"path_sum_upper", "dominant_path_lower"}
    assert set(d["verdicts"]) == {"rnn_upper", "uniform_lower", "uniform_exact", "sparse_lower",
                                  "window_lower", "relevancy_lower", "path_sum_upper",
                                  "aligned_exact", "nonneg_lower", "dominant_path_lower"}
    for name, v in d["verdicts"].items():
        assert set(v) == VERDICT_KEYS and v["bound"] == name
        assert v["applicable"] == (name in d["bounds"])
        assert v["applicable"] or v["why_not"]
    assert d["source"].startswith("untangle measure --pattern window")
    assert all(len(v) == T for v in d["bounds"].values())
    assert all(isinstance(v, bool) for v in d["hypotheses"].values())
    assert (d["mode"], d["device"], d["dtype"], d["kappa"]) == ("fixed", "cpu", "float64", 3)
    assert d["depth"] == [math.ceil((T - t) / 3) for t in range(T)]  # THEORY.md section 3
    # Entry t is about dh_T/dh_t: the last one is one step, ||J_T||.
    assert d["norm2"][-1] == pytest.approx(d["bounds"]["path_sum_upper"][-1], rel=1e-12)
    bounds = d["bounds"]
    for lo, g, up in zip(bounds["dominant_path_lower"], d["norm2"], bounds["path_sum_upper"],
                         strict=True):
        assert lo - 1e-9 * up <= g <= up * (1 + 1e-9)  # B3 <= measured <= B1, up to rounding


def test_long_horizon_acceptance(capsys):
    """The long-horizon command (T = 20000, linear, V = 0.5 Q): log10 ||dh_T/dh_0|| =
    20000 log10(0.5) to 1e-6 relative."""
    start = time.perf_counter()
    d = measured(capsys, "--pattern", "none", "--spectrum", "orthogonal", "--scale", 0.5,
                 "--nonlin", "linear", "--T", 20000)
    elapsed = time.perf_counter() - start
    want = 20000 * math.log10(0.5)
    assert d["log10_norm2"][0] == pytest.approx(want, rel=1e-6)
    assert d["norm2"][0] == 0.0  # the linear value underflows; the log10 does not
    assert d["bounds_log10"]["path_sum_upper"][0] == pytest.approx(want, rel=1e-6)
    # Every applicable bound holds at every t (THEORY.md section 9: rounding is allowed for).
    held = {k: (v["holds_at"], v["applicable_at"]) for k, v in d["verdicts"].items()
            if v["applicable"]}
    assert held == {k: (20000, 20000) for k in ("rnn_upper", "path_sum_upper",
                                                  "dominant_path_lower")}
    print(f"untangle measure --T 20000: {elapsed:.1f} s")


@pytest.mark.parametrize(("args", "kappa"), [
    (["--pattern", "uniform"], 10),
    (["--pattern", "strided", "--stride", 3], 4),
    (["--pattern", "sparse", "--kappa", 3], 3),
    (["--pattern", "events", "--events", "3,7", "--width", 2], 4),
])
def test_patterns(capsys, args, kappa):
    d = measured(capsys, *args, "--T", 10, "--hidden", 3)
    assert d["kappa"] == kappa
    assert not d["hypotheses"]["rnn"]


def test_pattern_file(capsys, tmp_path):
    a = np.tril(np.ones((5, 5)))
    np.save(tmp_path / "p.npy", a / a.sum(axis=1, keepdims=True))
    d = measured(capsys, "--pattern", "file", "--pattern-file", tmp_path / "p.npy", "--hidden", 3)
    assert d["t"] == list(range(5)) and d["kappa"] == 5
    # --T may restate the file's T, and is refused where it differs
    assert measured(capsys, "--pattern", "file", "--pattern-file", tmp_path / "p.npy",
                    "--T", 5, "--hidden", 3)["t"] == list(range(5))
    code, _, err = untangle(capsys, "--pattern", "file", "--pattern-file", tmp_path / "p.npy",
                            "--T", 6, "--hidden", 3)
    assert code == 2 and "parameter 'T' must match the pattern file's T = 5, got 6" in err


def test_learned_full_mode_reports_the_gap(capsys):
    d = measured(capsys, "--pattern", "uniform", "--learned", "--mode", "full", "--T", 8,
                 "--hidden", 3)
    assert d["mode"] == "full" and not d["hypotheses"]["fixed_alpha"]
    assert len(d["gap"]) == 8 and max(d["gap"]) > 0


def test_aligned_and_nonnegative_bounds_appear_when_their_hypotheses_hold(capsys):
    d = measured(capsys, "--spectrum", "identity", "--scale", 0.7, "--nonlin", "linear",
                 "--pattern", "uniform", "--T", 6, "--hidden", 2)
    assert d["hypotheses"]["aligned"] and "aligned_exact" in d["bounds"]
    d = measured(capsys, "--spectrum", "nonneg", "--T", 6, "--hidden", 2)
    assert d["hypotheses"]["nonnegative"] and "nonneg_lower" in d["bounds"]


def test_float32_and_seed(capsys):
    d = measured(capsys, "--dtype", "float32", "--T", 5, "--hidden", 3)
    assert d["dtype"] == "float32"
    a = measured(capsys, "--spectrum", "gaussian", "--seed", 3, "--T", 5, "--hidden", 3)
    b = measured(capsys, "--spectrum", "gaussian", "--seed", 3, "--T", 5, "--hidden", 3)
    c = measured(capsys, "--spectrum", "gaussian", "--seed", 4, "--T", 5, "--hidden", 3)
    assert a == b and a["norm2"] != c["norm2"]


def test_table_and_plot(capsys, tmp_path):
    png = tmp_path / "profile.png"
    code, out, err = untangle(capsys, "--pattern", "window", "--T", 30, "--hidden", 3,
                              "--plot", png)
    assert code == 0, err
    assert "||G||_2" in out and " B1 " in out and " B3 " in out
    table, verdicts = out.split("verdicts (")
    assert len(table.splitlines()) == 4 + 20  # header, hypotheses, caption, columns, 20 rows
    lines = verdicts.splitlines()
    assert "u = 1.11e-16 (float64)" in lines[0]  # the tolerance is stated
    assert len(lines) == 1 + 10  # one line per catalog bound
    assert any(line.split()[:2] == ["B1", "path_sum_upper"] and "holds at 30 of 30 t" in line
               for line in lines)
    assert any(line.split()[:2] == ["B0", "rnn_upper"] and "not applicable: gamma = 0.5" in line
               for line in lines)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("extra", [0, 7])
def test_the_table_shows_twenty_findings_and_counts_the_rest(capsys, monkeypatch, extra):
    """Findings past the first 20 are counted, not dropped in silence (stand-in findings: a
    real one is a theorem's bound violated where its hypotheses hold)."""
    from verify.measurement import Measurement

    fake = [f"FINDING stand-in {i}" for i in range(20 + extra)]
    monkeypatch.setattr(Measurement, "findings", lambda self: fake)
    code, out, err = untangle(capsys, "--pattern", "window", "--T", 12, "--hidden", 3)
    assert code == 0, err
    shown = [line.strip() for line in out.splitlines() if "FINDING stand-in" in line]
    assert shown == fake[:20]
    more = [line for line in out.splitlines() if "more findings" in line]
    assert more == ([f"  ... and {extra} more findings (--json lists every violation)"]
                    if extra else [])


@pytest.mark.parametrize(("args", "needle"), [
    (["--T", 0], "'T'"),
    (["--hidden", 0], "'hidden'"),
    (["--width", 0, "--pattern", "window"], "'width'"),
    (["--stride", -1], "'stride'"),
    (["--kappa", 0], "'kappa'"),
    (["--scale", "nan"], "'scale'"),
    (["--gain", "inf", "--spectrum", "gaussian"], "'gain'"),
    (["--beta", -1], "'beta'"),
    (["--sigma", "1,nan,1", "--spectrum", "singular", "--hidden", 3], "'sigma'"),
    (["--eigenvalues", "1,1j", "--spectrum", "eigen", "--hidden", 2], "'eigenvalues'"),
    (["--events", "3,99", "--pattern", "events"], "'E'"),
    (["--device", "tpu"], "'device'"),
    (["--pattern", "none", "--learned"], "'pattern'"),
    (["--pattern", "file"], "'pattern-file'"),
    (["--pattern", "bogus"], "none uniform window strided sparse events file"),
    (["--spectrum", "bogus"], "identity orthogonal singular eigen gaussian nonneg"),
    (["--nonlin", "bogus"], "linear tanh relu"),
    (["--mode", "bogus"], "fixed full"),
    (["--dtype", "float16"], "float64 float32"),
    (["--events", "3,x"], "--events"),
])
def test_bad_input_exits_2(capsys, args, needle):
    """A message naming the parameter (or, for unknown names, every accepted value)."""
    code, out, err = untangle(capsys, *args)
    assert code == 2 and "Traceback" not in err
    message = err.splitlines()[-1]
    assert all(word in message for word in needle.split()), message


@pytest.mark.parametrize(("matrix", "needle"), [
    ([[1.0, 0.0], [0.5, 0.6]], "simplex"),
    ([[0.5, 0.5], [0.5, 0.5]], "causal"),
    ([[1.0, 0.0], [float("nan"), 1.0]], "finite"),
    ([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], "square"),
])
def test_bad_pattern_file_exits_2(capsys, tmp_path, matrix, needle):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(matrix))
    code, _, err = untangle(capsys, "--pattern", "file", "--pattern-file", path)
    assert code == 2 and "'pattern'" in err and needle in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_for_but_absent(capsys):
    code, _, err = untangle(capsys, "--device", "cuda", "--T", 3)
    assert code == 2 and "'device'" in err


def test_loss_profile_from_the_cli(capsys):
    """--loss last: grad_{h_t} L = G_t^T h_T (Lemma 1, section 2). On an aligned network
    (linear phi, V = cI) G_t = P_c(t) I, so ||dL/dh_t|| / ||G_t||_2 = ||h_T|| for every t;
    with T = 1, --loss all (a loss at every step k >= 1) is the same loss. Rounding: 1e-12."""
    base = ("--pattern", "uniform", "--spectrum", "identity", "--scale", "0.8",
            "--nonlin", "linear", "--hidden", "3")
    assert measured(capsys, *base, "--T", "8")["grad_norm"] is None
    got = measured(capsys, *base, "--T", "8", "--loss", "last")
    ratio = np.array(got["grad_norm"]) / np.array(got["norm2"])
    np.testing.assert_allclose(ratio, ratio[-1], rtol=1e-12)
    one = [measured(capsys, *base, "--T", "1", "--loss", loss)["grad_norm"]
           for loss in ("last", "all")]
    np.testing.assert_allclose(one[0], one[1], rtol=1e-12)
    code, out, _ = untangle(capsys, "--T", "5", "--loss", "all")
    assert code == 0 and "||dL/dh_t||" in out


@pytest.mark.parametrize("loss", ["none", "last"])
def test_the_table_has_a_loss_column_exactly_with_a_loss(capsys, loss):
    """The text table's header names ||dL/dh_t|| as its last column with --loss, not
    without, and every row has a value under every header."""
    code, out, _ = untangle(capsys, "--pattern", "window", "--width", 3, "--T", 6, "--hidden",
                            3, "--loss", loss)
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:2] == ["t", "depth"])
    header, rows = lines[at].split(), [line.split() for line in lines[at + 1:at + 7]]
    assert code == 0 and (header[-1] == "||dL/dh_t||") == (loss != "none")
    assert "||dL/dh_t||" in header[-1:] or "||dL/dh_t||" not in header
    assert [r[0] for r in rows] == [str(t) for t in range(6)]
    assert all(len(r) == len(header) for r in rows)


def test_states_past_float64(capsys):
    """V = 8 Q, linear, T = 400: h_t overflows (from about t = 140). With a fixed pattern
    G_t does not depend on the states: the table has the profile, the note, and nan (not a
    number, never -inf) for ||dL/dh_t||; with learned attention (which slows the growth:
    T = 600), exit 2 with one line."""
    base = ("--spectrum", "orthogonal", "--scale", "8", "--nonlin", "linear", "--hidden", "4",
            "--T", "400")
    code, out, _ = untangle(capsys, *base, "--loss", "last", "--rows", "4")
    rows = out.splitlines()[4:8]
    assert code == 0 and len(rows) == 4
    assert all(r.split()[-1] == "nan" and "inf" not in r for r in rows)
    assert "note: the forward pass leaves float64's range" in out
    code, out, err = untangle(capsys, *base, "--pattern", "uniform", "--learned", "--T", "600")
    assert code == 2 and out == "" and "parameter 'x'" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_relevancy_screening_from_the_cli(capsys):
    """--pattern relevancy: the network built here by hand (controlled with a relevant set,
    the command's seeded inputs) has the command's profile (1e-12: same arithmetic, perhaps
    another thread count); in the hand-set regime of B7 (V = 0.5 I, tanh near linear, so
    every J_k is a nonnegative diagonal) B7 applies at a retained event and holds there."""
    from verify import controlled, measure

    args = ("--pattern", "relevancy", "--width", "3", "--rho", "2", "--score", "normalised",
            "--spectrum", "identity", "--scale", "0.5", "--input-scale", "0.01", "--hidden",
            "4", "--T", "60", "--seed", "5")
    got = measured(capsys, *args)
    model = controlled("identity", 4, 4, "tanh", scale=0.5, input_scale=0.01,
                       relevant_set=(3, 2), score="normalised", seed=5, device="cpu")
    x = torch.as_tensor(np.random.default_rng([5, 1]).standard_normal((1, 60, 4)))
    m = measure(model, x)
    np.testing.assert_allclose(got["log10_norm2"], m.log10_norm2, rtol=1e-12)
    assert got["kappa"] == m.kappa <= 5
    b7 = got["verdicts"]["relevancy_lower"]
    assert b7["applicable_at"] >= 1 and b7["holds_at"] == b7["applicable_at"]
    code, out, _ = untangle(capsys, *args, "--rows", "3")
    assert code == 0 and "pattern=relevancy (nu=3, rho=2, score normalised)" in out


@pytest.mark.parametrize(("args", "needle"), [
    (("--pattern", "window", "--rho", "2"), "'rho' is not used by the 'window' pattern"),
    (("--score", "normalised"), "'score' is not used by the 'none' pattern"),
    (("--pattern", "relevancy", "--include-h0"), "'include-h0' does not go with"),
    (("--pattern", "relevancy", "--rho", "-1"), "'rho' must be an integer >= 0"),
    (("--pattern", "relevancy", "--kappa", "2"), "'kappa' is not used by the 'relevancy'"),
])
def test_relevancy_options_are_refused_where_unused(capsys, args, needle):
    code, out, err = untangle(capsys, *args, "--T", "5")
    assert code == 2 and out == "" and needle in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Models trained two steps: relrnn on copy, lstm on denoise (delay 10, hidden 6)."""
    from verify.training import Config, train

    folder = tmp_path_factory.mktemp("checkpoints")
    for model, task in (("relrnn", "copy"), ("lstm", "denoise")):
        cfg = Config(task=task, model=model, T=10, hidden=6, nu=3, rho=2)
        train(cfg, 2, save=folder / f"{model}.pt", progress=False)
    return folder


@pytest.mark.parametrize("model", ["relrnn", "lstm"])
def test_a_checkpoint_is_measured_on_its_task(capsys, checkpoints, model):
    """--load: the checkpoint's core, cast to float64, on the first sequence of its task's
    batch from --seed at the trained delay (or --T); the profile equals measure() of the same
    model and sequence built here (1e-12), in both modes, and --T sets the delay."""
    from verify.measurement import measure
    from verify.training import tasks
    from verify.training.checkpoint import load, restore

    path = checkpoints / f"{model}.pt"
    ck = load(path)
    core = restore(ck).core.double()
    for mode, T, seed in (("fixed", None, 3), ("full", 12, 0)):
        args = ["--load", path, "--mode", mode, "--seed", seed] + (["--T", T] if T else [])
        got = measured(capsys, *args)
        x = tasks.batch(ck["config"].task, T or 10, 1, torch.Generator().manual_seed(seed),
                        dtype=torch.float64)[0]
        want = measure(core, x, mode=mode)
        assert len(got["t"]) == (T or 10) + 20 and got["dtype"] == "float64"
        np.testing.assert_allclose(got["log10_norm2"], want.log10_norm2, rtol=1e-12)
    code, out, _ = untangle(capsys, "--load", path, "--rows", "3")
    assert code == 0 and f"{model} of {model}.pt (trained on {ck['config'].task} at delay 10)" \
        in out.splitlines()[0]


@pytest.mark.parametrize(("args", "needle"), [
    (("--hidden", "4"), "'hidden' does not go with --load"),
    (("--pattern", "none"), "'pattern' does not go with --load"),
    (("--spectrum", "orthogonal"), "'spectrum' does not go with --load"),
    (("--learned",), "'learned' does not go with --load"),
    (("--input-scale", "1"), "'input-scale' does not go with --load"),
    (("--bias-scale", "0"), "'bias-scale' does not go with --load"),  # 0.0 == False
    (("--beta", "0"), "'beta' does not go with --load"),
    (("--T", "5"), "'T' must be an integer >= K = 10"),
])
def test_network_options_do_not_go_with_a_checkpoint(capsys, checkpoints, args, needle):
    code, out, err = untangle(capsys, "--load", checkpoints / "relrnn.pt", *args)
    assert code == 2 and out == "" and needle in err and err.count("\n") == 1


def test_a_missing_or_bad_checkpoint_is_refused(capsys, tmp_path):
    code, _, err = untangle(capsys, "--load", tmp_path / "none.pt")
    assert code == 2 and "--load" in err and "does not exist" in err
    (tmp_path / "bad.pt").write_text("not a checkpoint")
    code, _, err = untangle(capsys, "--load", tmp_path / "bad.pt")
    assert code == 2 and "bad.pt" in err and "checkpoint" in err and err.count("\n") == 1


class _Recording:
    """A tqdm that records (description, total, steps) at every update."""

    def __init__(self, tqdm_class, seen):
        class Recording(tqdm_class):
            def update(self, n=1):
                seen.append((self.desc, self.total, n))
                return super().update(n)

        self.cls = Recording


def _stages(seen):
    """Stage description -> (total, the steps of each update)."""
    out = {}
    for desc, total, n in seen:
        out.setdefault(desc, (total, []))[1].append(n)
    return out


def test_measure_moves_its_bar_within_every_stage(capfd, monkeypatch):
    """The forward pass and the adjoint tick about every 1% of their steps (T = 400: every 4
    steps, 401 nodes), the norms of the G_t every batch of matrices (40 here), the verdicts
    per bound; each stage's updates add up to its total."""
    import importlib

    from verify.measurement import jacobian_profile

    norms = importlib.import_module("verify.measurement.norms")  # the package exports a norms()
    seen = []
    monkeypatch.setattr(jacobian_profile, "tqdm", _Recording(jacobian_profile.tqdm, seen).cls)
    monkeypatch.setattr(norms, "CHUNK_ENTRIES", 40 * 4 * 4)
    code, _, err = untangle(capfd, "--pattern", "window", "--width", 3, "--T", 400, "--hidden",
                            4, "--rows", 2)
    assert code == 0 and "measure: forward" in err and "/400" in err
    stages = _stages(seen)
    assert list(stages) == ["measure: forward", "measure: G_t (Lemma 1's adjoint)",
                            "measure: norms", "measure: verdicts"]
    forward, adjoint, normed, verdicts = stages.values()
    assert forward == (400, [4] * 100)
    assert adjoint[0] == 401 and sum(adjoint[1]) == 401  # a tick per block of 16 nodes
    assert len(adjoint[1]) == math.ceil(401 / 16) and set(adjoint[1][:-1]) == {16}
    # the J_k (the default orthogonal V: no SVD, one tick), then the G_t a batch at a time
    assert normed == (800, [400] + [40] * 10)
    assert verdicts == (11, [1] * 11)  # the scale of the terms, then the 10 bounds
    seen.clear()
    code, _, err = untangle(capfd, "--pattern", "window", "--width", 3, "--T", 400, "--hidden",
                            4, "--json")
    assert code == 0 and seen == [] and err == ""
    # batches of 48 matrices, which do not divide T = 400: eight of 48, then the 16 left, for
    # the J_k of a Gaussian V (SVDs) as for the G_t
    monkeypatch.setattr(norms, "CHUNK_ENTRIES", 48 * 4 * 4)
    code, _, err = untangle(capfd, "--pattern", "window", "--width", 3, "--T", 400, "--hidden",
                            4, "--rows", 2, "--spectrum", "gaussian")
    assert code == 0 and _stages(seen)["measure: norms"] == (800, ([48] * 8 + [16]) * 2)


@pytest.mark.parametrize(("rows_per_pass", "passes"), [(32, 1), (2, 2)])
def test_measure_ticks_every_backward_pass_of_autograd(capsys, monkeypatch, rows_per_pass,
                                                       passes):
    """Learned attention in full mode: a forward pass and one backward pass per
    ROWS_PER_PASS rows of h_T (n = 3: one pass, or two of 2 and 1 rows) through the T steps;
    a loss profile adds a forward and a backward pass to the norms."""
    from verify.measurement import jacobian_profile

    seen = []
    monkeypatch.setattr(jacobian_profile, "tqdm", _Recording(jacobian_profile.tqdm, seen).cls)
    monkeypatch.setattr(jacobian_profile, "ROWS_PER_PASS", rows_per_pass)
    code, _, err = untangle(capsys, "--pattern", "uniform", "--learned", "--mode", "full",
                            "--T", 200, "--hidden", 3, "--loss", "all", "--rows", 2)
    assert code == 0, err
    stages = _stages(seen)
    assert stages["measure: forward"] == (200, [2] * 100)
    live = stages["measure: G_t with live attention (autograd)"]
    assert live == (200 * (1 + passes), [2] * 100 * (1 + passes))
    total, steps = stages["measure: norms"]
    assert total == sum(steps) == 2 * 200 + 2 * 200  # J_k and G_t norms, loss forward/back
    assert "measure: forward" in err and "/200" in err


def test_blocks_shorter_than_1_percent_are_batched():
    """The adjoint at T = 4000 (blocks of 16, 1% = 40 nodes): one tick per 3 blocks, about 100
    in all, adding up to the T + 1 nodes."""
    from bounds.patterns import window
    from bounds.recursions import graph
    from verify.measurement.adjoint import blocked_adjoint

    ticks = []
    J = torch.eye(2, dtype=torch.float64).repeat(4000, 1, 1) * 0.5
    blocked_adjoint(graph(window(4000, 2), 0.5, 0.5), J, tick=ticks.append)
    assert sum(ticks) == 4001 and set(ticks[:-1]) == {48} and len(ticks) == 84


def test_a_model_without_ticks_is_measured_with_progress(capsys, monkeypatch):
    """A model written to the protocol's required arguments only (no ``tick``): measured as
    before, its stages moved by hand after each pass, T steps at a time (n = 3 rows: one
    backward pass besides the forward one, in each autograd stage)."""
    from verify import controlled, measure
    from verify.measurement import jacobian_profile

    inner = controlled("orthogonal", 3, 3, pattern=patterns_window(30), learned=True)
    x = torch.randn(1, 30, 3, dtype=torch.float64)
    assert not jacobian_profile._ticks_itself(HiddenCell(inner))
    assert jacobian_profile._ticks_itself(inner)
    seen = []
    monkeypatch.setattr(jacobian_profile, "tqdm", _Recording(jacobian_profile.tqdm, seen).cls)
    a = measure(HiddenCell(inner), x, mode="full", progress=True)
    b = measure(inner, x, mode="full", progress=False)
    np.testing.assert_array_equal(a.log10_norm2, b.log10_norm2)
    assert "measure: G_t (autograd)" in capsys.readouterr().err
    stages = _stages(seen)
    assert stages["measure: forward"] == (30, [30])
    for stage in ("measure: G_t (autograd)", "measure: G_t with live attention (autograd)"):
        assert stages[stage] == (60, [30, 30]), stage


def patterns_window(T):
    from bounds.patterns import window

    return window(T, 3)


def test_the_table_runs_from_t_0_to_the_last_step(capsys):
    """The table's rows are ``--rows`` t spread evenly over 0..T-1, both ends included, or
    every t where T is fewer."""
    for T, rows, want in ((30, 5, [0, 7, 14, 22, 29]), (4, 20, [0, 1, 2, 3]), (9, 2, [0, 8])):
        code, out, err = untangle(capsys, "--T", T, "--hidden", 3, "--rows", rows)
        assert code == 0, err
        table = out.split("verdicts (")[0].splitlines()
        assert [int(line.split()[0]) for line in table[4:]] == want


def _without_source(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "source"}


@pytest.mark.parametrize(("args", "default", "other"), [
    ([], ["--seed", 0], ["--seed", 1]),
    ([], ["--hidden", 16], ["--hidden", 15]),
    ([], ["--spectrum", "orthogonal", "--scale", 1], ["--scale", 0.9]),
    ([], ["--pattern", "none", "--nonlin", "tanh"], ["--nonlin", "relu"]),
    ([], ["--input-scale", 1, "--bias-scale", 0], ["--bias-scale", 0.5]),
    (["--spectrum", "gaussian"], ["--gain", 1], ["--gain", 0.5]),
    (["--spectrum", "eigen", "--hidden", 4], ["--nonnormal", 0], ["--nonnormal", 1]),
    (["--pattern", "window"], ["--width", 4], ["--width", 5]),
    (["--pattern", "strided"], ["--stride", 2], ["--stride", 3]),
    (["--pattern", "sparse"], ["--kappa", 3], ["--kappa", 2]),
    (["--pattern", "relevancy"], ["--width", 4, "--rho", 4, "--score", "accumulated"],
     ["--rho", 3]),
])
def test_left_out_network_options_take_their_documented_defaults(capsys, args, default, other):
    """An option left out measures exactly what its documented default measures (``--help``
    and :data:`verify.commands.measure.DEFAULTS`), and another value measures something
    else (so the option counts in that setting)."""
    common = ["--T", 14, *(["--hidden", 5] if "--hidden" not in [*args, *default] else [])]
    left_out = _without_source(measured(capsys, *common, *args))
    assert left_out == _without_source(measured(capsys, *common, *args, *default))
    assert left_out["log10_norm2"] != measured(capsys, *common, *args, *other)["log10_norm2"]


def test_a_loaded_model_needs_the_memory_of_its_attention(capsys, checkpoints, tmp_path,
                                                           monkeypatch):
    """--load checks the memory of the checkpoint's own model before measuring it: memrnn's
    attention over 0..t (sum_t (t + 1) entries over the T + 20 steps), relevancy screening's
    window of nu + rho, none for the LSTM (:func:`verify.resources.estimate_measure`)."""
    from verify.resources import estimate_measure, pattern_entries
    from verify.training import Config, tasks, train

    train(Config(task="copy", model="memrnn", T=10, hidden=6), 2,
          save=tmp_path / "memrnn.pt", progress=False)
    needs = []
    monkeypatch.setattr("verify.resources.check_memory",
                        lambda need, *a, **k: needs.append(need))
    paths = (tmp_path / "memrnn.pt", checkpoints / "lstm.pt", checkpoints / "relrnn.pt")
    for path in paths:
        assert untangle(capsys, "--load", path, "--json")[0] == 0
    L = 30  # delay 10: T + 20 steps
    copy, denoise = tasks.get("copy").inputs, tasks.get("denoise").inputs
    want = [(L * (L + 1) // 2, True, copy, None), (0, False, denoise, None),
            (pattern_entries("relevancy", L, nu=3, rho=2), True, copy, (3, 2))]
    assert needs == [estimate_measure(L, 6, e, "fixed", learned, inputs=inputs,
                                      relevant_set=slots)
                     for e, learned, inputs, slots in want]
    # full mode with a loss profile: the live attention's graph (of the models whose
    # attention is learned) and the loss's graph are counted too
    needs.clear()
    for path in paths:
        assert untangle(capsys, "--load", path, "--mode", "full", "--loss", "all",
                        "--json")[0] == 0
    assert needs == [estimate_measure(L, 6, e, "full", learned, loss=True, inputs=inputs,
                                      relevant_set=slots)
                     for e, learned, inputs, slots in want]
    assert needs[0] > estimate_measure(L, 6, want[0][0], "full", False, loss=True, inputs=copy)


@pytest.mark.parametrize("extra", [(), ("--learned", "--mode", "full", "--loss", "last")])
def test_a_generated_model_needs_the_memory_of_its_options(capsys, monkeypatch, extra):
    """Before building anything, measure checks :func:`verify.resources.estimate_measure` of
    the options given: T, hidden, inputs, the pattern's entries, the mode, learned attention
    and the loss profile."""
    from verify.resources import estimate_measure, pattern_entries

    needs = []
    monkeypatch.setattr("verify.resources.check_memory",
                        lambda need, *a, **k: needs.append(need))
    assert untangle(capsys, "--pattern", "window", "--width", 3, "--T", 20, "--hidden", 4,
                    "--inputs", 2, "--json", *extra)[0] == 0
    full = bool(extra)
    assert needs == [estimate_measure(20, 4, pattern_entries("window", 20, nu=3),
                                      "full" if full else "fixed", full, loss=full,
                                      inputs=2)]


def test_the_bar_is_closed_on_every_exit(monkeypatch):
    """``measure(progress=True)`` closes its bar when it returns and when it fails mid-run
    (a loss that is not a scalar, refused after the norms stage began), so an error line
    starts on its own; tqdm marks a closed bar disabled."""
    from verify import controlled, measure
    from verify.measurement import jacobian_profile

    bars = []

    class Kept(jacobian_profile.tqdm):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            bars.append(self)

    monkeypatch.setattr(jacobian_profile, "tqdm", Kept)
    model = controlled("orthogonal", 3, 3, pattern=patterns_window(20))
    x = torch.randn(2, 20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    measure(model, x, progress=True)
    with pytest.raises(ValueError, match="parameter 'loss' must map a Rollout to a scalar"):
        measure(model, x, loss=lambda r: r.h.sum(dim=(1, 2)), progress=True)
    assert len(bars) == 2 and all(bar.disable for bar in bars)
