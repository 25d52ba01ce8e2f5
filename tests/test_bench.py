"""``untangle bench``: the quick run as a smoke test (structure only, no timing assertion),
and its baselines computing the same Jacobians as ``measure`` (THEORY.md section 2)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from verify import resources
from verify.bench import TRAIN_MODELS, long_horizon, profile_cases, timing
from verify.cli import main
from verify.commands.common import cores
from verify.measurement import measure


def test_quick_bench_runs_and_reports(capsys):
    assert main(["bench", "--quick", "--json", "--threads", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["quick"] and result["matmul_flop_per_s_float64"] > 0
    # runs on CPUs with other vector units differ several-fold: the record names them
    assert result["device_name"].endswith(f"{torch.backends.cpu.get_cpu_capability()} kernels")
    assert {r["pattern"] for r in result["profile"]} == set(profile_cases.PATTERNS)
    for r in result["profile"]:
        for key in ("measure_s", "norms_s", "vjp_s", "naive_s", "floor_s", "speedup_vs_vjp",
                    "vs_floor"):
            assert r[key] > 0, key
        # the derived columns are the ratios they name, from the row's own numbers
        assert r["speedup_vs_vjp"] == pytest.approx(r["vjp_s"] / r["measure_s"], rel=1e-12)
        assert r["speedup_vs_naive"] == pytest.approx(r["naive_s"] / r["measure_s"], rel=1e-12)
        assert r["vs_floor"] == pytest.approx(r["measure_s"] / r["floor_s"], rel=1e-12)
        assert r["floor_s"] == pytest.approx(
            r["flop"] / result["matmul_flop_per_s_float64"], rel=1e-12)
        assert r["measure_flop_per_s"] == pytest.approx(r["flop"] / r["measure_s"], rel=1e-12)
    full = next(r for r in result["profile"] if r["pattern"] == "full")
    T, n = full["T"], full["n"]  # uniform attention: an edge i -> j for every i < j
    assert full["flop"] == 2.0 * T * n**3 + 2.0 * (T * (T + 1) // 2) * n**2
    assert {r["model"] for r in result["training"]} == set(TRAIN_MODELS)
    assert all(r["step_s"] > 0 for r in result["training"] if "skipped" not in r)
    assert result["matmul_flop_per_s_float32"] > 0 and result["tanh_per_s"] > 0
    for r in result["training"]:  # every step has its floor, rnn and lstm no attention tanh
        assert r["flop"] > 0 and r["floor_s"] == pytest.approx(
            r["flop"] / result["matmul_flop_per_s_float32"] + r["tanh"] / result["tanh_per_s"],
            rel=1e-12)
        assert (r["tanh"] > 0) is (r["model"] in ("relrnn", "rellstm", "memrnn"))
    long = result["long"]
    assert long["T"] == long_horizon.QUICK_T and long["finite"] and long["measure_s"] > 0


@pytest.fixture
def brief(monkeypatch):
    """A full (not ``--quick``) run with each time from its least number of calls: these tests
    check what runs and what is reported, not times."""
    monkeypatch.setattr("verify.bench.MIN_TIMED_S", 0.0)


def test_the_long_profile_times_one_measure_call_and_states_its_storage_floor(monkeypatch):
    """measure_s is the time of the measure call alone (a clock that only measure moves,
    by 2.5 s), and the storage floor the T n^2 float64 values of the G_t: 8 T n^2 bytes."""
    clock = {"now": 100.0}
    real = long_horizon.measure

    def slow_measure(*a, **k):
        clock["now"] += 2.5
        return real(*a, **k)

    monkeypatch.setattr(long_horizon, "time",
                        SimpleNamespace(perf_counter=lambda: clock["now"]))
    monkeypatch.setattr(long_horizon, "measure", slow_measure)
    row = long_horizon.run_case(40, torch.device("cpu"))
    assert row["measure_s"] == 2.5
    assert row["storage_floor_bytes"] == 8 * 40 * 64**2 and row["n"] == 64


def test_the_long_profile_is_the_measure_command_it_names(capsys, brief):
    """The long case runs the network and inputs of the ``untangle measure`` command it
    prints, with the thread count it ran on (the same log10 ||G_0||, to the last bit, on
    every thread count), and --long-T sets its horizon, 0 leaves
    it out; a negative one, or one with --quick, is refused (exit 2, the option named)."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        row = long_horizon.run_case(40, torch.device("cpu"))
        assert row["command"] == long_horizon.command(40)
        assert "--threads" not in row["command"]
        torch.set_num_threads(2)  # the command names the threads it ran on
        assert long_horizon.run_case(40, torch.device("cpu"))["command"] == \
            long_horizon.command(40, 2)
        assert long_horizon.command(40, 2) == f"{row['command']} --threads 2"
        for threads in range(1, min(2, cores()) + 1):  # the same values on any of them
            assert main([*long_horizon.command(40, threads).split()[1:], "--json"]) == 0
            want = json.loads(capsys.readouterr().out)["log10_norm2"][0]
            assert row["log10_norm2_0"] == want and row["finite"]
    finally:
        torch.set_num_threads(before)
    argv = ["bench", "--json", "--profile-T", "12", "--profile-n", "3", "--no-training"]
    assert main([*argv, "--long-T", "30"]) == 0
    assert json.loads(capsys.readouterr().out)["long"]["T"] == 30
    for off in ([], ["--long-T", "0"]):
        assert main([*argv, *off]) == 0
        assert json.loads(capsys.readouterr().out)["long"] is None
    for bad in (["--long-T", "-1"], ["--quick", "--long-T", "30"]):
        assert main(["bench", *bad]) == 2
        err = capsys.readouterr().err
        assert "parameter 'long-T'" in err and len(err.strip().splitlines()) == 1


