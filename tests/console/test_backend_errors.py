"""A failing backend is reported on screen and never stops the console."""

from __future__ import annotations

from collections.abc import Callable

from tests.console.conftest import RecordingBackend, Settle, screen_text
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.execution_detail import ExecutionDetailScreen

MakeApp = Callable[..., WfConsoleApp]


class BrokenDatabaseBackend(RecordingBackend):
    """Every execution query fails with a message full of terminal escapes."""

    def list_executions(self, **query: object) -> list:
        self.execution_calls.append(dict(query))
        raise RuntimeError("database is down \x1b[2J [b]really[/b]")


async def test_a_failed_load_is_a_literal_notification(
    make_app: MakeApp, settle: Settle, recording_backend: RecordingBackend
) -> None:
    app = make_app(backend=BrokenDatabaseBackend(recording_backend.inner))
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        assert app.is_running
        shown = screen_text(app)  # the toast wraps after "␛[2J"
        assert "could not load executions: database is down ␛[2J" in shown
        assert "[b]really[/b]" in shown


async def test_the_live_refresh_keeps_trying_after_a_failure(
    make_app: MakeApp, recording_backend: RecordingBackend
) -> None:
    backend = BrokenDatabaseBackend(recording_backend.inner)
    app = make_app(backend=backend, refresh_interval=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        # No settle(): it waits for every worker, and with a refresh every 50 ms one that
        # has just failed (as they all do here) may be among them, raising WorkerFailed.
        for _ in range(100):  # time-driven: the next refresh is a timer
            if len(backend.execution_calls) >= 3:
                break
            await pilot.pause(0.05)
        assert len(backend.execution_calls) >= 3


async def test_an_unknown_execution_says_so(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await app.push_screen(ExecutionDetailScreen(app.backend, "no-such-id"))
        await settle(pilot)
        assert "no execution with id 'no-such-id'" in screen_text(app)
