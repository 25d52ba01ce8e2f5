"""paper_figs.task_record, the collector of a longer training record: from tiny checkpoints it
writes every file with the numbers of the runs (read back against the checkpoints and the
metrics logs, not against the collector), and refuses checkpoints of another task."""

from __future__ import annotations

import csv
import json

import pytest

from paper_figs import task_record
from verify.training import Config, load, train
from verify.training.train import beside

TINY = {"T": 10, "hidden": 4, "batch": 2, "nu": 2, "rho": 2, "seed": 3}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """rnn and relrnn on denoise, 4 steps each, logged every 2."""
    root = tmp_path_factory.mktemp("runs")
    for model in ("rnn", "relrnn"):
        train(Config(task="denoise", model=model, **TINY), 4, save=root / f"{model}.pt",
              log_every=2, save_every=2, progress=False)
    return root


def test_record_holds_the_runs_numbers(runs, tmp_path, capsys, atomic_writes):
    out = tmp_path / "record"
    argv = ["--task", "denoise", "--runs", str(runs), "--out", str(out), "--transfer", "12",
            "--batches", "1", "--target", "0.0"]
    assert task_record.main(argv) == 0
    assert {p.name for p in out.iterdir()} >= {"summary.json", "curves.csv", "profiles.csv",
                                               "denoise_small.png", "command.txt"}
    assert (out / "denoise_small.png").stat().st_size > 0
    assert sorted(atomic_writes) == sorted(p.name for p in out.iterdir())  # each atomically
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"rnn", "relrnn"}  # memrnn has no checkpoint: left out
    for model, r in summary.items():
        ck = load(runs / f"{model}.pt")
        assert r["steps"] == ck["step"] == 4 and r["config"]["task"] == "denoise"
        assert [e["T"] for e in r["eval"]] == [10, 12]
        assert r["reached"]["step"] == 2  # target 0: the first logged row
    with (out / "curves.csv").open() as f:
        rows = list(csv.DictReader(f))
    for model in ("rnn", "relrnn"):
        logged = [json.loads(line) for line in beside(runs / f"{model}.pt")[0].read_text()
                  .splitlines()]
        mine = [r for r in rows if r["model"] == model]
        assert [int(r["step"]) for r in mine] == [row["step"] for row in logged] == [2, 4]
        assert [float(r["loss"]) for r in mine] == [row["loss"] for row in logged]
    with (out / "profiles.csv").open() as f:
        t = [int(r["t"]) for r in csv.DictReader(f) if r["model"] == "rnn"]
    assert t == list(range(len(t))) and len(t) > TINY["T"]
    assert "denoise" in (out / "command.txt").read_text()
    # the same output again is refused without --force, and nothing is rewritten
    before = (out / "summary.json").stat().st_mtime_ns
    assert task_record.main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "summary.json").stat().st_mtime_ns == before


def test_checkpoints_of_another_task_are_refused(runs, tmp_path, capsys):
    argv = ["--task", "copy", "--runs", str(runs), "--out", str(tmp_path / "r"),
            "--transfer", "--batches", "1"]
    assert task_record.main(argv) == 2
    assert "denoise task, not of copy" in capsys.readouterr().err
