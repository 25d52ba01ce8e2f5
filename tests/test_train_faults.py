"""Training under faults (THEORY.md section 8 runs; the guarantees of
:mod:`verify.training.train`): SIGINT, SIGTERM and SIGKILL at seeded random moments, a crash
between the checkpoint and its log, divergence. After every fault the checkpoint loads, no
temporary is left, the metrics log never runs ahead of the checkpoint, and resuming reproduces
the uninterrupted run bit for bit (weights and every logged loss). Tiny sizes: hidden 8, T 10.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from subprocesses import finish, read_until

import verify.training.train  # noqa: F401  (sys.modules holds the module, not the function)
from verify import cli
from verify.training import Config, load, train
from verify.training import tasks as task_module

ROOT = Path(__file__).resolve().parents[1]
TRAINING = sys.modules["verify.training.train"]
CFG = Config(task="copy", model="relrnn", T=10, hidden=8, nu=3, rho=2, lr=1e-2, seed=3)
ARGS = ["--task", "copy", "--model", "relrnn", "--T", "10", "--hidden", "8", "--nu", "3",
        "--rho", "2", "--lr", "1e-2", "--seed", "3"]
#: Rows every 4 steps and checkpoints every 7: a checkpoint usually holds a partial window.
LOG, SAVE = 4, 7


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict[str, torch.Tensor], list[float], Path]:
    """The uninterrupted run of CFG for 160 steps: weights and logged losses."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the CLI's default, so the two runs reduce alike
    try:
        ck = tmp_path_factory.mktemp("reference") / "ref.pt"
        train(CFG, 160, save=ck, log_every=LOG, save_every=SAVE, progress=False)
    finally:
        torch.set_num_threads(before)
    return load(ck)["model"], losses(ck), ck


def losses(ck: Path) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in TRAINING.beside(ck)[0].read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows]


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def consistent(directory: Path, ck: Path) -> dict | None:
    """The state a fault may leave: no temporaries; a checkpoint that loads (or none and no
    files at all); beside it, where present, a metrics log that is a prefix of the
    checkpoint's rows and a profile file, both stamped with the checkpoint's run id."""
    names = sorted(p.name for p in directory.iterdir())
    assert not [n for n in names if n.endswith(".tmp")], names
    if not ck.exists():
        assert names == [], names
        return None
    state = load(ck)
    assert state["run"] is not None
    log, profile = TRAINING.beside(ck)
    if log.exists():
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        assert rows == state["metrics"][:len(rows)]
        assert all(r["run"] == state["run"] for r in rows)
    if profile.exists():
        written = json.loads(profile.read_text())
        assert written["run"] == state["run"] and written["init"]
    return state


def launch(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "verify.cli", "train", *args], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run_until(proc: subprocess.Popen, target: int, steps: int) -> bytes:
    """Read the progress bar until it shows step ``target`` (or the run ends)."""
    def reached(seen: bytes) -> bool:
        shown = [int(n) for n in re.findall(rb"(\d+)/%d \[" % steps, seen)]
        return bool(shown) and max(shown) >= target

    return read_until(proc, reached, 300, f"step {target} of the progress bar")


