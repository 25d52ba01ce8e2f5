"""How much memory a command's work will need, and what the machine has (light at import:
standard library only; torch is imported only to ask a CUDA device).

Every command estimates its memory from its sizes *before* allocating anything and refuses
(a ``ValueError``, exit status 2) when the estimate exceeds what is available, naming both and
what to reduce; ``--no-memory-check`` (:data:`MEMORY_OPTION`, the same in every command) goes
ahead anyway. Available memory on the CPU is the smallest of ``MemAvailable`` of
``/proc/meminfo``, the room left under the process's address-space limit (``ulimit -v``,
``RLIMIT_AS``: the limit less the address space already mapped) and the room left under its
cgroup's memory limit (``memory.max``, or v1's ``memory.limit_in_bytes``), and the refusal
names which one it was; on a CUDA device it is the free bytes of ``torch.cuda.mem_get_info``.
Where none can be read (not Linux) nothing is refused.

Work that runs out of memory all the same (an estimate too low, or the check skipped) is
reported by the CLI with the last check's description and options (:func:`advice`).

The estimates are peak working sets, rounded up from peak resident sets measured on this
project's CPU machines (torch 2.13, float64 and float32; the coefficients below say what each
counts). They are meant to catch runaway sizes, orders of magnitude too big, not to predict
peaks to the percent: a measured peak was between 0.4 and 1.0 times its estimate.
"""

from __future__ import annotations

import ctypes
import resource
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from verify.option_uses import RELEVANCY

if TYPE_CHECKING:
    import torch

    from verify.training.config import Config

#: This process's status (its ``VmRSS``, ``VmHWM``, ``VmSize`` lines) and the file that
#: resets its resident peak (Linux).
PROC_STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")

#: The option that skips the memory check, in every command.
MEMORY_OPTION = "--no-memory-check"
#: glibc's mallopt(3) parameter M_MMAP_THRESHOLD, and the value :func:`return_freed_memory`
#: fixes it at.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 2**20

#: Building a fixed pattern, its dependency graph and one backward recursion over it
#: (:mod:`bounds.patterns`, :mod:`bounds.recursions`): bytes per stored entry alpha[t, i] and
#: per time step (measured: 94-100 per entry, 140-200 per step).
PATTERN_BYTES_PER_ENTRY = 110
PATTERN_BYTES_PER_STEP = 200

#: Training holds the unrolled graph of one batch; the gradient profile (run at the start and
#: the end) holds it in float64 and is the peak. Float64 values kept per (sequence, step,
#: hidden unit), by model (measured 13-19 rnn, 23 lstm, 17 + 6.7 (nu + rho) relrnn,
#: 4.6 L/2 memrnn, whose every step attends all earlier states).
TRAIN_FLOATS = {"rnn": 20, "lstm": 25, "relrnn": 22, "rellstm": 25, "memrnn": 22}
#: ... plus, for the relevant-set models, per slot of the buffer and set (nu + the set's
#: :func:`_set_slots`) ...
TRAIN_FLOATS_PER_SLOT = 7
#: ... and for memrnn per attended state (on average (L + 1) / 2 of them).
TRAIN_FLOATS_PER_ATTENDED = 5

#: A forward pass without a graph (``eval``, ``screen``): values of the model's dtype kept per
#: (sequence, step, hidden unit): the states, the read-out, the inputs, and for memrnn what
#: its growing temporaries leave in the heap (measured 6 rnn, 8 lstm, 7.5 relrnn, 19-30
#: memrnn, with :func:`return_freed_memory`).
FORWARD_FLOATS = {"rnn": 8, "lstm": 10, "relrnn": 10, "rellstm": 12, "memrnn": 32}
#: memrnn's forward allocates temporaries of (sequence, t, hidden unit) values at every step t;
#: those below :data:`MMAP_THRESHOLD` stay in the heap's holes. Upper estimate: this many such
#: temporaries per step, summed over the steps whose temporaries are below the threshold
#: (measured 0.35-0.65 of it).
FRAGMENT_COPIES = 3
#: The screening trace of ``screen``, a forward without autograd, which the fused path
#: (:mod:`verify.models.fused`) records in place: the attention rows (sequence, step, T) of
#: the model's dtype and the relevant set's times (int64) and frozen scores (sequence, step,
#: rho), one copy each, and half a copy for what the report and ``--plot`` compute from them
#: (relrnn and rellstm at T = 2000-4000, with and without ``--plot``: peaks over the start
#: 0.78-1.0 of the one-copy estimate; 0.4-0.5 of the two copies the simple loop stacks).
TRACE_COPIES = 1.5

