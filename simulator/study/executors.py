"""Where the runs of a comparison execute: this process, a local process pool, or a Dask cluster.

Every executor takes a picklable function and a list of payloads and yields `(index, result)` as
runs finish. A run's result depends only on its payload (scenario and seed), so every executor
gives the same results, run for run.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from simulator.language.errors import DsimError
from simulator.study.interrupts import deferred, raise_if_requested


class Executor:
    name = "executor"

    def run(self, fn: Callable[[Any], Any], payloads: list[Any]) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def cancel(self) -> None:
        """Stop what has not started (after Ctrl-C); finished results are already yielded."""

    def close(self) -> None:
        pass

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is not None:  # an error or a signal: nobody will read the runs still going
            self.cancel()
        self.close()


class InProcess(Executor):
    name = "in-process"

    def run(self, fn, payloads):
        for i, p in enumerate(payloads):
            yield i, fn(p)


class LocalPool(Executor):
    """A pool of worker processes on this machine (forkserver: clean, fast to start)."""

    name = "local"

    def __init__(self, workers: int) -> None:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if ctx.get_start_method() == "forkserver":
            ctx.set_forkserver_preload(["simulator", "models"])
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_ignore_sigint)
        self.futures: dict[Future, int] = {}
        self.cancelled = False

    def run(self, fn, payloads):
        with _main_module_hidden():  # worker processes start during submit
            self.futures = {self.pool.submit(fn, p): i for i, p in enumerate(payloads)}
        pending = set(self.futures)
        while pending:
            with deferred():  # a signal must not land inside the condition's lock (see interrupts.py)
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            raise_if_requested()
            for fut in done:
                yield self.futures[fut], fut.result()

    def cancel(self):
        self.cancelled = True
        for fut in self.futures:
            fut.cancel()

    def close(self):
        if self.cancelled:
            # Runs already handed to a worker cannot be cancelled; stop them rather than wait for
            # results nobody will read (the finished ones are in the cache). The pool has no public
            # way to do this before Python 3.14 (terminate_workers).
            for proc in list(getattr(self.pool, "_processes", {}).values()):
                proc.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Worker processes started inside do not import the caller's main module.

    A new worker (spawn or forkserver) normally runs the parent's main script again to find the
    functions it is sent. A run needs only dsim's own modules, and a user's script without an
    `if __name__ == "__main__":` guard (or code typed on stdin) would start its study again in
    every worker, which breaks the pool. Hidden only while workers are started, in this thread."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__spec__", "__file__") if main is not None and k in main.__dict__}
    if main is not None:
        main.__spec__ = None
        main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the process that owns the pool (it cancels and stops them)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class DaskCluster(Executor):
    """A Dask cluster: an existing scheduler (`tcp://host:8786`) or a local cluster started here.

    The connection is made when there are runs to send: a study whose runs are all in the cache
    neither starts a cluster nor needs the scheduler."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None) -> None:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise DsimError("--executor dask needs dask.distributed: pip install 'dsim[cluster]'") from None
        self.scheduler, self.workers = scheduler, workers
        self.cluster: Any = None
        self.client: Any = None
        self.futures: list[Any] = []

    def _connect(self) -> None:
        from dask.distributed import Client, LocalCluster

        try:
            if self.scheduler:
                self.client = Client(self.scheduler, timeout="10s")
            else:
                self.cluster = _quiet_local_cluster(LocalCluster, self.workers or 2)
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as exc:
            raise DsimError(f"cannot reach the Dask scheduler {self.scheduler!r}: {exc}") from None

    def run(self, fn, payloads):
        from dask.distributed import as_completed

        if not payloads:
            return
        if self.client is None:
            self._connect()
        self.futures = self.client.map(fn, payloads, pure=False)
        index = {f.key: i for i, f in enumerate(self.futures)}
        finished = as_completed(self.futures)
        while not finished.is_empty():
            with deferred():  # a signal must not land inside a lock (see interrupts.py)
                batch = finished.next_batch(block=False)
                if not batch:
                    time.sleep(0.05)
            raise_if_requested()
            yield from self._results(batch, index)

    @staticmethod
    def _results(batch, index):
        for fut in batch:
            try:
                result = fut.result()
            except ImportError as exc:  # a worker without dsim (or another version of it)
                raise DsimError(f"a Dask worker cannot run dsim ({exc}): install the same dsim on every worker, "
                                f"pip install 'dsim[cluster]'") from None
            yield index[fut.key], result

    def cancel(self):
        if self.futures and self.client is not None:
            self.client.cancel(self.futures)

    def close(self):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _quiet_local_cluster(local_cluster: Any, workers: int) -> Any:
    """A local Dask cluster whose worker processes ignore SIGINT: Ctrl-C in a terminal reaches the
    whole process group, and it is this process that stops the study (cancels, keeps finished runs,
    closes the cluster); workers interrupted on their own would print tracebacks instead. The
    cluster's own logging is kept out of the terminal: what it says when stopped mid-study (tasks
    cancelled, a heartbeat missing the scheduler that closed first) is noise, and a run's own error
    reaches dsim through its result.

    No fixed port: the cluster has no dashboard, and the scheduler's HTTP server (which Dask starts
    even without one, by default on 8787) takes a free port of the loopback interface. Warnings
    the cluster gives while it starts (a port in use, say) are not for dsim's user either."""
    import logging
    import signal
    import warnings

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    try:  # worker processes started now inherit the ignored SIGINT
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return local_cluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                 scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                 silence_logs=logging.CRITICAL)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)


def usable_cores() -> int:
    """The cores this process may run on (a container or `taskset` can allow fewer than the machine has)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return multiprocessing.cpu_count()


def make_executor(kind: str = "local", workers: int | None = None, scheduler: str | None = None) -> Executor:
    if kind == "dask":
        return DaskCluster(scheduler, workers)
    if kind != "local":
        raise DsimError(f"unknown executor {kind!r}; use local or dask")
    if workers is None:
        workers = usable_cores()
    return InProcess() if workers <= 1 else LocalPool(workers)
