"""The benchmark record (paper_figs.bench_record) on fixed, hand-made bench results: every goal
read from the right case and compared with its threshold, slopes against T fitted on times
with a known power law."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paper_figs import bench_record

TRAIN_T = (100, 300, 1000, 3000)


def result(*, speedup: float = 20.0, vs_floor: float = 2.0, peak_ratio: float = 1.5,
           relrnn_ms: float = 100.0, rnn_over_ten_line: float = 0.9,
           powers: dict[str, float] | None = None, long_s: float = 50.0, finite: bool = True,
           device: str = "cuda") -> dict:
    """A bench result with the goal case (full, T = 1000, n = 64) and a distractor case (window,
    same sizes) whose numbers would fail every goal, training steps t(T) = c (T/100)^p, and
    the long plain-RNN profile (T = 100000) taking ``long_s`` seconds."""
    powers = {"rnn": 1.0, "ten-line rnn": 1.0, "relrnn": 1.0, "memrnn": 2.0, **(powers or {})}
    storage = 1000 * 64 * 64 * 8.0

    def case(pattern: str, speedup: float, vs_floor: float, peak_ratio: float) -> dict:
        measure_s = 0.5
        return {"pattern": pattern, "T": 1000, "n": 64, "measure_s": measure_s,
                "vjp_s": measure_s * speedup, "speedup_vs_vjp": speedup,
                "floor_s": measure_s / vs_floor, "vs_floor": vs_floor,
                "measure_peak_bytes": peak_ratio * storage, "storage_floor_bytes": storage,
                "measure_flop_per_s": 1e9}

    training = []
    for model, p in powers.items():
        scale = {"ten-line rnn": 0.01, "rnn": 0.01 * rnn_over_ten_line,
                 "relrnn": relrnn_ms / 1e3 / 10**p}.get(model, 0.05)  # relrnn_ms at 1000
        for T in TRAIN_T:
            training.append({"model": model, "T": T, "step_s": scale * (T / 100) ** p,
                             "peak_bytes": 1e6})
    floor = 100_000 * 64 * 64 * 8.0
    long = {"T": 100_000, "n": 64, "command": "untangle measure ...", "measure_s": long_s,
            "peak_bytes": 1.2 * floor, "storage_floor_bytes": floor, "finite": finite,
            "log10_norm2_0": -21409.2}
    return {"date": "2026-01-01T00:00:00", "device": device, "device_name": "x86_64",
            "torch": "2.13.0", "threads": 1, "loadavg": [0.1, 0.1, 0.1], "quick": False,
            "matmul_flop_per_s_float64": 1e10,
            "profile": [case("window32", 1.0, 100.0, 50.0),
                        case("full", speedup, vs_floor, peak_ratio)],
            "long": long, "training": training}


def met(res: dict) -> dict[str, bool | None]:
    return {goal.split(" (")[0]: ok for goal, _, ok in bench_record.goals(res)}


GPU_GOAL = "on a GPU: measure within 2x the floor"
LONG_GOAL = "plain-RNN profile at T = 100000, n = 64 in under 60 s with every log10 norm finite"


def test_every_goal_met_on_a_run_that_meets_them():
    got = met(result())
    assert len(got) == 10 and all(ok is True for ok in got.values()), got


def test_a_cpu_run_says_the_gpu_goal_is_not_measured():
    """Without a GPU the record says so in the goal's row, and every other goal is read as
    on a GPU run."""
    rows = {goal.split(" (")[0]: (measured, ok)
            for goal, measured, ok in bench_record.goals(result(device="cpu"))}
    assert rows[GPU_GOAL] == ("no GPU in this run (device cpu)", None)
    assert all(ok is True for name, (_, ok) in rows.items() if name != GPU_GOAL)
    assert "no GPU in this run" in bench_record.markdown(result(device="cpu"), "untangle bench")


@pytest.mark.parametrize("T, vs_floor, ok", [(1000, 2.0, True), (1000, 2.01, False),
                                             (4000, 2.5, False), (250, 9.0, True)])
def test_the_gpu_goal_takes_every_full_case_from_t_1000(T, vs_floor, ok):
    """Full-attention cases with T >= 1000 must be within 2 floors on a GPU; a T = 250 case
    and the window distractor (100 floors) do not count."""
    res = result(device="cuda:0")
    res["profile"].append({**res["profile"][1], "T": T, "vs_floor": vs_floor})
    assert met(res)[GPU_GOAL] is ok


def test_the_long_profile_goal_needs_its_horizon():
    """A long case at another horizon (the quick run's) does not decide the goal."""
    res = result()
    res["long"] = {**res["long"], "T": 500}
    got = {goal.split(" (")[0]: (m, ok) for goal, m, ok in bench_record.goals(res)}
    assert got[LONG_GOAL] == ("run at T = 500 only", None)
    res["long"] = None
    assert met(res)[LONG_GOAL] is None


def test_the_floor_goal_shows_the_share_of_the_norms():
    """Where a row times measure's norms, the floor goal says how many floors they take (0.3 s
    of norms over a floor of 0.25 s: 1.2x); an older row without that time says nothing."""
    res = result()
    res["profile"][1]["norms_s"] = 0.3
    text = {goal.split(" (")[0]: measured for goal, measured, _ in bench_record.goals(res)}
    assert "its norms, 0.3 s, are 1.2x" in text["measure within 3x the floor"]
    text = {goal.split(" (")[0]: measured for goal, measured, _ in
            bench_record.goals(result())}
    assert "norms" not in text["measure within 3x the floor"]
    assert "0.3" in bench_record.markdown(res, "untangle bench")


@pytest.mark.parametrize("change, goal", [
    ({"speedup": 9.9}, "measure >= 10x faster than the batched VJP"),
    ({"vs_floor": 3.1}, ("measure within 3x the floor", GPU_GOAL)),
    ({"peak_ratio": 2.1}, "peak memory <= 2x the T n^2 storage floor"),
    ({"relrnn_ms": 136.0}, "relrnn training step at T = 1000 <= 135 ms"),
    ({"rnn_over_ten_line": 1.1}, "rnn step no slower than the ten-line RNN at every T"),
    ({"powers": {"rnn": 1.5, "ten-line rnn": 1.5}}, "rnn step linear in T"),
    ({"powers": {"relrnn": 1.5}}, "relrnn step linear in T"),
    ({"powers": {"memrnn": 1.0}}, "memrnn step quadratic in T"),
    ({"long_s": 60.0}, LONG_GOAL),
    ({"finite": False}, LONG_GOAL),
    ({"vs_floor": 2.1}, GPU_GOAL),
])
def test_each_goal_fails_alone_past_its_threshold(change, goal):
    """Past one threshold that goal fails (the floor's 3.1x fails the GPU's 2x as well) and
    every other goal still holds."""
    goals = goal if isinstance(goal, tuple) else (goal,)
    got = met(result(**change))
    assert all(got[g] is False for g in goals), got
    others = {k: v for k, v in got.items() if k not in goals}
    assert all(others.values()), others


@pytest.mark.parametrize("change", [
    {"speedup": 10.0}, {"vs_floor": 2.0}, {"peak_ratio": 2.0}, {"relrnn_ms": 135.0},
    {"rnn_over_ten_line": 1.0},
])
def test_each_goal_holds_at_its_threshold(change):
    """Each goal is 'at least', 'within' or 'at most' its threshold: reaching it exactly
    meets it (10x the VJP, 2x the floor on a GPU, 2x the storage, 135 ms, the ten-line RNN's
    time)."""
    got = met(result(**change))
    assert all(got.values()), got


def test_the_long_goal_states_its_peak_over_the_storage_floor():
    """The long profile's row gives its time, its norms' finiteness and its peak memory as a
    multiple of the T n^2 floor (1.2x in :func:`result`)."""
    got = {goal.split(" (")[0]: measured for goal, measured, _ in bench_record.goals(result())}
    assert got[LONG_GOAL] == "50 s, log10 norms finite, peak memory 1.2x the T n^2 floor"


@settings(max_examples=30, deadline=None)
@given(p=st.floats(0.5, 2.5), c=st.floats(1e-4, 1.0))
def test_slope_recovers_a_power_law(p, c):
    """t(T) = c T^p exactly: the fitted log-log slope is p to rounding (1e-9)."""
    rows = [{"model": "m", "T": T, "step_s": c * T**p} for T in TRAIN_T]
    assert bench_record.slope(rows, "m") == pytest.approx(p, abs=1e-9)


def test_slope_uses_the_upper_half_of_the_grid():
    """Constant below T = 300, linear from there: the upper half (300, 1000, 3000) is linear."""
    rows = [{"model": "m", "T": T, "step_s": max(T, 300) * 1e-3} for T in TRAIN_T]
    assert bench_record.slope(rows, "m") == pytest.approx(1.0, abs=1e-9)


def test_missing_cases_are_not_measured():
    res = result()
    res["profile"] = res["profile"][:1]  # only the window case
    res["training"] = [r for r in res["training"] if r["model"] != "relrnn"]
    got = met(res)
    assert got["measure >= 10x faster than the batched VJP"] is None
    assert got["relrnn training step at T = 1000 <= 135 ms"] is None
    assert "measure within 3x the floor" not in got


def test_record_written_once_and_refused_after(tmp_path, capsys, atomic_writes):
    src = tmp_path / "r.json"
    src.write_text(json.dumps(result(speedup=5.0)))
    out = tmp_path / "rec"
    out.mkdir()
    argv = [str(src), "--out", str(out), "--command", "untangle bench --json"]
    assert bench_record.main(argv) == 0
    text = (out / "bench.md").read_text()
    assert "`untangle bench --json`" in text and "**not met**" in text
    assert "| measure >= 10x faster than the batched VJP (full, T = 1000, n = 64) | 5.0x" in text
    assert json.loads((out / "bench.json").read_text()) == json.loads(src.read_text())
    assert atomic_writes == ["bench.md", "bench.json"]  # each written atomically
    capsys.readouterr()
    assert bench_record.main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert bench_record.main([*argv, "--force"]) == 0
    assert bench_record.main([str(tmp_path / "none.json"), "--out", str(out), "--command",
                              "x"]) == 2


def test_the_relrnn_goal_says_how_many_floors_it_allows():
    """Where the relrnn step at T = 1000 has its floor, the goal's row gives step / floor and
    goal / floor (0.6 s over 0.1 s: 6.0x; 135 ms over 100 ms: 1.35x); the verdict is the
    step's time against 135 ms alone; a row without a floor (an older run) says neither."""
    goal = "relrnn training step at T = 1000 <= 135 ms"
    res = result(relrnn_ms=600.0)
    row = next(r for r in res["training"] if (r["model"], r["T"]) == ("relrnn", 1000))
    plain = {g: (m, ok) for g, m, ok in bench_record.goals(res)}[goal]
    assert plain == ("600 ms", False)
    row["floor_s"] = 0.1
    got = {g: (m, ok) for g, m, ok in bench_record.goals(res)}[goal]
    assert got == ("600 ms (6.0x its floor of 100 ms on this machine; the goal is 1.35x it)",
                   False)
    row["step_s"] = 0.1
    assert {g: ok for g, _, ok in bench_record.goals(res)}[goal] is True