@pytest.mark.parametrize("seed", [0])
def test_random_sigint_and_sigkill_lose_nothing(seed, tmp_path, reference):
    """Two SIGINTs and two SIGKILLs at seeded random steps, in a seeded random order; then the
    run is resumed to the end and must equal the uninterrupted one."""
    ref_state, ref_losses, _ = reference
    rng = random.Random(seed)
    signals = [signal.SIGINT, signal.SIGKILL, signal.SIGINT, signal.SIGKILL]
    rng.shuffle(signals)
    targets = sorted(rng.sample(range(2, 100), len(signals)))
    ck = tmp_path / "run.pt"
    for sig, target in zip(signals, targets, strict=True):
        state = consistent(tmp_path, ck)
        if state is not None and state["step"] >= target:
            continue  # the last run got past this target before its signal landed
        args = ["--resume", str(ck)] if state else [*ARGS, "--save", str(ck), "--log-every",
                                                    str(LOG), "--save-every", str(SAVE)]
        proc = launch(*args, "--steps", "160")
        err = run_until(proc, target, 160)
        proc.send_signal(sig)
        code, rest = finish(proc, 160)
        err += rest
        text = err.decode()
        assert "Traceback" not in text, text
        if sig == signal.SIGINT:
            assert code == 130, text
            last = text.strip().splitlines()[-1]
            assert last.startswith("untangle: interrupted: stopped after step ")
            done = int(re.search(r"stopped after step (\d+)", last).group(1))
            assert done >= target and load(ck)["step"] == done
        else:
            assert code == -signal.SIGKILL
        consistent(tmp_path, ck)
    state = consistent(tmp_path, ck)
    args = ["--resume", str(ck)] if state else [*ARGS, "--save", str(ck), "--log-every",
                                                str(LOG), "--save-every", str(SAVE)]
    proc = launch(*args, "--steps", "160", "--json")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    final = consistent(tmp_path, ck)
    assert final["step"] == 160 and final["profile"]["final"] is not None
    assert same_weights(final["model"], ref_state)
    assert losses(ck) == ref_losses and len(ref_losses) == 40


class Trigger:
    """Raise signal ``sig`` inside the wrapped function on its ``at``-th call."""

    def __init__(self, fn, at: int, sig: int) -> None:
        self.fn, self.at, self.sig, self.calls = fn, at, sig, 0

    def __call__(self, *a, **k):
        out = self.fn(*a, **k)
        self.calls += 1
        if self.calls == self.at:
            signal.raise_signal(self.sig)
        return out


@pytest.mark.parametrize("where, sig, saved", [
    ("backward", signal.SIGINT, 16),  # during the step's backward pass: step 17 is abandoned
    ("update", signal.SIGTERM, 17),  # after the update: step 17 is finished
    ("check", signal.SIGINT, 17),  # after the backward, before the update: finished too
])
def test_interrupt_abandons_or_finishes_the_step(where, sig, saved, tmp_path, monkeypatch,
                                                 capsys, reference):
    """Through ``untangle train``: exit 130, one line saying where the run was saved, and a
    resume equal to the uninterrupted run."""
    ref_state, ref_losses, _ = reference
    if where == "backward":  # clip_grad_norm_ runs once per step, before the update
        hook = Trigger(torch.nn.utils.clip_grad_norm_, 17, sig)
        monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", hook)
    elif where == "check":  # the divergence check: the loss and norm are known
        train_module = sys.modules["verify.training.train"]
        hook = Trigger(train_module._divergence, 17, sig)
        monkeypatch.setattr(train_module, "_divergence", hook)
    else:  # the step's accuracy is taken after the update
        hook = Trigger(task_module.accuracy, 17, sig)
        monkeypatch.setattr(task_module, "accuracy", hook)
    ck = tmp_path / "run.pt"
    handler = signal.getsignal(signal.SIGINT)
    code = cli.main(["train", *ARGS, "--steps", "160", "--save", str(ck), "--log-every",
                     str(LOG), "--save-every", str(SAVE), "--json"])
    err = capsys.readouterr().err
    assert code == 130
    assert err.strip().splitlines()[-1] == (
        f"untangle: interrupted: stopped after step {saved}; the last checkpoint is "
        f"'{ck}' (step {saved}); continue with --resume {ck}")
    assert signal.getsignal(signal.SIGINT) is handler
    assert consistent(tmp_path, ck)["step"] == saved
    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(ck), "--steps", "160", "--json"]) == 0
    assert same_weights(load(ck)["model"], ref_state) and losses(ck) == ref_losses


