"""Score items in worker processes, each under a deadline that works from any thread
(math-verify's own ``signal.alarm`` timeouts only work in a main thread, so TRL switches them
off). A worker interrupts an item itself after ``cpu_timeout`` CPU seconds and moves on; one stuck
outside Python is killed at the wall-clock deadline and replaced; a crashed worker costs its item
only (:class:`Failure`). Workers are fresh interpreters (``python -c``), never forks: safe next to
CUDA and vLLM threads, and they never re-import the training script. :func:`shared_pool` keeps one
warm pool per size for the whole process.

>>> pool = shared_pool(1)
>>> pool.map(abs, [-1, 2], timeout=5)
[1, 2]
"""

from __future__ import annotations

import atexit
import collections
import enum
import importlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from multiprocessing.connection import wait
from typing import IO, Any


class Failure(enum.Enum):
    """Stands in for the result of an item that could not be scored."""

    TIMEOUT = "timeout"  # still running at its deadline: the worker was killed
    CRASH = "crash"  # the function raised, or the worker died


class _Overtime(BaseException):
    """Raised in a worker when its item used up its CPU time (a BaseException, so that the
    scored code's ``except Exception`` cannot swallow it)."""


def _overtime(signum, frame):
    raise _Overtime


def _serve() -> None:
    """A worker's life: read ``(fn, item, cpu_timeout)`` pickles on stdin, write ``fn(item)``
    pickles back. Preloaded modules that define ``warm_up()`` run it before the worker reports
    ready, so that no item's deadline pays for first-use costs (parser tables, caches).

    The protocol owns the real stdout; anything the scored code prints goes to stderr.
    """
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    signal.signal(signal.SIGPROF, _overtime)
    for name in sys.argv[1:]:
        warm_up = getattr(importlib.import_module(name), "warm_up", None)
        if callable(warm_up):
            _call(warm_up, None)  # a failed warm-up only costs speed
    pickle.dump("ready", protocol_out)  # start-up time never counts against an item's deadline
    protocol_out.flush()
    while True:
        try:
            fn, item, cpu_timeout = pickle.load(sys.stdin.buffer)
        except (EOFError, OSError):  # the pool went away
            return
        pickle.dump(_call(fn, item, cpu_timeout), protocol_out)
        protocol_out.flush()


class _Worker:
    def __init__(self, preload: list[str]):
        code = "from trl_r1_rewards.parallel import _serve; _serve()"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *preload], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self.ready = False

    def send(self, fn, item, cpu_timeout) -> None:
        pickle.dump((fn, item, cpu_timeout), self.process.stdin)
        self.process.stdin.flush()

    def receive(self) -> Any:
        return pickle.load(self.process.stdout)

    def started(self) -> _Worker:
        """Wait until the worker has imported (and warmed up) its modules and is ready."""
        if not self.ready:
            try:
                self.receive()
            except (EOFError, OSError, pickle.UnpicklingError) as error:
                raise RuntimeError(
                    f"A reward worker process (pid {self.process.pid}) died while starting, before scoring anything; "
                    f"run `{sys.executable} -c 'from trl_r1_rewards.parallel import _serve'` to see why."
                ) from error
            self.ready = True
        return self

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()


