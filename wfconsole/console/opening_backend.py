"""``OpeningBackend``: a ``ConsoleBackend`` opened on a thread while the console paints.

Opening the deployment means importing the engine, connecting and checking the schema:
most of the time before the first rows. Started before the app, it runs while Textual
loads and draws the shell; each call, made from a screen's worker thread as every backend
call is, waits until the backend is open and then goes straight to it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from wfconsole.console.backend import BackendUnavailable, ConsoleBackend

B = TypeVar("B", bound=ConsoleBackend)


class OpeningBackend(Generic[B]):
    """Delegates every ``ConsoleBackend`` call to the backend ``open_backend`` returns.

    ``open_backend`` runs once, on a thread of its own, from construction. When it
    raises, every call raises ``BackendUnavailable`` and ``failure`` holds the exception
    (the caller reports it once the console has closed).
    """

    def __init__(self, open_backend: Callable[[], B]) -> None:
        self._open_backend = open_backend
        self._opened = threading.Event()
        self._backend: B | None = None
        self.failure: BaseException | None = None
        """What ``open_backend`` raised, or None."""
        self._thread = threading.Thread(target=self._open, name="wfconsole-open", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            self._backend = self._open_backend()
        except BaseException as exc:  # kept for the caller; every call says it is gone
            self.failure = exc
        finally:
            self._opened.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until opening finished (opened or failed); False when ``timeout`` passed."""
        return self._opened.wait(timeout)

    @property
    def backend(self) -> B:
        """The opened backend; waits for it, raises ``BackendUnavailable`` if it failed."""
        self._opened.wait()
        if self._backend is None:
            raise BackendUnavailable(str(self.failure)) from self.failure
        return self._backend

    def __getattr__(self, name: str) -> Any:
        """Any ``ConsoleBackend`` method: the opened backend's (waiting for it)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.backend, name)
