"""Introspection of the relevant set (THEORY.md section 7): the early-state favour against a
closed form under uniform attention, admission of the copy symbols when rho >= K, and the
``untangle screen`` command."""

from __future__ import annotations

import json

import pytest
import torch

from verify import cli
from verify.models import Recurrent, build
from verify.models.rollout import Trace
from verify.training import Config, tasks, train
from verify.training import relevance_report as screen


def uniform_model(nu: int, rho: int) -> Recurrent:
    """Zero attention parameters: uniform weights over the live slots."""
    m = build("relrnn", 11, hidden=8, nu=nu, rho=rho, dtype=torch.float64)
    with torch.no_grad():
        for p in m.memory.parameters():
            p.zero_()
    return m


def test_favour_under_uniform_attention_matches_closed_form():
    """With uniform attention state i earns 1/|S_t| at each buffer step t = i..i+nu-1, where
    |S_t| = min(t, nu) + min(max(t - nu, 0), rho) (the set fills first, then stays full):
    accumulated favour is the ratio of those sums over early and late blank states;
    normalised favour is exactly 1 (every state scores nu)."""
    nu, rho, T = 4, 3, 40
    m = uniform_model(nu, rho)
    for score in ("accumulated", "normalised"):
        _, x, got = screen.inspect(m, "denoise", T, score=score, batch=3, seed=1)
        L = T + 20
        size = [0] + [min(t, nu) + min(max(t - nu, 0), rho) for t in range(1, L)]
        earn = [0.0] + [sum((1 / size[t] if score == "accumulated" else 1.0)
                            for t in range(i, min(i + nu, L))) for i in range(1, L + 1)]
        blank = screen.blank_states(x)
        early = [earn[i] for b in range(3) for i in range(1, nu + rho) if blank[b, i]]
        late = [earn[i] for b in range(3) for i in range(nu + rho, L - nu + 1) if blank[b, i]]
        want = (sum(early) / len(early)) / (sum(late) / len(late))
        assert got["favour"] == pytest.approx(want, rel=1e-12)
        if score == "normalised":
            assert got["favour"] == pytest.approx(1.0, rel=1e-12)
        else:
            assert got["favour"] > 1.5


@pytest.mark.parametrize("score", ["accumulated", "normalised"])
def test_copy_symbols_admitted_when_rho_at_least_K(score):
    """THEORY.md section 7: with rho >= K the K copy symbols are admitted unconditionally
    (they are the first K states to leave the buffer and the set has room): each symbol state
    h_i is in the relevant set at step i + nu, whatever the weights."""
    m = build("relrnn", 10, hidden=8, nu=5, rho=tasks.K, score=score, seed=3,
              dtype=torch.float64)
    trace, x, _ = screen.inspect(m, "copy", 30, score=score, batch=4, seed=2)
    when = trace.relevant_time
    for i in range(1, tasks.K + 1):
        assert (when[:, i + 5] == i).any(dim=1).all()
    assert screen.symbol_states(x, "copy")[:, 1:tasks.K + 1].all()


