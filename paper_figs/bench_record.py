"""The committed benchmark record: an ``untangle bench --json`` result as Markdown, with the
performance goals checked against the numbers of that one run (ratios within the run, never
times across runs).

Goals (at T = 1000, n = 64, full attention, float64; training steps float32, copy, batch 10,
hidden 128):

* ``measure`` at least 10 times faster than the batched vector-Jacobian product (b);
* ``measure`` within 3 times the floor (d) = flop count / the matrix-product rate of the run;
* ``measure``'s peak memory at most 2 times the T n^2 storage floor;
* a relrnn training step at T = 1000 in at most 135 ms (a tenth of the authors' reference,
  1345 ms on this CPU when the goal was set); where the run has the step's floor
  (:func:`verify.bench.training_steps.floor_s`) the record says how many floors that is;
* the rnn step no slower than the ten-line plain-PyTorch RNN at every T, and linear in T;
* relrnn's step linear in T, memrnn's quadratic: the log-log slope of step time against T over
  the upper half of the T grid (1 linear, 2 quadratic);
* the plain-RNN profile at T = 100000, n = 64 (the bench's long case) in under a minute, with
  every log10 norm finite;
* on a GPU, ``measure`` within 2 times the floor at every full-attention case with T >= 1000
  (not measured on a run without one, and the record says so).

``python -m paper_figs.bench_record RESULT.json --out DIR`` writes ``DIR/bench.md`` and
``DIR/bench.json`` (the result, unchanged), refusing to overwrite either without ``--force``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

#: The goals' case: pattern, T, n of the profile; the training T.
GOAL_CASE = ("full", 1000, 64)
GOAL_TRAIN_T = 1000
#: The relrnn step goal in seconds: a tenth of the authors' reference implementation's step.
RELRNN_STEP_GOAL_S = 0.135
FILES = ("bench.md", "bench.json")
#: The long plain-RNN profile's goal: its horizon and the seconds it may take.
LONG_GOAL_T, LONG_GOAL_S = 100_000, 60.0
#: On a GPU: measure within this many floors at every full-attention case with T >= 1000.
GPU_FLOORS, GPU_MIN_T = 2.0, 1000


def slope(rows: Sequence[Mapping[str, object]], model: str) -> float:
    """Least-squares slope of log step time against log T for ``model`` over the upper half of
    its T grid (the T from the lower median up; nan with fewer than two)."""
    pts = sorted((r["T"], r["step_s"]) for r in rows if r["model"] == model and "step_s" in r)
    pts = pts[max(0, (len(pts) - 1) // 2):]
    if len(pts) < 2:
        return float("nan")
    x, y = np.log(np.array(pts, dtype=float)).T
    return float(np.polyfit(x, y, 1)[0])


def goals(result: Mapping[str, object]) -> list[tuple[str, str, bool | None]]:
    """(goal, measured, met) for each goal of the module docstring; met is None where the run
    lacks the case."""
    out: list[tuple[str, str, bool | None]] = []
    pattern, T, n = GOAL_CASE
    case = next((r for r in result["profile"]
                 if (r["pattern"], r["T"], r["n"]) == GOAL_CASE), None)
    where = f"{pattern}, T = {T}, n = {n}"
    if case is None or "vjp_s" not in case:
        out.append((f"measure >= 10x faster than the batched VJP ({where})", "not run", None))
    else:
        out.append((f"measure >= 10x faster than the batched VJP ({where})",
                    f"{case['speedup_vs_vjp']:.1f}x ({case['measure_s']:.3g} s against "
                    f"{case['vjp_s']:.3g} s)", case["speedup_vs_vjp"] >= 10))
    if case is not None:
        norms = (f"; its norms, {case['norms_s']:.3g} s, are "
                 f"{case['norms_s'] / case['floor_s']:.1f}x" if "norms_s" in case else "")
        out.append((f"measure within 3x the floor ({where})",
                    f"{case['vs_floor']:.1f}x ({case['floor_s']:.3g} s floor{norms})",
                    case["vs_floor"] <= 3))
        ratio = case["measure_peak_bytes"] / case["storage_floor_bytes"]
        out.append((f"peak memory <= 2x the T n^2 storage floor ({where})",
                    f"{ratio:.1f}x ({case['measure_peak_bytes'] / 2**20:.1f} MiB against "
                    f"{case['storage_floor_bytes'] / 2**20:.1f} MiB)", ratio <= 2))
    steps = {(r["model"], r["T"]): r.get("step_s") for r in result["training"]}
    out.append(_relrnn_goal(result["training"]))
    Ts = sorted({T for (m, T) in steps if m == "rnn"})
    pairs = [(T, steps[("rnn", T)], steps.get(("ten-line rnn", T))) for T in Ts]
    pairs = [(T, a, b) for T, a, b in pairs if a is not None and b is not None]
    if pairs:
        out.append(("rnn step no slower than the ten-line RNN at every T",
                    ", ".join(f"T = {T}: {a / b:.2f}x" for T, a, b in pairs),
                    all(a <= b for _, a, b in pairs)))
    for model, want, tol in (("rnn", 1.0, 0.25), ("relrnn", 1.0, 0.25), ("memrnn", 2.0, 0.35)):
        s = slope(result["training"], model)
        kind = "linear" if want == 1.0 else "quadratic"
        out.append((f"{model} step {kind} in T (log-log slope {want:g} +- {tol:g}, upper half "
                    f"of the T grid)", f"{s:.2f}",
                    None if np.isnan(s) else abs(s - want) <= tol))
    out.append(_long_goal(result.get("long")))
    out.append(_gpu_goal(result))
    return out


def _relrnn_goal(rows: Sequence[Mapping[str, object]]) -> tuple[str, str, bool | None]:
    """The relrnn step goal, with the step's floor where the run has it: how many floors the
    goal allows (a goal below 1 floor cannot be met on that machine)."""
    goal = f"relrnn training step at T = {GOAL_TRAIN_T} <= {RELRNN_STEP_GOAL_S * 1e3:.0f} ms"
    row = next((r for r in rows if (r["model"], r["T"]) == ("relrnn", GOAL_TRAIN_T)
                and "step_s" in r), None)
    if row is None:
        return goal, "not run", None
    measured = f"{row['step_s'] * 1e3:.0f} ms"
    if "floor_s" in row:
        measured += (f" ({row['step_s'] / row['floor_s']:.1f}x its floor of "
                     f"{row['floor_s'] * 1e3:.0f} ms on this machine; the goal is "
                     f"{RELRNN_STEP_GOAL_S / row['floor_s']:.2f}x it)")
    return goal, measured, row["step_s"] <= RELRNN_STEP_GOAL_S


def _long_goal(long: Mapping[str, object] | None) -> tuple[str, str, bool | None]:
    goal = (f"plain-RNN profile at T = {LONG_GOAL_T}, n = 64 in under {LONG_GOAL_S:.0f} s "
            f"with every log10 norm finite")
    if long is None or long["T"] != LONG_GOAL_T:
        return goal, "not run" if long is None else f"run at T = {long['T']} only", None
    peak = ("" if long["peak_bytes"] is None else
            f", peak memory {long['peak_bytes'] / long['storage_floor_bytes']:.1f}x the T n^2 "
            f"floor")
    return (goal, f"{long['measure_s']:.0f} s, log10 norms "
                  f"{'finite' if long['finite'] else 'NOT all finite'}{peak}",
            long["measure_s"] < LONG_GOAL_S and bool(long["finite"]))


def _gpu_goal(result: Mapping[str, object]) -> tuple[str, str, bool | None]:
    goal = (f"on a GPU: measure within {GPU_FLOORS:g}x the floor (full, every T >= "
            f"{GPU_MIN_T})")
    if not str(result["device"]).startswith("cuda"):
        return goal, f"no GPU in this run (device {result['device']})", None
    rows = [r for r in result["profile"] if r["pattern"] == GOAL_CASE[0] and r["T"] >= GPU_MIN_T]
    if not rows:
        return goal, "not run", None
    worst = max(rows, key=lambda r: r["vs_floor"])
    return (goal, f"{worst['vs_floor']:.1f}x at worst (T = {worst['T']}, n = {worst['n']})",
            worst["vs_floor"] <= GPU_FLOORS)


def markdown(result: Mapping[str, object], command: str) -> str:
    """The record: the command, the run's machine, the goals table and the bench's report."""
    from verify.commands.bench import report

    mark = {True: "met", False: "**not met**", None: "not measured"}
    lines = ["# `untangle bench`: recorded run", "",
             f"Command: `{command}`", "",
             f"Date {result['date']}, device {result['device']} ({result['device_name']}), "
             f"torch {result['torch']}, {result['threads']} thread(s), load average at the start "
             f"{result['loadavg']}.", "",
             "## Goals (ratios within this run)", "",
             "| goal | measured | |", "|---|---|---|"]
    lines += [f"| {g} | {m} | {mark[ok]} |" for g, m, ok in goals(result)]
    lines += ["", "## The run", "", "```", report(result), "```", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m paper_figs.bench_record",
                                description="Write an untangle bench --json result as the "
                                            "committed benchmark record (Markdown and JSON).")
    p.add_argument("result", type=Path, help="the output of untangle bench --json")
    p.add_argument("--out", type=Path, required=True, help="folder for bench.md, bench.json")
    p.add_argument("--command", required=True, help="the bench command that made the result")
    p.add_argument("--force", action="store_true", help="overwrite the record")
    args = p.parse_args(argv)
    from verify.files import input_file, write_text

    try:
        input_file(args.result, "result", "untangle bench --json result")
        result = json.loads(args.result.read_text())
        if not args.out.is_dir():
            raise ValueError(f"parameter 'out': {str(args.out)!r} is not a folder")
        targets = [args.out / name for name in FILES]
        there = [t for t in targets if t.exists()]
        if there and not args.force:
            raise ValueError(f"{str(there[0])!r} exists; pass --force to overwrite it")
        text = markdown(result, args.command)
    except (ValueError, OSError, KeyError, json.JSONDecodeError) as err:
        print(f"bench_record: error: {err}", file=sys.stderr)
        return 2
    write_text(targets[0], text)
    write_text(targets[1], json.dumps(result, indent=1) + "\n")
    print(f"wrote {targets[0]} and {targets[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
