"""F5: the tradeoff (THEORY.md sections 4 and 8): the cost of each model against T beside what
it buys, and THEORY.md's tradeoff table generated from measurements.

* figure: seconds per training step against T for rnn, memrnn, relrnn, lstm and rellstm
  (:func:`verify.bench.training_steps.run_case`: copy, hidden 128, batch 10, float32, forward
  + backward + clipping + RMSprop), and the memory of that step: the bytes of the tensors
  autograd keeps for the backward pass (:func:`kept_for_backward`; exact and the same on every
  device; ``run_case``'s peak memory is in the CSV too, but on a CPU it is the growth of the
  resident set, which reads 0 once the allocator holds the warm-up's memory); beside them the
  accuracy (last K steps, fixed evaluation batches) on copy and denoise after the short
  training runs of :mod:`paper_figs.training` (shared with F4 and F6, reused when present).
* table (``f5_tradeoff.md``, :func:`tradeoff_table`): each row of THEORY.md's table (RNN, full
  attention, sliding window, kappa-sparse, relevancy screening) as a real network at one T:
  the asymptotic columns beside measured ones: states attended per step (mean and max |S_t|
  of the weights the run used), forward seconds per step (batch 10, no gradient, no trace:
  the path training and evaluation take), the memory that forward pass keeps for
  backpropagation (batch 10, the same path as the figure's), and log10 ||dh_T/dh_1||
  (``verify.measure``, fixed mode, at initialisation) with the depth d(1, T). The measured
  memory is a training memory: the O(T n) states every row keeps for the backward pass, and
  what its attention adds; the asymptotic column is the inference memory.

Writes ``f5_tradeoff.png``, ``f5_tradeoff.csv`` (the cost rows), ``f5_tradeoff.json`` (cost,
accuracy, table rows, parameters) and ``f5_tradeoff.md`` (the table).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paper_figs import output, training
from paper_figs.networks import inputs
from verify.files import write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import Tensor

    from bounds.patterns import Pattern
    from verify.models import Recurrent

NAME = "f5_tradeoff"
FILES = (f"{NAME}.png", f"{NAME}.csv", f"{NAME}.json", f"{NAME}.md")
#: This figure trains: it takes the runs folder.
TRAINING = True
TASKS = ("copy", "denoise")
#: Per scale: the T of the training-step costs, repeats per timing, and the table's networks:
#: T, hidden n, window nu, sparse kappa, relevancy nu and rho.
SCALES = {
    "tiny": {"cost_Ts": [10], "repeats": 1, "T": 12, "hidden": 4, "width": 3, "kappa": 3,
             "nu": 2, "rho": 2},
    "small": {"cost_Ts": [10, 30, 100], "repeats": 3, "T": 200, "hidden": 64, "width": 10,
              "kappa": 8, "nu": 10, "rho": 15},
    "paper": {"cost_Ts": [100, 300, 1000, 3000], "repeats": 3, "T": 1000, "hidden": 128,
              "width": 10, "kappa": 8, "nu": 10, "rho": 15},
}
SEED = 0
#: Batch of the table's forward timings (THEORY.md section 8's batch).
BATCH = 10
#: THEORY.md section 4's table: row -> (model, states attended per step, forward compute for
#: T steps, inference memory, gradient to a state T - t back).
THEORY_TABLE = {
    "rnn": ("RNN", "0", "O(T n^2)", "O(n)", "upper bound (beta*lambda)^(T-t): vanishes"),
    "memrnn": ("full attention (MemRNN)", "t+1", "O(T n^2 + T^2 n)", "O(T n)", "Omega(1/T)"),
    "window": ("sliding window nu", "nu", "O(T n^2 + T nu n)", "O(nu n)",
               "Omega((gamma*mu/nu)^ceil((T-t)/nu))"),
    "sparse": ("kappa-sparse, depth d", "kappa", "O(T n^2 + T kappa n)", "pattern-dependent",
               "Omega(kappa^-d)"),
    "relevancy": ("relevancy screening nu, rho", "nu + rho", "O(T n^2 + T (nu+rho) n)",
                  "O((nu+rho) n)", "Omega(1/(nu+rho)) for retained events"),
}


def tradeoff_table(rows: Sequence[Mapping[str, object]], T: int, n: int) -> str:
    """THEORY.md section 4's table as Markdown, each asymptotic column beside its measured
    one. Each of ``rows`` has ``key`` (a row of :data:`THEORY_TABLE`), ``label`` (the network
    measured), ``attended_mean``, ``attended_max``, ``step_s`` (forward seconds per step),
    ``kept_bytes`` (memory kept for the backward pass), ``log10_grad`` (log10 ||dh_T/dh_t||),
    ``t`` and ``depth`` (d(t, T)); ``T`` and ``n`` are the networks' length and hidden
    size."""
    if not rows:
        raise ValueError("parameter 'rows' must hold at least one measured row")
    unknown = [r["key"] for r in rows if r["key"] not in THEORY_TABLE]
    if unknown:
        raise ValueError(f"unknown table row {unknown[0]!r}; known: {', '.join(THEORY_TABLE)}")
    t = rows[0]["t"]
    head = ["model (measured network)", "states attended per step", "measured: mean (max)",
            "forward compute, T steps", "measured: us per step", "inference memory",
            "measured: MiB kept for backprop", "gradient to a state T-t back",
            f"measured: log10 norm at T-t = {T - t} (depth d)"]
    lines = [f"Measured at T = {T}, n = {n}, batch {BATCH} (forward time and memory), "
             f"t = {t}; the asymptotic columns are THEORY.md section 4's.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        model, attended, compute, memory, gradient = THEORY_TABLE[r["key"]]
        depth = r["depth"]
        d = f"{depth:.0f}" if np.isfinite(depth) else "inf"
        cells = [f"{model} ({r['label']})", attended,
                 f"{r['attended_mean']:.1f} ({r['attended_max']})", compute,
                 f"{r['step_s'] * 1e6:.1f}", memory, f"{r['kept_bytes'] / 2**20:.2f}", gradient,
                 f"{r['log10_grad']:.3g} (d = {d})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def kept_for_backward(run: Callable[[], Tensor]) -> int:
    """Bytes of the distinct tensor storages kept for the backward pass of the tensor that
    ``run()`` computes (parameters included): those autograd saves, and those the fused
    training path keeps on its tapes (:func:`verify.models.fused.kept_tensors`)."""
    import torch

    from verify.models.fused import kept_tensors

    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = run()  # kept alive until the storages are counted: no address is reused
    for tensor in kept_tensors(out):
        pack(tensor)
    del out
    return sum(storages.values())


def table_networks(p: dict[str, object], device: str) -> dict[str, tuple[str, Recurrent]]:
    """Row key -> (label, network) for the table: tanh networks with Haar-orthogonal V at
    their initialisation (float64), every one seeded by :data:`SEED`."""
    from bounds.patterns import sparse, window
    from verify.models import build, controlled

    n, T = p["hidden"], p["T"]

    def fixed(pattern: Pattern) -> Recurrent:
        return controlled("orthogonal", n, n, "tanh", pattern=pattern, seed=SEED,
                          device=device)

    def zoo(name: str) -> Recurrent:
        return build(name, n, hidden=n, nu=p["nu"], rho=p["rho"], seed=SEED,
                     dtype="float64", device=device)

    return {"rnn": ("rnn", zoo("rnn")), "memrnn": ("memrnn", zoo("memrnn")),
            "window": (f"window nu = {p['width']}", fixed(window(T, p["width"]))),
            "sparse": (f"sparse kappa = {p['kappa']}", fixed(sparse(T, p["kappa"], SEED))),
            "relevancy": (f"relrnn nu = {p['nu']}, rho = {p['rho']}", zoo("relrnn"))}


def table_rows(p: dict[str, object], device: str) -> list[dict[str, object]]:
    """The measured rows of :func:`tradeoff_table` (this module's docstring)."""
    import torch

    from verify.bench.timing import timed
    from verify.device import resolve_device
    from verify.measurement import measure

    dev = resolve_device(device)
    T, n, t = p["T"], p["hidden"], 1
    x = inputs(T, n, SEED)
    batch = torch.as_tensor(np.random.default_rng([SEED, 2]).standard_normal((BATCH, T, n)),
                            device=dev)
    rows = []
    for key, (label, model) in table_networks(p, device).items():
        m = measure(model, x)
        sizes = m.pattern.support_sizes()

        def forward(model: Recurrent = model) -> None:
            with torch.no_grad():
                model(batch, trace=False)
        forward()  # warm-up
        rows.append({"key": key, "label": label, "attended_mean": float(sizes.mean()),
                     "attended_max": int(m.kappa),
                     "step_s": timed(forward, dev, p["repeats"]) / T,
                     "kept_bytes": kept_for_backward(
                         lambda model=model: model(batch, trace=False).h),
                     "log10_grad": float(m.log10_norm2[t]), "t": t,
                     "depth": float(m.depth[t])})
    return rows


def costs(p: dict[str, object], device: str) -> list[dict[str, object]]:
    """Per model and T: :func:`verify.bench.training_steps.run_case` (float32), with
    ``kept_bytes``, the memory the step's forward keeps for its backward pass (the same model,
    batch and dtype)."""
    import torch

    from verify.bench.training_steps import BATCH as STEP_BATCH
    from verify.bench.training_steps import HIDDEN, NU, RHO, run_case
    from verify.device import resolve_device
    from verify.models import Classifier, build
    from verify.training import tasks

    dev = resolve_device(device)
    spec = tasks.get("copy")
    rows = []
    for model in training.MODELS:
        for T in p["cost_Ts"]:
            row = run_case(model, T, torch.float32, dev, repeats=p["repeats"])
            if "skipped" not in row:
                net = Classifier(build(model, spec.inputs, hidden=HIDDEN, nu=NU, rho=RHO,
                                       dtype=torch.float32, device=dev), spec.classes)
                x, y = tasks.batch("copy", T, STEP_BATCH, torch.Generator().manual_seed(0),
                                   device=dev)
                row["kept_bytes"] = kept_for_backward(lambda net=net, x=x, y=y: tasks.loss(
                    net(x)[0], y))
            rows.append(row)
    return rows


def draw(cost: list[dict], accuracy: dict[str, dict[str, float]], p: dict[str, object]) -> Figure:
    from matplotlib.figure import Figure

    from verify.bench.training_steps import BATCH as STEP_BATCH
    from verify.bench.training_steps import HIDDEN
    from verify.training.tasks import SYMBOLS

    fig = Figure(figsize=(12, 4.6))
    time_ax, mem_ax, acc_ax = fig.subplots(1, 3)
    for i, model in enumerate(training.MODELS):
        mine = [r for r in cost if r["model"] == model and "step_s" in r]
        Ts = [r["T"] for r in mine]
        time_ax.plot(Ts, [r["step_s"] for r in mine], "o-", color=f"C{i}", label=model)
        mem_ax.plot(Ts, [r["kept_bytes"] / 2**20 for r in mine], "o-", color=f"C{i}",
                    label=model)
    for ax, what in ((time_ax, "seconds per training step"),
                     (mem_ax, "memory kept for the backward pass (MiB)")):
        ax.set(xscale="log", yscale="log", xlabel="T (sequence length T + 20)", ylabel=what)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    time_ax.set_title(f"training step on copy (hidden {HIDDEN}, batch {STEP_BATCH})",
                      fontsize=10)
    mem_ax.set_title("activations of that step", fontsize=10)
    xs = np.arange(len(training.MODELS))
    for j, task in enumerate(TASKS):
        acc_ax.bar(xs + (j - 0.5) * 0.38, [accuracy[task][m] for m in training.MODELS], 0.38,
                   color=f"C{j + 5}", label=task)
    acc_ax.axhline(1 / SYMBOLS, color="k", ls=":", lw=1, label=f"chance (1/{SYMBOLS})")
    acc_ax.set_xticks(xs, training.MODELS)
    acc_ax.set_ylim(0, 1)
    acc_ax.set_ylabel("accuracy on the last K steps")
    cfg = training.SCALES[p["train_scale"]]
    acc_ax.set_title(f"after {cfg['steps']} steps, T = {cfg['T']}, hidden {cfg['hidden']}",
                     fontsize=10)
    acc_ax.legend(fontsize=8)
    acc_ax.grid(alpha=0.3, axis="y")
    fig.suptitle("F5: cost against T, beside accuracy on copy and denoise", fontsize=11)
    fig.tight_layout()
    return fig


def make(out: Path, scale: str = "small", device: str = "cpu", *, force: bool = False,
         runs: Path | None = None, command: str | None = None) -> dict[str, object]:
    """Time, train (or reuse), measure, draw and write F5 under ``out``; returns the JSON's
    data."""
    p = output.params(SCALES, scale) | {"train_scale": scale}
    runs = training.runs_folder(runs, out)
    command = command or output.command(NAME, out, scale, device)
    with output.Run(NAME, out, FILES, force, command) as run:
        cost = costs(p, device)
        summaries = {task: {model: training.summary(training.trained(task, model, scale, runs,
                                                                     device))
                            for model in training.MODELS} for task in TASKS}
        accuracy = {task: {m: s["eval_accuracy"] for m, s in by_model.items()}
                    for task, by_model in summaries.items()}
        rows = table_rows(p, device)
        write_text(run.path(f"{NAME}.md"), tradeoff_table(rows, p["T"], p["hidden"]))
        data = {"scale": scale, "params": p, "cost": cost, "accuracy": accuracy,
                "training": {task: {m: {k: s[k] for k in ("config", "steps", "wall_s", "cpu_s",
                                                          "checkpoint")}
                                    for m, s in by_model.items()}
                             for task, by_model in summaries.items()},
                "table": rows}
        run.write([{"model": r["model"], "T": r["T"], "step_s": r.get("step_s", np.nan),
                    "kept_bytes": r.get("kept_bytes"), "peak_bytes": r.get("peak_bytes"),
                    "skipped": r.get("skipped", "")} for r in cost],
                  data, draw(cost, accuracy, p))
    return data


main = output.entry(NAME, make)


if __name__ == "__main__":
    sys.exit(main())