def test_screen_command(tmp_path, capsys):
    png = tmp_path / "set.png"
    argv = ["screen", "--model", "relrnn", "--task", "denoise", "--T", "20", "--hidden", "8",
            "--nu", "3", "--rho", "4", "--batch", "2", "--plot", str(png), "--json"]
    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert png.stat().st_size > 0 and not report["trained"]
    assert set(report["scores"]) == {"accumulated", "normalised"}
    assert len(report["scores"]["normalised"]["relevant_time"]) == 40
    assert cli.main(argv) == 2 and "exists; pass --force" in capsys.readouterr().err
    text = [a for a in argv if a != "--json"]
    assert cli.main([*text, "--force"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("untrained relrnn on denoise T=20 (nu=3, rho=4), batch 2, seed 0\n")
    assert out.splitlines()[-1] == f"plot: {png}"
    ck = tmp_path / "rnn.pt"
    train(Config(task="copy", model="rnn", T=10, hidden=8), 2, save=ck, progress=False)
    assert cli.main(["screen", "--load", str(ck)]) == 2
    assert "'model' must be one of relrnn, rellstm" in capsys.readouterr().err
    ck = tmp_path / "relrnn.pt"
    train(Config(task="copy", model="relrnn", T=10, hidden=8, nu=3, rho=2), 2, save=ck,
          progress=False)
    assert cli.main(["screen", "--load", str(ck), "--batch", "2"]) == 0
    assert capsys.readouterr().out.startswith("trained relrnn on copy T=10 (nu=3, rho=2), ")


def test_screen_runs_one_score_function_alone(capsys):
    """``--score normalised`` alone runs and reports that one, with the relevant set the run
    with both score functions reports for it (same model and data)."""
    argv = ["screen", "--model", "relrnn", "--task", "copy", "--T", "12", "--hidden", "6",
            "--nu", "3", "--rho", "2", "--batch", "2", "--json"]
    assert cli.main(argv) == 0
    both = json.loads(capsys.readouterr().out)["scores"]
    assert cli.main([*argv, "--score", "normalised"]) == 0
    alone = json.loads(capsys.readouterr().out)["scores"]
    assert list(alone) == ["normalised"] and alone["normalised"] == both["normalised"]


def test_the_plot_shades_the_buffer_of_every_step(tmp_path, monkeypatch):
    """The grey band of the screen plot covers, at step t, exactly the states of the buffer
    max(1, t - nu + 1)..t (tested at the middle of each state's cell: (t, i + 1/2) lies in
    the band for i = t - nu + 1 .. t - 1, the band's lower edge to its upper), one panel per
    score function."""
    from verify.commands import screen as command

    figures = []
    monkeypatch.setattr("verify.files.save_figure", lambda fig, path: figures.append(fig))
    nu, T = 3, 10
    model = build("relrnn", tasks.get("copy").inputs, hidden=6, nu=nu, rho=2,
                  dtype=torch.float64)
    trace, x, _ = screen.inspect(model, "copy", T, score="accumulated", batch=1, seed=0)
    command.plot({"accumulated": (trace, x, "copy"), "again": (trace, x, "copy")}, nu, 0,
                 tmp_path / "p.png", "title")
    (fig,) = figures
    panels = [ax for ax in fig.axes if ax.get_title().startswith("score:")]
    assert len(panels) == 2
    L = tasks.sequence_length(T)
    for ax in panels:
        (band,) = [c for c in ax.collections if type(c).__name__.startswith("FillBetween")]
        path = band.get_paths()[0]
        for t in range(1, L):
            inside = [i for i in range(L + nu) if path.contains_point((t, i + 0.5))]
            assert inside == list(range(max(1, t - nu + 1), t)), t


@pytest.mark.parametrize("task", ["copy", "denoise"])
def test_screen_shows_the_set_at_the_marker_step(task, capsys):
    """The table's set is the one at the step whose input is the task's marker (found here
    in the inputs of the same seed), as the JSON lists it for that step."""
    argv = ["screen", "--model", "relrnn", "--task", task, "--T", "12", "--hidden", "6",
            "--nu", "3", "--rho", "2", "--batch", "2", "--seed", "5"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    step = int(out.split("at the marker (step ")[1].split(")")[0])
    x, _ = tasks.batch(task, 12, 2, torch.Generator().manual_seed(5))
    (where,) = torch.nonzero(x[0, :, tasks.get(task).marker]).flatten().tolist()
    assert step == where
    # the first line states the run; no plot was asked for, so none is named
    assert out.splitlines()[0] == (f"untrained relrnn on {task} T=12 (nu=3, rho=2), batch 2, "
                                   f"seed 5")
    assert "plot:" not in out
    assert cli.main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for name, s in report["scores"].items():
        line = next(x for x in out.splitlines() if x.startswith(name))
        held = sorted(i for i in s["relevant_time"][step] if i >= 0)
        assert line.endswith(f"  {held}")


def _scored(score: list[float], nu: int, rho: int) -> Trace:
    return Trace(score=torch.tensor([score], dtype=torch.float64), nu=nu, rho=rho)


def test_favour_compares_the_early_and_the_late_finally_scored_states():
    """States 1..nu+rho-1 are early, nu+rho..L-nu (the last whose score is final) late: with
    scores equal to the index (nu = 2, rho = 3, L = 11), 2.5 against mean(5..9) = 7; an empty
    group, or rho = 0, gives no favour and says why, with the ranges."""
    nu, rho, L = 2, 3, 11
    score = [float(i) for i in range(L + 1)]
    every = torch.ones(1, L + 1, dtype=torch.bool)
    got = screen.favour(_scored(score, nu, rho), every)
    assert (got["early_score"], got["late_score"]) == (2.5, 7.0)
    assert got["favour"] == 2.5 / 7.0 and got["favour_note"] is None
    late_only = every.clone()
    late_only[0, :5] = False
    got = screen.favour(_scored(score, nu, rho), late_only)
    assert got["favour"] is None
    assert got["favour_note"] == "no blank state among the early states 1..4"
    early_only = every.clone()
    early_only[0, 5:] = False
    got = screen.favour(_scored(score, nu, rho), early_only)
    assert got["favour_note"] == ("no blank state with a final score after the early ones "
                                  "(5 <= i <= 9): T is too short")
    assert "rho = 0" in screen.favour(_scored(score, nu, 0), every)["favour_note"]


def test_recall_is_the_fraction_of_symbol_states_held_at_the_marker():
    """At the marker's step (T + K - 1) the set holds states 2 and 5 of symbol states 1..4:
    recall 1/4; what the set held at other steps does not count."""
    T, rho = 10, 3
    L = tasks.sequence_length(T)
    when = torch.full((1, L, rho), -1)
    when[0, T + tasks.K - 1, :2] = torch.tensor([2, 5])
    when[0, T + tasks.K - 2] = torch.tensor([1, 3, 4])
    symbols = torch.zeros(1, L + 1, dtype=torch.bool)
    symbols[0, 1:5] = True
    assert screen.recall(Trace(relevant_time=when), symbols) == 0.25
    # empty slots (-1) beside a held h_1 take nothing from it
    when[0, T + tasks.K - 1] = torch.tensor([1, -1, -1])
    assert screen.recall(Trace(relevant_time=when), symbols) == 0.25


def test_inspect_draws_its_data_from_seed_0_by_default():
    model = uniform_model(3, 2)
    default = screen.inspect(model, "denoise", 12, score="accumulated", batch=2)
    for i, seed in enumerate((0, 1)):
        other = screen.inspect(model, "denoise", 12, score="accumulated", batch=2, seed=seed)
        assert torch.equal(other[1], default[1]) is (i == 0)
