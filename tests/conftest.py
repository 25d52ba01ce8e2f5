"""Hypothesis profiles: ``ci`` (chosen when the CI variable is set) has no deadline and a bounded
number of examples so the suite fits CI's time on 2 cores; ``dev`` is the local default.

torch runs on one thread in the tests: their tensors are tiny, and on a shared 2-core machine
a second thread only spins against other processes. SIGINT is made deliverable when the suite
inherits it ignored."""

import os
import signal
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)

# A suite started in the background of a non-interactive shell (``(pytest &)``) inherits
# SIGINT ignored, and so would every command it starts: the Ctrl-C tests need it delivered.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def atomic_writes(monkeypatch) -> list[str]:
    """The names of the files written through :func:`verify.files.atomic_write` during the
    test, in order (the writes themselves go ahead)."""
    from verify import files

    written, real = [], files.atomic_write

    def spy(path, write, **kw):
        written.append(Path(path).name)
        return real(path, write, **kw)

    monkeypatch.setattr(files, "atomic_write", spy)
    return written
