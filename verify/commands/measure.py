"""``untangle measure``: build a self-attentive RNN with a controlled spectrum and attention,
measure dh_T/dh_t for every t and print it beside the catalog's bounds (THEORY.md sections 5
and 6). A readable table by default, ``--json`` for one JSON object, ``--plot FILE.png``."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from verify.commands.common import (
    add_resource_options,
    comma_list,
    path_option,
    progress,
    threads,
    to_json,
)
from verify.option_uses import (
    LEARNED_OPTIONS,
    PATTERN_USES,
    RELEVANCY,
    SPECTRUM_USES,
    learned_attention,
)

if TYPE_CHECKING:
    import torch

    from bounds.patterns import Pattern
    from verify.measurement import Measurement
    from verify.models import Recurrent

DEFAULT_T = 50
#: ``--loss``: L over a rollout r (h is (B, T+1, n)); the profile ||dL/dh_t|| goes to grad_norm.
LOSSES = ("none", "last", "all")
#: The defaults of the options that build the network (those that only some patterns or
#: spectra use: :mod:`verify.option_uses`), applied when they are left out and no checkpoint
#: is loaded.
DEFAULTS = {"pattern": "none", "width": 4, "stride": 2, "kappa": 3, "events": [], "rho": 4,
            "score": "accumulated", "hidden": 16, "spectrum": "orthogonal", "scale": 1.0,
            "gain": 1.0, "nonnormal": 0.0, "nonlin": "tanh", "input_scale": 1.0,
            "bias_scale": 0.0}
#: The options that build the network (none of them goes with ``--load``).
NETWORK = (*DEFAULTS, "pattern_file", "learned", "include_h0", "inputs", "sigma",
           "eigenvalues", "beta", "gamma")


def register(p: argparse.ArgumentParser) -> None:
    """The options of ``untangle measure``."""
    from bounds.patterns import KINDS as PATTERNS
    from verify.models.nonlin import KINDS as NONLINS
    from verify.models.relevance import SCORES
    from verify.models.spectra import KINDS as SPECTRA

    p.description = ("Build THEORY.md section 1's network (V from --spectrum, attention from "
                     "--pattern), measure G_t = dh_T/dh_t for t = 0..T-1 of one sequence of "
                     "N(0, 1) inputs and evaluate the catalog's bounds on the same run; or, "
                     "with --load, the same for a model saved by untangle train on one "
                     "sequence of its task.")
    a = p.add_argument
    a("--load", type=path_option, metavar="CHECKPOINT",
      help="measure the model of a checkpoint written by untangle train (in --dtype) on one "
      "sequence of its task (drawn from --seed; --T the task's delay, default the trained T) "
      "instead of building one: the network's options do not go with it")
    a("--pattern", choices=(*PATTERNS, "file", RELEVANCY),
      help="fixed attention pattern (default none: the plain RNN); relevancy: relevancy "
      "screening run online (learned attention over a buffer and a relevant set, THEORY.md "
      "section 7)")
    a("--width", type=int, help="window width nu (window, events; the buffer of relevancy; "
      "default 4)")
    a("--stride", type=int, help="stride k (strided; default 2)")
    a("--kappa", type=int, help="support size (sparse; default 3)")
    a("--events", type=comma_list(int, distinct=True),
      help="event steps E, each once, e.g. 3,7 (events; default none)")
    a("--rho", type=int, help="relevant-set size (relevancy; default 4)")
    a("--score", choices=SCORES, help="relevancy score function (relevancy; default "
      "accumulated)")
    a("--pattern-file", type=path_option,
      help="T x T pattern (.npy, .csv, .json) for --pattern file")
    a("--learned", action="store_true",
      help="learned additive attention over the pattern's support (uniform: full attention; "
           "relevancy's attention is learned with or without it)")
    a("--include-h0", action="store_true",
      help="let learned attention attend h_0 (left out by default, THEORY.md section 1)")
    a("--T", type=int, default=None, help=f"number of steps (default {DEFAULT_T}); with --load "
      "the task's delay (the sequence has T + 20 steps)")
    a("--hidden", type=int, help="hidden size n (default 16)")
    a("--inputs", type=int, default=None, help="input size m (default: hidden)")
    a("--spectrum", choices=SPECTRA, help="recurrent matrix V (default orthogonal)")
    a("--scale", type=float, help="c of identity/orthogonal; ||V|| of nonneg; the largest "
      "singular value of singular and modulus of eigen when --sigma or --eigenvalues is left "
      "out (default 1)")
    a("--gain", type=float, help="gain g of gaussian (default 1)")
    a("--sigma", type=comma_list(float), default=None, help="singular values (singular)")
    a("--eigenvalues", type=comma_list(complex), default=None, help="e.g. 0.9,0.5+0.2j,0.5-0.2j")
    a("--nonnormal", type=float, help="||N||_F of the non-normal part (eigen; default 0)")
    a("--nonlin", choices=NONLINS, help="phi (default tanh)")
    a("--input-scale", type=float, help="U entries ~ N(0, s^2/m) (default 1)")
    a("--bias-scale", type=float, help="b entries ~ N(0, s^2) (default 0)")
    a("--beta", type=float, default=None, help="default 1 for none, else 0.5")
    a("--gamma", type=float, default=None, help="default 0 for none, else 0.5")
    a("--mode", choices=("fixed", "full"), default="fixed")
    a("--loss", choices=LOSSES, default="none",
      help="loss-gradient profile ||dL/dh_t||: last = ||h_T||^2/2, all = sum_{k>=1} ||h_k||^2/2 "
      "(a loss at every step); none (default) skips it")
    a("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    a("--dtype", choices=("float64", "float32"), default="float64")
    a("--seed", type=int, default=0)
    a("--rows", type=int, help="table rows (t subsampled evenly; default 20; not with --json, "
      "which gives every t)")
    a("--json", action="store_true", help="print one JSON object (strict JSON: null for "
      "non-finite numbers); no progress bar")
    a("--plot", metavar="FILE.png", type=path_option,
      help="log10 norms against t with the bounds as lines and "
      "violations marked (an existing directory; never overwritten without --force)")
    a("--force", action="store_true", help="overwrite --plot")
    add_resource_options(p)
    p.set_defaults(run=run)


def _given(args: argparse.Namespace) -> None:
    """Refuse (ValueError) an option this run would not use, naming what uses it; then give
    the options left out their defaults (:data:`DEFAULTS`)."""
    def name(key: str) -> str:
        return key.replace("_", "-")

    if args.rows is not None and args.json:
        raise ValueError("parameter 'rows' is for the table; --json gives every t")
    if args.force and args.plot is None:
        raise ValueError("parameter 'force' goes with --plot (it lets the plot overwrite a "
                         "file)")
    if args.rows is None:
        args.rows = 20
    if args.load is not None:
        for key in NETWORK:
            if getattr(args, key) is not None and getattr(args, key) is not False:
                raise ValueError(f"parameter {name(key)!r} does not go with --load: the "
                                 f"checkpoint gives the network")
        return
    for key in ("pattern", "spectrum"):  # the options that select what the others mean
        if getattr(args, key) is None:
            setattr(args, key, DEFAULTS[key])
    for key, kinds in PATTERN_USES.items():
        if getattr(args, key) is not None and args.pattern not in kinds:
            raise ValueError(f"parameter {name(key)!r} is not used by the {args.pattern!r} "
                             f"pattern; it goes with --pattern {' or '.join(kinds)}")
    for key, kinds in SPECTRUM_USES.items():
        if getattr(args, key) is not None and args.spectrum not in kinds:
            raise ValueError(f"parameter {name(key)!r} is not used by the {args.spectrum!r} "
                             f"spectrum; it goes with --spectrum {' or '.join(kinds)}")
    for values in ("sigma", "eigenvalues"):
        if args.scale is not None and getattr(args, values) is not None:
            raise ValueError(f"parameter 'scale' is not used when --{values} gives the "
                             f"{args.spectrum!r} spectrum's values")
    if args.pattern == RELEVANCY and args.include_h0:
        raise ValueError("parameter 'include-h0' does not go with --pattern relevancy: "
                         "the relevant set keeps h_0 out (THEORY.md section 7)")
    args.learned = learned_attention(args.pattern, args.learned)
    for key in LEARNED_OPTIONS:
        if getattr(args, key) and not args.learned:
            raise ValueError(f"parameter {name(key)!r} goes with --learned (a fixed pattern "
                             f"attends the states it names)")
    for key, value in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, list(value) if isinstance(value, list) else value)


def _pattern(args: argparse.Namespace) -> Pattern | None:
    """The pattern of ``--pattern`` (None for relevancy screening: it chooses online)."""
    from bounds.domains import POSITIVE_INT
    from bounds.patterns import build, load

    if args.pattern == "file" or args.pattern_file is not None:
        if args.pattern != "file" or args.pattern_file is None:
            raise ValueError("parameter 'pattern-file' goes with --pattern file, and "
                             "--pattern file needs --pattern-file PATH")
        pattern = load(args.pattern_file)
        if args.T is not None and args.T != pattern.T:
            raise ValueError(f"parameter 'T' must match the pattern file's T = {pattern.T}, "
                             f"got {args.T}")
        return pattern
    T = int(POSITIVE_INT.check("T", DEFAULT_T if args.T is None else args.T))
    if args.pattern == RELEVANCY:
        return None
    return build(args.pattern, T, nu=args.width, k=args.stride, kappa=args.kappa,
                 seed=args.seed, E=args.events)


def run(args: argparse.Namespace) -> int:
    """Build or load, measure and report (the handler of ``untangle measure``)."""
    from bounds.domains import NONNEG_INT, POSITIVE_INT, check_seed
    from verify.device import resolve_device
    from verify.files import claim_plot, save_figure
    from verify.measurement import measure

    _given(args)
    threads(args)
    check_seed(args.seed)
    for name in ("T", "hidden", "inputs", "width", "stride", "kappa", "rows"):
        value = getattr(args, name)
        if value is not None:
            POSITIVE_INT.check(name, value)
    if args.rho is not None:
        NONNEG_INT.check("rho", args.rho)
    plot = None if args.plot is None else claim_plot(args.plot, force=args.force)
    device = resolve_device(args.device)
    model, x, what = (_loaded if args.load is not None else _built)(args, device)
    m = measure(model, x, mode=args.mode, loss=_loss(args.loss),
                source="untangle measure " + shlex.join(args.argv), progress=progress(args))
    if plot is not None:
        save_figure(m.plot(title=f"T={m.T}, {what}, mode {m.mode}"), plot)
    if args.json:
        print(to_json(m.to_json()))
    else:
        print(_table(m, model, what, args.rows))
        print(_verdicts(m))
    return 0


def _built(args: argparse.Namespace, device: torch.device
           ) -> tuple[Recurrent, torch.Tensor, str]:
    """The network of the options, its input sequence, and the network in words."""
    from verify.files import input_file
    from verify.measurement.runs import network
    from verify.resources import check_memory, estimate_measure, pattern_entries

    if args.pattern_file is not None:
        input_file(args.pattern_file, "--pattern-file", "pattern file")
    if args.pattern == "file" or args.pattern_file is not None:
        pattern = _pattern(args)
        T, entries = pattern.T, pattern.indices.size
    else:
        T = DEFAULT_T if args.T is None else args.T
        entries = pattern_entries(args.pattern, T, nu=args.width, k=args.stride,
                                  kappa=args.kappa, E=args.events, rho=args.rho)
    inputs = args.hidden if args.inputs is None else args.inputs
    check_memory(estimate_measure(T, args.hidden, entries, args.mode, args.learned,
                                  loss=args.loss != "none", dtype=args.dtype, inputs=inputs,
                                  relevant_set=((args.width, args.rho)
                                                if args.pattern == RELEVANCY else None)),
                 device, what=f"measuring T = {T} (hidden {args.hidden}, inputs {inputs})",
                 reduce=("--T, --hidden, --inputs or --rho" if args.pattern == RELEVANCY
                         else "--T, --hidden or --inputs"), skip=args.no_memory_check)
    if args.pattern != "file":
        pattern = _pattern(args)
    model, x = network({**vars(args), "T": T}, pattern)
    scale = f" x{args.scale:g}" if args.spectrum in SPECTRUM_USES["scale"] else ""
    return model, x, (f"pattern={_kind(args)} spectrum={args.spectrum}{scale} "
                      f"nonlin={args.nonlin}")


def _loaded(args: argparse.Namespace, device: torch.device
            ) -> tuple[Recurrent, torch.Tensor, str]:
    """The core of the checkpoint ``--load`` in ``--dtype`` and one sequence of its task
    (:func:`verify.measurement.runs.checkpoint_run`), once the memory they need is checked,
    and the model in words."""
    from verify.files import input_file
    from verify.measurement.runs import checkpoint_run
    from verify.models.zoo import SCREENED
    from verify.resources import check_memory, estimate_measure, pattern_entries
    from verify.training import tasks
    from verify.training.checkpoint import load

    input_file(args.load, "--load", "checkpoint file")
    ck = load(args.load, device)
    cfg = ck["config"]
    T = tasks.check_T(cfg.T if args.T is None else args.T)
    L = tasks.sequence_length(T)
    entries = (pattern_entries(RELEVANCY, L, nu=cfg.nu, rho=cfg.rho) if cfg.model in SCREENED
               else pattern_entries("uniform", L) if cfg.model == "memrnn" else 0)
    check_memory(estimate_measure(L, cfg.hidden, entries, args.mode,
                                  cfg.model in ("memrnn", *SCREENED),
                                  loss=args.loss != "none", dtype=args.dtype,
                                  inputs=tasks.get(cfg.task).inputs,
                                  relevant_set=((cfg.nu, cfg.rho) if cfg.model in SCREENED
                                                else None)),
                 device, what=f"measuring {cfg.model} over {L} steps (hidden {cfg.hidden})",
                 reduce="--T", skip=args.no_memory_check)
    model, x = checkpoint_run(ck, T, args.seed, args.dtype, device)
    return model, x, (f"{cfg.model} of {Path(args.load).name} (trained on {cfg.task} at "
                      f"delay {cfg.T}) on a {cfg.task} sequence at delay {T} (seed "
                      f"{args.seed})")


#: Findings the table prints; ``--json`` lists every violation.
SHOWN_FINDINGS = 20


def _verdicts(m: Measurement) -> str:
    """One line per bound: applicable or why not, holds at N of T, worst margin, tightest
    point; then the first :data:`SHOWN_FINDINGS` findings, and how many more there are."""
    lines = [f"verdicts ({next(iter(m.verdicts.values())).tolerance}):"]
    lines += [f"  {v.summary()}" for v in m.verdicts.values()]
    findings = m.findings()
    lines += [f"  {f}" for f in findings[:SHOWN_FINDINGS]]
    if len(findings) > SHOWN_FINDINGS:
        lines.append(f"  ... and {len(findings) - SHOWN_FINDINGS} more findings (--json lists "
                     f"every violation)")
    return "\n".join(lines)


def _loss(name: str) -> Callable | None:
    """The ``--loss`` choice as ``loss(rollout) -> scalar`` (THEORY.md section 5)."""
    if name == "last":
        return lambda r: 0.5 * r.h[:, -1].pow(2).sum()
    if name == "all":
        return lambda r: 0.5 * r.h[:, 1:].pow(2).sum()
    return None


def _fmt(v: float) -> str:
    if np.isnan(v):
        return f"{'nan':>10}"
    return f"{v:10.4g}" if np.isfinite(v) else f"{'-inf' if v < 0 else 'inf':>10}"


def _kind(args: argparse.Namespace) -> str:
    """The attention of the run in words: the pattern, learned or not, or the relevancy
    screening's buffer, relevant set and score."""
    if args.pattern == RELEVANCY:
        return f"{args.pattern} (nu={args.width}, rho={args.rho}, score {args.score})"
    return f"{args.pattern}{' (learned)' if args.learned else ''}"


