"""The ``untangle`` command line: each subcommand lives in the module that owns its work and
registers itself here. A ValueError from bad input is printed and exits 2 (no traceback)."""

from __future__ import annotations

import argparse
import importlib
import sys

#: Modules that provide ``register(subparsers)``; each sets ``run`` on its parser.
COMMAND_MODULES = ("bounds.cli", "proofs.cli", "verify.measure_cli", "verify.train_cli",
                   "verify.screen_cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="untangle",
        description="Verify the gradient theory of self-attentive RNNs (Kerg et al. 2020).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ValueError as err:
        print(f"untangle: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