class WorkerPool:
    """``num_workers`` processes scoring one item at a time each, every item under a deadline.

    ``num_workers=0`` scores in the calling process, without deadlines (for debugging).
    ``preload`` names modules each worker imports as it starts, before its first item.
    """

    def __init__(self, num_workers: int, *, preload: Iterable[str] = ()):
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.num_workers = num_workers
        self._preload = list(preload)
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()  # one map() at a time; workers are not shared mid-batch

    def map(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        timeout: float,
        cpu_timeout: float | None = None,
        budget: float | None = None,
    ) -> list[Any]:
        """``[fn(item) for item in items]``, in order, each item given at most ``timeout`` seconds.

        ``cpu_timeout``: CPU seconds after which a worker gives up an item itself (it lives on).
        ``budget``: wall-clock seconds for the whole call; items not started by then are not
        scored. ``fn`` must be picklable (a module-level function). Items that time out or
        fail come back as a :class:`Failure` instead of a result.
        """
        items = list(items)
        if self.num_workers == 0:
            return [_call(fn, item) for item in items]
        with self._lock:
            return self._map(fn, items, timeout, cpu_timeout, budget)

    @property
    def pids(self) -> list[int]:
        """Process ids of the current workers (for monitoring; the pool replaces dead ones)."""
        return [worker.process.pid for worker in self._workers]

    def _map(self, fn, items, timeout, cpu_timeout, budget):
        self._workers += [_Worker(self._preload) for _ in range(min(self.num_workers, len(items)) - len(self._workers))]
        for worker in self._workers:  # new ones start in parallel; wait for all of them here
            worker.started()
        results: list[Any] = [None] * len(items)
        pending = collections.deque(range(len(items)))
        idle = list(self._workers)
        busy: dict[IO, tuple[_Worker, int, float]] = {}  # its stdout -> (worker, item, deadline)
        starting: dict[IO, _Worker] = {}  # its stdout -> a replacement not ready yet
        end = time.monotonic() + budget if budget is not None else float("inf")

        def restart(worker: _Worker) -> None:
            fresh = self._replace(worker)
            starting[fresh.process.stdout] = fresh

        def dispatch() -> None:
            while idle and pending:
                index = pending.popleft()
                if time.monotonic() >= end:  # the budget is spent: nothing more starts
                    results[index] = Failure.TIMEOUT
                    continue
                worker = idle.pop()
                try:
                    worker.send(fn, items[index], cpu_timeout)
                except (OSError, ValueError):  # died while idle: the item waits for another worker
                    pending.appendleft(index)
                    restart(worker)
                    continue
                busy[worker.process.stdout] = (worker, index, min(time.monotonic() + timeout, end))

        dispatch()
        while busy or (pending and starting):
            deadlines = [deadline for _, _, deadline in busy.values()]
            wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for pipe in wait(list(busy) + list(starting), timeout=wait_for):
                if pipe in starting:
                    fresh = starting.pop(pipe)
                    if self._ready_or_dropped(fresh):
                        idle.append(fresh)
                    continue
                worker, index, _ = busy.pop(pipe)
                try:
                    results[index] = worker.receive()
                    idle.append(worker)
                except (EOFError, OSError, pickle.UnpicklingError):  # died mid-item
                    results[index] = Failure.CRASH
                    restart(worker)
            now = time.monotonic()
            for pipe, (worker, index, deadline) in list(busy.items()):
                if now >= deadline:
                    del busy[pipe]
                    results[index] = Failure.TIMEOUT
                    restart(worker)
            dispatch()
        for index in pending:  # every worker died, and so did their replacements
            results[index] = Failure.CRASH
        for worker in starting.values():  # the next call finds a full, warm pool
            self._ready_or_dropped(worker)
        return results

    def _ready_or_dropped(self, worker: _Worker) -> bool:
        """Wait for a replacement; one that dies while starting (out of memory, say) is dropped,
        not raised: the call goes on with fewer workers, and the next one starts a new worker."""
        try:
            worker.started()
            return True
        except RuntimeError:
            worker.kill()
            self._workers.remove(worker)
            return False

    def _replace(self, worker: _Worker) -> _Worker:
        """Kill ``worker`` and start its replacement (not waiting for it to be ready)."""
        worker.kill()
        fresh = _Worker(self._preload)
        self._workers[self._workers.index(worker)] = fresh
        return fresh

    def close(self) -> None:
        """Stop every worker (the next :meth:`map` starts fresh ones)."""
        with self._lock:
            for worker in self._workers:
                worker.kill()
            self._workers.clear()

    def __getstate__(self):  # processes and pipes do not travel; a copy starts its own lazily
        raise TypeError("WorkerPool is not picklable; hold it through shared_pool() instead")


def _call(fn, item, cpu_timeout: float | None = None):
    """``fn(item)``, or a :class:`Failure` when it raises or (with ``cpu_timeout``, in a
    worker) uses more CPU seconds than that."""
    try:
        if cpu_timeout:
            signal.setitimer(signal.ITIMER_PROF, cpu_timeout)
        try:
            return fn(item)
        finally:
            if cpu_timeout:
                signal.setitimer(signal.ITIMER_PROF, 0)
    except _Overtime:
        return Failure.TIMEOUT
    except Exception:  # noqa: BLE001
        return Failure.CRASH


_POOLS: dict[tuple[int, tuple[str, ...]], WorkerPool] = {}
_POOLS_LOCK = threading.Lock()


def default_num_workers() -> int:
    """One worker per CPU core, at most 4: what the rewards use unless told otherwise."""
    return min(4, os.cpu_count() or 1)


def shared_pool(num_workers: int, *, preload: Iterable[str] = ()) -> WorkerPool:
    """The process-wide pool with ``num_workers`` workers that imported ``preload`` at start-up,
    created on first request (so no item's deadline pays for a worker's imports)."""
    key = (num_workers, tuple(sorted(preload)))
    with _POOLS_LOCK:
        if key not in _POOLS:
            _POOLS[key] = WorkerPool(num_workers, preload=key[1])
        return _POOLS[key]


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.close()
