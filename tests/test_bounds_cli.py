"""``untangle bounds list | show | eval`` (the catalog at the command line: listing, statements,
numeric evaluation), run as a user would."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from bounds import CATALOG


def untangle(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "verify.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_list_names_every_bound():
    out = untangle("bounds", "list")
    assert out.returncode == 0
    assert [line.split()[0] for line in out.stdout.splitlines()] == list(CATALOG)


def test_show_gives_statement_latex_and_expression():
    out = untangle("bounds", "show", "uniform_exact")
    assert out.returncode == 0
    for piece in ("B4", "statement", "latex", r"\Gamma", "hypotheses", "gamma(T + c*gamma)"):
        assert piece in out.stdout
    info = json.loads(untangle("bounds", "show", "window_lower", "--json").stdout)
    assert info["theory_id"] == "B6" and "ceiling" in info["expression"]


def test_eval_closed_form_json():
    out = untangle("bounds", "eval", "relevancy_lower", "gamma=0.5", "mu=0.8", "nu=10", "rho=15",
                   "--json")
    got = json.loads(out.stdout)
    assert got["name"] == "relevancy_lower"
    assert got["params"] == {"gamma": 0.5, "mu": 0.8, "nu": 10, "rho": 15}
    assert math.isclose(got["value"], 0.5 * 0.8 / 25, rel_tol=1e-12)


def test_eval_long_horizon_reports_log10():
    got = json.loads(untangle("bounds", "eval", "rnn_upper", "beta=1", "lam=0.5", "T=100000",
                              "t=0", "--json").stdout)
    assert got["value"] == 0.0
    assert math.isclose(got["log10"], 1e5 * math.log10(0.5), rel_tol=1e-12)


def test_eval_pattern_bound_on_named_pattern():
    got = json.loads(untangle("bounds", "eval", "path_sum_upper", "pattern=none", "T=4", "beta=1",
                              "gamma=0", "lam=[0.5,2,0.25,3]", "--json").stdout)
    # B0 with gamma = 0: prod_{k=t+1..T} lambda_k
    np.testing.assert_allclose(got["value"], [0.75, 1.5, 0.75, 3.0], rtol=1e-12)


def test_eval_pattern_from_file(tmp_path):
    path = tmp_path / "alpha.csv"
    path.write_text("1,0,0\n0.5,0.5,0\n0.25,0.25,0.5\n")
    out = untangle("bounds", "eval", "nonneg_lower", f"pattern={path}", "beta=0.5", "gamma=0.5",
                   "mu=1", "--json")
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["value"]) == 3


@pytest.mark.parametrize("args,needle", [
    (["bounds", "show", "nope"], "unknown bound 'nope'"),
    (["bounds", "eval", "sparse_lower", "gamma=0.5", "mu=1", "kappa=0", "d=1"],
     "parameter 'kappa'"),
    (["bounds", "eval", "sparse_lower", "gamma=0.5", "mu=-0.5", "kappa=1", "d=1"],
     "parameter 'mu'"),
    (["bounds", "eval", "uniform_lower", "gamma=0.5", "mu=1"], "expected: gamma, mu, T"),
    (["bounds", "eval", "uniform_lower", "gamma=0.5", "mu=1", "T=0"], "parameter 'T'"),
    (["bounds", "eval", "uniform_lower", "gamma"], "key=value"),
    (["bounds", "eval", "path_sum_upper", "pattern=[[0.5,0.5],[0.5,0.5]]", "beta=0.5",
      "gamma=0.5", "lam=1"], "causal"),
    (["bounds", "eval", "path_sum_upper", "pattern=[[1,0],[0.2,0.2]]", "beta=0.5",
      "gamma=0.5", "lam=1"], "simplex"),
    (["bounds", "eval", "path_sum_upper", "pattern=uniform", "beta=0.5", "gamma=0.5", "lam=1"],
     "parameter 'T'"),
])
def test_bad_input_exits_2_without_traceback(args, needle):
    out = untangle(*args)
    assert out.returncode == 2
    assert needle in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(("text", "value"), [
    ("0.5", 0.5), (".5", 0.5), ("5.", 5.0), ("+2", 2), ("1_000", 1000), ("1e3", 1000.0),
    ("[1, 2]", [1, 2]), ("uniform", "uniform"), ("alpha.csv", "alpha.csv"), ("0x10", "0x10"),
])
def test_values_are_read_as_numbers_where_python_reads_one(text, value):
    """``key=VALUE``: JSON where it parses, else a number as Python writes one, else text
    (a pattern's name or file), which the catalog refuses where it needs a number."""
    from verify.commands.bounds import parse_assignments

    got = parse_assignments([f"x={text}"])["x"]
    assert got == value and type(got) is type(value)


def test_a_number_written_the_python_way_is_evaluated_and_text_is_refused(capsys):
    """``beta=.5`` is one half; ``mu=0x1`` is text, refused naming the parameter."""
    from verify import cli

    assert cli.main(["bounds", "eval", "sparse_lower", "gamma=.5", "mu=1.", "kappa=+2",
                     "d=1_0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == (0.5 * 1.0 / 2) ** 10
    assert cli.main(["bounds", "eval", "sparse_lower", "gamma=.5", "mu=0x1", "kappa=2",
                     "d=1"]) == 2
    err = capsys.readouterr().err
    assert "parameter 'mu' must be a real number in [0, inf), got '0x1'" in err


@pytest.mark.parametrize(("progress", "large", "shown"), [
    (True, 0, True), (False, 0, False), (True, 10**9, False),
    (True, 30 + 465, True), (True, 30 + 465 + 1, False)])  # T + entries, T(T+1)/2 of them
def test_a_bar_is_shown_for_large_patterns_and_only_with_progress(progress, large, shown,
                                                                   monkeypatch, capfd):
    """``bounds eval`` draws its bar (pattern, value, log10) on stderr when progress is on
    and the pattern has at least LARGE steps plus entries (uniform at T = 30: 30 + 465, the
    threshold itself included); never under ``--json``."""
    from verify.commands import bounds as command

    monkeypatch.setattr(command, "LARGE", large)
    out = command.evaluate("path_sum_upper", {"pattern": "uniform", "T": 30, "beta": 0.5,
                                              "gamma": 0.5, "lam": 1}, progress=progress)
    assert len(out["log10"]) == 30
    assert ("path_sum_upper: " in capfd.readouterr().err) == shown
