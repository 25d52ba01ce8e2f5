"""``untangle bench [--device D] [--json] [--quick]``: the benchmarks of :mod:`verify.bench`
in one run: the Jacobian profile (``measure``) against the batched vector-Jacobian product,
the naive per-step Jacobian and the floor (flop count / the matrix-product rate measured in
the same run), the plain-RNN profile at a long horizon (``--long-T``), and training steps per
model against T."""

from __future__ import annotations

import argparse

from verify.commands.common import (
    add_resource_options,
    comma_list,
    progress,
    threads,
    to_json,
)


def _mb(value: float | None) -> str:
    return "      n/a" if value is None else f"{value / 2**20:9.1f}"


def report(result: dict) -> str:
    """The result as two readable tables."""
    lines = [f"untangle bench on {result['device']} ({result['device_name']}), torch "
             f"{result['torch']}, {result['threads']} thread(s), {result['date']}, load "
             f"{result['loadavg']}",
             f"float64 matrix-product rate: {result['matmul_flop_per_s_float64'] / 1e9:.1f} "
             f"GFLOP/s (the floor's rate)", "",
             "Jacobian profile, float64: (a) measure (of which its norms, the SVDs of 2T "
             "matrices), (b) batched VJP, (c) naive per-step jacobian (* extrapolated), "
             "(d) floor = flop / rate",
             f"{'pattern':<10} {'T':>5} {'n':>4} {'(a) s':>9} {'norms s':>8} {'(b) s':>9} "
             f"{'(c) s':>10} {'(d) s':>9} {'b/a':>7} {'a/d':>6} {'GFLOP/s':>8} {'peak MiB':>9} "
             f"{'floor MiB':>9}"]
    for r in result["profile"]:
        naive = (f"{r['naive_s']:9.3g}{'*' if r['naive_extrapolated'] else ' '}"
                 if "naive_s" in r else f"{'-':>10}")
        vjp = f"{r['vjp_s']:9.3g}" if "vjp_s" in r else f"{'-':>9}"
        ratio = f"{r['speedup_vs_vjp']:7.1f}" if "vjp_s" in r else f"{'-':>7}"
        norms = f"{r['norms_s']:8.3g}" if "norms_s" in r else f"{'-':>8}"
        lines.append(f"{r['pattern']:<10} {r['T']:>5} {r['n']:>4} {r['measure_s']:9.3g} "
                     f"{norms} {vjp} "
                     f"{naive} {r['floor_s']:9.3g} {ratio} {r['vs_floor']:6.1f} "
                     f"{r['measure_flop_per_s'] / 1e9:8.2f} {_mb(r['measure_peak_bytes'])} "
                     f"{_mb(r['storage_floor_bytes'])}")
    long = result.get("long")
    if long is not None:
        peak = ("n/a" if long["peak_bytes"] is None else
                f"{long['peak_bytes'] / 2**20:.0f} MiB, "
                f"{long['peak_bytes'] / long['storage_floor_bytes']:.1f}x")
        lines += ["", f"Plain-RNN profile at a long horizon, float64 ({long['command']}):",
                  f"T = {long['T']}, n = {long['n']}: {long['measure_s']:.1f} s, peak memory "
                  f"{peak} the T n^2 floor of {long['storage_floor_bytes'] / 2**20:.0f} MiB; "
                  f"log10 norms {'all finite' if long['finite'] else 'NOT all finite'}, "
                  f"log10 ||G_0|| = {long['log10_norm2_0']:.1f}"]
    if result["training"]:
        lines += ["", *_training(result)]
    return "\n".join(lines)


def _training(result: dict) -> list[str]:
    """The training-step table, with each step's floor where the run measured the rates."""
    head, rates = f"{'model':<14} {'T':>6} {'ms/step':>9} {'peak MiB':>9}", ""
    if any("flop" in r for r in result["training"]):
        head += f" {'GFLOP':>8} {'Gtanh':>7}"
    if "tanh_per_s" in result:
        head += f" {'floor ms':>9} {'x floor':>8}"
        rates = (f"; floor = matrix-product flop at {result['matmul_flop_per_s_float32'] / 1e9:.1f}"
                 f" GFLOP/s (float32) + attention tanh at {result['tanh_per_s'] / 1e9:.2f} "
                 f"G/s, both measured in this run")
    lines = [f"Training step (copy, batch 10, hidden 128, float32): ms per step, peak MiB{rates}",
             head]
    for r in result["training"]:
        if "skipped" in r:
            lines.append(f"{r['model']:<14} {r['T']:>6}  skipped: {r['skipped']}")
            continue
        line = f"{r['model']:<14} {r['T']:>6} {r['step_s'] * 1e3:9.1f} {_mb(r['peak_bytes'])}"
        if "flop" in r:
            line += f" {r['flop'] / 1e9:8.3f} {r['tanh'] / 1e9:7.3f}"
        if "floor_s" in r:
            line += f" {r['floor_s'] * 1e3:9.1f} {r['step_s'] / r['floor_s']:8.1f}"
        lines.append(line)
    return lines


def _bench(args: argparse.Namespace) -> int:
    from verify.bench import estimates, long_T_of, plan, run
    from verify.device import resolve_device
    from verify.resources import check_memory

    threads(args)
    device = resolve_device(args.device)
    sizes = {"quick": args.quick, "profile_T": args.profile_T, "profile_n": args.profile_n,
             "train_T": args.train_T, "training": not args.no_training}
    long_T = long_T_of(quick=args.quick, long_T=args.long_T)
    profile, training = estimates(*plan(device, **sizes), device.type, long_T=long_T)
    profile_options = ("--long-T" if profile[1].startswith("the long")
                       else "--profile-T or --profile-n")
    for (need, what), reduce in ((profile, profile_options),
                                 (training, "--train-T (or pass --no-training)")):
        check_memory(need, device, what=what, reduce=reduce, skip=args.no_memory_check)
    result = run(device, progress=progress(args), long_T=args.long_T, **sizes)
    print(to_json(result) if args.json else report(result))
    return 0


def register(p: argparse.ArgumentParser) -> None:
    """The options of ``untangle bench``."""
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda[:N]")
    p.add_argument("--quick", action="store_true",
                   help="tiny fixed sizes, under a minute on a CPU (a smoke test, not a "
                        "measurement)")
    p.add_argument("--profile-T", type=comma_list(int, 1, distinct=True), metavar="T,..",
                   help="horizons of the profile cases, integers >= 1 (default 250,1000,4000)")
    p.add_argument("--profile-n", type=comma_list(int, 1, distinct=True), metavar="n,..",
                   help="hidden sizes of the profile cases, integers >= 1 (default 64,256)")
    p.add_argument("--train-T", type=comma_list(int, 1, distinct=True), metavar="T,..",
                   help="horizons of the training steps, integers >= K = 10 (the symbols "
                        "the copy task recalls; default: 100,300,1000,3000 on a CPU, and 10000 "
                        "on a GPU)")
    p.add_argument("--long-T", type=int, metavar="T",
                   help="horizon of the long plain-RNN profile (untangle measure --pattern none "
                        "--hidden 64 --spectrum gaussian --gain 1), an integer >= 0; the goal's "
                        "is 100000, minutes on a CPU (default: none, 0 the same)")
    p.add_argument("--no-training", action="store_true", help="profile cases only")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_resource_options(p)
    p.set_defaults(run=_bench)
