"""Output files of the ``untangle`` commands: one rule for claiming a path before the work, and
one atomic write for every file a command produces. Light at import (standard library only).

**The rule** (:func:`claim_output`, for ``--save``, ``--plot``, ``--out`` alike), checked before
any work: the parent directory exists, is a directory and is writable (probed by creating an
anonymous file in it); the target is not a directory (nor a device, pipe or socket); an
existing target is refused unless ``force``. A refusal is a ``ValueError`` naming the option
and the path (exit status 2). No command creates directories.

**Atomic writes** (:func:`atomic_write`): the bytes go to an anonymous file in the target's
directory (Linux ``O_TMPFILE``: it has no name, so a kill leaves nothing behind), are flushed
and fsynced, linked under a temporary name ``<name>.<random>.tmp`` and renamed over the target,
and the directory is fsynced. Where ``O_TMPFILE`` or linking an open file is not available
the bytes go to a named temporary of the same pattern instead, removed on any error. Either
way a reader sees the old file or the new one, never a part. :func:`clean_stale` removes the
temporaries a killed writer may have left (the named fallback, or the moment between link and
rename); :func:`claim_output` calls it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: linkat(2) flags (Linux): link the file of an open descriptor, or follow a /proc/self/fd link.
AT_FDCWD = -100
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000


#: Why an empty path is refused: ``Path("")`` is the current directory, never what an empty
#: option meant.
EMPTY_PATH = "an empty path names no file"


def named_path(path: Path | str, option: str) -> Path:
    """``path`` as a Path, or a ValueError naming ``option`` when it is empty (the one rule
    for empty paths: the output rule, input files and the commands' path options)."""
    if str(path) == "":
        raise ValueError(f"{option}: {EMPTY_PATH}")
    return Path(path)


def check_directory(directory: Path | str, option: str) -> Path:
    """``directory`` if it exists, is a directory and a file can be created in it; else a
    ValueError naming ``option`` and the directory."""
    d = Path(directory)
    if not d.exists():
        raise ValueError(f"{option}: directory {str(d)!r} does not exist (create it first)")
    if not d.is_dir():
        raise ValueError(f"{option}: {str(d)!r} is not a directory")
    try:  # an anonymous file where the OS allows: nothing is left in the directory
        tempfile.TemporaryFile(dir=d).close()
    except OSError as err:
        raise ValueError(f"{option}: directory {str(d)!r} is not writable "
                         f"({err.strerror or err})") from None
    return d


def input_file(path: Path | str, option: str, what: str = "file") -> Path:
    """``path`` if it is an existing regular file this process can read; else a ValueError
    naming ``option``, the path and what was expected (``what``). A directory, pipe, device
    or socket is refused before it is opened: reading a pipe would wait for a writer."""
    p = named_path(path, option)
    if not p.exists():
        raise ValueError(f"{option}: {str(p)!r} does not exist (expected a {what})")
    if p.is_dir():
        raise ValueError(f"{option}: {str(p)!r} is a directory, not a {what}")
    if not p.is_file():
        raise ValueError(f"{option}: {str(p)!r} is not a regular file (a pipe, device or "
                         f"socket), not a {what}")
    if not os.access(p, os.R_OK):
        raise ValueError(f"{option}: {str(p)!r} is not readable")
    return p


def claim_output(path: Path | str, *, force: bool, option: str = "output") -> Path:
    """``path`` as a Path once the output rule (module docstring) allows writing it; a
    ValueError naming ``option`` otherwise. Removes stale temporaries of ``path``."""
    p = named_path(path, option)
    if p.name in ("", ".", ".."):
        raise ValueError(f"{option}: {str(path)!r} is not a file name")
    check_directory(p.parent, option)
    if p.is_dir():
        raise ValueError(f"{option}: {str(p)!r} is a directory, not a file")
    if p.exists() and not p.is_file():
        raise ValueError(f"{option}: {str(p)!r} is not a regular file (a device, pipe or "
                         f"socket); it is never replaced")
    if p.exists() and not force:
        raise ValueError(f"{str(p)!r} exists; pass --force to overwrite it ({option})")
    clean_stale(p)
    return p


def temporaries(path: Path | str) -> list[Path]:
    """The temporaries an interrupted :func:`atomic_write` of ``path`` may have left."""
    p = Path(path)
    parent = p.parent
    if not parent.is_dir():
        return []
    return sorted({*parent.glob(f"{_glob_escape(p.name)}.*.tmp"),
                   *parent.glob(f"{_glob_escape(p.name)}.tmp")})


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def clean_stale(path: Path | str) -> list[Path]:
    """Remove the stale temporaries of ``path`` (:func:`temporaries`); return them."""
    found = temporaries(path)
    for t in found:
        with contextlib.suppress(FileNotFoundError):
            t.unlink()
    return found


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a platform that cannot open directories: nothing to sync
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.EBADF):  # not supported for directories
            raise
    finally:
        os.close(fd)


