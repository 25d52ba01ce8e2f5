"""The ``untangle`` command line.

``untangle COMMAND [options]``: the top-level parser knows only the command names, so that
``untangle --help`` and ``--version`` import nothing heavy; the chosen command's module (in
:mod:`verify.commands`) is imported only then, builds its own options and runs. Each command
imports its heavy dependencies (torch among them) inside its run function.

The error contract: bad input (a ``ValueError`` naming the parameter) prints one line and
exits 2, with no traceback; so do argparse's own errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: command -> (module in verify.commands, one-line summary)
COMMANDS = {
    "check": ("check", "run every certificate (Lemma 1, B0-B7) and print the table; exit 1 if "
                       "any fails"),
    "bounds": ("bounds", "the bound catalog B0-B7: list, show, eval (THEORY.md section 4)"),
    "measure": ("measure", "measure dh_T/dh_t of a real network against the bounds"),
    "train": ("train", "train a model on copy or denoise (THEORY.md section 8)"),
    "eval": ("eval", "evaluate a checkpoint, e.g. at a larger T (transfer)"),
    "screen": ("screen", "inspect the relevant set of relrnn/rellstm over time"),
    "bench": ("bench", "time measure and training steps against baselines and the floor"),
    "sweep": ("sweep", "run a grid of measurements or training runs, locally or on a Dask "
                       "cluster"),
    "figs": ("figs", "regenerate the figures of paper_figs from measurements (F1-F8)"),
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("untangle-rnn")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _top_parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:<9} {summary}" for name, (_, summary) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="untangle",
        description="Verify the gradient theory of self-attentive RNNs (Kerg et al. 2020).",
        epilog=f"commands:\n{listing}\n\n'untangle COMMAND --help' gives a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"untangle {_version()}")
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND",
                        help="one of: " + ", ".join(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of ``untangle NAME``, built by its module's ``register``."""
    module, summary = COMMANDS[name]
    parser = argparse.ArgumentParser(prog=f"untangle {name}", description=summary)
    importlib.import_module(f"verify.commands.{module}").register(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``untangle`` on ``argv`` (default ``sys.argv[1:]``) and return the exit status;
    argparse errors and ``--help`` raise ``SystemExit`` as usual."""
    top = _top_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    args = command_parser(top.command).parse_args(top.args)
    args.argv = list(top.args)  # what reproduces the run (a measurement's source)
    try:
        return int(args.run(args) or 0)
    except ValueError as err:
        print(f"untangle: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
