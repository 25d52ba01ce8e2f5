"""The command line under a hostile user: every refusal is one line on stderr with exit 2 and
no traceback, naming the option and what it accepts. argparse's own refusals (no usage
block), no command, a closed or full standard output, progress bars closed before the error
line, options a run would not use, empty paths, bench sizes checked before the work, and the
messages of bounds eval, eval and train."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from verify import cli

ROOT = Path(__file__).resolve().parents[1]


def untangle(argv: list[str], capsys) -> tuple[int, str, str]:
    """``untangle ARGV`` in this process: (exit status, stdout, stderr); argparse's refusals
    raise SystemExit, whose code is the status."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def refused(argv: list[str], capsys, *needles: str) -> str:
    """Assert ``untangle ARGV`` is refused as bad input in one line holding every needle."""
    code, out, err = untangle(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err and "usage:" not in err
    assert out == ""
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def shell(command: str, **kw) -> subprocess.CompletedProcess:
    """``sh -c COMMAND`` with ``$PY`` the interpreter and the worktree on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PY": sys.executable}
    return subprocess.run(["sh", "-c", command], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, **kw)


# --- argparse's refusals: one line, the option named ---------------------------------------

@pytest.mark.parametrize("argv, needles", [
    (["measure", "--T", "abc"], ["untangle measure: error: argument --T: invalid int value: "
                                 "'abc'"]),
    (["measure", "--events", ","], ["argument --events", "comma-separated int"]),
    (["measure", "--pattern", "windw"], ["argument --pattern", "invalid choice: 'windw'",
                                         "'window'"]),
    (["measure", "--hidden"], ["argument --hidden: expected one argument"]),
    (["measure", "--frob", "3"], ["unrecognized arguments: --frob 3",
                                  "'untangle measure --help'"]),
    (["train", "--model", "foo", "--steps", "2"], ["untangle train: error: argument --model",
                                                   "'rnn'", "'rellstm'"]),
    (["train", "--T", "10"], ["required: --steps"]),
    (["train", "--steps", "x"], ["argument --steps: invalid int value: 'x'"]),
    (["train", "--steps", "2", "--lr", "fast"], ["argument --lr: invalid float value"]),
    (["eval"], ["untangle eval: error:", "required: --load"]),
    (["eval", "--load", "x.pt", "--batches", "1.5"], ["argument --batches"]),
    (["screen", "--score", "nope"], ["argument --score", "invalid choice: 'nope'"]),
    (["bench", "--profile-T", "0"], ["argument --profile-T", ">= 1"]),
    (["bench", "--train-T", "x"], ["argument --train-T"]),
    (["sweep"], ["untangle sweep: error:", "required: SPEC"]),
    (["sweep", "s.json", "--workers", "two"], ["argument --workers"]),
    (["figs", "--scale", "huge"], ["argument --scale", "'paper'"]),
    (["check", "--verbose"], ["untangle check: error: unrecognized arguments: --verbose"]),
    (["bounds"], ["untangle bounds: error:", "required: {list,show,eval}"]),
    (["bounds", "foo"], ["invalid choice: 'foo'", "'list', 'show', 'eval'"]),
    (["bounds", "show"], ["untangle bounds show: error:", "required: name"]),
    (["bounds", "list", "--json"], ["untangle bounds: error: unrecognized arguments: --json"]),
    (["frobnicate"], ["untangle: error: argument COMMAND: invalid choice: 'frobnicate'",
                      "'measure'"]),
    (["--frob"], ["untangle: error: unrecognized arguments: --frob"]),
])
def test_argparse_refusals_are_one_line(argv, needles, capsys):
    refused(argv, capsys, *needles)


def test_no_command_names_the_commands(capsys):
    line = refused([], capsys, "untangle: error: a command is needed: one of ", "untangle --help")
    assert all(name in line for name in cli.COMMANDS)


def test_help_still_shows_the_usage(capsys):
    code, out, _ = untangle(["measure", "--help"], capsys)
    assert code == 0 and out.startswith("usage: untangle measure")


def test_refusals_in_a_fresh_process(tmp_path):
    """What a user sees: exit 2, one line, for a bad value and for no command."""
    for args in ("measure --T abc", ""):
        run = shell(f'"$PY" -m verify.cli {args}')
        assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert run.stdout == "" and run.stderr.startswith("untangle")


# --- standard output closed or full --------------------------------------------------------

def test_closed_stdout_is_refused_in_one_line():
    run = shell('"$PY" -m verify.cli bounds list >&-')
    assert run.returncode == 2
    assert run.stderr.strip() == ("untangle: error: standard output is closed; redirect it to "
                                  "a file or /dev/null instead")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("args", ["bounds list", "bounds eval path_sum_upper pattern=window "
                                  "T=30000 nu=3 beta=0.5 gamma=0.5 lam=0.9 --json"],
                         ids=["small", "large"])
def test_full_stdout_says_standard_output(args):
    """Small output fails at the last flush, large output in print."""
    run = shell(f'"$PY" -m verify.cli {args} >/dev/full')
    assert run.returncode == 2
    assert run.stderr.strip() == ("untangle: error: cannot write to standard output: No space "
                                  "left on device")


def test_closed_stdout_in_process(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", None)
    assert cli.main(["bounds", "list"]) == 2
    assert capsys.readouterr().err == ("untangle: error: standard output is closed; redirect it "
                                       "to a file or /dev/null instead\n")


class Failing:
    """A standard output whose every write fails with ``errno``."""

    def __init__(self, code: int) -> None:
        self.code = code

    def write(self, text: str) -> int:
        raise OSError(self.code, os.strerror(self.code))

    def writelines(self, lines) -> None:
        raise OSError(self.code, os.strerror(self.code))

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_failing_stdout_is_named(code, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", Failing(code))
    assert cli.main(["bounds", "list"]) == 2
    err = capsys.readouterr().err
    assert err == f"untangle: error: cannot write to standard output: {os.strerror(code)}\n"
    assert isinstance(sys.stdout, Failing)  # put back after the command


def _writing_lines(args) -> int:
    sys.stdout.writelines(["first\n", "second\n"])
    return 0


def test_writelines_reaches_stdout(monkeypatch, capsys):
    """A command may write with ``writelines`` too: the lines arrive, in order."""
    monkeypatch.setattr("verify.commands.bounds._list", _writing_lines)
    code, out, err = untangle(["bounds", "list"], capsys)
    assert (code, out, err) == (0, "first\nsecond\n", "")


def test_a_failing_writelines_is_named(monkeypatch, capsys):
    monkeypatch.setattr("verify.commands.bounds._list", _writing_lines)
    monkeypatch.setattr(sys, "stdout", Failing(errno.ENOSPC))
    assert cli.main(["bounds", "list"]) == 2
    assert capsys.readouterr().err == ("untangle: error: cannot write to standard output: "
                                       f"{os.strerror(errno.ENOSPC)}\n")


def test_other_os_errors_still_name_their_path(monkeypatch, capsys):
    """Only standard output's own failures are said to be standard output's."""
    def fail(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out.png")

    monkeypatch.setattr("verify.commands.bounds._list", fail)
    code, _, err = untangle(["bounds", "list"], capsys)
    assert code == 2 and err == "untangle: error: '/data/out.png': No space left on device\n"


def _linalg_errors() -> list:
    import numpy as np
    import torch
    return [np.linalg.LinAlgError("SVD did not converge"),
            torch.linalg.LinAlgError("linalg.svd: The algorithm failed to converge")]


@pytest.mark.parametrize("failure", _linalg_errors(), ids=["numpy", "torch"])
def test_a_numerical_failure_is_not_called_bad_input(failure, monkeypatch, capsys):
    """numpy's LinAlgError is a ValueError and torch's a RuntimeError; neither is the user's
    fault: exit 1 (not 2), one line that says so and keeps the library's reason."""
    def fail(args):
        raise failure

    monkeypatch.setattr("verify.commands.bounds._list", fail)
    code, _, err = untangle(["bounds", "list"], capsys)
    reason = str(failure).splitlines()[0]
    assert (code, err) == (1, f"untangle: error: numerical failure, not a fault of the input "
                              f"({reason}); please report it with this command line\n")


# --- progress bars are closed before the error line ----------------------------------------

BROKEN = "parameter 'x' broke in the middle of the work"


def _broken(*args: object, **kw: object) -> None:
    raise ValueError(BROKEN)


def error_on_its_own_line(err: str) -> None:
    """The error line is the last thing on stderr (the bar was closed before it, not after)
    and starts a line of its own (after the bar's newline or its erasing carriage return)."""
    line = f"untangle: error: {BROKEN}\n"
    assert err.endswith(line), repr(err[-300:])
    before = err[:-len(line)]
    assert before == "" or before.endswith(("\n", "\r")), repr(before[-300:])
    assert "|" in before, "no progress bar was shown: the test shows nothing"


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    from verify.training import Config, train

    path = tmp_path / "tiny.pt"
    train(Config(model="relrnn", T=10, hidden=8, nu=3, rho=2), 1, save=path, progress=False)
    return path


@pytest.mark.parametrize("where, argv", [
    ("verify.measurement.jacobian_profile.norms", ["measure", "--T", "5", "--hidden", "3"]),
    ("verify.bench.profile_cases.run_case", ["bench", "--quick"]),
    ("verify.training.tasks.accuracy", ["eval", "--load", "CK", "--batches", "2"]),
    ("verify.training.relevance_report.inspect",
     ["screen", "--model", "relrnn", "--T", "10", "--hidden", "8", "--nu", "3", "--rho", "2",
      "--batch", "2"]),
    ("proofs.certificates", ["check"]),
], ids=["measure", "bench", "eval", "screen", "check"])
def test_an_error_closes_the_progress_bar_first(where, argv, monkeypatch, capsys, request):
    if "CK" in argv:  # trained before the damage
        argv = [str(request.getfixturevalue("checkpoint")) if a == "CK" else a for a in argv]
    if where == "proofs.certificates":  # one certificate runs, the next fails
        from proofs import certificates
        first = certificates()[0]
        monkeypatch.setattr(where, lambda: [first, _broken])
    else:
        monkeypatch.setattr(where, _broken)
    code, out, err = untangle(argv, capsys)
    assert code == 2 and out == ""
    error_on_its_own_line(err)



# --- eval's default T ----------------------------------------------------------------------

def test_eval_defaults_to_the_trained_T(checkpoint, capsys):
    """As its help says: without --T a checkpoint trained at T = 10 is evaluated at 10."""
    import json

    code, out, err = untangle(["eval", "--load", str(checkpoint), "--batches", "1", "--json"],
                              capsys)
    assert code == 0, err
    result = json.loads(out)
    assert (result["T"], result["trained_T"]) == (10, 10)
    code, out, _ = untangle(["eval", "--load", str(checkpoint), "--batches", "1", "--T", "12",
                             "--json"], capsys)
    assert code == 0 and json.loads(out)["T"] == 12
    assert "(default: the trained T)" in cli.command_parser("eval").format_help()


def test_eval_takes_the_checkpoints_own_task_by_name(checkpoint, capsys):
    """``--task copy`` for a checkpoint trained on copy is its task: the same result as the
    default (transfer at the trained T); another task is refused by name."""
    import json

    argv = ["eval", "--load", str(checkpoint), "--batches", "1", "--json"]
    code, out, err = untangle([*argv, "--task", "copy"], capsys)
    assert code == 0, err
    named = json.loads(out)
    code, out, _ = untangle(argv, capsys)
    default = json.loads(out)
    assert (named["accuracy"], named["loss"]) == (default["accuracy"], default["loss"])
    code, out, err = untangle([*argv, "--task", "denoise"], capsys)
    assert code == 2 and "the checkpoint was trained on 'copy', got 'denoise'" in err


def test_eval_prints_its_cost_in_ms_and_us(checkpoint, capsys, monkeypatch):
    """The text report gives seconds per batch in ms and per sequence step in us (with the
    evaluation's result fixed: 0.25 s a batch, 1.25e-4 s a step)."""
    fixed = {"accuracy": 0.5, "loss": 1.0, "sec_per_batch": 0.25, "sec_per_step": 1.25e-4,
             "peak_mem_mb": 12.0, "peak_mem_kind": "kind", "T": 10}
    import importlib

    module = importlib.import_module("verify.training.evaluate")  # the module, not the function
    monkeypatch.setattr(module, "evaluate", lambda *a, **k: dict(fixed))
    code, out, err = untangle(["eval", "--load", str(checkpoint), "--batch", "4"], capsys)
    assert code == 0, err
    assert ("250.0 ms per batch of 4 (125 us per sequence step), peak memory 12 MiB (kind)"
            in out)


# --- T of the tasks: the real range, from one place ----------------------------------------

@pytest.mark.parametrize("T", ["0", "-1", "9"])
@pytest.mark.parametrize("command", [["train", "--steps", "1"], ["screen"],
                                     ["eval", "--load", "CK"]])
def test_task_T_states_the_real_minimum(command, T, capsys, request):
    argv = [str(request.getfixturevalue("checkpoint")) if a == "CK" else a for a in command]
    refused([*argv, "--T", T], capsys, f"parameter 'T' must be an integer >= K = 10, got {T}")


# --- bounds eval: a key the bound does not use is named as such ----------------------------

@pytest.mark.parametrize("params, needle", [
    (["rnn_upper", "beta=0.5", "lam=0.9", "T=5", "t=2", "pattern=uniform"],
     "parameter 'pattern' is not used by bound 'rnn_upper' (it takes beta, lam, T, t)"),
    (["rnn_upper", "T=5", "pattern=uniform"], "parameter 'pattern' is not used by bound "
     "'rnn_upper'"),
    (["rnn_upper", "beta=0.5", "lam=0.9", "T=5", "t=2", "nu=3"],
     "parameter 'nu' is not used by bound 'rnn_upper'"),
    (["uniform_lower", "gamma=0.5", "mu=1", "T=3", "E=[1]"],
     "parameter 'E' is not used by bound 'uniform_lower' (it takes gamma, mu, T)"),
    (["path_sum_upper", "pattern=window", "T=5", "nu=2", "beta=0.5", "gamma=0.5", "lam=1",
      "mu=3"], "parameter 'mu' is not used by bound 'path_sum_upper' (it takes pattern, beta, "
     "gamma, lam)"),
])
def test_bounds_eval_names_the_unused_key(params, needle, capsys):
    refused(["bounds", "eval", *params], capsys, needle)


# --- empty values: every option, every command ---------------------------------------------

#: The least each command needs, so that the option under test is what is refused.
NEEDS = {"measure": ["--T", "3", "--hidden", "2", "--json"],
         "train": ["--steps", "1", "--T", "10", "--hidden", "4", "--json"],
         "eval": ["--load", "CK", "--batches", "1", "--json"],
         "screen": ["--T", "10", "--hidden", "4", "--nu", "3", "--rho", "2", "--batch", "1",
                    "--json"],
         "bench": ["--quick", "--json"], "sweep": ["SPEC", "--json"],
         "figs": ["f1", "--scale", "tiny", "--out", "OUT"]}


def _value_options() -> list[tuple[list[str], str]]:
    """(command words, option) of every option of every parser that takes a value."""
    import argparse

    def walk(parser: argparse.ArgumentParser, words: list[str]):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*words, name])
            elif action.option_strings and action.nargs != 0:
                yield words, action.option_strings[0]
    return [pair for name in cli.COMMANDS for pair in walk(cli.command_parser(name), [name])]


