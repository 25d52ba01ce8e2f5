"""verify.measurement.plots (THEORY.md section 9's verdicts drawn) and the README's scripting
example: what each figure draws is the verdict's numbers (lines read back from the axes), bound
colours are one per bound, violations are marked, and the example runs end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from bounds import CATALOG, patterns
from verify import controlled, measure
from verify.measurement import plots
from verify.measurement.compare import Verdict


@pytest.fixture(scope="module")
def window_run():
    """A tanh network with V = 0.9 I and a window of 3 (B1, B2+, B3, B5, B6 apply; B0, B4,
    B7 do not)."""
    model = controlled("identity", 3, 3, "tanh", scale=0.9, input_scale=0.5,
                       pattern=patterns.window(12, 3), device="cpu")
    x = torch.as_tensor(np.random.default_rng(0).standard_normal((1, 12, 3)))
    return measure(model, x)


def _line(ax, label: str):
    return next(line for line in ax.lines if line.get_label().startswith(label))


def test_bound_colours_are_one_per_bound():
    colours = [plots.bound_colour(name) for name in CATALOG]
    assert len(set(colours)) == len(CATALOG)
    with pytest.raises(ValueError):
        plots.bound_colour("no_such_bound")


def test_verdict_figure_draws_the_verdicts_numbers(window_run):
    v = window_run.verdicts["window_lower"]
    fig = plots.verdict_figure(v)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    top, bottom = fig.axes
    np.testing.assert_array_equal(_line(top, "measured").get_ydata(), v.log10_measured)
    np.testing.assert_array_equal(_line(top, "B6 window_lower").get_ydata(), v.log10_bound)
    margin = _line(bottom, "B6 window_lower").get_ydata()
    np.testing.assert_allclose(margin, v.log10_measured - v.log10_bound, rtol=0, atol=0)
    assert "holds at 12 of 12" in top.get_title()
    assert _line(top, "B6").get_color() == plots.bound_colour("window_lower")


def test_verdict_figure_of_a_bound_that_does_not_apply_says_why(window_run):
    v = window_run.verdicts["rnn_upper"]
    fig = plots.verdict_figure(v)
    top, bottom = fig.axes
    assert "not applicable: gamma = 0.5" in top.get_title()
    assert np.isnan(_line(top, "B0").get_ydata()).all()
    assert not bottom.lines[:-1]  # no margin line, only the zero line


def test_violations_are_marked_in_red():
    """A verdict with two violations (made by hand: the real ones all hold) gets red crosses at
    exactly those t, on the measured values."""
    T = 6
    measured = np.linspace(-1.0, -3.0, T)
    holds = np.array([True, False, True, True, False, True])
    v = Verdict("path_sum_upper", "B1", "upper", np.ones(T, bool), "", (), measured,
                measured - 0.5, np.zeros(T), holds, "tolerance")
    top = plots.verdict_figure(v).axes[0]
    crosses = _line(top, "B1 violated at 2 t")
    assert crosses.get_color() == "red" and crosses.get_marker() == "x"
    np.testing.assert_array_equal(crosses.get_xdata(), [1, 4])
    np.testing.assert_array_equal(crosses.get_ydata(), measured[[1, 4]])


def test_comparison_figure_draws_each_applicable_bound(window_run):
    verdicts = window_run.verdicts
    fig = plots.comparison_figure(verdicts, "window")
    top, bottom = fig.axes
    live = [v for v in verdicts.values() if v.applicable.any()]
    for v in live:
        np.testing.assert_array_equal(_line(top, f"{v.theory_id} {v.name}").get_ydata(),
                                      v.log10_bound)
    assert len(bottom.lines) == len(live) + 1  # a margin per bound and the zero line
    idle = {v.theory_id for v in verdicts.values() if not v.applicable.any()}
    assert idle == {"B0", "B4", "B7", "B2"}
    for theory_id in idle:
        assert theory_id in top.get_title()
    with pytest.raises(ValueError, match="at least one Verdict"):
        plots.comparison_figure({})


def test_measurement_plot_still_draws_every_applicable_bound(window_run, tmp_path):
    fig = window_run.plot(str(tmp_path / "m.png"), "title")
    assert (tmp_path / "m.png").stat().st_size > 0
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels[0] == "measured ||G_t||_2"
    assert sum(label.startswith(("B1 ", "B2+ ", "B3 ", "B5 ", "B6 ")) for label in labels) == 5


@pytest.mark.parametrize("where", ["missing/m.png", "folder", "m.txt", "file/m.png"])
def test_plot_paths_are_checked_before_drawing(window_run, tmp_path, where):
    """A path ``plot`` cannot write is a ValueError naming ``path``, raised before anything is
    drawn; nothing is created."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_bytes(b"x")
    before = sorted(tmp_path.rglob("*"))
    drawn = []
    with pytest.raises(ValueError, match="^path: "):
        plots.save(lambda: drawn.append(1), tmp_path / where)
    assert drawn == []
    with pytest.raises(ValueError, match="^path: "):
        window_run.plot(tmp_path / where)
    with pytest.raises(ValueError, match="^path: "):
        window_run.verdicts["window_lower"].plot(str(tmp_path / where))
    assert sorted(tmp_path.rglob("*")) == before


