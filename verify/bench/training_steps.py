"""The training-step benchmark (THEORY.md section 8's reference settings): one step of
forward, backward, clipping at norm 1 and RMSprop on the copy task, per model and T, beside a
plain unrolled RNN written in ten lines of PyTorch (:func:`ten_line_rnn`), on the same batch.

memrnn attends every earlier state, so its work grows as T^2: cases whose memory estimate
exceeds :data:`MEMRNN_BUDGET` bytes, or whose attention work exceeds :data:`MEMRNN_TANH` on
the device kind, are skipped and say so.

**The step's floor** (:func:`step_work`, :func:`floor_s`): the matrix products a step cannot
do without, at the float32 matrix-product rate measured in the same run, plus the attention's
tanh evaluations (``e = v^T tanh(W_s s + W_h h_i)``, THEORY.md section 1: B n |S_t| values at
step t), at the tanh rate measured in the same run on one relevant-set step's values (the
kernel the models use, :func:`verify.models.tanh.tanh_values`). Other elementwise work (the
cell's own nonlinearity, softmax, the optimiser) is left out, so it is a lower floor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from verify.bench.timing import peak_memory, timed
from verify.models import Classifier, build
from verify.resources import estimate_forward, estimate_train
from verify.training import tasks
from verify.training.config import Config

HIDDEN, BATCH, NU, RHO = 128, 10, 10, 15
#: One relevant-set step's attention values (B, nu + rho, n): the tanh rate's tensor.
ATTENTION_SHAPE = (BATCH, NU + RHO, HIDDEN)
#: Largest estimated memrnn activation memory a case may take (bytes).
MEMRNN_BUDGET = 4 * 2**30
#: Most tanh evaluations of memrnn's attention a case may take per step (:func:`memrnn_tanh`),
#: by device kind: in the recorded run, 1.3e9 of them (T = 1000) took a 2.3 s step on 2 CPU
#: threads, so T = 3000 (1.2e10) would take about 20 s a step, and a few of them for its time.
MEMRNN_TANH = {"cpu": 2e9, "cuda": 1e12}


def _batch(T: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tasks.batch("copy", T, BATCH, torch.Generator().manual_seed(0), dtype=dtype,
                       device=device)


def _stepper(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.99)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        logits, _ = model(x)
        tasks.loss(logits, y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step


def ten_line_rnn(T: int, dtype: torch.dtype, device: torch.device):
    """A step of the plain tanh RNN as one writes it in ten lines (per-step input slicing)."""
    x, y = _batch(T, dtype, device)
    g = torch.Generator().manual_seed(0)
    n, m = HIDDEN, x.shape[-1]
    V, U, W = (torch.randn(*s, generator=g, dtype=dtype).div(s[1] ** 0.5).to(device)
               .requires_grad_() for s in ((n, n), (n, m), (9, n)))
    b, c = (torch.zeros(k, dtype=dtype, device=device, requires_grad=True) for k in (n, 9))
    opt = torch.optim.RMSprop([V, U, W, b, c], lr=1e-3, alpha=0.99)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        h, hs = x.new_zeros(BATCH, n), []
        for t in range(x.shape[1]):
            h = torch.tanh(x[:, t] @ U.T + h @ V.T + b)
            hs.append(h)
        loss = F.cross_entropy((torch.stack(hs, 1) @ W.T + c).flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_([V, U, W, b, c], 1.0)
        opt.step()
    return step


def _model(name: str) -> str:
    """The model whose work and memory a case has: rnn for the ten-line baseline."""
    return "rnn" if name == "ten-line rnn" else name


def slots(name: str, t: int, *, nu: int = NU, rho: int = RHO) -> int:
    """|S_t|: the states step t attends (THEORY.md sections 1 and 7): for relrnn and rellstm the
    buffer's min(t, nu) and the relevant set's min(t - nu, rho) (0 before any state left the
    buffer), for memrnn all of h_1..h_t, for rnn and lstm none."""
    if name in ("relrnn", "rellstm"):
        return min(t, nu) + min(max(t - nu, 0), rho)
    return t if name == "memrnn" else 0


def step_work(name: str, T: int, *, batch: int = BATCH, hidden: int = HIDDEN, nu: int = NU,
              rho: int = RHO) -> tuple[float, float]:
    """``(flop, tanh)`` of one training step of ``name`` on the copy task at delay T (L = T + 20
    steps, m inputs, C classes, B = ``batch``, n = ``hidden``, P = n or 4n for an LSTM cell):

    * flop, the matrix products' 2 x multiply-adds, forward and backward: at every step the
      cell's ``[U | V] [x; s]`` (2 B (m + n) P, and its weights' gradients the same; the
      gradient of s_t from t >= 1, 2 B n P) and the read-out (6 B n C); where step t attends
      |S_t| > 0 states (:func:`slots`), its query ``W_s s`` (2 B n^2, its weight's gradient the
      same, and s's from t >= 2), logits and context (10 B n |S_t|: 2 each forward, dv, dalpha
      and the slot values' gradient); each attended state's key ``W_h h_i`` (6 B n^2);
    * tanh, the attention's evaluations: B n sum_t |S_t|.
    """
    task = tasks.get("copy")
    L, B, n, C, m = tasks.sequence_length(T), batch, hidden, task.classes, task.inputs
    P = 4 * n if name in ("lstm", "rellstm") else n
    flop = L * (4 * B * (m + n) * P + 6 * B * n * C) + (L - 1) * 2 * B * n * P
    sizes = [slots(name, t, nu=nu, rho=rho) for t in range(L)]
    attending = [t for t, size in enumerate(sizes) if size]
    flop += sum(4 * B * n * n + (2 * B * n * n if t >= 2 else 0) for t in attending)
    flop += 10 * B * n * sum(sizes)
    if attending:
        flop += 6 * B * n * n * (L - 1)  # h_1 .. h_{L-1}: each attended by the next step
    return float(flop), float(B * n * sum(sizes))


def floor_s(work: tuple[float, float], flop_per_s: float, tanh_per_s: float) -> float:
    """Seconds of :func:`step_work`'s ``(flop, tanh)`` at the given rates (module docstring)."""
    flop, tanh = work
    return flop / flop_per_s + tanh / tanh_per_s


def memrnn_tanh(T: int) -> float:
    """tanh evaluations of memrnn's attention in one training step: B n t at every step t of
    the forward pass, and again in the backward (the fused path recomputes them): B n T^2."""
    return float(BATCH * HIDDEN) * T * T


def memrnn_bytes(T: int, dtype: torch.dtype) -> float:
    """Activation memory of a memrnn step on the fused path (:mod:`verify.models.fused`): the
    attention weights it keeps, B T^2 / 2 values, and twice a forward pass's states and heap
    fragments (:func:`verify.resources.estimate_forward`: the forward, then the backward's
    per-step temporaries of the same sizes)."""
    name = str(dtype).removeprefix("torch.")
    forward = estimate_forward(Config(model="memrnn", T=T, hidden=HIDDEN, dtype=name), T,
                               BATCH)
    return BATCH * T * T / 2 * torch.finfo(dtype).bits / 8 + 2 * forward


def skipped(name: str, T: int, dtype: torch.dtype, kind: str = "cpu") -> str | None:
    """Why the case is skipped on a device of ``kind`` (memrnn beyond :data:`MEMRNN_BUDGET`
    or :data:`MEMRNN_TANH`), or None."""
    if name != "memrnn":
        return None
    if memrnn_bytes(T, dtype) > MEMRNN_BUDGET:
        return f"needs ~{memrnn_bytes(T, dtype) / 2**30:.0f} GiB of activations"
    budget = MEMRNN_TANH.get(kind, MEMRNN_TANH["cuda"])
    if memrnn_tanh(T) > budget:
        return (f"{memrnn_tanh(T):.1e} attention tanh a step, over the {kind} budget of "
                f"{budget:.0e}")
    return None


def estimate(name: str, T: int, kind: str = "cpu") -> int:
    """Bytes a training-step case needs on a device of ``kind`` (0 when it is skipped):
    memrnn's :func:`memrnn_bytes`; for the others :func:`verify.resources.estimate_train` of
    the model at the benchmark's sizes (the ten-line rnn as rnn), an upper estimate (it
    counts the float64 gradient profile of a training run; a step here is float32)."""
    if skipped(name, T, torch.float32, kind) is not None:
        return 0
    if name == "memrnn":
        return int(memrnn_bytes(T, torch.float32))
    return estimate_train(Config(model=_model(name), T=T, hidden=HIDDEN, batch=BATCH, nu=NU,
                                 rho=RHO))


def run_case(name: str, T: int, dtype: torch.dtype, device: torch.device,
             repeats: int = 3, min_s: float = 0.0, *,
             rates: tuple[float, float] | None = None) -> dict[str, object]:
    """Seconds per training step (median of at least ``repeats`` steps and ``min_s`` seconds:
    :func:`verify.bench.timing.timed`) and peak memory of model ``name`` at delay T
    (``name == "ten-line rnn"`` is the baseline, with rnn's work); its work (``flop``,
    ``tanh``: :func:`step_work`) and, given ``rates`` (matrix-product flop/s, tanh/s of the
    run), its floor ``floor_s`` (:func:`floor_s`); a skipped case only says why."""
    row: dict[str, object] = {"model": name, "T": T}
    why = skipped(name, T, dtype, device.type)
    if why is not None:
        row["skipped"] = why
        return row
    work = step_work(_model(name), T)
    row["flop"], row["tanh"] = work
    if rates is not None:
        row["floor_s"] = floor_s(work, *rates)
    if name == "ten-line rnn":
        step = ten_line_rnn(T, dtype, device)
    else:
        x, y = _batch(T, dtype, device)
        spec = tasks.get("copy")
        core = build(name, spec.inputs, hidden=HIDDEN, nu=NU, rho=RHO, dtype=dtype,
                     device=device)
        step = _stepper(Classifier(core, spec.classes), x, y)
    row["step_s"] = timed(step, device, repeats, min_s=min_s)
    row["peak_bytes"] = peak_memory(step, device)
    return row
