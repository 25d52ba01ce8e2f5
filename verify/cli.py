"""The ``untangle`` command line.

``untangle COMMAND [options]``: the top-level parser knows only the command names, so that
``untangle --help`` and ``--version`` import nothing heavy; the chosen command's module (in
:mod:`verify.commands`) is imported only then, builds its own options and runs. Each command
imports its heavy dependencies (torch among them) inside its run function.

The error contract: nothing a user can cause ends in a traceback. One line on stderr and

* exit 2 for bad input: a ``ValueError`` naming the parameter, argparse's own refusals (an
  unknown option, a value of the wrong type, a missing one: the line names the option, with
  no usage block; :class:`Parser`), no command at all, an ``OSError`` (a missing or
  unwritable directory, a directory where a file is expected; the line names the path), a
  standard output that is closed (``>&-``) or cannot be written (``>/dev/full``; the line
  says standard output), running out of memory (``MemoryError``, torch's allocation
  failure);
* exit 130 on Ctrl-C (``KeyboardInterrupt`` anywhere; ``untangle train`` saves first);
* exit 141 (128 + SIGPIPE, the shell's convention) when stdout is a closed pipe
  (``untangle bounds list | head -1``), silently;
* exit 1 when a certificate fails (``untangle check``), and for a numerical failure inside
  a computation (a ``LinAlgError`` of numpy or torch: an SVD or a factorisation that did not
  converge), which is no fault of the input: the line says so and asks for a report;
* 0 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import NoReturn, TextIO

#: Exit statuses (module docstring).
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

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


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose refusals are one line on stderr, ``PROG: error: MESSAGE``
    (exit 2), without the usage block argparse prints first; ``--help`` shows the usage. The
    subcommand parsers of ``add_subparsers`` are of the same class."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.splitlines())
        if text.startswith(("unrecognized arguments", "the following arguments are required")):
            text += f" ('{self.prog} --help' lists the options)"
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {text}\n")


def _top_parser() -> Parser:
    listing = "\n".join(f"  {name:<9} {summary}" for name, (_, summary) in COMMANDS.items())
    parser = Parser(
        prog="untangle",
        description="Verify the gradient theory of self-attentive RNNs (Kerg et al. 2020).",
        epilog=f"commands:\n{listing}\n\n'untangle COMMAND --help' gives a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"untangle {_version()}")
    parser.add_argument("command", nargs="?", choices=COMMANDS, metavar="COMMAND",
                        help="one of: " + ", ".join(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def command_parser(name: str) -> Parser:
    """The parser of ``untangle NAME``, built by its module's ``register``."""
    module, summary = COMMANDS[name]
    parser = Parser(prog=f"untangle {name}", description=summary)
    importlib.import_module(f"verify.commands.{module}").register(parser)
    return parser


def _error(text: str) -> None:
    print(f"untangle: {text}", file=sys.stderr)


def _out_of_memory(err: BaseException) -> bool:
    """A ``MemoryError`` or torch's failure to allocate (CPU or CUDA)."""
    if isinstance(err, MemoryError):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("can't allocate memory" in text
                                              or "out of memory" in text.lower())


def _numerical_failure(err: BaseException) -> bool:
    """numpy's or torch's ``LinAlgError`` (a ValueError and a RuntimeError respectively)."""
    numpy, torch = sys.modules.get("numpy"), sys.modules.get("torch")
    return ((numpy is not None and isinstance(err, numpy.linalg.LinAlgError))
            or (torch is not None and isinstance(err, torch.linalg.LinAlgError)))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _os_error(err: OSError) -> str:
    """One line naming the path(s) of ``err``."""
    paths = " -> ".join(repr(str(p)) for p in (err.filename, err.filename2) if p is not None)
    reason = err.strerror or str(err)
    return f"{paths}: {reason}" if paths else reason


class OutputError(OSError):
    """Standard output could not be written (closed, or a full or failing device)."""


class _Stdout:
    """``sys.stdout`` while a command runs: a write or flush that fails (other than into a
    closed pipe, which stays a ``BrokenPipeError``) raises :class:`OutputError`, so that the
    error line can say it was standard output; everything else is the stream's."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def _guarded(self, call: Callable[..., object], *args: object) -> object:
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as err:
            raise OutputError(err.errno, err.strerror or str(err)) from err

    def write(self, text: str) -> object:
        return self._guarded(self._stream.write, text)

    def writelines(self, lines: Iterable[str]) -> object:
        return self._guarded(self._stream.writelines, lines)

    def flush(self) -> object:
        return self._guarded(self._stream.flush)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush into a closed pipe
    does not fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # stdout without a descriptor (captured)
        pass


def _run(argv: Sequence[str] | None) -> int:
    from verify.resources import advice, forget_checks, return_freed_memory

    parser = _top_parser()
    top = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if top.command is None:
        parser.error(f"a command is needed: one of {', '.join(COMMANDS)} ('untangle --help' "
                     f"lists them)")
    args = command_parser(top.command).parse_args(top.args)
    args.argv = list(top.args)  # what reproduces the run (a measurement's source)
    if sys.stdout is None:  # started with stdout closed (>&-): nothing could be printed
        _error("error: standard output is closed; redirect it to a file or /dev/null instead")
        return EXIT_BAD_INPUT
    return_freed_memory()
    stream = sys.stdout
    sys.stdout = _Stdout(stream)
    forget_checks()
    try:
        status = int(args.run(args) or 0)
        sys.stdout.flush()
        return status
    except OutputError as err:
        sys.stdout = stream
        _silence_stdout()  # the interpreter's last flush would fail again
        _error(f"error: cannot write to standard output: {err.strerror}")
    except (ValueError, RuntimeError, MemoryError) as err:
        if _numerical_failure(err):
            _error(f"error: numerical failure, not a fault of the input ({_first_line(err)}); "
                   f"please report it with this command line")
            return EXIT_FAILURE
        if _out_of_memory(err):
            detail = str(err).strip().splitlines()[-1] if str(err).strip() else ""
            _error(f"error: out of memory{f' ({detail})' if detail else ''}; {advice()}")
        elif isinstance(err, ValueError):
            _error(f"error: {err}")
        else:
            raise
    except BrokenPipeError:
        raise
    except OSError as err:
        _error(f"error: {_os_error(err)}")
    finally:
        if isinstance(sys.stdout, _Stdout):
            sys.stdout = stream
    return EXIT_BAD_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``untangle`` on ``argv`` (default ``sys.argv[1:]``) and return the exit status
    (module docstring); argparse's refusals (one line, :class:`Parser`), ``--help`` and
    ``--version`` raise ``SystemExit`` as usual."""
    try:
        return _run(argv)
    except KeyboardInterrupt as err:
        _error(f"interrupted{f': {err}' if str(err) else ''}")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