def test_a_crash_before_the_first_checkpoint_leaves_nothing(tmp_path, monkeypatch):
    """No file before the first checkpoint, so the run starts again without --force."""
    real = torch.nn.utils.clip_grad_norm_

    def crash_at_3(params, max_norm, _calls=[]):  # noqa: B006  (counts the calls)
        _calls.append(1)
        if len(_calls) == 3:
            raise RuntimeError("power cut")
        return real(params, max_norm)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", crash_at_3)
    ck = tmp_path / "run.pt"
    with pytest.raises(RuntimeError, match="power cut"):
        train(CFG, 20, save=ck, log_every=LOG, save_every=SAVE, progress=False)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    train(CFG, 5, save=ck, log_every=LOG, save_every=SAVE, progress=False)
    assert load(ck)["step"] == 5


#: ``python -c KILLER AT ARGS...``: ``untangle train ARGS`` that SIGKILLs itself right after
#: its AT-th file operation of :mod:`verify.files` (a removal or the rename that puts a
#: written file in place), so that every moment between two writes can be hit.
KILLER = """
import os, signal, sys
from verify import cli, files
at, calls = int(sys.argv[1]), [0]
def killing(real):
    def op(*a, **k):
        out = real(*a, **k)
        calls[0] += 1
        if calls[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    return op
files._rename, files.remove = killing(files._rename), killing(files.remove)
sys.exit(cli.main(["train", *sys.argv[2:]]))
"""


def run_ids(ck: Path) -> set[str]:
    """The run ids of the checkpoint and of every log row and profile file beside it."""
    ids = {load(ck)["run"]}
    log, profile = TRAINING.beside(ck)
    if log.exists():
        ids |= {json.loads(line)["run"] for line in log.read_text().splitlines()}
    if profile.exists():
        ids.add(json.loads(profile.read_text())["run"])
    return ids


@pytest.mark.parametrize("at", range(1, 9))
def test_sigkill_between_any_two_writes_of_a_forced_run(at, tmp_path, reference):
    """``--force`` over another run (seed 4, T 10, 9 steps), SIGKILLed after its ``at``-th
    file operation: 1-2 remove the old log and profile, 3-5 put the first checkpoint (step
    7), its log and its profile in place, 6-8 those of step 14. Whatever the moment, every
    file there belongs to the run of the checkpoint and the log is not ahead of it; the old
    run's files are never beside the new checkpoint. Resuming then ends equal to the
    uninterrupted run (or, killed before the new checkpoint, continues the old one)."""
    ref_state, ref_losses, _ = reference
    ck = tmp_path / "run.pt"
    old = Config(**{**CFG.__dict__, "seed": 4})
    train(old, 9, save=ck, log_every=3, save_every=9, progress=False)
    old_run = load(ck)["run"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(at), *ARGS, "--steps", "160", "--save", str(ck),
         "--force", "--log-every", str(LOG), "--save-every", str(SAVE), "--json"],
        cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    state = consistent(tmp_path, ck)
    log, profile = TRAINING.beside(ck)
    assert run_ids(ck) == {state["run"]}
    present = [p.exists() for p in (log, profile)]
    if at <= 2:  # the old run's companions go one by one, before any new checkpoint
        assert state["run"] == old_run and state["step"] == 9
        assert present == [False, at == 1]
    else:
        assert state["run"] != old_run and state["config"] == CFG
        assert state["step"] == (SAVE if at <= 5 else 2 * SAVE)
        assert present == {3: [False, False], 4: [True, False]}.get(at, [True, True])
        if at == 6:  # the step-14 checkpoint with its run's step-7 log, two rows behind
            assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [4]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if at <= 2:
            out = train(old, 12, resume=ck, progress=False)
            assert out["repaired"] == [str(log)] + ([str(profile)] if at == 2 else [])
            assert consistent(tmp_path, ck)["step"] == 12
            assert [json.loads(line) for line in log.read_text().splitlines()] == \
                load(ck)["metrics"]
            return
        train(CFG, 160, resume=ck, progress=False)
    finally:
        torch.set_num_threads(before)
    final = consistent(tmp_path, ck)
    assert run_ids(ck) == {state["run"]} and final["step"] == 160
    assert same_weights(final["model"], ref_state) and losses(ck) == ref_losses


