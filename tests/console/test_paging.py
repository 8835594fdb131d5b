"""The execution list loads a page at a time by keyset and refreshes only while shown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from engine.db import Database
from tests.console.conftest import (
    RecordingBackend,
    Settle,
    execution_id,
    insert_executions,
    screen_text,
)
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.execution_detail import ExecutionDetailScreen
from wfconsole.console.screens.executions import PAGE_SIZE, PREFETCH_ROWS, ExecutionsScreen

MakeApp = Callable[..., WfConsoleApp]
SEEDED = 18
NEWER = datetime(2024, 6, 1, tzinfo=UTC)


def executions_screen(app: WfConsoleApp) -> ExecutionsScreen:
    screen = app.screen
    assert isinstance(screen, ExecutionsScreen)
    return screen


async def test_the_first_page_holds_one_page(
    make_app: MakeApp, settle: Settle, console_db: Database, recording_backend: RecordingBackend
) -> None:
    insert_executions(console_db, "invoice-alert", 250, first_number=1000, newest=NEWER)
    app = make_app(backend=recording_backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = executions_screen(app)
        assert screen.table.row_count == PAGE_SIZE
        assert recording_backend.execution_calls == [
            {"status": None, "workflow": None, "limit": PAGE_SIZE}
        ]


async def test_end_loads_exactly_the_next_page_after_the_last_row(
    make_app: MakeApp, settle: Settle, console_db: Database, recording_backend: RecordingBackend
) -> None:
    insert_executions(console_db, "invoice-alert", 250, first_number=1000, newest=NEWER)
    app = make_app(backend=recording_backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = executions_screen(app)
        last_of_first_page = screen.rows[-1]
        await pilot.press("end")
        await settle(pilot)
        assert screen.table.row_count == 2 * PAGE_SIZE
        second_call = recording_backend.execution_calls[1]
        assert second_call["limit"] == PAGE_SIZE
        assert second_call["after"].id == last_of_first_page.id
        assert [r.created_at for r in screen.rows] == sorted(
            (r.created_at for r in screen.rows), reverse=True
        )
        assert len({r.id for r in screen.rows}) == 2 * PAGE_SIZE


async def test_end_again_loads_the_rest_and_then_stops_asking(
    make_app: MakeApp, settle: Settle, console_db: Database, recording_backend: RecordingBackend
) -> None:
    insert_executions(console_db, "invoice-alert", 250, first_number=1000, newest=NEWER)
    app = make_app(backend=recording_backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = executions_screen(app)
        for _ in range(4):
            await pilot.press("end")
            await settle(pilot)
        assert screen.table.row_count == 250 + SEEDED
        assert screen.exhausted
        assert len(recording_backend.execution_calls) == 3


async def test_moving_down_near_the_end_loads_the_next_page(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    insert_executions(console_db, "invoice-alert", 250, first_number=1000, newest=NEWER)
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = executions_screen(app)
        screen.table.move_cursor(row=PAGE_SIZE - PREFETCH_ROWS - 2)
        await pilot.press("down")
        await settle(pilot)
        assert screen.table.row_count == PAGE_SIZE
        await pilot.press("down")
        await settle(pilot)
        assert screen.table.row_count == 2 * PAGE_SIZE


async def test_the_live_refresh_adds_new_executions_at_the_top(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(refresh_interval=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = executions_screen(app)
        insert_executions(console_db, "nightly-report", 2, first_number=5000, newest=NEWER)
        for _ in range(100):  # the refresh timer is time-driven; give it up to 5 s
            if len(screen.rows) == SEEDED + 2:
                break
            await pilot.pause(0.05)
        assert [row.id for row in screen.rows[:2]] == [execution_id(5000), execution_id(5001)]
        assert screen.table.row_count == SEEDED + 2


async def test_the_live_refresh_pauses_while_the_detail_is_open(
    make_app: MakeApp, settle: Settle, console_db: Database, recording_backend: RecordingBackend
) -> None:
    app = make_app(backend=recording_backend, refresh_interval=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionDetailScreen)
        calls_while_hidden = len(recording_backend.execution_calls)
        await pilot.pause(0.5)  # ten refresh intervals
        assert len(recording_backend.execution_calls) <= calls_while_hidden + 1
        insert_executions(console_db, "nightly-report", 1, first_number=5000, newest=NEWER)
        await pilot.press("escape")
        await settle(pilot)
        assert len(executions_screen(app).rows) == SEEDED + 1


async def test_a_new_filter_starts_again_from_the_newest(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    insert_executions(console_db, "invoice-alert", 250, first_number=1000, newest=NEWER)
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("end")
        await settle(pilot)
        await pilot.press("slash", *"status:FAILED", "enter")
        await settle(pilot)
        screen = executions_screen(app)
        assert [row.status for row in screen.rows] == ["FAILED"] * 3
        assert screen.table.cursor_row == 0


async def test_deep_in_the_list_a_refresh_waits_above_until_home(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    insert_executions(console_db, "invoice-alert", 250, first_number=1000, newest=NEWER)
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = executions_screen(app)
        await pilot.press("end")
        await settle(pilot)
        await pilot.press("end")
        await settle(pilot)
        loaded = list(screen.rows)
        assert len(loaded) > PAGE_SIZE and screen.table.cursor_row >= PAGE_SIZE
        newest = datetime(2024, 7, 1, tzinfo=UTC)
        insert_executions(console_db, "nightly-report", 1, first_number=9000, newest=newest)
        screen.reload()
        await settle(pilot)
        assert screen.rows == loaded  # nothing moves under the operator's cursor
        assert "newer executions above (home)" in screen_text(app)
        await pilot.press("home")
        await settle(pilot)
        assert screen.rows[0].id == execution_id(9000)
        assert len(screen.rows) <= 2 * PAGE_SIZE  # the window was cut back to the top
