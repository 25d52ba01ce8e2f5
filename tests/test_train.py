"""Training, checkpoints and the ``untangle train`` / ``untangle eval`` commands (THEORY.md
section 8), at tiny sizes: hidden 8, T = 10, a few dozen steps."""

from __future__ import annotations

import json
import math
import resource
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from verify import cli
from verify.models import MODELS
from verify.training import Config, build, load, profiles, tasks, train
from verify.training.checkpoint import VERSION
from verify.training.evaluate import peak_memory

TINY = {"T": 10, "hidden": 8, "nu": 3, "rho": 2, "lr": 1e-2}


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("saved", [False, True])
def test_the_text_summary_states_the_run(monkeypatch, capsys, saved):
    """Without --json the command prints its run's summary in three lines (the last only
    where a checkpoint was written): the numbers are the summary's, in the stated units."""
    import importlib

    training = importlib.import_module("verify.training.train")  # the package exports train()
    summary = {"config": {"model": "relrnn", "task": "copy", "T": 10}, "steps": 7,
               "eval_accuracy": 0.4567, "eval_loss": 1.23456, "sec_per_step": 0.01234,
               "elapsed_s": 3.4, "cpu_s": 6.6, "peak_mem_mb": 99.6, "peak_mem_kind": "rss",
               "repaired": [], "checkpoint": "c.pt" if saved else None,
               "metrics": "c.metrics.jsonl", "profile_file": "c.profile.json"}
    monkeypatch.setattr(training, "train", lambda *a, **k: summary)
    code, out, _ = run(["train", "--steps", "7", "--model", "relrnn", "--T", "10"], capsys)
    lines = ["relrnn on copy T=10: 7 steps, eval accuracy (last K) 0.457, eval loss 1.2346",
             "12.3 ms/step, wall 3 s, cpu 7 s, peak memory 100 MiB (rss)"]
    if saved:
        lines.append("saved c.pt, c.metrics.jsonl, c.profile.json")
    assert code == 0 and out.splitlines() == lines


def state(path) -> dict[str, torch.Tensor]:
    return load(path)["model"]


