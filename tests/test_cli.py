"""The ``untangle`` command line as a whole: a start that imports no torch where none is needed
(asserted on ``sys.modules`` in a fresh interpreter), one module per command with no command
importing another, every command's parser, the public APIs of ``bounds`` and ``verify``."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import bounds
import verify
from verify.cli import COMMANDS, command_parser, main

COMMANDS_DIR = Path(verify.__file__).parent / "commands"

PROBE = """
import json, sys
from verify.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))))
"""


def imported_torch(argv: list[str]) -> list[str]:
    """The torch modules a fresh interpreter holds after ``untangle ARGV``."""
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["--version"],
    ["bounds", "list"],
    ["bounds", "show", "B7"],
    ["bounds", "eval", "relevancy_lower", "gamma=0.5", "mu=1", "nu=10", "rho=15", "--json"],
    ["bounds", "eval", "path_sum_upper", "pattern=window", "T=20", "nu=3", "beta=0.5",
     "gamma=0.5", "lam=0.9"],
])
def test_light_commands_do_not_import_torch(argv):
    assert imported_torch(argv) == []


def test_the_probe_sees_torch_when_a_command_needs_it():
    """The check above can fail: ``measure`` does import torch."""
    assert "torch" in imported_torch(["measure", "--T", "2", "--hidden", "2", "--json"])


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("untangle ")
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["frobnicate"])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_builds_its_parser(name):
    parser = command_parser(name)
    assert parser.prog == f"untangle {name}"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_one_module_per_command_and_none_imports_another():
    modules = {p.stem for p in COMMANDS_DIR.glob("*.py")} - {"__init__", "common"}
    assert modules == {module for module, _ in COMMANDS.values()}
    for path in COMMANDS_DIR.glob("*.py"):
        others = {f"verify.commands.{m}" for m in modules - {path.stem}}
        assert not _imports(path) & others, f"{path.name} imports another command module"


def test_public_apis_resolve():
    for package in (bounds, verify):
        assert package.__all__
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
    with pytest.raises(AttributeError):
        verify.nope  # noqa: B018


def test_bounds_get_accepts_theory_ids():
    assert bounds.get("B7").name == "relevancy_lower"
    assert bounds.get("B2+").name == "nonneg_lower"
    assert bounds.get("B4").name == "uniform_lower"
    assert bounds.get("uniform_exact").theory_id == "B4"
    with pytest.raises(ValueError, match=r"unknown bound 'B9'.*B0, B4, B5"):
        bounds.get("B9")


def test_installed_script_finds_every_command_outside_the_repository(tmp_path):
    """The console script as installed, run where the repository is not on the path: every
    command's module and what its parser imports (paper_figs for figs) is part of the
    distribution."""
    script = Path(sys.executable).with_name("untangle")
    if not script.exists():
        pytest.skip("the untangle console script is not installed in this environment")
    for name in COMMANDS:
        run = subprocess.run([str(script), name, "--help"], capture_output=True, text=True,
                             cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
        assert run.returncode == 0, (name, run.stderr[-500:])
        assert run.stdout.startswith(f"usage: untangle {name}")
