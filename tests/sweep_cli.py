"""Helpers of the sweep tests: write a spec, run ``untangle sweep`` in process."""

from __future__ import annotations

import json
from pathlib import Path

from verify import cli


def write_spec(path: Path, spec: object) -> Path:
    path.write_text(json.dumps(spec))
    return path


def untangle(capsys, *args: object) -> tuple[int, str, str]:
    """``untangle sweep ARGS`` in this process: (exit code, stdout, stderr)."""
    try:
        code = cli.main(["sweep", *map(str, args)])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err
