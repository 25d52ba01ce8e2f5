"""``untangle sweep`` under bad input and faults: the table's path by the shared output rule,
value ranges and the device checked when the spec is read, the number of workers, the memory
the points will need, a sweep whose every point failed, Ctrl-C while the workers start and
while they run, SIGTERM and SIGKILL (to the sweep's process group, or to its process alone).
Tiny points (T <= 12, hidden <= 10) except where a point must outlast a signal."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sweep_cli import untangle, write_spec

import verify.resources
from verify import cli
from verify.sweeps import POINTS, expand, parse, read, run, runner
from verify.sweeps import estimate as estimate_module
from verify.sweeps.table import write

ROOT = Path(__file__).resolve().parents[1]
#: 2 horizons x 2 seeds, run in this process
TINY = {"kind": "measure", "grid": {"T": [3, 4]}, "fixed": {"hidden": 4}, "seeds": [0, 1]}



def one_error_line(err: str) -> str:
    """The one line of a refusal (exit 2), without its prefix."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    prefix = re.match(r"untangle( sweep)?: error: ", lines[0])
    assert prefix, err
    return lines[0][prefix.end():]


@contextmanager
def one_thread(workers: int):
    with ThreadPoolExecutor(1) as pool:
        yield pool


@pytest.fixture
def in_threads(monkeypatch):
    """The command's local workers as one thread of this process (no process to spawn)."""
    monkeypatch.setattr(runner, "local", one_thread)


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def start(spec: Path, *args: str) -> subprocess.Popen:
    """``untangle sweep SPEC ARGS`` in its own process group, as from a terminal."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "verify.cli", "sweep", str(spec), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for_lines(proc: subprocess.Popen, table: Path, n: int, timeout: float = 120) -> None:
    """Until ``table`` has ``n`` complete lines (the header, then rows)."""
    deadline = time.monotonic() + timeout
    while not table.exists() or table.read_bytes().count(b"\n") < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep made no progress"
        time.sleep(0.02)


def finish(proc: subprocess.Popen, sig: int, group: bool = True) -> tuple[str, str, float]:
    """Send ``sig`` to the sweep's process group (a terminal's Ctrl-C reaches every process
    of it), or with ``group=False`` to the sweep's process alone; its output (complete once
    no process holds its pipes), and the seconds that took."""
    sent = time.monotonic()
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        took = time.monotonic() - sent
    finally:
        with suppress(ProcessLookupError):  # whatever is left of the group
            os.killpg(proc.pid, signal.SIGKILL)
    return out, err, took


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (neither gone nor a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def interrupted_line(table: Path) -> str:
    return (f"untangle sweep: interrupted; the finished rows are kept in {str(table)!r}; run "
            f"the same command to resume")


# --- the spec: ranges and the device ------------------------------------------------------

RANGES = [
    ({"kind": "measure", "fixed": {"T": 0}},
     "spec 'fixed.T': parameter 'T' must be an integer >= 1, got 0"),
    ({"kind": "measure", "grid": {"T": [3, -2]}},
     "spec 'grid.T[1]': parameter 'T' must be an integer >= 1, got -2"),
    ({"kind": "measure", "grid": {"hidden": [4, 0]}, "fixed": {"T": 3}},
     "spec 'grid.hidden[1]': parameter 'hidden' must be an integer >= 1, got 0"),
    ({"kind": "measure", "fixed": {"T": 3, "inputs": 0}},
     "spec 'fixed.inputs': parameter 'inputs' must be an integer >= 1, got 0"),
    ({"kind": "measure", "fixed": {"T": 3, "width": 0}},
     "spec 'fixed.width': parameter 'width' must be an integer >= 1, got 0"),
    ({"kind": "measure", "fixed": {"T": 3, "stride": -1}},
     "spec 'fixed.stride': parameter 'stride' must be an integer >= 1, got -1"),
    ({"kind": "measure", "fixed": {"T": 3, "kappa": 0}},
     "spec 'fixed.kappa': parameter 'kappa' must be an integer >= 1, got 0"),
    ({"kind": "measure", "fixed": {"T": 3, "device": "gpu"}},
     "spec 'fixed.device': parameter 'device' must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    ({"kind": "train", "fixed": {"steps": 0}},
     "spec 'fixed.steps': parameter 'steps' must be an integer >= 1, got 0"),
    ({"kind": "train", "grid": {"T": [20, 9]}, "fixed": {"steps": 2}},
     "spec 'grid.T[1]': parameter 'T' must be an integer >= K = 10, got 9"),
    ({"kind": "train", "fixed": {"steps": 2, "lr": 0}},
     "spec 'fixed.lr': parameter 'lr' must be a real number in (0, inf), got 0"),
    ({"kind": "train", "grid": {"lr": [1e-3, 1e60]}, "fixed": {"steps": 2}},
     "spec 'grid.lr[1]': parameter 'lr' must be a real number > 0 and <= 3.403e+38 (the "
     "largest float32), got 1e+60"),
    ({"kind": "train", "grid": {"dtype": ["float64", "float32"]}, "fixed": {"steps": 2,
                                                                             "lr": 1e300}},
     "spec 'fixed.lr': parameter 'lr' must be a real number > 0 and <= 3.403e+38 (the "
     "largest float32), got 1e+300"),
    ({"kind": "train", "fixed": {"steps": 2, "batch": 0}},
     "spec 'fixed.batch': parameter 'batch' must be an integer >= 1, got 0"),
    ({"kind": "train", "fixed": {"steps": 2, "nu": 0}},
     "spec 'fixed.nu': parameter 'nu' must be an integer >= 1, got 0"),
    ({"kind": "train", "fixed": {"steps": 2, "rho": -1}},
     "spec 'fixed.rho': parameter 'rho' must be an integer >= 0, got -1"),
    ({"kind": "train", "fixed": {"steps": 2}, "seeds": [2**63]},
     f"spec 'seeds': must be integers >= 0 and <= {2**63 - 1} for kind 'train', got {2**63}"),
    ({"kind": "train", "fixed": {"steps": 2}, "seeds": [0, 2**64, 3]},  # one seed beyond
     f"spec 'seeds': must be integers >= 0 and <= {2**63 - 1} for kind 'train', got {2**64}"),
    ({"kind": "measure", "fixed": {"T": 3}, "seeds": [5, -2, 3]},  # the most negative named
     "spec 'seeds': must be integers >= 0, got -2"),
]


@pytest.mark.parametrize(("spec", "message"), RANGES)
def test_a_value_out_of_range_is_refused_naming_the_spec_key(spec, message):
    with pytest.raises(ValueError) as err:
        parse(spec)
    assert str(err.value) == message


def test_a_large_lr_is_taken_where_every_dtype_holds_it():
    """lr = 1e300 pairs with float64 alone; the check is the pair's, not lr's own."""
    spec = parse({"kind": "train", "grid": {"lr": [1e-3, 1e300]},
                  "fixed": {"steps": 2, "dtype": "float64"}})
    assert spec.grid["lr"] == [1e-3, 1e300]


@given(st.integers(-20, 40), st.sampled_from(["grid", "fixed"]))
def test_measure_T_is_accepted_exactly_from_1(T, where):
    spec = ({"kind": "measure", "grid": {"T": [T]}} if where == "grid"
            else {"kind": "measure", "fixed": {"T": T}})
    if T >= 1:
        assert expand(parse(spec))[0].params["T"] == T
    else:
        key = "grid.T[0]" if where == "grid" else "fixed.T"
        with pytest.raises(ValueError, match=rf"^spec '{re.escape(key)}': parameter 'T' must be "
                                             rf"an integer >= 1, got {T}$"):
            parse(spec)


@given(st.integers(-5, 30))
def test_train_T_is_accepted_exactly_from_K(T):
    """The copy and denoise tasks need T >= K = 10 (THEORY.md section 8)."""
    spec = {"kind": "train", "fixed": {"steps": 1, "T": T}}
    if T >= 10:
        assert parse(spec).fixed["T"] == T
    else:
        with pytest.raises(ValueError, match=rf"^spec 'fixed\.T': parameter 'T' must be an "
                                             rf"integer >= (1|K = 10), got {T}$"):
            parse(spec)


@pytest.mark.parametrize("kind", ["measure", "train"])
def test_cuda_without_cuda_is_refused_when_the_spec_is_read(monkeypatch, kind):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fixed = {"T": 12, "steps": 1} if kind == "train" else {"T": 3}
    with pytest.raises(ValueError) as err:
        parse({"kind": kind, "grid": {"device": ["cpu", "cuda"]}, "fixed": fixed})
    assert str(err.value) == ("spec 'grid.device[1]': parameter 'device': 'cuda' asked for but "
                              "CUDA is not available; use auto or cpu")
    assert parse({"kind": kind, "fixed": {**fixed, "device": "cpu"}}).fixed["device"] == "cpu"


def test_cli_spec_out_of_range_exits_2_before_any_table(capsys, tmp_path):
    spec = write_spec(tmp_path / "s.json", {"kind": "measure", "grid": {"T": [3, 0]}})
    code, out, err = untangle(capsys, spec)
    assert (code, out) == (2, "")
    assert one_error_line(err) == "spec 'grid.T[1]': parameter 'T' must be an integer >= 1, got 0"
    assert listing(tmp_path) == {"s.json"}


# --- --out: the shared output rule, resuming kept ---------------------------------------------

def _binary(folder: Path) -> str:
    (folder / "bin.jsonl").write_bytes(b"\xff\xfe\x00\x01table?\n\x80")
    return "bin.jsonl"


def _torn_middle(folder: Path) -> str:
    write(folder / "bad.jsonl", parse(TINY).to_json(), [])
    with (folder / "bad.jsonl").open("a") as f:
        f.write("not json\n{}\n")
    return "bad.jsonl"


OUT_REFUSALS = [
    (lambda d: "nodir/t.jsonl", r"--out: directory '.*nodir' does not exist \(create it first\)"),
    (lambda d: "s.json/t.jsonl", r"--out: '.*s\.json' is not a directory"),
    (lambda d: ".", r"--out: '.*' is not a file name"),
    (lambda d: "sub", r"--out: '.*sub' is a directory, not a file"),
    (lambda d: "", r"argument --out: an empty path names no file"),
    (lambda d: "/dev/null", r"--out: ('/dev/null' is not a regular file .*|directory '/dev' "
                            r"is not writable .*)"),
    (_binary, r"--out: '.*bin\.jsonl' is not a sweep table \(not UTF-8 text\); --force "
              r"overwrites it"),
    (_torn_middle, r"--out: '.*bad\.jsonl' line 2: not a sweep row; --force overwrites it"),
]


@pytest.mark.parametrize(("make", "message"), OUT_REFUSALS)
def test_cli_out_refused_in_one_line_naming_out(capsys, tmp_path, monkeypatch, make, message):
    """Exit 2, one line naming --out, nothing created or changed, nothing run."""
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path / "s.json", TINY)
    (tmp_path / "sub").mkdir()
    out = make(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    monkeypatch.setitem(POINTS, "measure", lambda params: pytest.fail("a point ran"))
    code, stdout, err = untangle(capsys, spec.name, "--out", out)
    assert (code, stdout) == (2, "")
    assert re.fullmatch(message, one_error_line(err)), err
    assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert listing(tmp_path) == {"s.json", "sub", *(p.name for p in before)}
    assert list((tmp_path / "sub").iterdir()) == []


def test_cli_out_in_a_folder_that_cannot_be_written(capsys, tmp_path):
    if not Path("/proc").is_dir():
        pytest.skip("no /proc here")
    spec = write_spec(tmp_path / "s.json", TINY)
    code, _, err = untangle(capsys, spec, "--out", "/proc/t.jsonl")
    assert code == 2
    assert one_error_line(err).startswith("--out: directory '/proc' is not writable")


def test_cli_force_replaces_a_file_that_is_no_table(capsys, tmp_path, in_threads):
    spec = write_spec(tmp_path / "s.json", TINY)
    _binary(tmp_path)
    code, _, err = untangle(capsys, spec, "--out", tmp_path / "bin.jsonl", "--force", "--json")
    assert code == 0, err
    assert len(read(tmp_path / "bin.jsonl")[1]) == 4


def test_cli_resumes_the_same_spec_without_force(capsys, tmp_path, in_threads):
    """An existing table of the same points is resumed, not refused: nothing is recomputed."""
    spec = write_spec(tmp_path / "s.json", TINY)
    out = tmp_path / "t.jsonl"
    code, stdout, err = untangle(capsys, spec, "--out", out, "--json")
    assert code == 0 and json.loads(stdout)["computed"] == 4, err
    first = out.read_bytes()
    code, stdout, err = untangle(capsys, spec, "--out", out, "--json")
    assert code == 0 and json.loads(stdout)["computed"] == 0, err
    assert out.read_bytes() == first


def test_a_table_is_written_in_an_existing_folder_only(tmp_path):
    with pytest.raises(ValueError, match="parameter 'out': directory .*nodir' does not exist"), \
            ThreadPoolExecutor(1) as pool:
        run(TINY, tmp_path / "nodir" / "t.jsonl", executor=pool)
    with pytest.raises(FileNotFoundError):
        write(tmp_path / "nodir" / "t.jsonl", parse(TINY).to_json(), [])
    assert listing(tmp_path) == set()


def test_stale_temporaries_of_a_killed_writer_are_removed(monkeypatch, tmp_path):
    """What a writer killed mid-write leaves beside the table (a fixed .tmp name, or the
    atomic write's random one) is gone once the sweep claims the table again."""
    out = tmp_path / "t.jsonl"
    for name in ("t.jsonl.tmp", "t.jsonl.0123456789ab.tmp"):
        (tmp_path / name).write_text('{"format": "untangle-sw')
    (tmp_path / "other.tmp").write_text("not ours")
    monkeypatch.setitem(POINTS, "measure", lambda params: {})
    with ThreadPoolExecutor(1) as pool:
        rows = run(TINY, out, executor=pool, threads=None)
    assert len(rows) == 4
    assert listing(tmp_path) == {"t.jsonl", "other.tmp"}


def test_sigkill_leaves_no_temporary_and_loses_no_finished_row(tmp_path, monkeypatch):
    """SIGKILL to the group once rows are in: only the spec and the table remain, the table
    holds every row the sweep reported done, and the next run computes the others."""
    seeds = list(range(30))
    spec = write_spec(tmp_path / "k.json", {"kind": "measure", "fixed": {"T": 400, "hidden": 8},
                                            "seeds": seeds})
    table = tmp_path / "k.jsonl"
    proc = start(spec)
    wait_for_lines(proc, table, 3)
    out, _, _ = finish(proc, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert listing(tmp_path) == {"k.json", "k.jsonl"}
    reported = {int(line.split("seed=")[1].split(":")[0]) for line in out.splitlines()}
    kept = {r["params"]["seed"] for r in read(table)[1]}
    assert len(kept) >= 2 and reported <= kept
    calls = []
    monkeypatch.setitem(POINTS, "measure", lambda params: calls.append(params["seed"]) or {})
    with ThreadPoolExecutor(1) as pool:
        rows = run(spec, table, executor=pool, threads=None)
    assert sorted(calls) == sorted(set(seeds) - kept)
    assert [r["params"]["seed"] for r in rows] == seeds
    assert listing(tmp_path) == {"k.json", "k.jsonl"}


# --- workers --------------------------------------------------------------------------------

@given(st.integers(-3, 12))
def test_workers_are_accepted_from_1_to_the_cores(workers):
    """With 5 cores (patched): 1..5 pass, anything else is refused naming the range."""
    original = runner.cores
    runner.cores = lambda: 5
    try:
        if 1 <= workers <= 5:
            assert runner.check_workers(workers) == workers
        else:
            with pytest.raises(ValueError) as err:
                runner.check_workers(workers)
            assert str(err.value) == (f"parameter 'workers' must be an integer >= 1 and <= 5 "
                                      f"(the cores here), got {workers}")
    finally:
        runner.cores = original


def test_cli_more_workers_than_cores_exit_2(capsys, tmp_path):
    from verify.commands.common import cores

    spec = write_spec(tmp_path / "s.json", TINY)
    code, _, err = untangle(capsys, spec, "--workers", cores() + 1)
    assert code == 2
    assert one_error_line(err) == (f"parameter 'workers' must be an integer >= 1 and <= "
                                   f"{cores()} (the cores here), got {cores() + 1}")
    assert listing(tmp_path) == {"s.json"}


# --- memory ---------------------------------------------------------------------------------

def measure_bytes(T: int, n: int) -> int:
    """verify.resources' documented estimate for measure, pattern none, fixed mode, float64:
    200 bytes per step for the pattern, 3 float64 copies of the (T + n) x n inputs and input
    matrix, and 3 copies of (T + 1) n^2 float64 values."""
    return 200 * T + 3 * 8 * (T + n) * n + 3 * 8 * (T + 1) * n * n


def limit(monkeypatch, n: int) -> None:
    monkeypatch.setattr(verify.resources, "available", lambda device="cpu": (n, "a test limit"))


SIZED = {"kind": "measure", "grid": {"T": [49, 99]}, "fixed": {"hidden": 10}}


def test_the_largest_point_must_fit(monkeypatch, tmp_path):
    need = measure_bytes(99, 10)
    assert need == 285960
    limit(monkeypatch, need - 1)
    with pytest.raises(ValueError) as err, ThreadPoolExecutor(1) as pool:
        run(SIZED, tmp_path / "t.jsonl", executor=pool)
    key = expand(parse(SIZED))[1].key
    assert str(err.value) == (
        f"sweep point T=99 seed=0 (key {key}) would need about 279.3 KiB of memory, more than "
        f"the 279.3 KiB available (a test limit); reduce T, hidden or inputs in the spec, or "
        f"pass --no-memory-check to try anyway")
    assert listing(tmp_path) == set()  # refused before the table is written
    limit(monkeypatch, need)
    monkeypatch.setitem(POINTS, "measure", lambda params: {})
    with ThreadPoolExecutor(1) as pool:
        assert len(run(SIZED, tmp_path / "t.jsonl", executor=pool)) == 2
    limit(monkeypatch, 1)
    with ThreadPoolExecutor(1) as pool:
        assert len(run(SIZED, tmp_path / "t.jsonl", executor=pool)) == 2  # nothing left to run
        assert len(run(SIZED, tmp_path / "u.jsonl", executor=pool, memory_check=False)) == 2


def test_as_many_points_as_workers_must_fit_together(monkeypatch):
    points = expand(parse({**SIZED, "grid": {"T": [49, 99, 9]}}))
    need = measure_bytes(99, 10) + measure_bytes(49, 10)
    limit(monkeypatch, need)
    estimate_module.check(points, at_once=2, label=lambda p: f"T={p.params['T']}")
    limit(monkeypatch, need - 1)
    with pytest.raises(ValueError, match=r"^2 workers running the largest sweep points at once "
                                         r"\(the largest: T=99, about 279\.3 KiB\) would need "
                                         r"about 419\.8 KiB .*; reduce T, hidden or inputs in the "
                                         r"spec or --workers, or pass --no-memory-check"):
        estimate_module.check(points, at_once=2, label=lambda p: f"T={p.params['T']}")
    estimate_module.check(points, at_once=1, label=str)  # one at a time: the largest fits


@pytest.mark.parametrize("fixed, reduce", [
    ({"inputs": 10**12}, "reduce T, hidden or inputs in the spec"),
    ({"pattern": "relevancy", "rho": 10**12}, "reduce T, hidden, inputs or rho in the spec"),
])
def test_inputs_and_the_relevant_set_count_in_a_points_estimate(fixed, reduce, monkeypatch,
                                                               tmp_path):
    """The sizes measure's own estimate counts: a point with a runaway input width or
    relevant set is refused before the table is written, naming what shrinks it."""
    limit(monkeypatch, 2**40)
    spec = {"kind": "measure", "fixed": {"T": 8, "hidden": 4, **fixed}}
    with pytest.raises(ValueError, match=f"would need about .*; {reduce}, or pass"), \
            ThreadPoolExecutor(1) as pool:
        run(spec, tmp_path / "t.jsonl", executor=pool)
    assert listing(tmp_path) == set()


def test_train_points_are_estimated_as_untangle_train(monkeypatch):
    """rnn: 20 float64 values per (sequence, step, unit) over T + 20 steps, and 12 (1 + 2)
    n^2 float64 for the parameters, gradients and optimizer state."""
    points = expand(parse({"kind": "train", "fixed": {"model": "rnn", "T": 30, "hidden": 8,
                                                      "batch": 3, "steps": 1}}))
    need = 8 * 20 * 3 * 50 * 8 + 8 * 12 * 3 * 8 * 8
    limit(monkeypatch, need)
    estimate_module.check(points, at_once=1, label=str)
    limit(monkeypatch, need - 1)
    with pytest.raises(ValueError, match="reduce T, hidden or batch in the spec"):
        estimate_module.check(points, at_once=1, label=str)


def test_cli_memory_refusal_and_no_memory_check(capsys, tmp_path, monkeypatch, in_threads):
    spec = write_spec(tmp_path / "s.json", SIZED)
    limit(monkeypatch, 1000)
    code, out, err = untangle(capsys, spec)
    assert (code, out) == (2, "")
    line = one_error_line(err)
    assert line.startswith("sweep point T=99 seed=0 (key ") and "279.3 KiB" in line
    assert "1000 B available (a test limit)" in line and "--no-memory-check" in line
    assert listing(tmp_path) == {"s.json"}
    code, out, err = untangle(capsys, spec, "--no-memory-check", "--json")
    assert code == 0, err
    assert json.loads(out)["finished"] == 2


# --- every point failed ---------------------------------------------------------------------

#: learned attention over the pattern none has no support: a ValueError at every point
ALL_FAIL = {"kind": "measure", "grid": {"T": [3, 4]}, "fixed": {"hidden": 2, "learned": True}}


def test_cli_every_point_failed_exits_1_keeping_the_rows(capsys, tmp_path, in_threads):
    spec = write_spec(tmp_path / "f.json", ALL_FAIL)
    for computed in (2, 0):  # the run, then a rerun with nothing left to compute
        code, out, err = untangle(capsys, spec, "--json")
        assert code == 1
        assert json.loads(out) == {"out": str(tmp_path / "f.jsonl"), "points": 2, "repeats": 0,
                                   "finished": 2, "computed": computed, "failed": 2}
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            "untangle sweep: error: every point failed (the first: ValueError: parameter "
            "'pattern': learned attention")
        assert lines[0].endswith(f"their rows are in {str(tmp_path / 'f.jsonl')!r}; "
                                 f"--retry-failed runs them again")
    rows = read(tmp_path / "f.jsonl")[1]
    assert len(rows) == 2 and all(r["error"] for r in rows)


def test_cli_computes_points_that_differ_in_unused_options_once(capsys, tmp_path, in_threads):
    """Of the 2 x 2 x 2 points, the window's ignore rho (same key: one row each for learned
    false and true) and relevancy screening's attention is learned either way (learned true
    is a copy of learned false, marked same_as): 4 computations, 6 rows, 4 repeats."""
    spec = write_spec(tmp_path / "s.json", {
        "kind": "measure",
        "grid": {"pattern": ["window", "relevancy"], "rho": [0, 1], "learned": [False, True]},
        "fixed": {"T": 4, "hidden": 2}, "seeds": [0]})
    code, out, err = untangle(capsys, spec)
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    rows = read(tmp_path / "s.jsonl")[1]
    first = {(r["params"]["rho"], r["params"]["learned"]): r for r in rows
             if r["params"]["pattern"] == "relevancy"}
    assert len(rows) == 6 and len(lines) == 7
    assert [line[:3] for line in lines[:6]] == ["[1]", "[2]", "[3]", "[=]", "[4]", "[=]"]
    for rho in (0, 1):
        copy, computed = first[rho, True], first[rho, False]
        assert copy["same_as"] == computed["key"] and "same_as" not in computed
        assert copy["result"] == computed["result"] and copy["key"] != computed["key"]
        assert (f"[=] pattern=relevancy rho={rho} learned=True seed=0: the same as key "
                f"{computed['key']}: ok") in lines
    assert lines[-1] == (
        f"8 of 8 points in {tmp_path / 's.jsonl'} (4 computed now; 4 the same as an earlier "
        f"point but for options they do not use, and not computed again)")
    code, out, err = untangle(capsys, spec, "--json")
    assert code == 0 and json.loads(out) == {"out": str(tmp_path / "s.jsonl"), "points": 8,
                                             "repeats": 4, "finished": 8, "computed": 0,
                                             "failed": 0}


def test_cli_some_points_failed_is_success(capsys, tmp_path, in_threads):
    spec = write_spec(tmp_path / "s.json", {**ALL_FAIL, "grid": {"pattern": ["none", "window"]},
                                            "fixed": {"T": 3, "hidden": 2, "learned": True}})
    code, out, err = untangle(capsys, spec)
    assert code == 0 and err == ""
    assert out.strip().splitlines()[-1] == (f"2 of 2 points in {tmp_path / 's.jsonl'} (2 "
                                            f"computed now, 1 failed (see their error))")


def test_help_tells_the_exit_statuses_and_the_memory_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "1 when every point failed" in text and "--no-memory-check" in text
    assert "its folder must exist and be writable (none is created)" in text


# --- Ctrl-C, kill (subprocesses) -------------------------------------------------------------

#: two quick points, then two that outlast any signal (tens of seconds at T = 100000)
QUICK_THEN_SLOW = {"kind": "measure", "grid": {"T": [3, 100000]}, "fixed": {"hidden": 2},
                   "seeds": [0, 1]}


def test_ctrl_c_while_the_workers_start_is_one_line(tmp_path):
    """SIGINT to the group half a second after the table appears: the two workers are still
    importing torch. Exit 130, one line, no traceback from any worker."""
    spec = write_spec(tmp_path / "tiny.json", {"kind": "measure", "fixed": {"T": 3, "hidden": 2},
                                               "seeds": list(range(40))})
    table = tmp_path / "tiny.jsonl"
    proc = start(spec, "--workers", "2")
    wait_for_lines(proc, table, 1)
    time.sleep(0.5)
    _, err, _ = finish(proc, signal.SIGINT)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [interrupted_line(table)]
    assert len(read(table)[1]) < 40


def test_ctrl_c_while_the_workers_run_keeps_the_rows_and_stops_them(tmp_path, monkeypatch):
    """The two T = 3 points finish, then both workers run a T = 100000 point (tens of
    seconds): SIGINT stops them (exit within 20 s, not after the points), keeps the two rows,
    and the next run computes exactly the two others."""
    spec = write_spec(tmp_path / "two.json", QUICK_THEN_SLOW)
    table = tmp_path / "two.jsonl"
    proc = start(spec, "--workers", "2")
    wait_for_lines(proc, table, 3)
    out, err, took = finish(proc, signal.SIGINT)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [interrupted_line(table)]
    assert took < 20
    kept = read(table)[1]
    assert sorted((r["params"]["T"], r["params"]["seed"]) for r in kept) == [(3, 0), (3, 1)]
    # a progress line per kept row, printed after the row is written: the signal may fall
    # between the second row and its line
    lines = out.strip().splitlines()
    assert 1 <= len(lines) <= 2, out
    assert all(re.fullmatch(r"\[\d\] T=3 seed=[01]: ok [0-9.]+ s", line) for line in lines), out
    calls = []
    monkeypatch.setitem(POINTS, "measure", lambda params: calls.append(params["T"]) or {})
    with ThreadPoolExecutor(1) as pool:
        run(spec, table, executor=pool, threads=None)
    assert calls == [100000, 100000]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="no /proc here")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_sweep_killed_alone_leaves_no_worker_behind(tmp_path, sig):
    """``kill`` (SIGTERM) or SIGKILL to the sweep's process only, while both workers run a
    slow point: they end too (a SIGTERM'd sweep stops them as Ctrl-C does, exit 130 and one
    line; the workers of a SIGKILL'd one see it gone), the two quick rows are kept and no
    temporary is left."""
    spec = write_spec(tmp_path / "two.json", QUICK_THEN_SLOW)
    table = tmp_path / "two.jsonl"
    proc = start(spec, "--workers", "2")
    wait_for_lines(proc, table, 3)
    workers = [pid for pid in children(proc.pid) if "spawn_main" in
               Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
    assert len(workers) == 2
    _, err, took = finish(proc, sig, group=False)
    assert took < 30  # the pipes close once the workers are gone
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)
    if sig == signal.SIGTERM:
        assert proc.returncode == 130
        assert err.strip().splitlines() == [interrupted_line(table)]
    else:
        assert proc.returncode == -signal.SIGKILL
    assert sorted((r["params"]["T"], r["params"]["seed"]) for r in read(table)[1]) == [
        (3, 0), (3, 1)]
    assert listing(tmp_path) == {"two.json", "two.jsonl"}
