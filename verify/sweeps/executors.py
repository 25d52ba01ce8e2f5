"""Where a sweep's points run: any ``concurrent.futures.Executor``. Local worker processes by
default; a Dask distributed cluster through its client (``Client(address).get_executor()``).
Dask is imported only for a cluster."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from distributed import Client

CLUSTER_EXTRA = "pip install -e '.[cluster]'"
R = TypeVar("R")


def _start_worker() -> None:
    """A local worker's initializer. It ignores Ctrl-C: the sweep's process stops it (no
    traceback per worker). It was started with SIGINT blocked (:class:`_Pool`); ignored now,
    it is unblocked again (a pending one is discarded). And tqdm's lock is a thread lock:
    tqdm's default adds a multiprocessing lock, a named semaphore in a spawned process, which
    a worker terminated on Ctrl-C would leave behind ("leaked semaphore" warnings on stderr);
    a worker's progress bars are off anyway."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    _exit_with_parent()


def _exit_with_parent() -> None:
    """End this worker as soon as the sweep's process ends, however it ends (SIGKILL
    included): a worker left alone would wait forever for its next point, on a queue whose
    other end it holds itself. A daemon thread waits on the parent's sentinel (readable once
    the parent is gone)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="untangle-parent-watch", daemon=True).start()


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """SIGINT blocked in this thread for the block: a process started meanwhile inherits the
    block (a spawned worker cannot take Ctrl-C while it imports, before its initializer
    ignores it), and a Ctrl-C that comes meanwhile is held, not lost: it is delivered to this
    process when the block ends. Nothing where the platform has no signal masks."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Pool(ProcessPoolExecutor):
    """A process pool whose workers start with SIGINT blocked: they are spawned by
    ``submit``, one per call until there are enough, so every call holds Ctrl-C."""

    def submit(self, fn: Callable[..., R], /, *args: object, **kwargs: object) -> Future[R]:
        with _interrupts_held():
            return super().submit(fn, *args, **kwargs)


@contextmanager
def local(workers: int) -> Iterator[Executor]:
    """``workers`` fresh (spawned) processes that ignore Ctrl-C (:class:`_Pool`); on an
    exception or Ctrl-C in this process the points not started are cancelled and the running
    ones' workers terminated. A worker whose sweep process is killed ends too."""
    pool = _Pool(workers, mp_context=multiprocessing.get_context("spawn"),
                 initializer=_start_worker)
    try:
        yield pool
    except BaseException:
        _stop(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _stop(pool: ProcessPoolExecutor, timeout: float = 30.0) -> None:
    """Cancel the points of ``pool`` not started and terminate the workers running the
    others; wait (up to ``timeout`` seconds) until its manager thread has seen them end."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14
    if terminate is not None:
        terminate()
        return
    # Before 3.14 the pool has no public way to stop a running worker. shutdown() drops its
    # processes and its manager thread, so they are taken first; it also wakes the manager
    # thread, which then drops the cancelled points before it sees the workers end (were it
    # to see the ends first, Python 3.11 would print an InvalidStateError for each).
    processes = list((pool._processes or {}).values())
    manager = pool._executor_manager_thread
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    if manager is not None:
        manager.join(timeout)


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
