"""``untangle bounds list | show NAME | eval NAME key=value ... [--json]`` (THEORY.md
section 4). Imports the catalog (sympy, numpy), never torch."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from verify.commands.common import to_json
from verify.resources import MEMORY_OPTION

if TYPE_CHECKING:
    from bounds.catalog import Bound
    from bounds.patterns import Pattern

#: Keys of ``eval`` that build a named pattern (``pattern=KIND``) for the pattern bounds, and
#: those each kind uses.
PATTERN_OPTIONS = ("T", "nu", "k", "kappa", "seed", "E")
USES = {"none": ("T",), "uniform": ("T",), "window": ("T", "nu"), "strided": ("T", "k"),
        "sparse": ("T", "kappa", "seed"), "events": ("T", "nu", "E")}
#: A pattern with at least this many entries plus steps takes seconds: progress is shown.
LARGE = 10**6


def _value(text: str) -> object:
    """A command-line value: JSON (number, list) where it parses, else a number as Python
    reads one (``.5``, ``5.``, ``+2``, ``1_000``), else the string itself (a pattern's name
    or file; the catalog refuses a string where it needs a number)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


def parse_assignments(items: list[str]) -> dict[str, object]:
    """``["a=1", "b=[1,2]"]`` -> ``{"a": 1, "b": [1, 2]}``; a ValueError for a bare word or a
    key given twice."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"parameters are given as key=value, got {item!r}")
        if key in out:
            raise ValueError(f"parameter {key!r} is given twice")
        out[key] = _value(text)
    return out


def _numbers(key: str, value: object, *, nested: bool = False) -> None:
    """A ValueError unless ``value`` is a number or a non-empty list of numbers (of lists of
    numbers with ``nested``): no booleans, nulls or empty lists where a number is expected."""
    def bad(v: object, depth: int) -> bool:
        if isinstance(v, list):
            return not v or depth == (2 if nested else 1) or any(bad(w, depth + 1) for w in v)
        return isinstance(v, (bool, dict)) or v is None

    if bad(value, 0):
        shape = "a matrix (list of rows)" if nested else "a number or a non-empty list of numbers"
        raise ValueError(f"parameter {key!r} must be {shape}, got {json.dumps(value)}")


def _check_values(kw: dict[str, object]) -> None:
    """Every value is a number, a list of numbers, or (``pattern``) a name, file or matrix;
    ``E`` a list of time steps; per-step arrays of a pattern bound have one value per step."""
    for key, value in kw.items():
        if key == "pattern":
            if not isinstance(value, str):
                _numbers(key, value, nested=True)
        elif key == "E":
            if not isinstance(value, list) or any(isinstance(v, (bool, list)) or v is None
                                                  for v in value):
                raise ValueError(f"parameter 'E' must be a list of time steps, e.g. E=[3,7], "
                                 f"got {json.dumps(value)}")
        elif not isinstance(value, str):
            _numbers(key, value)


def _check_keys(bound: Bound, kw: dict[str, object]) -> None:
    """A ValueError for a key ``bound`` does not use, before anything is built: its own
    parameters, and for a pattern bound those that build a named pattern."""
    from bounds.catalog import ProfileBound

    takes = bound.param_names()
    extra = PATTERN_OPTIONS if isinstance(bound, ProfileBound) else ()
    unused = [k for k in kw if k not in takes and k not in extra]
    if unused:
        raise ValueError(f"parameter {unused[0]!r} is not used by bound {bound.name!r} (it "
                         f"takes {', '.join(takes)})")


def _named_size(kind: str, options: dict[str, object]) -> tuple[int, int]:
    """``(T, entries)`` of the named pattern ``kind`` with ``options``, checked: each option
    one the kind uses, T given, sizes positive integers, the seed an integer >= 0."""
    from bounds.domains import NONNEG_INT, POSITIVE_INT, check_seed
    from verify.resources import pattern_entries

    unused = [k for k in options if k not in USES[kind]]
    if unused:
        raise ValueError(f"parameter {unused[0]!r} is not used by the {kind!r} pattern "
                         f"(it takes {', '.join(USES[kind])})")
    if "T" not in options:
        raise ValueError(f"parameter 'T' is needed to build the {kind!r} pattern")
    for key in ("T", "nu", "k", "kappa"):
        if key in options:
            POSITIVE_INT.check(key, options[key])
    if "seed" in options:
        check_seed(options["seed"])
    if "E" in options:
        NONNEG_INT.check("E", options["E"])  # before events() truncates 1.5 to 1
    sizes = {k: int(v) for k, v in options.items() if k not in ("E", "seed")}
    return sizes["T"], pattern_entries(kind, **sizes, E=options.get("E", ()))


def _given_pattern(spec: object, options: dict[str, object]) -> Pattern:
    """The pattern of a file or a matrix; a T given with it must be its T."""
    from bounds import patterns

    unused = [k for k in options if k != "T"]
    if unused:
        raise ValueError(f"parameter {unused[0]!r} is not used by a pattern given as a file "
                         f"or a matrix")
    if isinstance(spec, str):
        if not spec.lower().endswith((".npy", ".csv", ".json")):
            raise ValueError(f"parameter 'pattern' must be one of {', '.join(patterns.KINDS)} "
                             f"or a .npy, .csv or .json file, got {spec!r}")
        pattern = patterns.load(spec)
    else:
        pattern = patterns.from_matrix(spec)
    if "T" in options and options["T"] != pattern.T:
        raise ValueError(f"parameter 'T' must match the pattern's T = {pattern.T}, "
                         f"got {json.dumps(options['T'])}")
    return pattern


def evaluate(name: str, params: dict[str, object], *, memory_check: bool = True,
             progress: bool = False) -> dict[str, object]:
    """Evaluate a catalog bound from parsed key=value parameters; the JSON ``eval`` prints.
    A named pattern is refused before it is built when its estimated memory exceeds what is
    available (unless not ``memory_check``); ``progress``: a bar on stderr for patterns of
    :data:`LARGE` entries plus steps or more."""
    import numpy as np
    from tqdm import tqdm

    from bounds import get, patterns
    from bounds.catalog import ProfileBound
    from verify.resources import check_memory, estimate_pattern

    bound = get(name)
    kw = dict(params)
    _check_keys(bound, kw)
    _check_values(kw)
    options = {k: kw.pop(k) for k in PATTERN_OPTIONS
               if isinstance(bound, ProfileBound) and k in kw}
    spec = kw.get("pattern")
    if options and spec is None:
        raise ValueError(f"parameter {next(iter(options))!r} goes with pattern=KIND; "
                         f"missing parameter 'pattern' for bound {bound.name!r}")
    named, work = isinstance(spec, str) and spec in patterns.KINDS, 0
    if named:
        T, entries = _named_size(spec, options)
        check_memory(estimate_pattern(T, entries), "cpu", skip=not memory_check,
                     what=f"the {spec!r} pattern with T = {T} ({entries} entries)",
                     reduce="T (or the pattern's width)")
        work = T + entries
    with tqdm(total=3, disable=not progress or work < LARGE, leave=False,
              desc=f"{bound.name}: pattern") as bar:
        if spec is not None:
            kw["pattern"] = (patterns.build(spec, **options) if named
                             else _given_pattern(spec, options))
            _per_step(bound, kw)
        bar.update(1)
        bar.set_description(f"{bound.name}: value")
        value = bound.evaluate(**kw)
        bar.update(1)
        bar.set_description(f"{bound.name}: log10")
        log10 = bound.log10(**kw)
        bar.update(1)
    return {
        "name": bound.name,
        "value": np.asarray(value, dtype=float).tolist(),
        "log10": np.asarray(log10, dtype=float).tolist(),
        "params": params,
    }


def _per_step(bound: Bound, kw: dict[str, object]) -> None:
    """Per-step arrays (lam, mu, c) of a pattern bound: a scalar or one value per step; beta
    and gamma: one number."""
    T = kw["pattern"].T
    for p in bound.params:
        value = kw.get(p.name)
        if p.name in ("beta", "gamma") and isinstance(value, list):
            raise ValueError(f"parameter {p.name!r} must be one number for every step, got "
                             f"{json.dumps(value)}")
        if p.name in ("lam", "mu", "c") and isinstance(value, list) and (
                len(value) != T or any(isinstance(v, list) for v in value)):
            raise ValueError(f"parameter {p.name!r} must be a number or a list of T = {T} "
                             f"numbers ({p.name}_1..{p.name}_T), got {len(value)} values")


def _list(args: argparse.Namespace) -> int:
    from bounds import CATALOG

    for b in CATALOG.values():
        params = ", ".join(b.param_names())
        print(f"{b.name:<20} {b.theory_id:<4} {b.kind:<6} ({params})")
    return 0


def _show(args: argparse.Namespace) -> int:
    from bounds import get

    info = get(args.name).describe()
    if args.json:
        print(to_json(info, indent=2))
        return 0
    print(f"{info['name']}  [{info['theory_id']}, {info['kind']} bound]\n")
    print(f"statement:  {info['statement']}\n")
    print(f"latex:      {info['latex']}")
    print(f"expression: {info['expression'] or '(no closed form: an O(edges) recursion)'}\n")
    print("hypotheses:")
    for h in info["hypotheses"]:
        print(f"  - {h}")
    print("parameters:")
    for k, v in info["params"].items():
        print(f"  {k:<8} {v}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    out = evaluate(args.name, parse_assignments(args.params),
                   memory_check=not args.no_memory_check, progress=not args.json)
    if args.json:
        print(to_json(out))
    else:
        print(f"{out['name']} = {out['value']}")
        print(f"log10     = {out['log10']}")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """``list``, ``show`` and ``eval`` under ``untangle bounds``."""
    cmds = parser.add_subparsers(dest="bounds_command", required=True,
                                 metavar="{list,show,eval}")
    cmds.add_parser("list", help="one line per bound").set_defaults(run=_list)
    show = cmds.add_parser("show", help="statement, hypotheses, LaTeX and expression")
    show.add_argument("name", help="a bound's name or THEORY id (e.g. B7)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=_show)
    ev = cmds.add_parser(
        "eval",
        help="evaluate a bound: key=value ...",
        description="Values parse as JSON (numbers, lists). Pattern bounds take "
        "pattern=KIND (none, uniform, window, strided, sparse, events) with T=.. and "
        "nu/k/kappa/seed/E as needed, or pattern=FILE (.npy, .csv, .json).",
    )
    ev.add_argument("name", help="a bound's name or THEORY id (e.g. B7)")
    ev.add_argument("params", nargs="*", metavar="key=value")
    ev.add_argument(MEMORY_OPTION, dest="no_memory_check", action="store_true",
                    help="skip the check that refuses a pattern whose estimated memory exceeds "
                    "what is available (MemAvailable)")
    ev.add_argument("--json", action="store_true", help="print JSON, no progress bar")
    ev.set_defaults(run=_eval)
