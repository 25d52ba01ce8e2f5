"""``untangle bounds list | show NAME | eval NAME key=value ... [--json]`` (THEORY.md
section 4). Imports the catalog (sympy, numpy), never torch."""

from __future__ import annotations

import argparse
import json

#: Keys of ``eval`` that build a named pattern (``pattern=KIND``) for the pattern bounds.
PATTERN_OPTIONS = ("T", "nu", "k", "kappa", "seed", "E")


def _value(text: str) -> object:
    """A command-line value: JSON (number, list) where it parses, else the string itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(items: list[str]) -> dict[str, object]:
    """``["a=1", "b=[1,2]"]`` -> ``{"a": 1, "b": [1, 2]}``; a ValueError for a bare word."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"parameters are given as key=value, got {item!r}")
        out[key] = _value(text)
    return out


def evaluate(name: str, params: dict[str, object]) -> dict[str, object]:
    """Evaluate a catalog bound from parsed key=value parameters; the JSON ``eval`` prints."""
    import numpy as np

    from bounds import get, patterns
    from bounds.catalog import ProfileBound

    bound = get(name)
    kw = dict(params)
    if isinstance(bound, ProfileBound) and "pattern" in kw:
        options = {k: kw.pop(k) for k in PATTERN_OPTIONS if k in kw}
        spec = kw["pattern"]
        if not isinstance(spec, str):
            kw["pattern"] = patterns.from_matrix(spec)
        elif spec in patterns.KINDS:
            if "T" not in options:
                raise ValueError(f"parameter 'T' is needed to build the {spec!r} pattern")
            kw["pattern"] = patterns.build(spec, **options)
        else:
            kw["pattern"] = patterns.load(spec)
    value, log10 = bound.evaluate(**kw), bound.log10(**kw)
    return {
        "name": bound.name,
        "value": np.asarray(value, dtype=float).tolist(),
        "log10": np.asarray(log10, dtype=float).tolist(),
        "params": params,
    }


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
        print(json.dumps(info, indent=2))
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
    out = evaluate(args.name, parse_assignments(args.params))
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{out['name']} = {out['value']}")
        print(f"log10     = {out['log10']}")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """``list``, ``show`` and ``eval`` under ``untangle bounds``."""
    cmds = parser.add_subparsers(dest="bounds_command", required=True, metavar="ACTION")
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
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(run=_eval)