def _link_anonymous(fd: int, target: Path) -> bool:
    """Give the anonymous file ``fd`` the name ``target``; False where the OS refuses."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        linkat = libc.linkat
    except (OSError, AttributeError):
        return False
    dst = os.fsencode(target)
    if linkat(fd, b"", AT_FDCWD, dst, AT_EMPTY_PATH) == 0:
        return True
    proc = os.fsencode(f"/proc/self/fd/{fd}")
    return linkat(AT_FDCWD, proc, AT_FDCWD, dst, AT_SYMLINK_FOLLOW) == 0


def _temporary_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.{secrets.token_hex(6)}.tmp")


def atomic_write(path: Path | str, write: Callable[[BinaryIO], None], *,
                 anonymous: bool = True) -> None:
    """Write ``path`` atomically (module docstring) with ``write(file)``; ``anonymous=False``
    forces the named-temporary fallback (for tests)."""
    path = Path(path)
    parent = path.parent
    fd = -1
    if anonymous and hasattr(os, "O_TMPFILE"):
        try:
            fd = os.open(parent, os.O_TMPFILE | os.O_RDWR, 0o666)
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
                raise
    if fd >= 0:
        with os.fdopen(fd, "w+b") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            tmp = _temporary_name(path)
            if not _link_anonymous(f.fileno(), tmp):
                f.seek(0)
                _write_named(path, lambda g: shutil.copyfileobj(f, g))
                return
        _rename(tmp, path)
    else:
        _write_named(path, write)


def _write_named(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """The fallback: a named temporary beside ``path``, removed on any error."""
    tmp = _temporary_name(path)
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        _rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _rename(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_directory(path.parent)


def remove(path: Path | str) -> bool:
    """Remove the file ``path`` if it exists and make the removal durable (the directory is
    fsynced), so that a later write in the same directory cannot reach the disk before it;
    return whether there was a file."""
    p = Path(path)
    try:
        p.unlink()
    except FileNotFoundError:
        return False
    _fsync_directory(p.parent)
    return True


def write_text(path: Path | str, text: str) -> None:
    """:func:`atomic_write` of UTF-8 ``text``."""
    atomic_write(path, lambda f: f.write(text.encode()))


def claim_plot(path: Path | str, *, force: bool, option: str = "--plot") -> Path:
    """:func:`claim_output` for an image: also its suffix must name a format matplotlib
    writes (``.png``, ``.pdf``, ``.svg``, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    p = claim_output(path, force=force, option=option)
    formats = FigureCanvasBase.get_supported_filetypes()
    if p.suffix[1:].lower() not in formats:
        raise ValueError(f"{option}: {str(p)!r} must end in an image format: "
                         f"{', '.join('.' + k for k in sorted(formats))}")
    return p


def save_figure(fig: Figure, path: Path | str, dpi: int = 120) -> None:
    """``fig.savefig`` to ``path`` atomically, in the format its suffix names."""
    p = Path(path)
    atomic_write(p, lambda f: fig.savefig(f, format=p.suffix[1:].lower(), dpi=dpi))