def test_the_baselines_compute_the_measured_jacobians():
    """(b) and (c) against ``measure``'s G_t (float64, 1e-10 relative: different summation
    orders over <= 25 steps)."""
    for pattern in profile_cases.PATTERNS:
        case = profile_cases.Case(pattern, 12, 4)
        model = profile_cases.model_of(case, torch.float64, torch.device("cpu"))
        x = torch.randn(1, 12, 4, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(2))
        m = measure(model, x)
        G = profile_cases.batched_vjp(model, x).permute(1, 0, 2).numpy()  # (T+1, n, n)
        for t in (0, 5, 11):
            want = m.jacobian(t)
            np.testing.assert_allclose(G[t], want, rtol=1e-10, atol=1e-14)
            naive = profile_cases.naive_jacobian(model, x, t).numpy()
            np.testing.assert_allclose(naive, want, rtol=1e-10, atol=1e-14)


def test_sizes_are_chosen_from_the_command_line(capsys, brief):
    """--profile-T/--profile-n pick the profile cases, --train-T the training horizons,
    --no-training none; non-positive sizes are refused (exit 2, the option named)."""
    argv = ["bench", "--json", "--profile-T", "12,16", "--profile-n", "3", "--train-T", "11"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    cases = {(r["pattern"], r["T"], r["n"]) for r in result["profile"]}
    assert cases == {(p, T, 3) for p in profile_cases.PATTERNS for T in (12, 16)}
    assert {(r["model"], r["T"]) for r in result["training"]} == {(m, 11) for m in TRAIN_MODELS}
    assert main(["bench", "--json", "--profile-T", "12", "--profile-n", "3",
                 "--no-training"]) == 0
    assert json.loads(capsys.readouterr().out)["training"] == []
    for bad in (["--profile-T", "0"], ["--profile-n", "4,-1"], ["--train-T", "x"]):
        with pytest.raises(SystemExit) as exit_:
            main(["bench", *bad])
        assert exit_.value.code == 2
        assert bad[0] in capsys.readouterr().err


def test_memrnn_cases_are_skipped_by_their_work_and_memory_alone():
    """memrnn is skipped where its attention work (B n T^2 tanh a step) exceeds the device
    kind's budget or its memory estimate exceeds the bench's: at T = 3000 on a CPU (1.2e10
    tanh), not at 1000 (1.3e9, which the fused path runs in about 1 GiB), nor on CUDA; the
    other models never. A skipped case says why, costs no estimate and runs nothing."""
    from verify.bench import training_steps as ts

    assert ts.memrnn_tanh(1000) == 10 * 128 * 1000**2
    assert ts.skipped("memrnn", 1000, torch.float32) is None
    assert 0 < ts.estimate("memrnn", 1000) < 2 * 2**30
    assert ts.estimate("memrnn", 300) < ts.estimate("memrnn", 1000)
    why = ts.skipped("memrnn", 3000, torch.float32)
    assert why is not None and "1.2e+10" in why and "cpu" in why
    assert ts.estimate("memrnn", 3000) == 0
    assert ts.skipped("memrnn", 3000, torch.float32, "cuda") is None
    assert ts.estimate("memrnn", 3000, "cuda") > ts.estimate("memrnn", 1000, "cuda")
    # the kept weights alone, B T^2 / 2 float32 values, are 20 T^2 bytes: 16.8 GiB at 30000
    said = ts.skipped("memrnn", 30_000, torch.float32, "cuda")
    gib = float(said.removeprefix("needs ~").removesuffix(" GiB of activations"))
    assert 20 * 30_000**2 / 2**30 - 0.5 <= gib <= 2 * 20 * 30_000**2 / 2**30
    for name in TRAIN_MODELS:
        if name != "memrnn":
            assert ts.skipped(name, 30_000, torch.float32) is None
    row = ts.run_case("memrnn", 3000, torch.float32, torch.device("cpu"))
    assert row == {"model": "memrnn", "T": 3000, "skipped": why}


def test_peak_memory_counts_pages_the_heap_had_freed():
    """Work that reuses heap memory freed earlier (still resident, below a block kept alive)
    is counted in full: 32 MiB of 64 KiB blocks, zero-filled, read at >= 90% of their size
    (the rest is slack for the allocator's own bookkeeping)."""
    from verify.bench.timing import peak_memory
    from verify.resources import trim_heap

    size, count = 64 * 1024, 512
    blocks = [bytearray(size) for _ in range(count)]
    pin = bytearray(size)  # keeps the freed blocks below the heap's top, so free() keeps them
    del blocks
    if not trim_heap():
        pytest.skip("not glibc: malloc_trim is unavailable")
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("no /proc here")
    blocks = [bytearray(size) for _ in range(count)]
    del blocks
    peak = peak_memory(lambda: [bytearray(size) for _ in range(count)], torch.device("cpu"))
    assert peak is not None and peak >= 0.9 * size * count, (peak, pin[:0])


def test_peak_memory_is_none_where_the_platform_cannot_say(monkeypatch, tmp_path):
    """No /proc/self/status (a CPU that is not Linux): None, not a number; with it, the peak
    over the resident size before the call, in bytes (VmHWM - VmRSS, KiB read from it)."""
    status = tmp_path / "status"
    monkeypatch.setattr(resources, "CLEAR_REFS", tmp_path / "clear_refs")
    monkeypatch.setattr(resources, "PROC_STATUS", status)
    assert timing.peak_memory(lambda: None, torch.device("cpu")) is None
    status.write_text("Name:\tpython\nVmHWM:\t  5000 kB\nVmRSS:\t  3000 kB\n")
    assert timing.peak_memory(lambda: None, torch.device("cpu")) == 2000 * 1024.0


def test_matmul_rate_is_two_n_cubed_over_the_time_of_one_product(monkeypatch):
    """:func:`verify.bench.timing.matmul_rate` times one (size x size) product in the dtype
    given: with the timing fixed at 0.5 s, 2 size^3 / 0.5 flop a second; min_s is passed on."""
    seen = []

    def fake_timed(fn, device, repeats=3, *, warmup=True, min_s=0.0):
        seen.append((fn(), min_s))
        return 0.5

    monkeypatch.setattr(timing, "timed", fake_timed)
    assert timing.matmul_rate(torch.float64, torch.device("cpu"), 12, min_s=0.25) == (
        2 * 12**3 / 0.5)
    ((out, min_s),) = seen
    assert out.shape == (12, 12) and out.dtype == torch.float64 and min_s == 0.25


class _Clock:
    """A fake ``time.perf_counter`` that only the timed function advances: by ``slow``
    seconds on each of its first ``first`` calls, by ``fast`` after."""

    def __init__(self, first: int, slow: float, fast: float) -> None:
        self.now, self.calls, self.first, self.slow, self.fast = 0.0, 0, first, slow, fast

    def __call__(self) -> float:
        return self.now

    def step(self) -> None:
        self.now += self.slow if self.calls < self.first else self.fast
        self.calls += 1


@pytest.mark.parametrize(("first", "slow", "fast", "warmup", "min_s", "want", "calls"), [
    (3, 0.1, 0.01, True, 0.0, 0.01, timing.WARMUP_CALLS + 3),  # warmed up past a slow start
    (3, 0.1, 0.01, False, 0.0, 0.1, 3),                      # without: the slow calls timed
    (0, 3.0, 3.0, True, 0.0, 3.0, 1 + 3),                    # a long call: one warm-up call
    (1, 1.5, 0.5, True, 0.0, 0.5, 2 + 3),                    # warm-up ends past WARMUP_S
    (4, 0.1, 0.01, False, 0.455, 0.01, 4 + 6),               # min_s fills: 0.4 + 6 x 0.01
    (0, 0.0, 0.0, False, 1.0, 0.0, timing.MAX_CALLS),        # ... up to MAX_CALLS
    (0, 1.0, 1.0, False, 0.5, 1.0, 3),                       # repeats are the least
])
def test_timed_warms_up_then_times_enough_calls(monkeypatch, first, slow, fast, warmup, min_s,
                                                want, calls):
    """:func:`verify.bench.timing.timed` calls ``fn`` until WARMUP_CALLS calls or WARMUP_S
    seconds have passed (one call at least), then returns the median of ``repeats`` timed
    calls and more until they took ``min_s`` in all, at most MAX_CALLS (on a fake clock:
    exact)."""
    clock = _Clock(first, slow, fast)
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    got = timing.timed(clock.step, torch.device("cpu"), 3, warmup=warmup, min_s=min_s)
    assert got == pytest.approx(want)
    assert clock.calls == calls


def _counted_flop(name: str, T: int, batch: int, hidden: int, nu: int, rho: int) -> float:
    """Matrix-product flop torch counts (FlopCounterMode) in one forward and backward of
    ``name`` on a copy-task batch, on the simple loop (every product an aten kernel)."""
    from torch.utils.flop_counter import FlopCounterMode

    from verify.models import Classifier, build, fused
    from verify.training import tasks

    spec = tasks.get("copy")
    x, y = tasks.batch("copy", T, batch, torch.Generator().manual_seed(0), dtype=torch.float64)
    model = Classifier(build(name, spec.inputs, hidden=hidden, nu=nu, rho=rho,
                             dtype=torch.float64), spec.classes)
    with fused.simple_path(), FlopCounterMode(display=False) as counter:
        logits, _ = model(x)
        tasks.loss(logits, y).backward()
    return float(counter.get_total_flops())


@settings(max_examples=8, deadline=None)
@given(name=st.sampled_from(["rnn", "lstm"]), T=st.integers(10, 30), batch=st.integers(1, 4),
       hidden=st.integers(1, 9))
def test_step_work_of_a_cell_is_the_flop_torch_counts(name, T, batch, hidden):
    """Without attention every product of a step is a matrix-product kernel, so
    :func:`step_work`'s flop equals torch's own count exactly: the drive, the recurrence (no
    gradient of the constant s_0), the read-out, forward and backward."""
    from verify.bench.training_steps import step_work

    want = _counted_flop(name, T, batch, hidden, 1, 0)
    assert step_work(name, T, batch=batch, hidden=hidden)[0] == want


@settings(max_examples=6, deadline=None)
@given(name=st.sampled_from(["relrnn", "rellstm", "memrnn"]), T=st.integers(10, 40))
def test_step_work_with_attention_is_what_torch_counts_less_the_masked_slots(name, T):
    """At the bench's sizes the simple loop's products, as torch counts them, are 1 to 1.1
    times :func:`step_work`'s flop: the loop also multiplies out the relevant set's empty
    (masked) slots and s_0's query (the count it should be a floor of); a missing term of
    the query or the key (each over a fifth of a step's flop) or of the backward falls
    outside."""
    from verify.bench.training_steps import BATCH, HIDDEN, NU, RHO, step_work

    counted = _counted_flop(name, T, BATCH, HIDDEN, NU, RHO)
    assert 1.0 <= counted / step_work(name, T)[0] <= 1.1


@settings(max_examples=10, deadline=None)
@given(name=st.sampled_from(["relrnn", "rellstm", "memrnn", "rnn"]), T=st.integers(10, 30),
       batch=st.integers(1, 3), hidden=st.integers(1, 5), nu=st.integers(1, 12),
       rho=st.integers(0, 6))
def test_step_work_tanh_counts_the_attended_states(name, T, batch, hidden, nu, rho):
    """:func:`step_work`'s tanh is n times the (b, t, i) a forward pass attends: counted on
    the recorded weights (alpha > 0) of a run of the model itself (none for rnn)."""
    from verify.bench.training_steps import step_work
    from verify.models import build
    from verify.training import tasks

    spec = tasks.get("copy")
    x, _ = tasks.batch("copy", T, batch, torch.Generator().manual_seed(1), dtype=torch.float64)
    core = build(name, spec.inputs, hidden=hidden, nu=nu, rho=rho, dtype=torch.float64)
    with torch.no_grad():
        alpha = core(x).trace.alpha
    attended = 0 if alpha is None else int((alpha > 0).sum())
    assert step_work(name, T, batch=batch, hidden=hidden, nu=nu, rho=rho)[1] == \
        attended * hidden


def test_the_report_gives_each_step_its_floor():
    """The training table prints each step's work, floor and step / floor, and the rates the
    floor was taken at; a result without them (an older run) prints the table without."""
    from verify.commands.bench import report

    row = {"model": "relrnn", "T": 1000, "step_s": 0.6, "peak_bytes": 2**20,
           "flop": 3.7e9, "tanh": 3.2e7, "floor_s": 0.12}
    base = {"device": "cpu", "device_name": "x", "torch": "2", "threads": 2, "date": "d",
            "loadavg": None, "matmul_flop_per_s_float64": 1e10, "profile": [], "long": None,
            "training": [row]}
    text = report({**base, "matmul_flop_per_s_float32": 9.5e10, "tanh_per_s": 3.6e8})
    assert "95.0 GFLOP/s (float32)" in text and "0.36 G/s" in text
    line = next(x for x in text.splitlines() if x.startswith("relrnn"))
    assert line.split() == ["relrnn", "1000", "600.0", "1.0", "3.700", "0.032", "120.0", "5.0"]
    old = report({**base, "training": [{k: row[k] for k in ("model", "T", "step_s",
                                                              "peak_bytes")}]})
    assert "floor" not in old.split("Training step")[1]


def test_the_report_prints_each_profile_case_and_the_long_profile_from_its_numbers():
    """The profile table's row and the long-horizon line, from hand-made numbers: seconds,
    ratios, GFLOP/s (flop / s / 1e9) and MiB (bytes / 2^20), as a reader checks them."""
    from verify.commands.bench import report

    case = {"pattern": "full", "T": 1000, "n": 64, "measure_s": 0.5, "norms_s": 0.2,
            "vjp_s": 12.0, "speedup_vs_vjp": 24.0, "naive_s": 9e4, "naive_extrapolated": True,
            "floor_s": 0.075, "vs_floor": 0.5 / 0.075, "measure_flop_per_s": 3e9,
            "measure_peak_bytes": 48 * 2**20, "storage_floor_bytes": 32 * 2**20}
    long = {"command": "untangle measure ...", "T": 100000, "n": 64, "measure_s": 55.5,
            "peak_bytes": 3600 * 2**20, "storage_floor_bytes": 3000 * 2**20, "finite": True,
            "log10_norm2_0": -21409.21}
    alone = {k: v for k, v in case.items()  # a case run without the baselines
             if k not in ("norms_s", "vjp_s", "speedup_vs_vjp", "naive_s", "naive_extrapolated")}
    text = report({"device": "cpu", "device_name": "x", "torch": "2", "threads": 2,
                   "date": "d", "loadavg": None, "matmul_flop_per_s_float64": 6e10,
                   "profile": [case, {**alone, "pattern": "window32"}], "long": long,
                   "training": []})
    assert "float64 matrix-product rate: 60.0 GFLOP/s" in text
    row = next(x for x in text.splitlines() if x.startswith("full"))
    assert row.split() == ["full", "1000", "64", "0.5", "0.2", "12", "9e+04*", "0.075", "24.0",
                           "6.7", "3.00", "48.0", "32.0"]
    row = next(x for x in text.splitlines() if x.startswith("window32"))
    assert row.split() == ["window32", "1000", "64", "0.5", "-", "-", "-", "0.075", "-", "6.7",
                           "3.00", "48.0", "32.0"]
    assert ("T = 100000, n = 64: 55.5 s, peak memory 3600 MiB, 1.2x the T n^2 floor of "
            "3000 MiB; log10 norms all finite, log10 ||G_0|| = -21409.2") in text


def test_tanh_rate_is_values_per_second_of_the_models_kernel(monkeypatch):
    """:func:`verify.bench.timing.tanh_rate` times the models' tanh kernel on a tensor of the
    shape and dtype given: with the timing fixed at 2 s, numel / 2 evaluations a second."""
    seen = []

    def fake_timed(fn, device, repeats=3, *, warmup=True, min_s=0.0):
        seen.append(fn())
        return 2.0

    monkeypatch.setattr(timing, "timed", fake_timed)
    rate = timing.tanh_rate((3, 4, 5), torch.float32, torch.device("cpu"))
    assert rate == 3 * 4 * 5 / 2.0
    (out,) = seen
    assert out.shape == (3, 4, 5) and out.dtype == torch.float32
    assert out.abs().max() < 1 and out.std() > 0.1  # tanh of standard normal values
