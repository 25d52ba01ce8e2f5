"""Reading a command run as a subprocess without ever blocking the suite: every wait has a
deadline, after which the process is killed and the test fails saying what it waited for."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Callable

import pytest


def read_until(proc: subprocess.Popen, done: Callable[[bytes], bool], timeout: float,
               what: str) -> bytes:
    """``proc``'s stderr until ``done(seen)`` holds or the stream ends; ``what`` names what
    is awaited in the failure after ``timeout`` seconds."""
    fd, seen = proc.stderr.fileno(), b""
    deadline = time.monotonic() + timeout
    while not done(seen):
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))
        if not ready:
            proc.kill()
            proc.communicate()
            pytest.fail(f"no {what} within {timeout} s; stderr so far: {seen[-400:]!r}")
        chunk = os.read(fd, 65536)
        if not chunk:
            return seen
        seen += chunk
    return seen


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, bytes]:
    """Wait for ``proc`` to end: its exit status and the rest of its stderr; killed, and the
    test failed, after ``timeout`` seconds."""
    try:
        _, rest = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the command did not end within {timeout} s")
    return proc.returncode, rest or b""
