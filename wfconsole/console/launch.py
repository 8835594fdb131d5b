"""Running the console so that it shows something at once: shell first, then the first
page and the health, then everything else.

The backend opens on a thread while Textual loads and paints (``OpeningBackend``); what
only runs beside the console (the embedded worker, error reporting) starts after the
first screen has its data. Everything either of them opened is closed when the console
quits, in reverse order, and nothing is opened after that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from typing import TypeVar, cast

from wfconsole.console.backend import ConsoleBackend, RefreshSettings
from wfconsole.console.opening_backend import EarlyAnswers, OpeningBackend

B = TypeVar("B", bound=ConsoleBackend)
T = TypeVar("T")


class Lifetime:
    """What stays open for as long as the console runs; thread-safe, closed once."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._lock = threading.Lock()
        self._closed = False

    def keep(self, context: AbstractContextManager[T]) -> T:
        """Enter ``context`` until the console closes (refused once it has closed)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the console has closed")
            return self._stack.enter_context(context)

    def close(self) -> None:
        """Leave every kept context, the last entered first."""
        with self._lock:
            self._closed = True
            self._stack.close()


def run_console(
    open_backend: Callable[[Lifetime], B],
    start_services: Callable[[B, Lifetime], None],
    *,
    operator: str,
    console_settings: RefreshSettings,
    early: EarlyAnswers | None = None,
) -> int:
    """Run the console until it quits; its exit status.

    ``open_backend`` runs on a thread at once — or, with ``early`` answers for the first
    screen, at the first call they cannot serve; ``start_services`` on a worker thread
    once the first page and the health are on screen. When opening fails, the console
    quits and the exception is raised here, for the command line to report in one line.
    """
    lifetime = Lifetime()
    opening = OpeningBackend(lambda: open_backend(lifetime), early)

    def after_first_page() -> None:
        start_services(opening.backend, lifetime)

    from wfconsole.console.app import WfConsoleApp

    try:
        app = WfConsoleApp(
            cast("ConsoleBackend", opening),  # every call delegated to the opened backend
            operator=operator,
            console_settings=console_settings,
            after_first_page=after_first_page,
        )
        app.run()
    finally:
        opening.wait()  # close only what has finished opening
        opening.close_early()
        lifetime.close()
    if opening.failure is not None:
        raise opening.failure
    return app.return_code or 0