def _table(m: Measurement, model: Recurrent, what: str, rows: int) -> str:
    """A readable table: log10 of the measured norms and of the bounds at ``rows``
    subsampled t, under a head with ``what`` was measured."""
    T = m.T
    head = (f"untangle measure: T={T} n={model.hidden} {what} beta={model.beta:g} "
            f"gamma={model.gamma:g} mode={m.mode} device={m.device} dtype={m.dtype}")
    hyp = " ".join(f"{k}={'yes' if v else 'no'}" for k, v in m.hypotheses.items())
    lines = [head, f"kappa={m.kappa}  hypotheses: {hyp}",
             "log10 of ||dh_T/dh_t||, of the applicable bounds (nan: not applicable at t; -inf: "
             "a lower bound <= 0, vacuous) and of ||dL/dh_t|| (with --loss):"]
    cols = ["t", "depth", "||G||_2", "||G||_F", "sigma_min",
            *(m.verdicts[k].theory_id for k in m.bounds_log10)]
    if m.grad_norm is not None:
        cols.append("||dL/dh_t||")
    if m.gap is not None:
        cols.append("gap")
    lines.append(" ".join(f"{c:>10}" for c in cols))
    if m.grad_norm is not None:
        with np.errstate(divide="ignore"):  # log10 0 = -inf; nan stays nan
            log_grad = np.log10(m.grad_norm)
    for t in np.unique(np.linspace(0, T - 1, min(T, rows)).round().astype(int)):
        row = [f"{t:>10d}", _fmt(m.depth[t]), _fmt(m.log10_norm2[t]), _fmt(m.log10_fro[t]),
               _fmt(m.log10_sigma_min[t]), *(_fmt(v[t]) for v in m.bounds_log10.values())]
        if m.grad_norm is not None:
            row.append(_fmt(log_grad[t]))
        if m.gap is not None:
            row.append(_fmt(m.gap[t]))
        lines.append(" ".join(row))
    lines += [f"note: {n}" for n in m.notes]
    return "\n".join(lines)
