"""Where a sweep's points run: any ``concurrent.futures.Executor``. Local worker processes by
default; a Dask distributed cluster through its client (``Client(address).get_executor()``).
Dask is imported only for a cluster."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client

CLUSTER_EXTRA = "pip install -e '.[cluster]'"


def _ignore_interrupt() -> None:
    """A local worker ignores Ctrl-C: the sweep's process stops it (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def local(workers: int) -> Iterator[Executor]:
    """``workers`` fresh (spawned) processes; on an exception or Ctrl-C the points not started
    are cancelled and the running ones' workers terminated."""
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_ignore_interrupt)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        terminate = getattr(pool, "terminate_workers", None)  # Python 3.14
        if terminate is not None:
            terminate()
        else:  # before 3.14 the pool has no public way to stop a running worker
            for process in list((pool._processes or {}).values()):
                process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def cluster(client: Client) -> Iterator[Executor]:
    """The executor of a Dask ``client``; on an exception or Ctrl-C its unfinished points are
    cancelled (the client and the cluster stay up)."""
    executor = client.get_executor(pure=False)
    try:
        yield executor
    except BaseException:
        executor.shutdown(wait=False)
        raise


def connect(address: str) -> Client:
    """A Dask client of the scheduler at ``address``; a ValueError naming the ``cluster``
    extra when dask.distributed is not installed, or when the scheduler is not reached."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError(f"parameter 'scheduler' needs dask.distributed, which is not "
                         f"installed: {CLUSTER_EXTRA} (the cluster extra)") from None
    try:
        return Client(address)
    except (OSError, TimeoutError) as err:
        raise ValueError(f"parameter 'scheduler': no Dask scheduler reached at {address!r}: "
                         f"{err}") from None