#: ``measure``: the adjoint's M, (T + 1) n^2 values, its float64 host copy where the run is
#: float32, and batches of step Jacobians, built from their factors, and of the SVDs' work
#: (measured 1.4-2.0 copies of float64 at T = 250-1000, n = 64, float32 and float64).
ADJOINT_COPIES = 3
#: autograd through the unrolled network (``--mode full`` with learned attention, ``--loss``):
#: values kept per (step or attended entry, hidden unit) ...
AUTOGRAD_FLOATS = 5
#: ... and the (T + 1, n, n) Jacobians it returns, stacked, copied to the host, compared.
AUTOGRAD_COPIES = 7
#: ``measure``'s input sequence (T, inputs), drawn in float64 and cast (measured 2.2 copies),
#: and the input matrix U (n, inputs), drawn and cast.
INPUT_COPIES = 3

#: A relevant-set model (relrnn, rellstm) attends nu + S slots a step (S = :func:`_set_slots`,
#: the rho slots it can fill): values of the model's dtype per (sequence, slot, hidden unit)
#: in the gathered slots, their keys, the attention's tanh and the members rewritten at
#: admission (measured 2-4).
SLOT_FLOATS = 8
#: ``measure``'s trace of a relevant set holds, per step, the set's times (int64) and frozen
#: scores (B, rho); two copies, as the simple loop stacks its filled slots and pads them to
#: rho (a nonlinearity other than tanh; measured 1.46 copies at T = 400, rho = 10^5), the
#: fused path writing one (measured 1.05).
SET_TRACE_COPIES = 2



def pattern_entries(kind: str, T: int, *, nu: int = 1, k: int = 1, kappa: int = 1,
                    E: Sequence[int] = (), rho: int = 0) -> int:
    """The number of entries ``sum_t |S_t|`` of the named pattern, exactly, without building
    it (:func:`bounds.patterns.entries`); for relevancy screening (THEORY.md section 7) at
    most the window's of width nu + rho."""
    from bounds.patterns import KINDS, capped_entries, entries  # numpy and sympy: not at import

    if kind == RELEVANCY:
        return capped_entries(int(T), max(int(nu), 1) + max(int(rho), 0)) if int(T) >= 1 else 0
    if kind not in KINDS:
        raise ValueError(f"parameter 'pattern' must be a named pattern, got {kind!r}")
    return entries(kind, T, nu=nu, k=k, kappa=kappa, E=E)


def estimate_pattern(T: int, entries: int) -> int:
    """Bytes to build a pattern of ``entries`` entries over T steps and run a recursion of
    :mod:`bounds.recursions` on it."""
    return PATTERN_BYTES_PER_ENTRY * int(entries) + PATTERN_BYTES_PER_STEP * int(T)


def _set_slots(rho: int, nu: int, T: int) -> int:
    """The relevant set's slots a run of T steps allocates: those it can fill,
    :func:`verify.models.relevance.fillable` (imported here, not at this module's import)."""
    from verify.models.relevance import fillable

    return fillable(int(rho), int(nu), int(T))


def _dtype_bytes(dtype: str) -> int:
    return 4 if str(dtype).removeprefix("torch.") == "float32" else 8


def _params(model: str, hidden: int) -> int:
    """Parameters, gradients and optimizer state: a few n x n matrices per gate, float64."""
    gates = 4 if "lstm" in model else 1
    return 8 * 12 * (gates + 2) * hidden * hidden


def estimate_train(cfg: Config) -> int:
    """Bytes for training ``cfg`` (a :class:`verify.training.config.Config`): the unrolled
    graph of one batch in float64 (the gradient profile's; module docstring)."""
    L = cfg.T + 20
    floats = TRAIN_FLOATS[cfg.model]
    if cfg.model in ("relrnn", "rellstm"):
        floats += TRAIN_FLOATS_PER_SLOT * (cfg.nu + _set_slots(cfg.rho, cfg.nu, L))
    if cfg.model == "memrnn":
        floats += TRAIN_FLOATS_PER_ATTENDED * (L + 1) / 2
    return int(8 * floats * cfg.batch * L * cfg.hidden) + _params(cfg.model, cfg.hidden)


