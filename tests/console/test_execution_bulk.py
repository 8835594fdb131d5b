"""Marks (space), bulk retry (r) and cancel (c) behind the blast-radius dialog, and roles.

Seeded rows, newest first: SUCCESS 1 7 13 · FAILED 2 8 14 · RUNNING 3 9 15 · PENDING 4 10 16
· CANCELLED 5 11 17 · SKIPPED 6 12 18 (three workflows; actions slack then create_task).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from textual.pilot import Pilot
from textual.widgets import Input

from engine.access.roles import PermissionDenied
from engine.db import Database, session_scope
from engine.models import AuditLog, User, WorkflowExecution
from engine.services.blast_radius import BlastRadius
from tests.console.conftest import BASE_TIME, Settle, execution_id, insert_executions
from tests.console.conftest import screen_text as shown_text
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.blast_radius import BlastRadiusScreen
from wfconsole.console.screens.executions import ExecutionsScreen

MakeApp = Callable[..., WfConsoleApp]
NEWER = BASE_TIME + timedelta(hours=1)


def states(db: Database, *numbers: int) -> list[tuple[str, int, bool]]:
    """(status, retry_count, cancel_requested) of seeded executions."""
    with session_scope(db) as session:
        rows = {e.id: e for e in session.exec(select(WorkflowExecution))}
    return [
        (rows[execution_id(n)].status, rows[execution_id(n)].retry_count,
         rows[execution_id(n)].cancel_requested)
        for n in numbers
    ]  # fmt: skip


def audit(db: Database) -> list[tuple[str, str, str | None]]:
    """(actor, action, target) of every execution audit row, by target."""
    with session_scope(db) as session:
        rows = session.exec(
            select(AuditLog)
            .where(AuditLog.target_type == "execution")
            .order_by(col(AuditLog.target_id))
        ).all()
        return [(a.actor, a.action, a.target_id) for a in rows]


def set_role(db: Database, username: str, role: str) -> None:
    """Give ``username`` ``role`` (creating the user)."""
    with session_scope(db) as session:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            session.add(User(username=username, role=role))
        else:
            user.role = role


def set_next_step(db: Database, number: int, next_step: int) -> None:
    """Pretend execution ``number`` finished ``next_step`` steps before it stopped."""
    with session_scope(db) as session:
        execution = session.get(WorkflowExecution, execution_id(number))
        assert execution is not None
        execution.next_step = next_step


def executions(app: WfConsoleApp) -> ExecutionsScreen:
    """The executions screen (under any dialog)."""
    screen = next(s for s in app.screen_stack if isinstance(s, ExecutionsScreen))
    return screen


async def mark_rows(
    pilot: Pilot[Any], settle: Settle, first_row: int, count: int
) -> ExecutionsScreen:
    """Put the cursor on ``first_row`` and press space ``count`` times."""
    app = pilot.app
    assert isinstance(app, WfConsoleApp)
    screen = executions(app)
    screen.table.move_cursor(row=first_row)
    await pilot.press(*["space"] * count)
    await settle(pilot)
    return screen


async def test_space_marks_rows_moving_down_and_again_unmarks(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = await mark_rows(pilot, settle, 3, 3)
        assert list(screen.marked) == [execution_id(n) for n in (2, 8, 14)]
        assert [c.plain for c in screen.table.get_column("mark")][2:7] == [" ", "●", "●", "●", " "]
        assert "3 marked" in shown_text(app)
        screen.table.move_cursor(row=4)
        await pilot.press("space")
        assert list(screen.marked) == [execution_id(2), execution_id(14)]


async def test_marks_survive_a_refresh_and_loading_more_pages(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    insert_executions(console_db, "invoice-alert", 150, first_number=1000, newest=NEWER)
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = await mark_rows(pilot, settle, 0, 2)
        insert_executions(console_db, "nightly-report", 1, first_number=5000,
                          newest=NEWER.replace(hour=23))  # fmt: skip
        screen.reload()
        await settle(pilot)
        await pilot.press("end")
        await settle(pilot)
        assert len(screen.rows) == 150 + 18 + 1
        assert list(screen.marked) == [execution_id(1000), execution_id(1001)]
        marks = dict(zip([r.id for r in screen.rows], screen.table.get_column("mark"), strict=True))
        assert [i for i, cell in marks.items() if cell.plain == "●"] == list(screen.marked)


async def test_r_shows_the_blast_radius_and_y_retries_the_marked_rows(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    set_next_step(console_db, 8, 1)  # its slack step was done; only create_task runs again
    app = make_app()
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        await mark_rows(pilot, settle, 2, 3)  # 13 SUCCESS, 2 FAILED, 8 FAILED
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, BlastRadiusScreen)
        radius = app.screen.radius
        assert isinstance(radius, BlastRadius)
        assert radius.ids == (execution_id(2), execution_id(8))
        assert (radius.actions, radius.finished_steps) == ({"create_task": 2, "slack": 1}, 1)
        text = shown_text(app)
        for line in ("Retry 2 executions?", "2 of 3 will be retried", "1 SUCCESS",
                     "up to 1 message", "1 finished step will be skipped"):  # fmt: skip
            assert line in text
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionsScreen)
        assert states(console_db, 2, 8, 13) == [
            ("PENDING", 3, False), ("PENDING", 3, False), ("SUCCESS", 0, False),
        ]  # fmt: skip
        assert audit(console_db) == [
            ("tester", "execution.retry", execution_id(2)),
            ("tester", "execution.retry", execution_id(8)),
        ]
        assert app.screen.marked == {}
        assert "2 executions back to PENDING" in shown_text(app)
        statuses = {r.id: r.status for r in app.screen.rows}
        assert statuses[execution_id(2)] == statuses[execution_id(8)] == "PENDING"


async def test_r_without_marks_retries_the_highlighted_row(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        executions(app).table.move_cursor(row=4)  # execution 8
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert states(console_db, 2, 8) == [("FAILED", 2, False), ("PENDING", 3, False)]


async def test_c_cancels_pending_at_once_and_asks_running_to_stop(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        await mark_rows(pilot, settle, 8, 2)  # 15 RUNNING, 4 PENDING
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, BlastRadiusScreen)
        text = shown_text(app)
        assert "Cancel 2 executions?" in text
        assert "1 RUNNING stop after their current step" in text
        assert "1 message will not be sent" in text  # 4's slack; 15 is past it
        await pilot.press("y")
        await settle(pilot)
        assert states(console_db, 15, 4) == [("RUNNING", 0, True), ("CANCELLED", 0, False)]
        assert [a[1:] for a in audit(console_db)] == [
            ("execution.cancel", execution_id(4)),
            ("execution.cancel", execution_id(15)),
        ]
        assert "2 executions cancelled (1 stop after their current step)" in shown_text(app)


@pytest.mark.parametrize("key", ["escape", "n", "enter"])
async def test_leaving_the_dialog_without_y_changes_nothing(
    make_app: MakeApp, settle: Settle, console_db: Database, key: str
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = await mark_rows(pilot, settle, 3, 3)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, BlastRadiusScreen)
        await pilot.press(key)  # enter presses the focused "keep as is" button
        await settle(pilot)
        assert app.screen is screen
        assert states(console_db, 2, 8, 14) == [("FAILED", 2, False)] * 3
        assert audit(console_db) == []
        assert len(screen.marked) == 3


async def test_a_viewer_sees_r_and_c_refused_with_the_reason(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    set_role(console_db, "tester", "VIEWER")
    app = make_app()
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        screen = await mark_rows(pilot, settle, 3, 1)
        assert screen.check_action("retry", ()) is None
        assert screen.check_action("cancel", ()) is None
        await pilot.press("r")
        await settle(pilot)
        assert app.screen is screen
        assert "cannot retry: needs OPERATOR (you are VIEWER)" in shown_text(app)
        await pilot.press("c")
        await settle(pilot)
        assert app.screen is screen
        assert states(console_db, 2) == [("FAILED", 2, False)]
        assert audit(console_db) == []


async def test_a_viewer_types_r_c_and_space_into_the_filter_bar(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    """The keys the gate refuses on the list are plain text in an input (Textual's active
    bindings leave them to the focused input)."""
    set_role(console_db, "tester", "VIEWER")
    app = make_app()
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"error:rc r", "R")
        await settle(pilot)
        field = app.screen.focused
        assert isinstance(field, Input)
        assert field.value == "error:rc rR"
        assert "cannot" not in shown_text(app)
        await pilot.press("escape", "r")
        await settle(pilot)
        assert "cannot retry: needs OPERATOR (you are VIEWER)" in shown_text(app)


def test_the_backend_refuses_a_viewer_whatever_the_screen_shows(
    make_app: MakeApp, console_db: Database
) -> None:
    set_role(console_db, "tester", "VIEWER")
    backend = make_app().backend
    with pytest.raises(PermissionDenied):
        backend.retry_executions([execution_id(2)], actor="tester")
    with pytest.raises(PermissionDenied):
        backend.cancel_executions([execution_id(4)], actor="tester")
    assert states(console_db, 2, 4) == [("FAILED", 2, False), ("PENDING", 0, False)]


async def test_the_filter_bar_reads_the_new_keys(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = executions(app)
        await pilot.press("slash", *"trigger:manual error:smtp workflow:INVOICE", "enter")
        await settle(pilot)
        assert [r.id for r in screen.rows] == [execution_id(8)]
        assert "filter workflow:INVOICE trigger:manual error:smtp" in shown_text(app)
        await pilot.press("slash", "escape")
        await settle(pilot)
        assert len(screen.rows) == 18
