"""Daemon threads that run the steps of a batch concurrently.

Like ``concurrent.futures.ThreadPoolExecutor``, but its threads are daemons, as Huey's
worker threads are: a process that exits (the console quitting, a consumer stopping)
never waits for a step hung on a slow target. Threads start on demand, up to ``size``,
so every submitted step starts at once while fewer than ``size`` are running.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class StepPool:
    """Run callables on up to ``size`` daemon threads."""

    def __init__(self, size: int, name: str = "wfconsole-step") -> None:
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._threads = 0
        self._outstanding = 0  # submitted and not yet finished
        self._closed = False

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on a pool thread; its future holds the result or the exception."""
        future: Future[T] = Future()
        with self._lock:
            closed = self._closed
            if not closed:
                self._outstanding += 1
                # Each thread runs one job at a time: more jobs than threads means none is free.
                start = self._outstanding > self._threads and self._threads < self.size
                if start:
                    self._threads += 1
        if closed:  # a worker still finishing after its stop: run it here, one by one
            _run(future, fn)
            return future
        self._jobs.put((future, fn))
        if start:
            threading.Thread(
                target=self._work, name=f"{self.name}-{self._threads}", daemon=True
            ).start()
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                _run(*job)
            finally:
                with self._lock:
                    self._outstanding -= 1

    def close(self) -> None:
        """Let the threads end once the jobs already submitted are done."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = self._threads
        for _ in range(threads):
            self._jobs.put(None)


def _run(future: Future[Any], fn: Callable[[], Any]) -> None:
    if future.set_running_or_notify_cancel():
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)


class Slots:
    """A counting semaphore taken several at a time: executions one process holds at once.

    A worker thread takes as many slots as its claim may return before claiming, and gives
    back what it did not get at once, the rest when its batch is over; so a process never
    holds more executions than its worker threads could run as batches (and a full
    process leaves messages to the others instead of claiming past its share).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._cond = threading.Condition()

    def acquire(self, count: int) -> int:
        """Wait for ``count`` free slots (at most ``size``) and take them; returns how many."""
        count = max(0, min(count, self.size))
        with self._cond:
            self._cond.wait_for(lambda: self._free >= count)
            self._free -= count
        return count

    def release(self, count: int) -> None:
        """Give ``count`` slots back."""
        if count <= 0:
            return
        with self._cond:
            # A claim for more ids than ``size`` may hold more than it took: never above size.
            self._free = min(self.size, self._free + count)
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every slot is free (no batch running); False when ``timeout`` passed."""
        with self._cond:
            return self._cond.wait_for(lambda: self._free == self.size, timeout)
