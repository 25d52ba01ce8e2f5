"""``untangle check [--json]``: run every certificate of :mod:`proofs`, print a table (or a
JSON list of ``{"claim", "method", "passed", "evidence"}``), exit 1 if any fails."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from verify.commands.common import progress, to_json

if TYPE_CHECKING:
    from proofs.certificate import Certificate

METHOD_WIDTH = 46


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def table(certs: list[Certificate]) -> str:
    """One row per certificate: claim, passed, method (shortened), evidence summary."""
    claim_w = max(len("claim"), *(len(c.claim) for c in certs))
    lines = [f"{'claim':<{claim_w}}  {'passed':<6}  {'method':<{METHOD_WIDTH}}  evidence",
             "-" * (claim_w + METHOD_WIDTH + 30)]
    for c in certs:
        verdict = "yes" if c.passed else "NO"
        lines.append(f"{c.claim:<{claim_w}}  {verdict:<6}  "
                     f"{_cell(c.method, METHOD_WIDTH):<{METHOD_WIDTH}}  "
                     f"{c.evidence.get('summary', '')}")
    return "\n".join(lines)


def counterexamples(certs: list[Certificate]) -> str:
    """The full matrices of every certificate whose evidence holds a counterexample."""
    blocks = []
    for c in certs:
        found = c.evidence.get("counterexample")
        if not found:
            continue
        lines = [f"{c.claim}: counterexample ({c.evidence.get('setting', {})})"]
        for name, rows in [*found["J"].items(), ("G_0", found["G_0"])]:
            width = max(len(x) for row in rows for x in row)
            body = "; ".join("  ".join(f"{x:>{width}}" for x in row) for row in rows)
            lines.append(f"  {name} = [{body}]")
        for key in ("norm_G0", "M_mu0", "gap", "max_product_path", "B3_dominant_lower",
                    "B1_path_sum_upper"):
            lines.append(f"  {key} = {found[key]}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _check(args: argparse.Namespace) -> int:
    from proofs import run_all

    certs = run_all(progress=progress(args))
    if args.json:
        print(to_json([c.to_json() for c in certs], indent=2))
    else:
        print(table(certs))
        extra = counterexamples(certs)
        if extra:
            print("\n" + extra)
        failed = sum(not c.passed for c in certs)
        print(f"\n{len(certs) - failed}/{len(certs)} certificates passed.")
    return int(any(not c.passed for c in certs))


def register(parser: argparse.ArgumentParser) -> None:
    """The options of ``untangle check``."""
    parser.add_argument("--json", action="store_true",
                        help='print a JSON list of {"claim", "method", "passed", "evidence"}, '
                        'no progress bar')
    parser.set_defaults(run=_check)
