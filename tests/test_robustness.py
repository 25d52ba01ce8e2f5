"""The mechanisms that keep every ``untangle`` command well-behaved under bad input and a
hostile world: the CLI's error contract (exit statuses, one line, no traceback), strict JSON,
the output-file rule and atomic writes (:mod:`verify.files`), memory estimates and checks
(:mod:`verify.resources`), threads, and the checks of ``bounds eval`` and pattern files."""

from __future__ import annotations

import argparse
import errno
import io
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from subprocesses import finish, read_until

import verify.training.train  # noqa: F401  (sys.modules holds the module, not the function)
from bounds import patterns
from verify import cli, files, resources
from verify.commands import common

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def untangle(*args: str, **kw) -> subprocess.Popen:
    """``python -m verify.cli ARGS`` from the worktree, stdout and stderr piped, stdout
    block-buffered as for a user (whatever PYTHONUNBUFFERED says here)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen([sys.executable, "-m", "verify.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def strict(text: str) -> object:
    """JSON that may not contain NaN or Infinity."""
    def refuse(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


# --- the error contract of verify.cli.main ----------------------------------------------------

def _raising(exc: BaseException):
    def handler(args: argparse.Namespace) -> int:
        raise exc
    return handler


@pytest.mark.parametrize("exc, code, needles", [
    (ValueError("parameter 'x' must be 1"), 2, ["error: parameter 'x' must be 1"]),
    (PermissionError(errno.EACCES, "Permission denied", "/data/out.png"), 2,
     ["'/data/out.png'", "Permission denied"]),
    (FileExistsError(errno.EEXIST, "File exists", "/a", None, "/b"), 2, ["'/a' -> '/b'"]),
    (OSError(errno.ENOSPC, "No space left on device"), 2, ["No space left on device"]),
    (MemoryError(), 2, ["out of memory", "reduce"]),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't "
                  "allocate memory: you tried to allocate 8000000000000 bytes."), 2,
     ["out of memory", "8000000000000 bytes", "reduce"]),
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), 2,
     ["out of memory", "Tried to allocate 2.00 GiB"]),
    # torch's allocation failure is known by its type, whatever its text says
    (torch.OutOfMemoryError("Tried to allocate 2.00 GiB"), 2,
     ["out of memory", "Tried to allocate 2.00 GiB"]),
    (KeyboardInterrupt(), 130, ["untangle: interrupted"]),
])
def test_main_turns_failures_into_one_line_and_a_status(exc, code, needles, monkeypatch,
                                                        capsys):
    monkeypatch.setattr("verify.commands.bounds._list", _raising(exc))
    got, out, err = run(["bounds", "list"], capsys)
    assert got == code
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for needle in needles:
        assert needle in err


def test_main_lets_bugs_through(monkeypatch):
    """A RuntimeError that is not an allocation failure is a bug: it keeps its traceback."""
    monkeypatch.setattr("verify.commands.bounds._list", _raising(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["bounds", "list"])


@pytest.mark.parametrize("args", [
    ("bounds", "list"),  # small: written by the last flush
    ("bounds", "eval", "path_sum_upper", "pattern=window", "T=30000", "nu=3", "beta=0.5",
     "gamma=0.5", "lam=0.9", "--json"),  # large: fails in print
], ids=["small", "large"])
def test_a_closed_pipe_exits_141_silently(args):
    """``untangle ... | head -c 0``: the reader has closed its end before the first write."""
    proc = untangle(*args)
    proc.stdout.close()
    code, err = finish(proc, 120)
    assert code == 141
    assert err == b""


def test_ctrl_c_outside_training_exits_130_in_one_line():
    """SIGINT once the work has started (its progress bar is on stderr)."""
    proc = untangle("bounds", "eval", "path_sum_upper", "pattern=uniform", "T=2500", "beta=0.5",
                    "gamma=0.5", "lam=0.9", "--no-memory-check")
    seen = read_until(proc, lambda s: b"path_sum_upper" in s, 120, "progress bar")
    assert b"path_sum_upper" in seen, "the command ended before showing progress"
    proc.send_signal(signal.SIGINT)
    code, rest = finish(proc, 60)
    err = (seen + rest).decode()
    assert code == 130
    assert err.rstrip().endswith("untangle: interrupted") and "Traceback" not in err


@given(st.recursive(
    st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.text(max_size=3)
    | st.none() | st.booleans(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=4),
    max_leaves=20))
def test_to_json_is_strict_and_keeps_finite_values(obj):
    """Independent reference: walk the object, non-finite floats become None."""
    def expect(o):
        if isinstance(o, float):
            return o if math.isfinite(o) else None
        if isinstance(o, list):
            return [expect(v) for v in o]
        if isinstance(o, dict):
            return {k: expect(v) for k, v in o.items()}
        return o
    assert strict(common.to_json(obj)) == expect(obj)


def test_to_json_converts_arrays_and_tuples():
    obj = {"a": np.array([1.0, np.nan, -np.inf]), "b": (np.float64(np.inf), 2),
           "c": torch.tensor([0.5, float("nan")])}
    assert strict(common.to_json(obj)) == {"a": [1.0, None, None], "b": [None, 2],
                                           "c": [0.5, None]}


def test_bounds_eval_json_has_null_for_overflow():
    out = untangle("bounds", "eval", "rnn_upper", "beta=1", "lam=2", "T=100000", "t=0", "--json")
    text, _ = out.communicate(timeout=120)
    got = strict(text.decode())
    assert got["value"] is None and got["log10"] == pytest.approx(1e5 * math.log10(2))


# --- output files: one rule, atomic writes ----------------------------------------------------

def _write(path: Path, data: bytes, **kw) -> None:
    files.atomic_write(path, lambda f: f.write(data), **kw)


@pytest.mark.parametrize("anonymous", [True, False])
def test_atomic_write_replaces_and_leaves_nothing(tmp_path, anonymous):
    target = tmp_path / "x.bin"
    _write(target, b"old", anonymous=anonymous)
    _write(target, b"new" * 1000, anonymous=anonymous)
    assert target.read_bytes() == b"new" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


@pytest.mark.parametrize("anonymous", [True, False])
@pytest.mark.parametrize("exc", [RuntimeError("disk gone"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, anonymous, exc):
    target = tmp_path / "x.bin"
    _write(target, b"old")

    def half(f):
        f.write(b"half")
        raise exc

    with pytest.raises(type(exc)):
        files.atomic_write(target, half, anonymous=anonymous)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


@pytest.mark.parametrize("anonymous", [True, False])
@pytest.mark.parametrize("code, fails", [(errno.EINVAL, False), (errno.EBADF, False),
                                         (errno.EIO, True)])
def test_a_directory_fsync_is_skipped_only_where_unsupported(tmp_path, monkeypatch, anonymous,
                                                             code, fails):
    """Syncing the folder after the rename: a file system that cannot sync directories
    (EINVAL, EBADF) does not fail the write; a real I/O error does. Files still sync."""
    real, synced = os.fsync, []

    def fsync(fd):
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(code, os.strerror(code))
        synced.append(fd)
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "x.bin"
    if fails:
        with pytest.raises(OSError) as err:
            _write(target, b"new", anonymous=anonymous)
        assert err.value.errno == code
    else:
        _write(target, b"new", anonymous=anonymous)
    assert synced  # the file itself was synced before the rename
    assert target.read_bytes() == b"new"  # renamed before the folder's sync
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_this_machine_links_anonymous_files(tmp_path):
    """O_TMPFILE + linkat works here, so the anonymous path (not the fallback) is tested."""
    fd = os.open(tmp_path, os.O_TMPFILE | os.O_RDWR, 0o644)
    try:
        os.write(fd, b"hi")
        assert files._link_anonymous(fd, tmp_path / "named")
    finally:
        os.close(fd)
    assert (tmp_path / "named").read_bytes() == b"hi"


SLOW_WRITER = """
import sys, time
from verify import files
def write(f):
    for _ in range(1000):
        f.write(b"x" * 4096)
        f.flush()
        print("writing", flush=True)
        time.sleep(0.01)