def estimate_forward(cfg: Config, T: int, batch: int, *, trace: bool = False) -> int:
    """Bytes for a forward pass without a graph of ``cfg``'s model on ``batch`` sequences of
    delay T (``eval``), with ``trace`` the screening trace too (``screen``); the relevant-set
    models add their ``nu + S`` slots a step (:func:`_set_slots`) and, traced, the set's
    ``rho`` entries a step."""
    L = T + 20
    size = _dtype_bytes(cfg.dtype)
    out = size * FORWARD_FLOATS[cfg.model] * batch * L * cfg.hidden + _params(cfg.model,
                                                                          cfg.hidden)
    if cfg.model == "memrnn":
        step = size * batch * cfg.hidden  # growth of a temporary per step
        n = min(L, MMAP_THRESHOLD // step)
        out += FRAGMENT_COPIES * step * n * n // 2
    if cfg.model in ("relrnn", "rellstm"):
        out += size * SLOT_FLOATS * batch * (cfg.nu + _set_slots(cfg.rho, cfg.nu, L)) * cfg.hidden
        if trace:
            out += (8 + size) * TRACE_COPIES * batch * L * cfg.rho
    if trace:
        out += size * TRACE_COPIES * batch * (L + 1) * L
    return int(out)


def estimate_measure(T: int, hidden: int, pattern_entries: int, mode: str, learned: bool, *,
                     loss: bool = False, dtype: str = "float64", inputs: int | None = None,
                     relevant_set: tuple[int, int] | None = None) -> int:
    """Bytes for ``untangle measure`` over T steps with n = ``hidden``: the pattern and its
    graph, the input sequence (T x ``inputs``, default n) and the input matrix, the
    adjoint's ``ADJOINT_COPIES (T + 1) n^2`` values, where autograd runs (``mode ==
    "full"`` with learned attention, or a ``loss`` profile) the unrolled graph (steps and
    attended entries times n) and the Jacobians it returns, and for a relevant-set model
    (``relevant_set = (nu, rho)``) its ``nu + S`` slots (:func:`_set_slots`) and the set's
    trace, ``rho`` entries a step, whether or not they fill (measured 32 bytes per set entry
    and step)."""
    size = _dtype_bytes(dtype)
    n2 = (T + 1) * hidden * hidden
    m = hidden if inputs is None else int(inputs)
    out = estimate_pattern(T, pattern_entries) + max(size, 8) * ADJOINT_COPIES * n2
    out += 8 * INPUT_COPIES * (T + hidden) * m
    if relevant_set is not None:
        nu, rho = (int(v) for v in relevant_set)
        out += size * SLOT_FLOATS * (nu + _set_slots(rho, nu, T)) * hidden
        out += (8 + size) * SET_TRACE_COPIES * (T + 1) * rho
    graph = size * AUTOGRAD_FLOATS * (T + pattern_entries) * hidden
    if mode == "full" and learned:
        out += graph + 8 * AUTOGRAD_COPIES * n2
    if loss:
        out += graph
    return int(out)


def _cgroup_room() -> int | None:
    """Bytes left under this process's cgroup memory limit (v2 or v1), None without one."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            files = [Path("/sys/fs/cgroup") / path.lstrip("/") / n
                     for n in ("memory.max", "memory.current")]
        elif "memory" in controllers.split(","):
            files = [Path("/sys/fs/cgroup/memory") / path.lstrip("/") / n
                     for n in ("memory.limit_in_bytes", "memory.usage_in_bytes")]
        else:
            continue
        try:
            limit, used = (f.read_text().strip() for f in files)
        except OSError:
            continue
        if limit.isdigit() and int(limit) < 2**60:
            return max(int(limit) - int(used), 0)
    return None


def _address_space_room() -> int | None:
    """Bytes left under this process's address-space limit (``ulimit -v``, ``RLIMIT_AS``: the
    soft limit less ``VmSize``, what is mapped now), None without a limit."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ValueError, OSError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    mapped = status_kib("VmSize")
    return None if mapped is None else max(soft - mapped * 1024, 0)


def status_kib(key: str) -> int | None:
    """The kB value of ``key`` (``VmRSS``, ``VmHWM``, ``VmSize``) in ``/proc/self/status``,
    None where it cannot be read (not Linux) or has no such line."""
    try:
        status = PROC_STATUS.read_text().splitlines()
    except OSError:
        return None
    line = next((x for x in status if x.startswith(key + ":")), None)
    return None if line is None else int(line.split()[1])