def test_plot_replaces_a_file_as_savefig_does(window_run, tmp_path):
    target = tmp_path / "v.svg"
    target.write_bytes(b"old")
    fig = window_run.verdicts["window_lower"].plot(target)
    assert isinstance(fig, Figure)
    assert target.read_bytes().lstrip().startswith(b"<?xml")  # the suffix chose the format
    assert list(tmp_path.iterdir()) == [target]  # no temporary left beside it
def _readme_block(heading: str) -> str:
    """The first python code block after ``heading`` in README.md."""
    text = (Path(__file__).parent.parent / "README.md").read_text()
    return text[text.index(heading):].split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_block("### Exploring from scripts"), "README.md", "exec"), {})
    for name in ("b5_grid.png", "measured.png", "b6_verdict.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    assert "B6   window_lower         lower  holds at 64 of 64 t" in capsys.readouterr().out


def test_the_example_script_runs(tmp_path):
    run = subprocess.run([sys.executable, "-m", "paper_figs.example", str(tmp_path)],
                         capture_output=True, text=True, check=True)
    for name in ("b5_grid.png", "measured.png", "b6_verdict.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    # (0.5 * 0.9 / 8)^2, written out
    assert f"B5 at kappa = 8, d = 2: {(0.5 * 0.9 / 8) ** 2:.3g}" in run.stdout
    assert "B6   window_lower         lower  holds at 64 of 64 t" in run.stdout


def test_the_example_script_refuses_a_missing_folder(tmp_path):
    run = subprocess.run([sys.executable, "-m", "paper_figs.example", str(tmp_path / "no")],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "'out'" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_margin_panel_draws_its_zero_line(window_run):
    """Below the bounds, the margins panel has its reference line at margin 0 (a lower
    bound holds above it, an upper one below): the last line, horizontal at y = 0."""
    for fig in (plots.verdict_figure(window_run.verdicts["window_lower"]),
                plots.comparison_figure(window_run.verdicts)):
        zero = fig.axes[1].lines[-1]
        assert set(np.asarray(zero.get_ydata(), dtype=float)) == {0.0}


def test_figures_are_titled_by_their_run_when_no_title_is_given(window_run):
    """Without a title, a verdict figure is titled by its bound, a measurement's figure by its
    pattern and mixing weights, a comparison generically; a given title replaces each."""
    v = window_run.verdicts["window_lower"]
    assert plots.verdict_figure(v).axes[0].get_title().startswith(
        "B6 window_lower (lower)\n")
    assert plots.verdict_figure(v, "mine").axes[0].get_title().startswith("mine\n")
    assert plots.figure(window_run).axes[0].get_title() == \
        "window pattern, beta=0.5, gamma=0.5, n=3, mode fixed"
    assert plots.figure(window_run, "mine").axes[0].get_title() == "mine"
    assert plots.comparison_figure(window_run.verdicts).axes[0].get_title().startswith(
        "measurement against the bounds")