files.atomic_write(sys.argv[1], write, anonymous=sys.argv[2] == "1")
"""


@pytest.mark.parametrize("anonymous", [True, False])
def test_sigkill_mid_write(tmp_path, anonymous):
    """Killed while writing: the target keeps its old bytes; an anonymous temporary vanishes
    with the process, a named one stays until claim_output cleans it."""
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target),
                             "1" if anonymous else "0"], stdout=subprocess.PIPE, env=env)
    assert proc.stdout.readline() == b"writing\n"
    proc.kill()
    proc.wait(timeout=30)
    assert target.read_bytes() == b"old"
    left = sorted(p.name for p in tmp_path.iterdir() if p != target)
    if anonymous:
        assert left == []
    else:
        assert len(left) == 1 and left[0].startswith("x.bin.") and left[0].endswith(".tmp")
        files.claim_output(target, force=True)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_clean_stale_removes_only_the_targets_temporaries(tmp_path):
    names = ["x.pt", "x.pt.tmp", "x.pt.1a2b.tmp", "y.pt.tmp", "x.pt.metrics.jsonl", "xx.pt.tmp"]
    for n in names:
        (tmp_path / n).write_text(n)
    removed = files.clean_stale(tmp_path / "x.pt")
    assert sorted(p.name for p in removed) == ["x.pt.1a2b.tmp", "x.pt.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {"x.pt", "y.pt.tmp", "x.pt.metrics.jsonl", "xx.pt.tmp"})


@pytest.mark.parametrize("name", ["r[1].pt", "r*.pt", "r?.pt"])
def test_clean_stale_takes_a_name_with_glob_characters_literally(tmp_path, name):
    """A target named with glob characters removes its own temporaries and no file its name
    would match as a pattern."""
    names = {"r1.pt.tmp", "rx.pt.ab.tmp", "r[1].pt.c.tmp", "r*.pt.tmp", "r?.pt.d.tmp",
             "r1.pt", f"{name}.tmp", f"{name}.9f.tmp", f"{name}.log"}
    for n in names:
        (tmp_path / n).write_text(n)
    mine = {n for n in names if n.startswith(f"{name}.") and n.endswith(".tmp")}
    assert len(mine) >= 2
    assert sorted(p.name for p in files.clean_stale(tmp_path / name)) == sorted(mine)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names - mine)


def test_claim_output_rule(tmp_path):
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    cases = [
        (tmp_path / "missing" / "x.png", False, "directory '%s' does not exist"
         % (tmp_path / "missing")),
        (tmp_path / "file" / "x.png", False, "'%s' is not a directory" % (tmp_path / "file")),
        (tmp_path / "dir", True, "is a directory, not a file"),
        (tmp_path / "fifo", True, "is not a regular file"),
        (tmp_path / "file", False, "exists; pass --force"),
        (Path("/proc/x.png"), True, "directory '/proc' is not writable"),
    ]
    for path, force, message in cases:
        with pytest.raises(ValueError, match="--plot") as err:
            files.claim_output(path, force=force, option="--plot")
        assert message in str(err.value)
    assert files.claim_output(tmp_path / "file", force=True) == tmp_path / "file"
    assert files.claim_output(tmp_path / "new.png", force=False) == tmp_path / "new.png"
    assert not (tmp_path / "missing").exists() and not (tmp_path / "new.png").exists()


TINY_TRAIN = ["train", "--task", "copy", "--model", "relrnn", "--T", "10", "--hidden", "8",
              "--nu", "3", "--rho", "2", "--steps", "2", "--save"]
TINY_SCREEN = ["screen", "--model", "relrnn", "--task", "copy", "--T", "10", "--hidden", "8",
               "--nu", "3", "--rho", "2", "--batch", "2", "--plot"]


@pytest.mark.parametrize("argv", [TINY_TRAIN, TINY_SCREEN], ids=["train", "screen"])
def test_every_command_refuses_bad_outputs_before_the_work(argv, tmp_path, capsys,
                                                           monkeypatch):
    """The same rule for --save and --plot, checked before any model is built."""
    def no_work(*a, **k):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr("verify.training.config.build", no_work)
    monkeypatch.setattr(sys.modules["verify.training.train"], "build", no_work)
    (tmp_path / "file").write_text("")
    (tmp_path / "old.png").write_text("old")
    for target, needle in [(tmp_path / "no" / "x.png", f"directory '{tmp_path / 'no'}' does "
                            f"not exist"),
                           (tmp_path / "file" / "x.png", "is not a directory"),
                           (tmp_path, "is a directory, not a file"),
                           (tmp_path / "old.png", "exists; pass --force")]:
        code, _, err = run([*argv, str(target)], capsys)
        assert code == 2 and needle in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "no").exists() and (tmp_path / "old.png").read_text() == "old"


def test_train_creates_no_directories(tmp_path, capsys):
    code, _, err = run([*TINY_TRAIN, str(tmp_path / "a" / "b" / "c.pt")], capsys)
    assert code == 2 and "does not exist" in err and not (tmp_path / "a").exists()


def test_plot_written_atomically_and_refused_with_a_bad_suffix(tmp_path, capsys):
    code, _, err = run([*TINY_SCREEN, str(tmp_path / "set.txt")], capsys)
    assert code == 2 and "must end in an image format" in err
    code, _, _ = run([*TINY_SCREEN, str(tmp_path / "set.png"), "--json"], capsys)
    assert code == 0 and (tmp_path / "set.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.png"]


# --- memory: estimates and the check ----------------------------------------------------------

@pytest.mark.parametrize("kind", patterns.KINDS)
@given(T=st.integers(1, 60), width=st.integers(1, 12), data=st.data())
def test_pattern_entries_counts_exactly(kind, T, width, data):
    """Against the pattern built (an independent count: the stored entries); every kind
    drawn on its own, the event steps anywhere in 0..T-1 (the last step included)."""
    E = data.draw(st.lists(st.integers(0, T - 1), max_size=4, unique=True), label="E")
    kw = {"nu": width, "k": width, "kappa": width, "E": E}
    built = patterns.build(kind, T, **kw)
    assert resources.pattern_entries(kind, T, **kw) == built.indices.size


@given(st.integers(1, 40), st.integers(1, 6), st.integers(0, 6), st.integers(0, 2**16))
def test_pattern_entries_bound_relevancy_screening(T, nu, rho, seed):
    """Relevancy screening attends at most nu + rho states a step (and none at step 0): the
    estimate is at least the entries of the weights a screened run used, and the window's
    of width nu + rho exactly (what it counts)."""
    from verify.models import controlled

    model = controlled("orthogonal", 3, 2, relevant_set=(nu, rho), seed=seed, device="cpu")
    x = torch.as_tensor(np.random.default_rng(seed).standard_normal((1, T, 2)))
    used = model(x, trace=True).trace.weights(T).indices.size
    estimate = resources.pattern_entries("relevancy", T, nu=nu, rho=rho)
    assert used <= estimate == resources.pattern_entries("window", T, nu=nu + rho)


def _memory(monkeypatch, nbytes: int) -> None:
    """Pretend the machine has ``nbytes`` of physical memory."""
    monkeypatch.setattr("bounds.domains.physical_memory", lambda: nbytes)


@given(st.sampled_from(patterns.KINDS), st.integers(1, 60), st.integers(1, 12),
       st.lists(st.integers(0, 70), max_size=4, unique=True), st.booleans())
def test_a_pattern_is_refused_exactly_when_its_arrays_exceed_memory(kind, T, width, E, exact):
    """The documented lower bound of a pattern's memory, counted here from the pattern built:
    an index and a weight per entry (16 bytes; a Rational's 56 when exact) and a row pointer
    per step. One byte less memory than that refuses it, naming T; that much builds it."""
    E = [e for e in E if e < T]
    kw = {"nu": width, "k": width, "kappa": width, "E": E, "exact": exact}
    built = patterns.build(kind, T, **kw)
    need = (56 if exact else 16) * built.indices.size + 8 * (built.indptr.size)
    with pytest.MonkeyPatch.context() as mp:
        _memory(mp, need - 1)
        with pytest.raises(ValueError, match=rf"^parameter 'T' = {T} is too large: the {kind} "
                                             rf"pattern \({built.indices.size} entries\)"):
            patterns.build(kind, T, **kw)
        _memory(mp, need)
        assert patterns.build(kind, T, **kw).indices.size == built.indices.size


@pytest.mark.parametrize("call, name", [
    (lambda: patterns.uniform(10**20), "T"),
    (lambda: patterns.window(10**20, 3), "T"),
    (lambda: patterns.strided(10**13, 2), "T"),
    (lambda: patterns.sparse(10**19, 2), "T"),
    (lambda: patterns.events(10**20, [1], 2), "T"),
    (lambda: patterns.none(10**20), "T"),
], ids=["uniform", "window", "strided", "sparse", "events", "none"])
def test_absurd_pattern_sizes_are_refused_at_once(call, name):
    """Before this check some of these ran a Python loop over 10^20 rows (for ever)."""
    with pytest.raises(ValueError, match=rf"^parameter '{name}' = \d+ is too large"):
        call()


@pytest.mark.parametrize("call, name", [
    (lambda: __import__("verify.models").models.build("rnn", 3, hidden=10**20), "hidden"),
    (lambda: __import__("verify.models").models.build("lstm", 10**12, hidden=4), "inputs"),
    (lambda: __import__("verify.models").models.controlled("orthogonal", 10**8, 2), "hidden"),
    (lambda: __import__("verify.models").models.spectra.build_spectrum("gaussian", 10**7), "n"),
    (lambda: __import__("verify.training").training.tasks.batch(
        "copy", 10**20, 2, torch.Generator()), "T"),
    (lambda: __import__("verify.training").training.tasks.batch(
        "copy", 20, 10**16, torch.Generator()), "size"),
    (lambda: __import__("verify.training").training.tasks.symbols(
        "copy", 20, 10**16, torch.Generator()), "batch"),
])
def test_absurd_model_and_batch_sizes_name_their_parameter(call, name):
    """numpy's 'Maximum allowed dimension exceeded' and torch's C++ error named nothing."""
    with pytest.raises(ValueError, match=rf"^parameter '{name}' = \d+ is too large"):
        call()


@given(st.sampled_from(["copy", "denoise"]), st.integers(10, 40), st.integers(1, 80),
       st.sampled_from([torch.float32, torch.float64]))
def test_a_task_batch_is_refused_exactly_when_its_tensors_exceed_memory(task, T, size, dtype):
    """A batch holds, per entry of its (size, T + 20) grid, two int64 symbols and the one-hot
    row of the task's inputs (10 or 11) in ``dtype``: counted here from the tensors returned.
    One byte less memory than that refuses it, naming the larger of T + 20 and size; that
    much draws it."""
    from verify.training import tasks

    x, y = tasks.batch(task, T, size, torch.Generator().manual_seed(0), dtype=dtype)
    need = x.numel() * x.element_size() + 2 * y.numel() * y.element_size()
    name = "T" if T + 20 >= size else "size"
    with pytest.MonkeyPatch.context() as mp:
        _memory(mp, need - 1)
        with pytest.raises(ValueError, match=rf"^parameter '{name}' = \d+ is too large"):
            tasks.batch(task, T, size, torch.Generator(), dtype=dtype)
        _memory(mp, need)
        assert tasks.batch(task, T, size, torch.Generator(), dtype=dtype)[0].shape == x.shape


@given(st.sampled_from(["rnn", "memrnn", "relrnn", "lstm", "rellstm"]), st.integers(2, 24))
def test_a_model_is_refused_exactly_when_its_recurrent_weights_exceed_memory(name, hidden):
    """A vanilla cell's V is one n x n float64 matrix, an LSTM's R four: with exactly one
    such matrix of memory the vanilla models are built and the LSTMs refused, naming hidden."""
    from verify.models import build

    with pytest.MonkeyPatch.context() as mp:
        _memory(mp, 8 * hidden * hidden)
        if name in ("lstm", "rellstm"):
            with pytest.raises(ValueError, match=rf"^parameter 'hidden' = {hidden} is too "
                                                 rf"large: the recurrent weights"):
                build(name, 2, hidden=hidden)
        else:
            assert build(name, 2, hidden=hidden).hidden == hidden


def test_estimates_scale_as_the_work_does():
    from verify.training.config import Config

    uniform = resources.pattern_entries("uniform", 100_000)
    assert uniform == 100_000 * 100_001 // 2
    assert resources.estimate_pattern(100_000, uniform) > 400e9  # ~500 GB: a runaway
    small = Config(model="memrnn", T=100, hidden=8)
    big = Config(model="memrnn", T=980, hidden=8)  # L = T + 20 grows 10x
    ratio = resources.estimate_train(big) / resources.estimate_train(small)
    assert 50 < ratio < 100  # quadratic in L (with a linear part)
    rnn = [resources.estimate_train(Config(model="rnn", T=T, hidden=8)) for T in (100, 980)]
    assert 5 < rnn[1] / rnn[0] < 10.5  # linear in L
    fixed = resources.estimate_measure(1000, 16, 0, "fixed", False)
    full = resources.estimate_measure(1000, 16, 500500, "full", True)
    assert fixed >= 2 * 1001 * 16 * 16 * 8 and full > fixed  # measured: up to 2.0 copies


def test_check_memory_refuses_naming_estimate_limit_and_option(monkeypatch):
    monkeypatch.setattr(resources, "available", lambda device: (2**30, "MemAvailable"))
    resources.check_memory(2**29, what="x", reduce="--T")
    resources.check_memory(2**40, what="x", reduce="--T", skip=True)
    with pytest.raises(ValueError) as err:
        resources.check_memory(3 * 2**40, what="training memrnn", reduce="--T")
    said = str(err.value)
    for piece in ("training memrnn", "3.0 TiB", "1.0 GiB", "MemAvailable", "--T",
                  "--no-memory-check"):
        assert piece in said


def test_available_reads_meminfo():
    have = resources.available("cpu")
    assert have is not None and have[0] > 0


@pytest.mark.parametrize("argv, needle", [
    (["bounds", "eval", "path_sum_upper", "pattern=uniform", "T=100000", "beta=0.5",
      "gamma=0.5", "lam=1"], "5000050000 entries"),
    (["train", "--T", "100000", "--steps", "1"],
     "training relrnn at T = 100000 (hidden 128, batch 10) would need about"),
    (["train", "--T", "100000", "--steps", "1"], "reduce --T, --hidden or --batch, or pass"),
    (["train", "--model", "memrnn", "--T", "100000", "--steps", "1"],
     "reduce --T, --hidden or --batch (memrnn's memory grows as T^2), or pass"),
    (["eval", "--load", "CK", "--T", "20000000"], "evaluating relrnn at T = 20000000"),
    (["measure", "--load", "CK", "--T", "20000000"], "measuring relrnn over 20000020 steps"),
    (["screen", "--T", "200000"], "screening relrnn at T = 200000"),
])
def test_runaway_sizes_are_refused_before_allocating(argv, needle, tmp_path, capsys,
                                                     monkeypatch):
    from verify.training import Config, train

    def no_work(*a, **k):
        raise AssertionError("allocated before checking the memory")

    ck = tmp_path / "m.pt"
    train(Config(model="relrnn", T=10, hidden=8), 1, save=ck, progress=False)
    monkeypatch.setattr("bounds.patterns.build", no_work)
    monkeypatch.setattr("verify.training.config.build", no_work)
    monkeypatch.setattr("verify.training.checkpoint.build", no_work)
    monkeypatch.setattr("verify.training.tasks.batch", no_work)
    code, _, err = run([a.replace("CK", str(ck)) for a in argv], capsys)
    assert code == 2 and needle in err and "--no-memory-check" in err


def test_screen_needs_the_memory_of_each_score_function(capsys, monkeypatch):
    """screen runs the model once per score function it compares, so it checks that many
    traced forward passes (:func:`verify.resources.estimate_forward` with the trace)."""
    from verify.training.config import Config

    needs = []
    monkeypatch.setattr(resources, "check_memory", lambda need, *a, **k: needs.append(need))
    argv = TINY_SCREEN[:-1] + ["--json", "--score"]
    for scores in (["accumulated"], ["accumulated", "normalised"]):
        assert run(argv + scores, capsys)[0] == 0
    one = resources.estimate_forward(Config(model="relrnn", task="copy", T=10, hidden=8,
                                            nu=3, rho=2), 10, 2, trace=True)
    assert needs == [one, 2 * one]


@pytest.mark.parametrize("model", ["rnn", "memrnn", "relrnn", "lstm", "rellstm"])
def test_forward_estimates_grow_as_the_models_memory_does(model):
    """A forward pass without a graph holds O(T) for every model but memrnn, whose attention
    over all earlier states is O(T^2): the estimate's second difference in T is 0, or
    positive for memrnn; the screening trace (T x T weights) adds the same positive second
    difference to every model."""
    from verify.training.config import Config

    cfg = Config(model=model, task="copy", T=10, hidden=8, batch=2)

    def second(trace: bool) -> list[int]:
        e = [resources.estimate_forward(cfg, T, 2, trace=trace) for T in range(10, 14)]
        return [e[i + 2] - 2 * e[i + 1] + e[i] for i in range(2)]

    plain, traced = second(False), second(True)
    assert all(d > 0 for d in plain) if model == "memrnn" else plain == [0, 0]
    trace_part = [t - p for t, p in zip(traced, plain, strict=True)]
    rnn = Config(model="rnn", task="copy", T=10, hidden=8, batch=2)
    e = [resources.estimate_forward(rnn, T, 2, trace=True) for T in range(10, 13)]
    assert trace_part == [e[2] - 2 * e[1] + e[0]] * 2 and trace_part[0] > 0


@pytest.mark.parametrize("argv, needle, options", [
    (["measure", "--T", "1000", "--inputs", "100000000"],
     "measuring T = 1000 (hidden 16, inputs 100000000) would need about 2.2 TiB",
     "--T, --hidden or --inputs"),
    (["measure", "--pattern", "relevancy", "--rho", "1000000000"],
     "measuring T = 50 (hidden 16, inputs 16) would need about",
     "--T, --hidden, --inputs or --rho"),
    (["screen", "--rho", "1000000000"], "nu = 10, rho = 1000000000, hidden 128",
     "--T, --batch, --rho, --nu, --hidden or the score functions"),
])
def test_inputs_and_the_relevant_set_count_in_the_estimates(argv, needle, options, capsys,
                                                            monkeypatch):
    """Sizes that the estimates ignored: refused in one line, before anything is built."""
    def no_work(*a, **k):
        raise AssertionError("allocated before checking the memory")

    monkeypatch.setattr("bounds.patterns.build", no_work)
    monkeypatch.setattr("verify.training.config.build", no_work)
    monkeypatch.setattr(resources, "available", lambda device: (64 * 2**30, "MemAvailable"))
    code, _, err = run(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert needle in err and f"reduce {options}" in err and "--no-memory-check" in err


@pytest.mark.parametrize("model, rho", [("relrnn", 15), ("rellstm", 40)])
def test_screen_counts_the_trace_once_and_a_half(model, rho):
    """The trace that screen's forward (autograd off, the fused path) returns, counted here
    by its tensors' bytes, is what the traced estimate adds: at least one copy, and less than
    the two copies the simple loop would stack (1.6: one and a half, with the slack of L + 1
    rows against L)."""
    from verify.models import build
    from verify.training import tasks
    from verify.training.config import Config

    cfg = Config(model=model, T=60, hidden=8, rho=rho)
    core = build(model, tasks.get("copy").inputs, hidden=8, rho=rho)
    x, _ = tasks.batch("copy", 60, 4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        trace = core(x, trace=True).trace
    held = sum(t.nbytes for t in (trace.alpha, trace.relevant_time, trace.relevant_score,
                                  trace.score))
    added = (resources.estimate_forward(cfg, 60, 4, trace=True)
             - resources.estimate_forward(cfg, 60, 4))
    assert held <= added < 1.6 * held


def test_the_estimates_grow_with_inputs_nu_and_rho():
    from verify.training.config import Config

    base = resources.estimate_measure(1000, 16, 0, "fixed", False)
    wide = resources.estimate_measure(1000, 16, 0, "fixed", False, inputs=80_000)
    assert wide - base >= 2.2 * 8 * 1000 * 80_000  # measured: 2.2 float64 copies of x
    assert resources.estimate_measure(1000, 16, 0, "fixed", False, inputs=16) == base
    screened = [resources.estimate_measure(
        400, 16, resources.pattern_entries("relevancy", 400, nu=4, rho=r), "fixed", True,
        relevant_set=(4, r)) for r in (4, 100_000)]
    # measured (measure --pattern relevancy --T 400 --hidden 16 [--nonlin relu]): 0.67 GB
    # (0.94 GB by the simple loop) more at rho = 10^5 than at 4, the trace's empty slots,
    # though no row attends more than T + 1 states
    assert screened[1] - screened[0] >= 0.94e9
    small, large = (Config(model="relrnn", T=100, hidden=128, rho=r) for r in (15, 5000))
    traced = [resources.estimate_forward(c, 100, 10, trace=True) for c in (small, large)]
    # measured: screen (both score functions, a trace each) 182 MiB more at rho = 5000
    assert traced[1] - traced[0] >= 182 / 2 * 2**20
    plain = [resources.estimate_forward(c, 100, 10) for c in (small, large)]
    assert plain[1] - plain[0] >= 2 * 4 * 10 * (110 - 15) * 128  # the slots' working set ...
    fillable = Config(model="relrnn", T=100, hidden=128, rho=110)  # ... of the 120 - 10 that
    assert resources.estimate_forward(fillable, 100, 10) == plain[1]  # can fill in 120 steps
    assert resources.estimate_forward(Config(model="rnn", T=100, rho=5000), 100, 10) == \
        resources.estimate_forward(Config(model="rnn", T=100), 100, 10)


def test_the_address_space_limit_is_a_limit(monkeypatch):
    """ulimit -v just above what is mapped now: that room, named, is what is available."""
    status = Path("/proc/self/status").read_text()
    mapped = int(next(x for x in status.splitlines() if x.startswith("VmSize:")).split()[1])
    monkeypatch.setattr(resources.resource, "getrlimit",
                        lambda which: (mapped * 1024 + 2**20, resources.resource.RLIM_INFINITY))
    room, what = resources.available("cpu")
    assert room <= 2**20 and what == ("left under the address-space limit (ulimit -v, "
                                      "RLIMIT_AS)")
    with pytest.raises(ValueError, match=r"more than the .* available \(left under the "
                       r"address-space limit \(ulimit -v, RLIMIT_AS\)\)"):
        resources.check_memory(2**21, what="x", reduce="--T")
    monkeypatch.setattr(resources.resource, "getrlimit",
                        lambda which: (resources.resource.RLIM_INFINITY,) * 2)
    assert "RLIMIT_AS" not in resources.available("cpu")[1]


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux only")
def test_a_command_under_ulimit_v_is_refused_up_front():
    """A real ``ulimit -v`` of 4 GiB: the check refuses at once, naming that limit, where it
    used to pass and the command died allocating."""
    import resource

    if resources.available("cpu")[0] < 8 * 2**30:
        pytest.skip("less than 8 GiB available: MemAvailable would be the smallest limit")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, resource.RLIM_INFINITY))

    proc = untangle("measure", "--T", "1000", "--inputs", "300000", "--json", preexec_fn=limit)
    _, err = proc.communicate(timeout=300)
    text = err.decode()
    assert proc.returncode == 2 and len(text.strip().splitlines()) == 1, text
    assert "(left under the address-space limit (ulimit -v, RLIMIT_AS))" in text
    assert "reduce --T, --hidden or --inputs" in text


@pytest.mark.parametrize("skip, said", [
    (True, "measuring T = 9 was estimated at 1.0 GiB, and --no-memory-check skipped the check "
           "against the memory available; reduce --T or --inputs"),
    (False, "measuring T = 9 was estimated at 1.0 GiB, within the 2.0 GiB available "
            "(MemAvailable), but needed more; reduce --T or --inputs or free memory"),
])
def test_out_of_memory_advice_names_the_commands_options(skip, said, monkeypatch, capsys):
    """Work that runs out of memory after the check (or with it skipped): the line says what
    the check estimated and which options of this command shrink the work."""
    monkeypatch.setattr(resources, "available", lambda device: (2 * 2**30, "MemAvailable"))

    def handler(args: argparse.Namespace) -> int:
        resources.check_memory(2**30, what="measuring T = 9", reduce="--T or --inputs",
                               skip=skip)
        raise MemoryError

    monkeypatch.setattr("verify.commands.bounds._list", handler)
    code, _, err = run(["bounds", "list"], capsys)
    assert code == 2 and err == f"untangle: error: out of memory; {said}\n"
    monkeypatch.setattr("verify.commands.bounds._list", _raising(MemoryError()))
    code, _, err = run(["bounds", "list"], capsys)  # a new command: no check of its own
    assert err == ("untangle: error: out of memory; reduce the sizes (T, hidden, batch, the "
                   "pattern) or free memory\n")


def test_no_memory_check_goes_ahead(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(resources, "available", lambda device: (1, "a tiny machine"))
    argv = ["train", "--T", "10", "--hidden", "8", "--steps", "1", "--json"]
    code, _, err = run(argv, capsys)
    assert code == 2 and "a tiny machine" in err
    assert run([*argv, "--no-memory-check"], capsys)[0] == 0


# --- threads --------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["train", "eval", "screen", "measure", "bench"])
def test_every_torch_command_documents_threads(command):
    parser = cli.command_parser(command)
    text = parser.format_help()
    assert "--threads" in text and "default 1" in text and "--no-memory-check" in text


def test_threads_default_to_one(monkeypatch):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert common.threads(argparse.Namespace(threads=None)) == 1
        assert torch.get_num_threads() == 1
        assert common.threads(argparse.Namespace(threads=2)) == 2
        assert torch.get_num_threads() == 2
        for bad in (0, -1):
            with pytest.raises(ValueError, match="parameter 'threads' must be an integer >= 1"):
                common.threads(argparse.Namespace(threads=bad))
    finally:
        torch.set_num_threads(before)


def test_a_fresh_process_runs_one_thread():
    probe = ("import argparse, torch; from verify.commands.common import threads; "
             "threads(argparse.Namespace(threads=None)); "
             "print(torch.get_num_threads(), torch.get_num_interop_threads())")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True, timeout=120).stdout
    assert out.split() == ["1", "1"]


# --- bounds eval: no silent accepts -----------------------------------------------------------

BASE = ["bounds", "eval", "path_sum_upper", "gamma=0.5"]


@pytest.mark.parametrize("extra, needle", [
    (["pattern=window", "T=5", "nu=2", "lam=1", "lam=2"], "parameter 'lam' is given twice"),
    (["pattern=window", "T=5", "nu=2", "k=3", "lam=1"],
     "parameter 'k' is not used by the 'window' pattern (it takes T, nu)"),
    (["pattern=window", "T=5", "nu=2", "lam=true"], "parameter 'lam' must be a number"),
    (["pattern=window", "T=5", "nu=2", "lam=[]"], "parameter 'lam' must be a number"),
    (["pattern=window", "T=5", "nu=2", "lam=null"], "parameter 'lam' must be a number"),
    (["pattern=window", "T=true", "nu=2", "lam=1"], "parameter 'T' must be a number"),
    (["pattern=window", "T=5", "nu=2", "lam=[1,2]"],
     "parameter 'lam' must be a number or a list of T = 5 numbers"),
    (["pattern=sparse", "T=5", "kappa=2", "seed=-1", "lam=1"], "parameter 'seed'"),
    (["pattern=sparse", "T=5", "kappa=2", "seed=3.0", "lam=1"],  # numpy refused it in a traceback
     "parameter 'seed' must be an integer >= 0, got 3.0"),
    (["pattern=events", "T=5", "nu=2", "E=3", "lam=1"], "parameter 'E' must be a list"),
    (["pattern=events", "T=5", "nu=2", "E=[1.5]", "lam=1"], "parameter 'E' must be an integer"),
    (["pattern=events", "T=5", "nu=2", "E=[[3]]", "lam=1"], "parameter 'E' must be a list of "
     "time steps"),  # a nested list is not flattened
    (["pattern=events", "T=5", "nu=2", "E=[null]", "lam=1"], "parameter 'E' must be a list of "
     "time steps"),
    (["pattern=events", "T=5", "nu=2", "E=[true]", "lam=1"], "parameter 'E' must be a list of "
     "time steps"),
    (["pattern=window", "T=5", "nu=2", "lam={}"], "parameter 'lam' must be a number"),
    (["pattern={}", "lam=1"], "parameter 'pattern' must be a matrix"),
    (["pattern=window", "T=5", "nu=2", "lam=1", "beta=[0.5,1]"],
     "parameter 'beta' must be one number for every step"),
    (["pattern=[[1,0],[0.5,0.5]]", "T=3", "lam=1"], "parameter 'T' must match the pattern's T"),
    (["pattern=[[1,0],[0.5,0.5]]", "nu=3", "lam=1"], "parameter 'nu' is not used by a pattern"),
    (["pattern=unifrom", "T=5", "lam=1"], "must be one of none, uniform"),
    (["T=5", "lam=1"], "missing parameter 'pattern'"),
])
def test_bounds_eval_refuses_what_it_used_to_accept(extra, needle, capsys):
    beta = [] if any(e.startswith("beta=") for e in extra) else ["beta=0.5"]
    code, out, err = run([*BASE, *beta, *extra], capsys)
    assert code == 2 and needle in err and out == ""


def test_bounds_eval_T_must_match_the_pattern_file(tmp_path, capsys):
    path = tmp_path / "alpha.csv"
    path.write_text("1,0,0\n0.5,0.5,0\n0.25,0.25,0.5\n")
    code, _, err = run([*BASE, "beta=0.5", f"pattern={path}", "T=4", "lam=1"], capsys)
    assert code == 2 and "'T' must match the pattern's T = 3, got 4" in err
    code, out, _ = run([*BASE, "beta=0.5", f"pattern={path}", "T=3", "lam=1", "--json"],
                       capsys)
    assert code == 0 and len(strict(out)["value"]) == 3


def _npy(path: Path, array: np.ndarray, **kw) -> None:
    np.save(path, array, **kw)


@pytest.mark.parametrize("name, content, needle", [
    ("e.csv", "", "is empty"),
    ("blank.csv", "\n\n  \n", "is empty"),
    ("word.csv", "1,0\nhalf,0.5\n", "line 2"),
    ("ragged.csv", "1,0\n0.5\n", "is ragged"),
    ("wide.csv", "1,0,0\n0.5,0.5,0\n", "square"),
    ("e.json", "[]", "is empty"),
    ("bad.json", "{", "is not valid JSON"),
    ("dict.json", '{"a": 1}', "must hold a list of rows"),
    ("ragged.json", "[[1], [0.5, 0.5]]", "is ragged"),
    ("bool.json", "[[true]]", "is not a number"),
    ("str.json", '[["1"]]', "is not a number"),
    ("nan.json", "[[NaN]]", "finite"),
    ("notrow.json", "[[1, 0], 0.5]", "must hold a list of rows"),
    ("bytes.csv", b"\xff\xfe\x00", "is not text"),
    ("text.npy", "not numpy", "is not a .npy file"),
    ("empty.npy", np.zeros((0, 0)), "is empty"),
    ("vector.npy", np.ones(3), "square"),
    ("objects.npy", np.array([[{"a": 1}]], dtype=object), "Python objects"),
    ("complex.npy", np.eye(2) * (1 + 1j), "real numbers"),
    ("bool.npy", np.eye(2, dtype=bool), "real numbers"),
    ("cut.npy", "CUT", "not a readable .npy array: its header declares shape (50, 50) of "
     "float64 (20000 bytes), but 172 bytes follow it"),
    ("huge.npy", "HUGE", "not a readable .npy array: its header declares shape (100000, "
     "100000) of float64 (80000000000 bytes), but 0 bytes follow it"),
    ("header.npy", "HEADER", "not a readable .npy array: its header is damaged"),
])
def test_bad_pattern_files_name_the_file(name, content, needle, tmp_path, capsys):
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        _npy(path, content, allow_pickle=True)
    elif content == "CUT":
        _npy(path, np.eye(50))
        path.write_bytes(path.read_bytes()[:300])
    elif content == "HUGE":  # a header alone (128 bytes), declaring 74.5 GiB
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)})
        path.write_bytes(header.getvalue())
    elif content == "HEADER":
        path.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ValueError) as err:
        patterns.load(path)
    said = str(err.value)
    assert needle in said and f"pattern file '{path}'" in said and "pattern" in said
    code, _, stderr = run([*BASE, "beta=0.5", f"pattern={path}", "lam=1"], capsys)
    assert code == 2 and f"pattern file '{path}'" in stderr
    assert len(stderr.strip().splitlines()) == 1  # no numpy warning, no traceback


def test_pattern_file_that_is_not_a_file(tmp_path):
    (tmp_path / "d.csv").mkdir()
    os.mkfifo(tmp_path / "p.csv")
    with pytest.raises(ValueError, match="is a directory"):
        patterns.load(tmp_path / "d.csv")
    with pytest.raises(ValueError, match="is not a regular file"):
        patterns.load(tmp_path / "p.csv")
    with pytest.raises(ValueError, match="no such file"):
        patterns.load(tmp_path / "none.csv")


def test_large_bounds_eval_shows_progress(capsys, monkeypatch):
    """A bar from LARGE entries plus steps on (lowered here from 10^6 to 100)."""
    monkeypatch.setattr("verify.commands.bounds.LARGE", 100)
    argv = ["bounds", "eval", "path_sum_upper", "nu=2", "beta=0.5", "gamma=0.5", "lam=0.9"]
    code, _, err = run([*argv, "pattern=window", "T=60"], capsys)  # 60 + 119 entries
    assert code == 0 and "path_sum_upper: log10" in err
    code, _, err = run([*argv, "pattern=window", "T=30"], capsys)  # 30 + 59
    assert code == 0 and err == ""
    code, _, err = run([*argv, "pattern=window", "T=60", "--json"], capsys)
    assert code == 0 and err == ""


# --- screen -------------------------------------------------------------------------------------

SCREEN = ["screen", "--model", "relrnn", "--T", "10", "--hidden", "8", "--nu", "3"]


def test_screen_says_why_favour_is_undefined(capsys):
    code, out, _ = run([*SCREEN, "--rho", "0", "--task", "denoise"], capsys)
    assert code == 0 and "nan" not in out.lower()
    assert "favour n/a: rho = 0: there is no relevant set" in out
    code, out, _ = run([*SCREEN, "--rho", "0", "--task", "denoise", "--json"], capsys)
    report = strict(out)
    for s in report["scores"].values():
        assert s["favour"] is None and s["favour_note"].startswith("rho = 0")
    code, out, _ = run([*SCREEN, "--rho", "2", "--task", "copy", "--json"], capsys)
    s = strict(out)["scores"]["accumulated"]
    assert s["favour"] is None and "no blank state among the early states 1..4" in \
        s["favour_note"]


@pytest.mark.parametrize("extra, needle", [
    (["--batch", "0"], "parameter 'batch' must be an integer >= 1, got 0"),
    (["--batch", "2", "--index", "2"], "parameter 'index' must be in 0..1"),
    (["--seed", "-1"], "parameter 'seed' must be an integer >= 0, got -1"),
    (["--seed", str(2**63)], "parameter 'seed' must be an integer >= 0 and <= 9223372036854775807"),
    (["--score", "normalised", "normalised"], "parameter 'score' names 'normalised' twice"),
    (["--threads", "0"], "parameter 'threads' must be an integer >= 1"),
    (["--threads", str(common.cores() + 1)], f"<= {common.cores()} (the cores here)"),
])
def test_screen_messages_name_the_right_parameter(extra, needle, capsys):
    code, _, err = run([*SCREEN, "--rho", "2", *extra], capsys)
    assert code == 2 and needle in err


def test_eval_and_screen_show_progress_unless_json(tmp_path, capsys):
    from verify.training import Config, train

    ck = tmp_path / "m.pt"
    train(Config(model="relrnn", T=10, hidden=8, nu=3, rho=2), 1, save=ck, progress=False)
    code, _, err = run(["eval", "--task", "copy", "--load", str(ck), "--batches", "2"], capsys)
    assert code == 0 and "evaluating T=10" in err
    code, _, err = run(["eval", "--task", "copy", "--load", str(ck), "--batches", "2",
                        "--json"], capsys)
    assert code == 0 and err == ""
    code, _, err = run(["screen", "--load", str(ck), "--batch", "2"], capsys)
    assert code == 0 and "screening" in err


@pytest.mark.parametrize("name", ["relrnn", "lstm"])
def test_eval_and_screen_move_their_bars_within_a_sequence(name, tmp_path, capsys,
                                                           monkeypatch):
    """T = 380 (400 steps a sequence): eval's bar moves every 4 steps of each batch (the fused
    path ticks like the simple loop; torch's own LSTM once a batch), screen's every 4 steps
    of each score function; the fused path's values do not change."""
    import importlib

    import tqdm as tqdm_module

    from verify.training import Config, build, train

    seen = []

    class Recording(tqdm_module.tqdm):
        def update(self, n=1):
            seen.append((self.total, n))
            return super().update(n)

    evaluation = importlib.import_module("verify.training.evaluate")
    monkeypatch.setattr(evaluation, "tqdm", Recording)
    monkeypatch.setattr(tqdm_module, "tqdm", Recording)
    ck = tmp_path / "m.pt"
    train(Config(model=name, T=10, hidden=8, nu=3, rho=2), 1, save=ck, progress=False)
    code, _, err = run(["eval", "--task", "copy", "--load", str(ck), "--T", "380",
                        "--batches", "2"], capsys)
    assert code == 0 and "evaluating T=380" in err
    assert seen == ([(800, 4)] * 200 if name == "relrnn" else [(800, 400)] * 2)
    if name == "relrnn":
        seen.clear()
        code, _, err = run(["screen", "--load", str(ck), "--T", "380", "--batch", "2"], capsys)
        assert code == 0 and "screening" in err and seen == [(800, 4)] * 200
        model, x = build(Config(model=name, T=380, hidden=8, nu=3, rho=2)).core, \
            torch.randn(2, 400, 10)
        ticks = []
        assert torch.equal(model(x, trace=False).h, model(x, trace=False, tick=ticks.append).h)
        assert ticks == [4] * 100


HEAP_PROBE = """
import sys, torch
from verify import resources
if sys.argv[1] == "fixed" and not resources.return_freed_memory():
    sys.exit(3)
torch.set_num_threads(1)
from verify.models import fused
from verify.training import Config, build, evaluate
def peak():
    return int(next(x for x in open('/proc/self/status') if x.startswith('VmHWM')).split()[1])
model = build(Config(model="memrnn", T=300, hidden=256))
before = peak()
with fused.simple_path():  # the step-by-step loop (measurement, traces) stacks its slots
    evaluate(model, "copy", 300, batches=1)
print(peak() - before)
"""


def test_freed_memory_goes_back_to_the_system():
    """memrnn's step-by-step forward allocates ever larger temporaries; with glibc's dynamic
    mmap threshold their holes pile up in the heap (a peak growing as T^2), with the threshold
    fixed they do not. Peak resident sets of two fresh processes at T = 300: 524-559 and
    66-67 MiB measured (at T = 200 the dynamic child's peak, 167-290 MiB, came within 2.2x
    of the fixed one's, too near the line to tell the two apart). The children get no MALLOC_*
    variable: any of them (dask's LocalCluster leaves MALLOC_TRIM_THRESHOLD_ in this
    process's environment) fixes the threshold in the "dynamic" child too."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")},
           "PYTHONPATH": str(ROOT)}
    peaks = {}
    for how in ("dynamic", "fixed"):
        out = subprocess.run([sys.executable, "-c", HEAP_PROBE, how], capture_output=True,
                             text=True, env=env, cwd=ROOT, timeout=300)
        if out.returncode == 3:
            pytest.skip("not glibc: mallopt is unavailable")
        assert out.returncode == 0, out.stderr
        peaks[how] = int(out.stdout)
    assert peaks["fixed"] < peaks["dynamic"] / 3


@pytest.mark.parametrize("argv", [
    ["eval", "--load", "{p}", "--T", "12"], ["train", "--resume", "{p}", "--steps", "2"],
    ["screen", "--load", "{p}"], ["sweep", "{p}"]])
def test_a_pipe_or_a_directory_given_as_an_input_file_is_refused_unopened(argv, tmp_path):
    """Opening a FIFO waits for a writer: every input file goes through verify.files'
    input rule, which refuses what is not a regular file before opening it."""
    fifo, folder = tmp_path / "in.pt", tmp_path / "folder"
    os.mkfifo(fifo)
    folder.mkdir()
    for path, needle in ((fifo, "not a regular file"), (folder, "is a directory")):
        p = untangle(*(a.format(p=path) for a in argv))
        try:
            out, err = p.communicate(timeout=120)
        finally:
            p.kill()
        text = err.decode()
        assert p.returncode == 2 and needle in text and text.count("\n") == 1, text


def test_input_file_rule(tmp_path):
    good = tmp_path / "a.json"
    good.write_text("{}")
    assert files.input_file(good, "--x") == good
    for path, needle in ((tmp_path / "no", "does not exist"), (tmp_path, "is a directory"),
                         ("", "empty path")):
        with pytest.raises(ValueError, match=needle):
            files.input_file(path, "--x")


def test_bounds_evaluate_checks_memory_unless_told_not_to(monkeypatch):
    """From Python, :func:`verify.commands.bounds.evaluate` checks a named pattern's memory by
    default (refused by name on a machine with 1 byte), and builds it with
    ``memory_check=False``."""
    from verify.commands.bounds import evaluate

    monkeypatch.setattr(resources, "available", lambda device: (1, "a tiny machine"))
    params = {"pattern": "window", "T": 6, "nu": 2, "lam": 1, "beta": 0.5, "gamma": 0.5}
    with pytest.raises(ValueError, match="a tiny machine"):
        evaluate("path_sum_upper", params)
    assert len(evaluate("path_sum_upper", params, memory_check=False)["value"]) == 6


@pytest.mark.parametrize("value", ["true", "null", "[]", "[[0.5]]", "[0.5,{}]"])
def test_a_scalar_bound_refuses_what_is_not_a_number(value, capsys):
    """A bound without a pattern (B0) takes numbers or flat lists of them: a boolean, null,
    an empty or nested list is refused by name (exit 2), not broadcast."""
    code, out, err = run(["bounds", "eval", "rnn_upper", "beta=1", "T=5", "t=0",
                          f"lam={value}"], capsys)
    assert (code, out) == (2, "")
    assert "parameter 'lam' must be a number or a non-empty list of numbers" in err


def test_bounds_eval_builds_an_events_pattern_from_its_steps(capsys):
    """pattern=events with E=[3,6] is the events pattern of those steps: the bound's values
    equal the catalog's on the pattern built here."""
    from bounds import get

    code, out, err = run([*BASE, "beta=0.5", "lam=0.9", "pattern=events", "T=8", "nu=2",
                          "E=[3,6]", "--json"], capsys)
    assert code == 0, err
    pattern = patterns.build("events", 8, nu=2, E=[3, 6])
    want = get("path_sum_upper").evaluate(pattern=pattern, beta=0.5, gamma=0.5, lam=0.9)
    np.testing.assert_array_equal(strict(out)["value"], np.asarray(want, dtype=float))
    other = patterns.build("events", 8, nu=2, E=[2, 6])  # E matters here
    assert not np.array_equal(
        want, get("path_sum_upper").evaluate(pattern=other, beta=0.5, gamma=0.5, lam=0.9))


def test_bounds_eval_no_memory_check_goes_ahead(monkeypatch, capsys):
    monkeypatch.setattr(resources, "available", lambda device: (1, "a tiny machine"))
    argv = [*BASE, "beta=0.5", "lam=1", "pattern=window", "T=6", "nu=2", "--json"]
    code, _, err = run(argv, capsys)
    assert code == 2 and "a tiny machine" in err
    assert run([*argv, "--no-memory-check"], capsys)[0] == 0


@pytest.mark.parametrize("anonymous", [True, False])
def test_written_files_have_the_mode_of_a_plain_open(tmp_path, anonymous):
    """An atomically written file (anonymous temporary or named fallback) gets the
    permissions ``open(path, "wb")`` gives under this umask: readable, never executable."""
    plain = tmp_path / "plain.bin"
    with open(plain, "wb") as f:
        f.write(b"x")
    out = tmp_path / "atomic.bin"
    files.atomic_write(out, lambda f: f.write(b"x"), anonymous=anonymous)
    assert out.stat().st_mode & 0o7777 == plain.stat().st_mode & 0o7777


class _NoLinkat:
    """A libc whose linkat always fails (a kernel or file system that refuses to name an
    anonymous file)."""

    def __init__(self, *args, **kw) -> None:
        self.linkat = lambda *a: -1


def _no_libc(*args, **kw):
    raise OSError("no libc")


@pytest.mark.parametrize("libc", [_NoLinkat, _no_libc],
                         ids=["linkat refused", "no libc"])
def test_an_anonymous_file_that_cannot_be_named_is_copied_in(tmp_path, monkeypatch, libc):
    """Where the anonymous temporary cannot be given a name, its contents are written through
    the named fallback: the file holds them, replacing the old one, and no temporary is
    left."""
    monkeypatch.setattr(files.ctypes, "CDLL", libc)
    out = tmp_path / "data.bin"
    out.write_bytes(b"old")
    files.atomic_write(out, lambda f: f.write(b"new contents"))
    assert out.read_bytes() == b"new contents"
    assert files.temporaries(out) == [] and sorted(tmp_path.iterdir()) == [out]