def _meminfo_available() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes, None where it cannot be read."""
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    line = next((x for x in meminfo if x.startswith("MemAvailable:")), None)
    return None if line is None else int(line.split()[1]) * 1024


def available(device: torch.device | str = "cpu") -> tuple[int, str] | None:
    """``(bytes, what they are)`` the process may still allocate on ``device``, or None where
    that cannot be read: on the CPU the smallest of the limits of the module docstring, named
    in ``what``."""
    name = str(device)
    if name.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(name))
        return int(free), f"free on {name} (torch.cuda.mem_get_info)"
    limits = [(_meminfo_available(), "MemAvailable in /proc/meminfo"),
              (_address_space_room(), "left under the address-space limit (ulimit -v, "
                                      "RLIMIT_AS)"),
              (_cgroup_room(), "left under the cgroup memory limit (memory.max)")]
    known = [(room, what) for room, what in limits if room is not None]
    return min(known, key=lambda k: k[0]) if known else None


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps it >= 1 (``12.3 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Check:
    """The last memory check of this process: the work (``what``), the options that shrink it
    (``reduce``), the estimate, what was available (None: unknown or not asked) and whether
    the check was skipped (:data:`MEMORY_OPTION`)."""

    what: str
    reduce: str
    need: int
    have: tuple[int, str] | None
    skipped: bool


_LAST: list[Check] = []


def forget_checks() -> None:
    """Forget the last check (a new command starts)."""
    _LAST.clear()


def check_memory(need: int, device: torch.device | str = "cpu", *, what: str, reduce: str,
                 skip: bool = False) -> None:
    """Refuse (ValueError) when ``need`` bytes for ``what`` exceed what ``device`` has
    available; ``reduce`` names the options that shrink the work. ``skip``: no check. The
    check is remembered for :func:`advice`."""
    have = None if skip else available(device)
    _LAST[:] = [Check(what, reduce, int(need), have, skip)]
    if have is None or need <= have[0]:
        return
    raise ValueError(f"{what} would need about {format_bytes(need)} of memory, more than the "
                     f"{format_bytes(have[0])} available ({have[1]}); reduce {reduce}, or "
                     f"pass {MEMORY_OPTION} to try anyway")


def advice() -> str:
    """What to do about work that ran out of memory, from the last check: the work, its
    estimate, what was available or that :data:`MEMORY_OPTION` skipped the check, and the
    options that shrink it; generic words when no check ran."""
    if not _LAST:
        return "reduce the sizes (T, hidden, batch, the pattern) or free memory"
    c = _LAST[0]
    said = f"{c.what} was estimated at {format_bytes(c.need)}"
    if c.skipped:
        return (f"{said}, and {MEMORY_OPTION} skipped the check against the memory "
                f"available; reduce {c.reduce}")
    if c.have is None:
        return (f"{said} (the memory available could not be read); reduce {c.reduce} or free "
                f"memory")
    return (f"{said}, within the {format_bytes(c.have[0])} available ({c.have[1]}), but "
            f"needed more; reduce {c.reduce} or free memory")


def reset_peak_rss() -> bool:
    """Reset this process's resident peak (``VmHWM``) to its current resident size (Linux:
    ``5`` written to ``/proc/self/clear_refs``); False where that is refused or unavailable."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def trim_heap() -> bool:
    """Give the free pages inside malloc's heap back to the system now (glibc's
    ``malloc_trim(0)``), so that a resident-set measurement that follows counts every page a
    call touches, not only those beyond the holes earlier work left. False where glibc is
    absent."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim(0)
    return True


def return_freed_memory() -> bool:
    """Keep glibc's malloc from holding on to freed memory: fix its mmap threshold at
    :data:`MMAP_THRESHOLD`, so that blocks from 1 MiB up are mapped and unmapped, not carved
    from a heap that only grows. (Left dynamic, the threshold rises to the largest block
    freed, up to 32 MiB, and a loop that allocates ever larger temporaries, such as memrnn's
    forward over 1..t, keeps a peak quadratic in T: 3.5 GiB instead of 0.15 GiB for ``eval``
    at T = 1000. At glibc's initial 128 KiB, training steps cost 30-65% more CPU time; at
    1 MiB they cost the same.) False where glibc is absent."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
