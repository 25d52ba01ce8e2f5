"""``untangle check [--json]``: run every certificate (placeholder until proofs land)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("check", help="run every certificate and print the table")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=lambda args: 1)
