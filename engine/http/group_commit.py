"""Rounds: the blocking work of many requests, done together by one thread.

The receiver (engine/http/app.py) keeps the checks that need nothing on the event loop
and hands each request, once, to one thread as a job (engine/http/hook_rounds.py): the
hook lookup, the rate limit, the signature and replay check, the insert. The thread takes
whatever jobs are waiting (up to ``max_jobs``; after the first it waits at most ``linger``
seconds for more, and only while more requests are under way) and does them as one
round: one Redis pipeline, one transaction, one queue message for all of them. Under
trickle arrival the jobs that come in while a round runs make the next round, so the
batch grows with the load and costs no waiting when there is none.

Answers go back to each request's event loop with one ``call_soon_threadsafe`` per loop
and round. A round that raises answers each of its unanswered jobs with the exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("wfconsole.http")
MAX_JOBS = 64
LINGER_SECONDS = 0.002


class Job:
    """One request's share of a round; the round answers it through ``answer``."""

    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


Answer = Callable[[Sequence[tuple[Job, Any]]], None]
"""Delivers (job, result) pairs; a result that is an exception is raised in the request."""


class Rounds:
    """One thread running ``handle(jobs, answer)`` over the jobs waiting, round after round."""

    def __init__(
        self,
        handle: Callable[[list[Job], Answer], None],
        *,
        max_jobs: int = MAX_JOBS,
        linger: float = LINGER_SECONDS,
        name: str = "wfconsole-rounds",
    ) -> None:
        self.handle = handle
        self.max_jobs = max_jobs
        self.linger = linger
        self.name = name
        self.rounds = 0
        """Rounds run so far (tests and figures)."""
        self.jobs = 0
        """Jobs done in them."""
        self.in_flight = 0
        """Requests between ``enter`` and ``leave`` (their jobs may yet come)."""
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def enter(self) -> None:
        """A request started (on the event loop): the rounds wait for its jobs a little."""
        self.in_flight += 1

    def leave(self) -> None:
        """That request is answered."""
        self.in_flight -= 1

    def submit(self, job: Job) -> asyncio.Future[Any]:
        """Queue ``job`` for the next round; await the result (call on the event loop)."""
        loop = asyncio.get_running_loop()
        job.loop = loop
        job.future = loop.create_future()
        if self._thread is None:
            self._start()
        self._jobs.put(job)
        return job.future

    def close(self) -> None:
        """Let the thread finish the jobs already queued, then end."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._jobs.put(None)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _take(self, first: Job) -> tuple[list[Job], bool]:
        jobs, stop = [first], False
        deadline = None
        while len(jobs) < self.max_jobs:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                # Wait only while other requests are under way: their jobs are coming.
                # A lone request is never held back.
                if self.linger <= 0 or len(jobs) >= self.in_flight:
                    break
                if deadline is None:
                    deadline = time.monotonic() + self.linger
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    job = self._jobs.get(timeout=left)
                except queue.Empty:
                    break
            if job is None:
                stop = True
                break
            jobs.append(job)
        return jobs, stop

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            jobs, stop = self._take(first)
            self.rounds += 1
            self.jobs += len(jobs)
            answered: set[int] = set()
            try:
                self.handle(jobs, functools.partial(_answer, answered))
            except Exception as exc:  # a bug must not leave requests hanging
                log.exception("a round of %d request(s) failed", len(jobs))
                _deliver([(job, exc) for job in jobs if id(job) not in answered])
            if stop:
                return


def _answer(answered: set[int], pairs: Sequence[tuple[Job, Any]]) -> None:
    answered.update(id(job) for job, _ in pairs)
    _deliver(pairs)


def _deliver(pairs: Sequence[tuple[Job, Any]]) -> None:
    """Hand each result to its request's loop: one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Job, Any]]] = {}
    for job, result in pairs:
        by_loop.setdefault(job.loop, []).append((job, result))
    for loop, mine in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for these
            loop.call_soon_threadsafe(_settle, mine)


def _settle(pairs: list[tuple[Job, Any]]) -> None:
    for job, result in pairs:
        if job.future.done():  # the request was cancelled meanwhile
            continue
        if isinstance(result, BaseException):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)