@pytest.mark.parametrize("name", MODELS)
def test_short_run_decreases_loss(name, tmp_path):
    """40 seeded steps: the mean loss of steps 31-40 is below that of steps 1-10 (the blank
    targets alone are learnable that fast), and the gradient profiles are recorded."""
    torch.set_num_threads(1)
    cfg = Config(task="copy", model=name, **TINY)
    out = train(cfg, 40, save=tmp_path / "m.pt", log_every=10, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "m.metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30, 40]
    assert rows[-1]["loss"] < 0.8 * rows[0]["loss"]
    profile = json.loads((tmp_path / "m.profile.json").read_text())
    for when in ("init", "final"):
        assert len(profile[when]["loss"]) == len(profile[when]["recall"]) == 10 + 20 + 1
    assert out["sec_per_step"] > 0 and out["peak_mem_mb"] > 0
    assert 0 <= out["eval_accuracy"] <= 1


@pytest.mark.parametrize("name", ["relrnn", "memrnn"])
def test_resume_is_bit_for_bit(name, tmp_path):
    """20 steps in one go, and 10 + resume to 20: identical weights and logged losses."""
    cfg = Config(task="denoise", model=name, **TINY)
    train(cfg, 20, save=tmp_path / "a.pt", log_every=5, progress=False)
    train(cfg, 10, save=tmp_path / "b.pt", log_every=5, progress=False)
    train(cfg, 20, resume=tmp_path / "b.pt", log_every=5, progress=False)
    a, b = state(tmp_path / "a.pt"), state(tmp_path / "b.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    def losses(p):
        return [json.loads(line)["loss"] for line in p.read_text().splitlines()]

    assert losses(tmp_path / "a.metrics.jsonl") == losses(tmp_path / "b.metrics.jsonl")


@pytest.mark.parametrize("argv, message", [
    (["--nu", "0"], "parameter 'nu' must be an integer >= 1, got 0"),
    (["--rho", "-1"], "parameter 'rho' must be an integer >= 0, got -1"),
    (["--T", "9"], "parameter 'T' must be an integer >= K = 10, got 9"),
    (["--hidden", "0"], "parameter 'hidden' must be an integer >= 1"),
    (["--lr", "0"], "parameter 'lr' must be a real number in (0, inf)"),
    # the optimizer holds lr in the parameters' dtype: float32's largest is 3.403e+38
    (["--lr", "1e39"], "parameter 'lr' must be a real number > 0 and <= 3.403e+38 (the "
                       "largest float32), got 1e+39"),
    (["--lr", "1e309", "--dtype", "float64"], "parameter 'lr' must be a real number in (0, inf)"),
])
def test_bad_parameters_are_refused(argv, message, capsys, tmp_path):
    code, _, err = run(["train", "--steps", "2", "--save", str(tmp_path / "x.pt"), *argv],
                       capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.pt").exists()


def test_the_python_api_takes_integral_counts_and_names_bad_ones(tmp_path):
    """train's steps, evaluate's T, batches and batch, a batch's size: an integral float is
    that integer (it passed the range check and then raised a TypeError where it was used);
    anything else is refused by name, as at the command line."""
    from verify.models import Classifier
    from verify.training import build, evaluate, tasks

    cfg = Config(model="rnn", T=10, hidden=4, batch=2, dtype="float64")
    summary = train(cfg, 2.0, progress=False)
    assert summary["steps"] == 2
    model = build(cfg)
    got = evaluate(model, "copy", 10.0, batches=2.0, batch=3.0)
    want = evaluate(model, "copy", 10, batches=2, batch=3)
    assert (got["loss"], got["accuracy"]) == (want["loss"], want["accuracy"])
    x, y = tasks.batch("copy", 10, 2.0, torch.Generator().manual_seed(0))
    assert x.shape[0] == y.shape[0] == 2
    for call, name in [(lambda: evaluate(model, "copy", "x"), "T"),
                       (lambda: evaluate(model, "copy", 9), "T"),
                       (lambda: evaluate(model, "copy", 10, batches=1.5), "batches"),
                       (lambda: train(cfg, 0, progress=False), "steps"),
                       (lambda: Classifier(model.core, 0), "classes"),
                       (lambda: Classifier(model.core, 2.5), "classes"),
                       (lambda: Classifier(model.core, "x"), "classes")]:
        with pytest.raises(ValueError, match=f"parameter '{name}'"):
            call()


def test_force_without_a_checkpoint_to_write_is_refused(capsys):
    """--force only lets --save (or a resumed run saved in place) overwrite a file: alone it
    would do nothing, so it is refused before any work (exit 2, one line)."""
    code, out, err = run(["train", "--steps", "2", "--force"], capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["untangle: error: parameter 'force' goes with --save or "
                                        "--resume (it lets the checkpoint overwrite a file)"]


@pytest.mark.parametrize("option", ["--task", "--model"])
def test_unknown_task_or_model(option, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--steps", "2", option, "nope"])
    assert exc.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown (task|model) 'nope'"):
        Config(**{option[2:]: "nope"})


@given(st.sampled_from(["T", "nu", "rho", "hidden", "batch"]), st.integers(10, 2**70))
def test_config_sizes_are_ints_taken_exactly(name, value):
    """An integral float is the int it names (hidden=2.0 is 2, an int in the saved config);
    an int beyond 2^53 is kept whole (a float round trip would change it); 2.5 is refused."""
    cfg = Config(model="rnn", **{name: value})
    assert type(getattr(cfg, name)) is int and getattr(cfg, name) == value
    if value < 2**53:
        as_float = Config(model="rnn", **{name: float(value)})
        assert type(getattr(as_float, name)) is int and getattr(as_float, name) == value
    with pytest.raises(ValueError, match=rf"parameter '{name}' must be an integer"):
        Config(model="rnn", **{name: value + 0.5 if value < 2**52 else 10.5})


@given(st.sampled_from(["copy", "denoise"]), st.sampled_from(MODELS),
       st.one_of(st.integers(10, 2000), st.sampled_from([999, 1000, 1001])))
def test_the_default_lr_is_the_reference_one(task, model, T):
    """THEORY.md section 8: RMSprop at lr 1e-3, 2e-4 for copy at T = 1000 (and longer) with
    tanh (the vanilla-cell models rnn, memrnn, relrnn; the LSTM models keep 1e-3); an lr
    given is kept, and a run's saved config holds the number."""
    tanh = model in ("rnn", "memrnn", "relrnn")
    want = 2e-4 if task == "copy" and tanh and T >= 1000 else 1e-3
    assert Config(task=task, model=model, T=T).lr == want
    assert Config(task=task, model=model, T=T, lr=5e-3).lr == 5e-3


@pytest.mark.parametrize("task, nu, rho", [("copy", 10, 15), ("denoise", 15, 15)])
def test_config_defaults_are_the_reference_settings(task, nu, rho):
    """THEORY.md section 8's reference settings are the defaults: hidden 128, batch 10, the
    task's nu and rho, lr 1e-3 at the default T = 100, float32, seed 0, the accumulated
    score, relrnn."""
    cfg = Config(task=task)
    assert (cfg.model, cfg.T, cfg.hidden, cfg.batch, cfg.nu, cfg.rho, cfg.lr, cfg.dtype,
            cfg.seed, cfg.score) == ("relrnn", 100, 128, 10, nu, rho, 1e-3, "float32", 0,
                                     "accumulated")


def test_the_train_command_defaults_to_the_long_copy_lr(tmp_path, capsys):
    """`untangle train` on copy at T = 1000 with rnn trains at 2e-4 and says so in its
    summary and its checkpoint; --lr overrides it."""
    ck = tmp_path / "long.pt"
    code, out, err = run(["train", "--task", "copy", "--model", "rnn", "--T", "1000",
                          "--hidden", "2", "--batch", "1", "--steps", "1", "--json",
                          "--save", str(ck)], capsys)
    assert code == 0, err
    assert json.loads(out)["config"]["lr"] == 2e-4 and load(ck)["config"].lr == 2e-4
    code, out, err = run(["train", "--task", "copy", "--model", "rnn", "--T", "1000",
                          "--hidden", "2", "--batch", "1", "--steps", "1", "--json",
                          "--lr", "0.01"], capsys)
    assert code == 0, err
    assert json.loads(out)["config"]["lr"] == 0.01


def test_checkpoints_are_checked_and_never_overwritten(tmp_path, capsys):
    ck = tmp_path / "r.pt"
    base = ["train", "--task", "copy", "--T", "10", "--hidden", "8", "--nu", "3", "--rho", "2"]
    assert run([*base, "--model", "relrnn", "--steps", "4", "--save", str(ck), "--json"],
               capsys)[0] == 0
    before = ck.read_bytes()
    code, _, err = run([*base, "--model", "relrnn", "--steps", "4", "--save", str(ck)], capsys)
    assert code == 2 and "exists; pass --force" in err and ck.read_bytes() == before
    code, _, err = run(["train", "--model", "rnn", "--steps", "8", "--resume", str(ck)], capsys)
    assert code == 2 and "--model 'rnn' (checkpoint: 'relrnn')" in err
    assert ck.read_bytes() == before
    other = tmp_path / "other.pt"
    code, _, err = run(["train", "--steps", "8", "--resume", str(ck), "--save", str(other)],
                       capsys)
    assert code == 0 and ck.read_bytes() == before and load(other)["step"] == 8
    code, _, err = run(["train", "--steps", "12", "--resume", str(ck), "--save", str(other)],
                       capsys)
    assert code == 2 and "other.pt' exists; pass --force" in err
    assert run(["train", "--steps", "12", "--resume", str(ck), "--save", str(other),
                "--force", "--json"], capsys)[0] == 0
    assert load(other)["step"] == 12
    # the checkpoint's own settings, given again, are no clash
    again = tmp_path / "again.pt"
    assert run([*base, "--model", "relrnn", "--steps", "6", "--resume", str(ck), "--save",
                str(again), "--json"], capsys)[0] == 0
    assert load(again)["step"] == 6

    old = torch.load(ck, weights_only=True)
    old["version"] = VERSION + 1
    torch.save(old, tmp_path / "future.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    (tmp_path / "empty.pt").write_bytes(b"")  # torch.load: EOFError
    (tmp_path / "zip.pt").write_bytes(b"PK\x03\x04 cut short")  # RuntimeError
    for name, message in [("future.pt", f"format version {VERSION + 1}"),
                          ("foreign.pt", "is not an untangle checkpoint"),
                          ("text.pt", "is not an untangle checkpoint"),
                          ("empty.pt", "is not an untangle checkpoint (not a file written by "
                                       "torch.save)"),
                          ("zip.pt", "is not an untangle checkpoint (not a file written by "
                                     "torch.save)"),
                          ("missing.pt", "does not exist")]:
        code, _, err = run(["eval", "--load", str(tmp_path / name), "--T", "20"], capsys)
        assert code == 2 and message in err


def test_eval_transfer_reports_accuracy_and_cost(tmp_path, capsys):
    ck = tmp_path / "m.pt"
    train(Config(task="copy", model="relrnn", **TINY), 4, save=ck, progress=False)
    code, out, _ = run(["eval", "--task", "transfer", "--load", str(ck), "--T", "40",
                        "--batches", "2", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["T"] == 40 and result["trained_T"] == 10
    assert {"accuracy", "loss", "sec_per_batch", "sec_per_step", "peak_mem_mb"} <= set(result)
    code, _, err = run(["eval", "--task", "denoise", "--load", str(ck)], capsys)
    assert code == 2 and "trained on 'copy'" in err


def test_evaluate_against_a_loop_written_here():
    """evaluate's loss and accuracy are those of its fixed batches (EVAL_SEED, drawn in
    turn), computed here with torch's cross-entropy and an argmax count; its time is that of
    the forward passes alone, within the call's wall time, and per step that per batch over
    the T + 20 steps."""
    import time

    import torch.nn.functional as F

    from verify.training.evaluate import EVAL_SEED, evaluate

    model = build(Config(task="denoise", model="relrnn", **TINY))
    T, batches, size = 14, 3, 4
    start = time.perf_counter()
    got = evaluate(model, "denoise", T, batches=batches, batch=size)
    wall = time.perf_counter() - start
    gen = torch.Generator().manual_seed(EVAL_SEED)
    losses, hits = [], []
    with torch.no_grad():
        for _ in range(batches):
            x, y = tasks.batch("denoise", T, size, gen)
            logits, _ = model(x)
            losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                          y.reshape(-1)).item())
            hits.append(sum(int(logits[b, -10 + k].argmax() == y[b, -10 + k])
                            for b in range(size) for k in range(10)) / (10 * size))
    # float32 logits and a float32 mean of the hits: equal to float32 rounding (2^-24 a step)
    assert got["loss"] == pytest.approx(sum(losses) / batches, rel=1e-6)
    assert got["accuracy"] == pytest.approx(sum(hits) / batches, rel=1e-6)
    assert 0 < got["sec_per_batch"] * batches <= wall
    assert got["sec_per_step"] == pytest.approx(got["sec_per_batch"] / (T + 20), rel=1e-12)


class Holder:
    """Not plain data: a checkpoint must never be unpickled into one of these."""


def _edited(ck, tmp_path, name, edit) -> str:
    raw = torch.load(ck, weights_only=True)
    edit(raw)
    torch.save(raw, tmp_path / name)
    return str(tmp_path / name)


@pytest.mark.parametrize("name, edit, message", [
    ("lacks.pt", lambda c: c.pop("optimizer"), "lacks 'optimizer'"),
    ("extra.pt", lambda c: c.update(extra=1), "has unknown keys 'extra'"),
    ("cfg_extra.pt", lambda c: c["config"].update(width=3), "has a config that has unknown "
     "'width'"),
    ("cfg_lacks.pt", lambda c: c["config"].pop("hidden"), "has a config that lacks 'hidden'"),
    ("cfg_bad.pt", lambda c: c["config"].update(hidden=0), "has a bad config: parameter "
     "'hidden' must be an integer >= 1"),
    ("step.pt", lambda c: c.update(step=-1), "has a bad 'step'"),
    ("model.pt", lambda c: c.update(model=[1, 2]), "has a bad 'model'"),
    ("rng.pt", lambda c: c.update(data_rng=torch.zeros(3)), "has a bad 'data_rng'"),
    ("window.pt", lambda c: c.update(window={"loss": torch.zeros(2)}), "has a bad 'window'"),
    ("rows.pt", lambda c: c.update(metrics=[{"loss": 1.0}]), "has bad 'metrics' rows"),
    ("step_float.pt", lambda c: c.update(step=3.0), "has a bad 'step': 3.0"),
    ("elapsed.pt", lambda c: c.update(elapsed_s=float("nan")), "has a bad 'elapsed_s': nan"),
    ("cpu.pt", lambda c: c.update(cpu_s=True), "has a bad 'cpu_s': True"),
    ("opt_keys.pt", lambda c: c["optimizer"].pop("param_groups"),
     "has a bad 'optimizer': not an optimizer state dict"),
    ("opt_state.pt", lambda c: c["optimizer"].update(state={0: [1.0]}),
     "has a bad 'optimizer': not an optimizer state dict"),
    ("profile.pt", lambda c: c.update(profile={"final": None}), "has a bad 'profile'"),
    ("first_loss.pt", lambda c: c.update(first_loss=-1.0), "has a bad 'first_loss': -1.0"),
    ("every.pt", lambda c: c["every"].update(log_every=0), "has a bad 'every'"),
    ("every_bool.pt", lambda c: c["every"].update(save_every=True), "has a bad 'every'"),
    ("run.pt", lambda c: c.update(run="../x"), "has a bad 'run': '../x'"),
    ("config.pt", lambda c: c.update(config=[1]), "has a bad 'config'"),
    ("nan.pt", lambda c: c["model"]["core.cell.V"].__setitem__((2, 5), float("nan")),
     "has a weight 'core.cell.V' that is not finite (nan at index (2, 5), shape (8, 8))"),
    ("inf.pt", lambda c: c["model"]["c"].__setitem__(3, float("-inf")),
     "has a weight 'c' that is not finite (-inf at index (3,), shape (9,))"),
    ("opt_inf.pt", lambda c: c["optimizer"]["state"][4]["square_avg"].__setitem__(
        (0,), float("inf")), "has an optimizer state 'square_avg' of parameter 4 that is not "
     "finite (inf at index (0,), shape (8,))"),
    ("shape.pt", lambda c: c["model"].update({"core.cell.V": torch.zeros(4, 4)}),
     "does not fit its config's relrnn model: tensor 'core.cell.V' has shape (4, 4), "
     "expected (8, 8)"),
    ("cfg_shape.pt", lambda c: c["config"].update(hidden=16),
     "does not fit its config's relrnn model: tensor 'W' has shape (9, 8), expected (9, 16)"),
    ("lacks_w.pt", lambda c: c["model"].pop("core.cell.b"),
     "does not fit its config's relrnn model: it lacks the tensor 'core.cell.b' (shape (8,))"),
    ("extra_w.pt", lambda c: c["model"].update(extra=torch.zeros(2)),
     "does not fit its config's relrnn model: unknown tensor 'extra' (shape (2,))"),
])
def test_checkpoints_with_missing_unknown_or_bad_keys_are_refused(name, edit, message,
                                                                  tmp_path, capsys):
    ck = tmp_path / "r.pt"
    train(Config(task="copy", model="relrnn", **TINY), 2, save=ck, progress=False)
    path = _edited(ck, tmp_path, name, edit)
    code, _, err = run(["eval", "--task", "copy", "--load", path], capsys)
    assert code == 2 and f"checkpoint '{path}' {message}" in err
    assert len(err.strip().splitlines()) == 1, err
    code, _, err = run(["train", "--steps", "4", "--resume", path], capsys)
    assert code == 2 and f"checkpoint '{path}' {message}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_files_that_are_not_checkpoints_are_refused_as_such(tmp_path, capsys):
    """Never with torch's advice to load them unsafely, and never unpickled."""
    import pickle

    ck = tmp_path / "r.pt"
    train(Config(task="copy", model="relrnn", **TINY), 2, save=ck, progress=False)
    (tmp_path / "objects.pt").write_bytes(pickle.dumps({"format": Holder()}))
    (tmp_path / "random.pt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "cut.pt").write_bytes(ck.read_bytes()[:2000])
    torch.save([1, 2], tmp_path / "list.pt")
    (tmp_path / "dir.pt").mkdir()
    for name in ("objects.pt", "random.pt", "empty.pt", "cut.pt", "list.pt", "dir.pt"):
        code, _, err = run(["eval", "--task", "copy", "--load", str(tmp_path / name)], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "not an untangle checkpoint" in err or "is a directory" in err
        assert "weights_only" not in err and "unsafe" not in err.lower()


def test_version_2_checkpoints_are_still_read(tmp_path, capsys):
    """A checkpoint of the previous format (no rows, window, first loss or intervals): eval
    reads it, and a resumed run takes its rows from the log beside it."""
    ck = tmp_path / "old.pt"
    train(Config(task="copy", model="relrnn", **TINY), 10, save=ck, log_every=5,
          save_every=10, progress=False)

    def downgrade(c):
        for key in ("metrics", "window", "first_loss", "every", "run"):
            c.pop(key)
        c["version"] = 2

    raw = torch.load(ck, weights_only=True)
    downgrade(raw)
    torch.save(raw, ck)
    assert load(ck)["metrics"] is None
    assert run(["eval", "--task", "copy", "--load", str(ck), "--json"], capsys)[0] == 0
    assert run(["train", "--resume", str(ck), "--steps", "20", "--log-every", "5", "--json"],
               capsys)[0] == 0
    rows = [json.loads(line)["step"] for line in (tmp_path / "old.metrics.jsonl").open()]
    assert rows == [5, 10, 15, 20] and load(ck)["version"] == VERSION


def test_resume_keeps_the_runs_intervals_and_writes_the_log_with_the_checkpoint(tmp_path,
                                                                              capsys):
    ck = tmp_path / "r.pt"
    base = ["train", "--task", "copy", "--T", "10", "--hidden", "8", "--nu", "3", "--rho", "2"]
    assert run([*base, "--steps", "9", "--save", str(ck), "--log-every", "2",
                "--save-every", "4", "--json"], capsys)[0] == 0
    assert run(["train", "--resume", str(ck), "--steps", "15", "--json"], capsys)[0] == 0
    state = load(ck)
    assert state["every"] == {"log_every": 2, "save_every": 4}
    log = [json.loads(line) for line in (tmp_path / "r.metrics.jsonl").open()]
    assert [r["step"] for r in log] == [2, 4, 6, 8, 9, 10, 12, 14, 15]
    assert log == state["metrics"]


def test_gradient_profiles_move_their_bar_every_percent_of_a_pass(monkeypatch, capfd):
    """T = 380 (L = 400 steps): each of the two profiles ticks its forward and its backward
    pass every 4 steps, 1600 steps in all; the bar is on stderr, and absent without
    progress."""
    import importlib

    from verify.training.config import build

    evaluation = importlib.import_module("verify.training.evaluate")  # not the function

    seen = []

    class Recording(evaluation.tqdm):
        def update(self, n=1):
            seen.append((self.n + n, self.total, n))
            return super().update(n)

    monkeypatch.setattr(evaluation, "tqdm", Recording)
    model = build(Config(task="copy", model="relrnn", **{**TINY, "T": 380}))
    evaluation.profiles(model, "copy", 380, 1, progress=True, label="initial")
    assert [n for _, _, n in seen] == [4] * 400
    assert seen[-1][:2] == (1600, 1600)
    assert "initial gradient profiles" in capfd.readouterr().err
    seen.clear()
    evaluation.profiles(model, "copy", 380, 1, progress=False, label="initial")
    assert seen == [] and capfd.readouterr().err == ""


def test_version_3_checkpoints_resume_and_get_a_run_id(tmp_path, capsys):
    """A checkpoint of the previous format (no run id) beside its log and profile file as that
    format wrote them: nothing to repair; the resumed run stamps a new id in all three."""
    ck = tmp_path / "old.pt"
    train(Config(task="copy", model="relrnn", **TINY), 10, save=ck, log_every=5,
          save_every=10, progress=False)
    raw = torch.load(ck, weights_only=True)
    raw.pop("run")
    raw["version"] = 3
    for row in raw["metrics"]:
        row.pop("run")
    torch.save(raw, ck)
    (tmp_path / "old.metrics.jsonl").write_text("".join(json.dumps(r) + "\n"
                                                        for r in raw["metrics"]))
    (tmp_path / "old.profile.json").write_text(json.dumps(raw["profile"]))
    assert load(ck)["run"] is None
    code, out, err = run(["train", "--resume", str(ck), "--steps", "15", "--log-every", "5",
                          "--json"], capsys)
    assert code == 0 and err == "" and json.loads(out)["repaired"] == []
    state = load(ck)
    rows = [json.loads(line) for line in (tmp_path / "old.metrics.jsonl").open()]
    assert state["version"] == VERSION and state["run"] and rows == state["metrics"]
    assert [r.get("run") for r in rows] == [None, None, state["run"]]
    assert json.loads((tmp_path / "old.profile.json").read_text())["run"] == state["run"]


def test_a_run_stopped_before_its_final_evaluation_resumes_at_its_last_step(tmp_path):
    """A checkpoint of the last step without the final profile (the run was killed during
    the final evaluation): resuming with the same steps does that evaluation and nothing
    more, where a finished one is refused."""
    cfg = Config(model="rnn", T=10, hidden=4, batch=2)
    path = tmp_path / "r.pt"
    done = train(cfg, 3, save=path, progress=False)
    with pytest.raises(ValueError, match="'steps' must exceed the checkpoint's step 3"):
        train(cfg, 3, resume=path, progress=False)
    ck = torch.load(path, weights_only=False)
    ck["profile"]["final"] = None
    torch.save(ck, path)
    again = train(cfg, 3, resume=path, progress=False)
    assert load(path)["step"] == 3 and load(path)["profile"]["final"] is not None
    assert again["eval_accuracy"] == done["eval_accuracy"]


def test_divergence_is_a_loss_over_a_thousand_times_the_first_or_a_non_finite_value():
    """The rule of verify.training.train's docstring, at its boundary: exactly 1000 times the
    first loss still trains, the next float above does not; nan or inf loss or gradient norm
    stop at once; the first step has nothing to compare with."""
    import math

    from verify.training.train import _divergence

    assert _divergence(5, 2000.0, 1.0, 2.0) is None
    assert "exceeds 1000 x the first" in _divergence(5, math.nextafter(2000.0, math.inf),
                                                     1.0, 2.0)
    assert _divergence(1, 1e30, 1.0, None) is None
    assert _divergence(5, math.nan, 1.0, 2.0) == "the loss is nan"
    assert "gradient norm before clipping is inf" in _divergence(5, 1.0, math.inf, 2.0)


def test_a_run_with_stopped_clocks_reports_no_time(tmp_path, monkeypatch):
    """With perf_counter and process_time frozen, a fresh run reports 0 wall and CPU seconds
    and a resumed one exactly its checkpoint's: the only time counted is the clocks'."""
    import time

    monkeypatch.setattr(time, "perf_counter", lambda: 100.0)
    monkeypatch.setattr(time, "process_time", lambda: 7.0)
    cfg = Config(model="rnn", T=10, hidden=4, batch=2)
    fresh = train(cfg, 2, save=tmp_path / "r.pt", progress=False)
    assert (fresh["elapsed_s"], fresh["cpu_s"]) == (0.0, 0.0)
    resumed = train(cfg, 3, resume=tmp_path / "r.pt", progress=False)  # a checkpoint of 0 s
    assert (resumed["elapsed_s"], resumed["cpu_s"]) == (0.0, 0.0)
    ck = torch.load(tmp_path / "r.pt", weights_only=False)
    ck["elapsed_s"], ck["cpu_s"] = 12.5, 3.25
    torch.save(ck, tmp_path / "r.pt")
    resumed = train(cfg, 4, resume=tmp_path / "r.pt", progress=False)
    assert (resumed["elapsed_s"], resumed["cpu_s"]) == (12.5, 3.25)


@pytest.mark.parametrize("cfg", [{"T": 10}, None, "copy"])
def test_train_takes_a_config_only(cfg, tmp_path):
    with pytest.raises(ValueError, match="parameter 'cfg' must be a verify.training.config."
                                         "Config, got "):
        train(cfg, 2, save=tmp_path / "r.pt", progress=False)
    assert not any(tmp_path.iterdir())  # refused before anything is written


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc only")
def test_cpu_peak_memory_is_the_process_high_water_mark_in_mib():
    """Between the resident size now (VmRSS) and the kernel's lifetime peak (getrusage's
    ru_maxrss, KiB on Linux: a counter that clear_refs does not reset, read by another
    system call), and it follows 64 MiB touched here."""
    def status_kib(key):
        line = next(x for x in Path("/proc/self/status").read_text().splitlines()
                    if x.startswith(key + ":"))
        return int(line.split()[1])

    block = bytearray(64 * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    rss = status_kib("VmRSS") / 1024
    peak, kind = peak_memory(torch.device("cpu"))
    assert kind == "cpu_peak_rss"
    # the two kernel counters are updated at different moments: within 1% of each other
    assert rss <= peak <= 1.01 * resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak >= 64


def test_cpu_peak_memory_reads_vmhwm_and_falls_back_to_ru_maxrss(monkeypatch, tmp_path):
    """VmHWM (KiB) of the status file in MiB; where the file is missing, or has no VmHWM
    line, getrusage's ru_maxrss (KiB on Linux) instead, never an error."""
    from verify import resources as res
    status = tmp_path / "status"
    monkeypatch.setattr(res, "PROC_STATUS", status)
    monkeypatch.setattr(resource, "getrusage", lambda who: type("U", (), {"ru_maxrss": 3072}))
    assert peak_memory(torch.device("cpu")) == (3.0, "cpu_peak_rss")
    status.write_text("Name:\tpython\nVmRSS:\t  1024 kB\n")
    assert res.status_kib("VmRSS") == 1024 and res.status_kib("VmHWM") is None
    assert peak_memory(torch.device("cpu")) == (3.0, "cpu_peak_rss")
    status.write_text("Name:\tpython\nVmHWM:\t  5120 kB\nVmRSS:\t  1024 kB\n")
    assert peak_memory(torch.device("cpu")) == (5.0, "cpu_peak_rss")


@pytest.mark.parametrize("name", ["rnn", "relrnn", "lstm"])
def test_profiles_are_of_the_training_loss_and_of_the_recall_loss(name, capfd):
    """THEORY.md section 8: the training loss averages the cross-entropy over all L = T + 20
    steps, the recall loss over the last K. The last state feeds only the last logits, so its
    gradient under the two differs by exactly the factor L / K (float64: 1e-12 in log10); the
    profile runs over h_0..h_L."""
    T = 10
    model = build(Config(model=name, T=T, hidden=6, batch=3, dtype="float64"))
    out = profiles(model, "copy", T, 3)
    L = tasks.sequence_length(T)
    assert len(out["loss"]) == len(out["recall"]) == L + 1
    assert out["recall"][-1] - out["loss"][-1] == pytest.approx(math.log10(L / tasks.K),
                                                                abs=1e-12)
    assert out["loss"] != out["recall"]
    assert capfd.readouterr().err == ""  # no bar unless asked for