VALUE_OPTIONS = _value_options()


def test_the_walk_finds_the_path_options():
    found = {(words[0], option) for words, option in VALUE_OPTIONS}
    assert {("measure", "--plot"), ("measure", "--pattern-file"), ("train", "--save"),
            ("train", "--resume"), ("eval", "--load"), ("screen", "--load"),
            ("screen", "--plot"), ("sweep", "--out"), ("figs", "--out"),
            ("figs", "--runs")} <= found
    assert len(found) > 60


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "spec.json"
    path.write_text('{"kind": "measure", "fixed": {"T": 3, "hidden": 2}}')
    return path


@pytest.mark.parametrize("words, option", VALUE_OPTIONS,
                         ids=[" ".join([*w, o]) for w, o in VALUE_OPTIONS])
def test_every_option_refuses_an_empty_value(words, option, capsys, request, tmp_path,
                                            monkeypatch):
    """``--OPTION ''``: one line naming the option, whatever the option (a path is never taken
    as the current directory, nor dropped as if it were not given)."""
    monkeypatch.chdir(tmp_path)  # nothing may be written here either
    (tmp_path / "out").mkdir()
    fill = {"CK": lambda: str(request.getfixturevalue("checkpoint")),
            "SPEC": lambda: str(request.getfixturevalue("spec")),
            "OUT": lambda: str(tmp_path / "out")}
    needs = [fill[a]() if a in fill else a for a in NEEDS.get(words[0], [])]
    if words[:2] in (["bounds", "show"], ["bounds", "eval"]):
        needs = ["B7"]
    before = set(tmp_path.rglob("*"))
    line = refused([*words, *needs, option, ""], capsys)
    assert f"argument {option}:" in line or f"{option}:" in line \
        or f"parameter '{option.lstrip('-')}'" in line, line
    assert set(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("argv, option", [(["sweep", ""], "SPEC"),
                                          (["figs", "f1", "--out", ""], "--out")])
def test_empty_path_positionals(argv, option, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where an empty path would have written
    refused(argv, capsys, f"argument {option}: an empty path names no file")
    assert list(tmp_path.iterdir()) == []


def test_library_refuses_empty_paths(tmp_path):
    from verify import files
    from verify.training import Config, train

    for call in (lambda: files.claim_output("", force=True, option="--plot"),
                 lambda: files.input_file("", "--load"),
                 lambda: train(Config(model="rnn", T=10, hidden=4), 1, save="", progress=False),
                 lambda: train(Config(model="rnn", T=10, hidden=4), 1, resume="",
                               progress=False)):
        with pytest.raises(ValueError, match=r"^--\w+: an empty path names no file$"):
            call()


@pytest.mark.parametrize("argv, option", [
    (["eval", "--load", "MISSING"], "--load"),
    (["screen", "--load", "MISSING"], "--load"),
    (["train", "--steps", "1", "--resume", "MISSING"], "--resume"),
    (["measure", "--pattern", "file", "--pattern-file", "MISSING"], "--pattern-file"),
])
def test_a_missing_input_file_is_named_by_its_option(argv, option, capsys, tmp_path):
    missing = str(tmp_path / "missing.pt")
    refused([missing if a == "MISSING" else a for a in argv], capsys,
            f"error: {option}: {missing!r} does not exist")


# --- options a run would not use are refused, defaults never are ---------------------------

@pytest.mark.parametrize("argv, needle", [
    (["--events", "3", "--pattern", "window"],
     "parameter 'events' is not used by the 'window' pattern; it goes with --pattern events"),
    (["--width", "4", "--pattern", "uniform"], "parameter 'width' is not used by the 'uniform' "
     "pattern; it goes with --pattern window or events"),
    (["--width", "4"], "parameter 'width' is not used by the 'none' pattern"),
    (["--stride", "3", "--pattern", "window"], "parameter 'stride' is not used by the 'window' "
     "pattern; it goes with --pattern strided"),
    (["--kappa", "2", "--pattern", "events"], "parameter 'kappa' is not used by the 'events' "
     "pattern; it goes with --pattern sparse"),
    (["--sigma", "1,0.5", "--spectrum", "gaussian"], "parameter 'sigma' is not used by the "
     "'gaussian' spectrum; it goes with --spectrum singular"),
    (["--eigenvalues", "0.5,0.5", "--spectrum", "singular"], "parameter 'eigenvalues' is not "
     "used by the 'singular' spectrum; it goes with --spectrum eigen"),
    (["--gain", "1.2"], "parameter 'gain' is not used by the 'orthogonal' spectrum; it goes "
     "with --spectrum gaussian"),
    (["--scale", "0.5", "--spectrum", "gaussian"], "parameter 'scale' is not used by the "
     "'gaussian' spectrum"),
    (["--nonnormal", "0.1", "--spectrum", "identity"], "parameter 'nonnormal' is not used by "
     "the 'identity' spectrum; it goes with --spectrum eigen"),
    (["--spectrum", "singular", "--sigma", "1,0.5", "--scale", "2"],
     "parameter 'scale' is not used when --sigma gives the 'singular' spectrum's values"),
    (["--spectrum", "eigen", "--eigenvalues", "0.5,0.5", "--scale", "2"],
     "parameter 'scale' is not used when --eigenvalues gives"),
    (["--pattern", "window", "--include-h0"], "parameter 'include-h0' goes with --learned"),
    (["--rows", "5", "--json"], "parameter 'rows' is for the table; --json gives every t"),
    (["--force"], "parameter 'force' goes with --plot"),
    (["--pattern", "events", "--events", "3,3"],
     "argument --events: 3 is given twice in '3,3' (each value once)"),
    (["--pattern", "events", "--events", "1,2,1"], "argument --events: 1 is given twice"),
])
def test_measure_refuses_options_it_would_not_use(argv, needle, capsys, monkeypatch):
    def no_work(*a, **k):
        raise AssertionError("the network was built before the options were checked")

    monkeypatch.setattr("verify.measurement.runs.network", no_work)
    refused(["measure", "--T", "5", "--hidden", "2", *argv], capsys, needle)


@pytest.mark.parametrize("argv", [
    [],  # every default, none of them refused
    ["--pattern", "window", "--width", "3"],
    ["--pattern", "events", "--events", "1,3", "--width", "2"],
    ["--pattern", "strided", "--stride", "2"],
    ["--pattern", "sparse", "--kappa", "2"],
    ["--spectrum", "gaussian", "--gain", "1.1"],
    ["--spectrum", "singular", "--sigma", "1,0.5"],
    ["--spectrum", "singular", "--scale", "0.8"],
    ["--spectrum", "eigen", "--eigenvalues", "0.5,0.4", "--nonnormal", "0.1"],
    ["--spectrum", "nonneg", "--scale", "0.9"],
    ["--pattern", "uniform", "--learned", "--include-h0"],
    ["--rows", "3"],
])
def test_measure_takes_what_it_uses(argv, capsys):
    code, _, err = untangle(["measure", "--T", "5", "--hidden", "2", *argv], capsys)
    assert code == 0, err


def test_measure_defaults_are_the_documented_ones(capsys):
    """Left out, --width is 4 (a window of 4 has kappa 4) and --rows 20."""
    code, out, err = untangle(["measure", "--T", "30", "--hidden", "2", "--pattern", "window"],
                              capsys)
    assert code == 0, err
    assert "kappa=4 " in out
    assert len(out.split("verdicts (")[0].splitlines()) == 4 + 20


@pytest.mark.parametrize("model, option", [("rnn", ["--nu", "5"]), ("rnn", ["--rho", "3"]),
                                           ("lstm", ["--score", "normalised"]),
                                           ("memrnn", ["--nu", "10"])])
def test_train_refuses_relevant_set_options_for_other_models(model, option, capsys, tmp_path):
    save = tmp_path / "x.pt"
    refused(["train", "--steps", "1", "--model", model, *option, "--save", str(save)], capsys,
            f"parameter '{option[0][2:]}' is not used by the '{model}' model; it goes with "
            f"--model relrnn or rellstm")
    assert not save.exists()


def test_events_name_each_step_once():
    from bounds import patterns

    with pytest.raises(ValueError, match="parameter 'E' must name each time step once, got 3 "
                                         "2 times"):
        patterns.events(6, [3, 1, 3], 2)
    assert patterns.events(6, [3, 1], 2).T == 6


# --- bench: every size checked, and the memory estimated, before any work ------------------

@pytest.fixture
def no_bench_work(monkeypatch):
    """The first piece of bench work (the matrix-product rate) says it was reached."""
    def reached(*a, **k):
        raise ValueError("parameter 'work' was reached")

    monkeypatch.setattr("verify.bench.matmul_rate", reached)
    monkeypatch.setattr("verify.bench.profile_cases.run_case", reached)
    monkeypatch.setattr("verify.bench.training_steps.run_case", reached)
    monkeypatch.setattr("verify.bench.long_horizon.run_case", reached)


@pytest.mark.parametrize("argv, needle", [
    (["--train-T", "5"], "parameter 'train-T' must be an integer >= K = 10, got 5"),
    (["--profile-T", "12", "--train-T", "20,9"], "parameter 'train-T' must be an integer >= "
     "K = 10, got 9"),
    (["--profile-T", "0"], "argument --profile-T: expected comma-separated int values >= 1"),
    (["--profile-n", "4,-1"], "argument --profile-n: expected comma-separated int values >= 1"),
    (["--profile-T", "12,12"], "argument --profile-T: 12 is given twice"),
    (["--train-T", "20,20"], "argument --train-T: 20 is given twice"),
    (["--quick", "--profile-T", "12"], "parameter 'profile-T' is not used with --quick"),
    (["--quick", "--profile-n", "3"], "parameter 'profile-n' is not used with --quick"),
    (["--quick", "--train-T", "20"], "parameter 'train-T' is not used with --quick"),
    (["--no-training", "--train-T", "20"], "parameter 'train-T' is not used with --no-training"),
])
def test_bench_sizes_are_checked_before_any_work(argv, needle, capsys, no_bench_work):
    refused(["bench", *argv], capsys, needle)


@pytest.mark.parametrize("argv, needle", [
    (["--profile-T", "12,4000", "--profile-n", "3,256", "--no-training", "--json"],
     "the profile case full at T = 4000, n = 256 would need about"),
    (["--profile-T", "12", "--profile-n", "3", "--train-T", "20,3000", "--json"],
     "the training step of rellstm at T = 3000 would need about"),
    (["--profile-T", "12", "--profile-n", "3", "--long-T", "100000", "--no-training", "--json"],
     "the long plain-RNN profile at T = 100000 would need about"),
])
def test_bench_refuses_what_memory_cannot_hold(argv, needle, capsys, no_bench_work,
                                               monkeypatch):
    """The largest case is estimated up front, and the refusal names the options that shrink
    it; --no-memory-check goes on to the work."""
    from verify import resources

    monkeypatch.setattr(resources, "available", lambda device: (2**30, "a small machine"))
    line = refused(["bench", *argv], capsys, needle, "a small machine", "--no-memory-check")
    assert ("--profile-T or --profile-n" in line) == ("profile case" in needle)
    assert ("reduce --long-T" in line) == ("long plain-RNN" in needle)
    refused(["bench", *argv, "--no-memory-check"], capsys, "parameter 'work' was reached")
    monkeypatch.setattr(resources, "available", lambda device: (2**50, "a large machine"))
    refused(["bench", *argv], capsys, "parameter 'work' was reached")


def test_bench_estimates_follow_the_cases():
    from verify.bench import estimates, profile_cases, training_steps
    from verify.resources import estimate_measure, estimate_train
    from verify.training import Config

    case = profile_cases.Case("full", 100, 8)
    assert profile_cases.estimate(case) == estimate_measure(100, 8, 100 * 101 // 2, "fixed",
                                                            False)
    assert profile_cases.estimate(profile_cases.Case("window32", 100, 8)) < \
        profile_cases.estimate(case) < profile_cases.estimate(profile_cases.Case("full", 200, 8))
    assert training_steps.estimate("ten-line rnn", 50) == training_steps.estimate("rnn", 50) \
        == estimate_train(Config(model="rnn", T=50, hidden=128, batch=10))
    assert training_steps.estimate("memrnn", 3000) == 0  # skipped by its budget
    small, big = profile_cases.Case("window32", 50, 4), profile_cases.Case("full", 60, 4)
    (need, what), (steps, which) = estimates([small, big], [("rnn", 20), ("relrnn", 20)])
    assert need == profile_cases.estimate(big) and "full at T = 60, n = 4" in what
    assert steps == training_steps.estimate("relrnn", 20) and "relrnn at T = 20" in which


def test_bench_help_states_the_task_minimum():
    from verify.training import tasks

    text = " ".join(cli.command_parser("bench").format_help().split())
    assert f">= K = {tasks.K}" in text