def test_a_resume_in_place_repairs_a_log_of_another_run_before_training(tmp_path, monkeypatch,
                                                                        capsys):
    """A checkpoint beside the log of another run (what an older untangle could leave): the
    resume rewrites the log and the profile from the checkpoint before its first step, so
    that even a crash at that step leaves them matching, and says so in one line."""
    ck, other = tmp_path / "run.pt", tmp_path / "other.pt"
    train(CFG, 8, save=ck, log_every=LOG, save_every=SAVE, progress=False)
    train(Config(**{**CFG.__dict__, "seed": 4}), 12, save=other, log_every=3,
          progress=False)
    log, profile = TRAINING.beside(ck)
    for mine, theirs in zip((log, profile), TRAINING.beside(other), strict=True):
        mine.write_bytes(theirs.read_bytes())
    assert run_ids(ck) == {load(ck)["run"], load(other)["run"]}

    def crash(*a, **k):
        raise RuntimeError("power cut")

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        train(CFG, 20, resume=ck, progress=False)
    assert run_ids(ck) == {load(ck)["run"]}
    assert [json.loads(line) for line in log.read_text().splitlines()] == load(ck)["metrics"]
    assert [r["step"] for r in load(ck)["metrics"]] == [4, 8]
    monkeypatch.undo()
    log.write_text(log.read_text().splitlines(keepends=True)[0])  # a log one row behind
    code = cli.main(["train", "--resume", str(ck), "--steps", "12", "--json"])
    err = capsys.readouterr().err
    assert code == 0 and err == (f"untangle train: note: rewrote {log} from the checkpoint "
                                 f"(missing, of another run, or behind it)\n")
    assert [r["step"] for r in map(json.loads, log.read_text().splitlines())] == [4, 8, 12]
    assert run_ids(ck) == {load(ck)["run"]}


def test_divergence_stops_naming_the_step_and_keeps_the_last_checkpoint(tmp_path, capsys):
    """lr = 1e30: the weights explode after the first update, so the loss of step 2 exceeds
    1e3 x the first loss; the update of step 2 is not applied and the step-1 checkpoint
    stays."""
    ck = tmp_path / "run.pt"
    args = [a if a != "1e-2" else "1e30" for a in ARGS]
    code = cli.main(["train", *args, "--steps", "50", "--save", str(ck), "--save-every", "1",
                     "--log-every", "1", "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert re.search(r"training diverged at step 2: the loss \S+ exceeds 1000 x the first "
                     r"step's loss \S+; the update was not applied and the last checkpoint is "
                     r"'.*run.pt' \(step 1\)", err), err
    state = consistent(tmp_path, ck)
    assert state["step"] == 1 and all(v.isfinite().all() for v in state["model"].values())


def test_a_non_finite_gradient_stops_the_run(tmp_path, monkeypatch):
    real = torch.nn.utils.clip_grad_norm_

    def nan_at_3(params, max_norm, _calls=[]):  # noqa: B006  (counts the calls)
        _calls.append(1)
        norm = real(params, max_norm)
        return norm * float("nan") if len(_calls) == 3 else norm

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", nan_at_3)
    with pytest.raises(TRAINING.Diverged, match="step 3: the gradient norm before clipping "
                       "is nan.*no checkpoint written yet"):
        train(CFG, 10, save=tmp_path / "run.pt", save_every=5, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_the_progress_bar_moves_every_step(monkeypatch):
    seen = []

    class Recording(TRAINING.tqdm):
        def update(self, n=1):
            super().update(n)
            seen.append(self.n)

    monkeypatch.setattr(TRAINING, "tqdm", Recording)
    train(CFG, 7, log_every=50, progress=True)
    assert seen == [1, 2, 3, 4, 5, 6, 7]
