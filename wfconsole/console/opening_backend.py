"""``OpeningBackend``: a ``ConsoleBackend`` opened on a thread while the console paints.

Opening the deployment means importing the engine, connecting and checking the schema:
most of the time before the first rows. Started before the app, it runs while Textual
loads and draws the shell; each call, made from a screen's worker thread as every backend
call is, waits until the backend is open and then goes straight to it.

With ``early`` answers (``PlainFirstPage``: the newest page, the header's database and
health, read through the driver alone) opening waits instead: the first screen is served
without the engine, whose imports would otherwise compete with Textual's for the one
interpreter, and the backend opens at the first call the early answers cannot serve (the
operator's role, read right after the first page and the health are on screen). Those
early answers are also given on the event loop through ``answer_now``, which never waits
for the backend: the first screen draws them in its first frame (a few milliseconds of
SQLite) instead of a frame later from a worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from wfconsole.console.backend import BackendUnavailable, ConsoleBackend

B = TypeVar("B", bound=ConsoleBackend)


class EarlyAnswers(Protocol):
    """What can answer the first screen's calls before the backend is open."""

    def list_executions(self, **query: Any) -> Any:
        """The rows, or None when ``query`` is not one it serves."""
        ...

    def describe(self) -> Any:
        """The database and queue the console is attached to."""
        ...

    def health(self) -> Any:
        """Whether the database and the queue answer."""
        ...

    def close(self) -> None:
        """Release what it holds; no call follows."""
        ...


class OpeningBackend(Generic[B]):
    """Delegates every ``ConsoleBackend`` call to the backend ``open_backend`` returns.

    ``open_backend`` runs once, on a thread of its own: from construction, or with
    ``early`` from the first call those answers cannot serve. When it raises, every call
    raises ``BackendUnavailable`` and ``failure`` holds the exception (the caller reports
    it once the console has closed).
    """

    def __init__(self, open_backend: Callable[[], B], early: EarlyAnswers | None = None) -> None:
        self._open_backend = open_backend
        self._opened = threading.Event()
        self._backend: B | None = None
        self._early_answers = early
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None
        """What ``open_backend`` raised, or None."""
        if early is None:
            self.start()

    def start(self) -> None:
        """Start opening (once; later calls do nothing)."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._open, name="wfconsole-open", daemon=True
                )
                self._thread.start()

    def _open(self) -> None:
        try:
            self._backend = self._open_backend()
        except BaseException as exc:  # kept for the caller; every call says it is gone
            self.failure = exc
        finally:
            self._opened.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until opening finished (opened or failed); False when ``timeout`` passed.
        Opening that never started (early answers served every call) counts as finished."""
        with self._start_lock:
            if self._thread is None:
                return True
        return self._opened.wait(timeout)

    def close_early(self) -> None:
        """Close the early answers (the console has closed, or the backend answers now)."""
        with self._start_lock:
            early, self._early_answers = self._early_answers, None
        if early is not None:
            early.close()

    @property
    def backend(self) -> B:
        """The opened backend; waits for it, raises ``BackendUnavailable`` if it failed."""
        self.start()
        self._opened.wait()
        if self._backend is None:
            raise BackendUnavailable(str(self.failure)) from self.failure
        return self._backend

    def _early(self, method: str, **query: Any) -> Any:
        """The early answer to ``method``, or None: the backend has opened (the early
        answers close then), they do not serve this, or they failed (the backend says
        what is wrong in its own words)."""
        early = self._early_answers
        if early is None:
            return None
        if self._opened.is_set():
            self.close_early()
            return None
        try:
            return getattr(early, method)(**query)
        except Exception:  # closed meanwhile, or the database failed: ask the backend
            return None

    def answer_now(self, method: str, **query: Any) -> Any:
        """The early answer to ``method`` (``list_executions``, ``describe``, ``health``),
        or None when there is none; never waits for the backend. The first screen draws
        what it gets here in its first frame instead of a frame later from a worker."""
        return self._early(method, **query)

    def list_executions(self, **query: Any) -> Any:
        """The newest page early, when that is what is asked; otherwise the backend's."""
        rows = self._early("list_executions", **query)
        return rows if rows is not None else self.backend.list_executions(**query)

    def describe(self) -> Any:
        """The database and queue: early, or the backend's."""
        info = self._early("describe")
        return info if info is not None else self.backend.describe()

    def health(self) -> Any:
        """Whether they answer: early, or the backend's."""
        report = self._early("health")
        return report if report is not None else self.backend.health()

    def __getattr__(self, name: str) -> Any:
        """Any other ``ConsoleBackend`` method: the opened backend's (waiting for it)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.backend, name)
