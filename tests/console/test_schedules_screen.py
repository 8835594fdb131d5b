"""The schedules board (``s`` on the workflows, or the palette) and its backfill (``b``).

Against the seeded SQLite database plus ``diff_seed.seed_schedules``: hourly-sync ran at
09:00 and 11:00 (late) with gaps at 08:00, 10:00 and 12:00; the clock is pinned at 12:30.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlmodel import select
from textual.pilot import Pilot

from engine.access.audit import ensure_user
from engine.db import Database, session_scope
from engine.models import AuditLog, Role
from engine.services.schedules import schedule_triggers
from engine.services.workflows import save_document
from tests.console.conftest import Settle, execution_id, screen_text
from tests.console.diff_seed import BOARD_NOW, HOURLY, hour, schedule_keys, seed_schedules
from tests.console.helpers import notes, press_settled
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.screens.confirm import ConfirmScreen
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.screens.schedules import SchedulesScreen
from wfconsole.console.screens.workflows import WorkflowsScreen

MakeApp = Callable[..., WfConsoleApp]


@pytest.fixture
def board_db(console_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    """The seeded database with the schedules, and the board's clock at 12:30."""
    seed_schedules(console_db)
    monkeypatch.setattr("wfconsole.console.screens.schedules.now", lambda: BOARD_NOW)
    return console_db


def column(screen: SchedulesScreen, key: str) -> list[str]:
    return [cell.plain for cell in screen.table.get_column(key)]


async def open_board(pilot: Pilot[Any], settle: Settle) -> SchedulesScreen:
    """From the workflows section, ``s``."""
    await settle(pilot)
    assert isinstance(pilot.app.screen, WorkflowsScreen)
    await press_settled(pilot, settle, "s")
    screen = pilot.app.screen
    assert isinstance(screen, SchedulesScreen)
    return screen


def expected_keys(db: Database, *fires: datetime) -> list[str]:
    [trigger] = schedule_triggers(db, HOURLY)
    return sorted(trigger.key(fire) for fire in fires)


async def test_the_board_lists_every_schedule_trigger_with_its_gaps(
    make_app: MakeApp, settle: Settle, board_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_board(pilot, settle)
        assert column(screen, "workflow") == [HOURLY, "nightly-report"]
        assert column(screen, "cron") == ["0 * * * *", "0 2 * * *"]
        assert column(screen, "next") == ["05-01 13:00", "disabled"]
        assert column(screen, "last") == ["FAILED 1h", "never"]
        assert column(screen, "ok") == ["3h", "never"]
        assert column(screen, "gaps") == ["3", "1"]
        assert column(screen, "late") == ["1", "0"]
        text = screen_text(app)
        assert "2 schedule triggers · last 24 h · 4 gaps in 2 triggers · 1 late start" in text
        # The highlighted trigger in full: each gap and the late start.
        assert "hourly-sync · trigger #1 · cron 0 * * * * (UTC) · enabled" in text
        assert "5 fire times in 24 h · last run FAILED 05-01 11:00 · last success 3h ago" in text
        assert "gaps (3): 05-01 08:00, 05-01 10:00, 05-01 12:00" in text
        assert "late (1): 05-01 11:00 +5m" in text
        await press_settled(pilot, settle, "down")
        assert "gaps (1): 05-01 02:00" in screen_text(app)
        await press_settled(pilot, settle, "escape")
        assert isinstance(app.screen, WorkflowsScreen)


async def test_b_previews_the_backfill_then_creates_one_run_per_gap(
    make_app: MakeApp, settle: Settle, board_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_board(pilot, settle)
        await press_settled(pilot, settle, "b")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        question = dialog.question.plain
        assert "Backfill hourly-sync?" in question
        assert "3 fire times between 05-01 08:00 and 05-01 12:00 UTC have no run" in question
        assert "(2 already ran)" in question
        for fire in ("08:00", "10:00", "12:00"):
            assert f"trigger #1  2024-05-01 {fire} UTC" in question
        assert len(schedule_keys(board_db)) == 2  # the preview created nothing
        await press_settled(pilot, settle, "y")
        assert app.screen is screen
        assert column(screen, "gaps") == ["0", "1"]
    assert "hourly-sync: backfill created 3 runs" in notes(app)
    assert schedule_keys(board_db) == expected_keys(board_db, *map(hour, (8, 9, 10, 11, 12)))
    with board_db.read_session() as session:
        actions = session.exec(select(AuditLog.action).where(AuditLog.actor == "tester")).all()
    assert actions.count("schedule.backfill") == 1


async def test_answering_no_to_the_preview_creates_nothing(
    make_app: MakeApp, settle: Settle, board_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_board(pilot, settle)
        await press_settled(pilot, settle, "b", "n")
        assert app.screen is screen
    assert len(schedule_keys(board_db)) == 2


async def test_b_on_a_trigger_without_gaps_says_there_is_nothing_to_backfill(
    make_app: MakeApp, settle: Settle, board_db: Database, backend: EngineBackend
) -> None:
    backend.backfill_schedule(HOURLY, since=hour(8), until=hour(12), dry_run=False,
                              actor="tester", now=BOARD_NOW)  # fmt: skip
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_board(pilot, settle)
        await press_settled(pilot, settle, "b")
        assert app.screen is screen
    assert "no gaps in the window: nothing to backfill" in notes(app)


async def test_a_viewer_is_refused_the_backfill_with_the_reason(
    backend: EngineBackend, settle: Settle, board_db: Database
) -> None:
    with session_scope(board_db) as session:
        session.add(ensure_user(session, "vera"))
    with session_scope(board_db) as session:
        ensure_user(session, "vera").role = Role.VIEWER.value
    app = WfConsoleApp(backend, operator="vera", initial_section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_board(pilot, settle)
        enabled = {a.binding.action: a.enabled for a in screen.active_bindings.values()}
        assert enabled["backfill"] is False
        await press_settled(pilot, settle, "b")
        assert app.screen is screen  # no preview either
    assert "cannot backfill: needs OPERATOR (you are VIEWER)" in notes(app)
    assert len(schedule_keys(board_db)) == 2


async def test_enter_lists_the_scheduled_runs_of_the_workflow(
    make_app: MakeApp, settle: Settle, board_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_board(pilot, settle)
        await press_settled(pilot, settle, "enter")
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        assert screen.filter.to_query() == "workflow:=hourly-sync trigger:schedule"
        assert [row.id for row in screen.rows] == [execution_id(902), execution_id(901)]


async def test_the_palette_opens_the_board_from_any_section(
    make_app: MakeApp, settle: Settle, board_db: Database
) -> None:
    app = make_app(section="executions")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press_settled(pilot, settle, "ctrl+p", *"schedules")
        await press_settled(pilot, settle, "enter")
        assert isinstance(app.screen, SchedulesScreen)
        assert app.current_mode == "workflows"
        assert column(app.screen, "workflow") == [HOURLY, "nightly-report"]


async def test_the_board_fits_80x24(make_app: MakeApp, settle: Settle, board_db: Database) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_board(pilot, settle)
        lines = screen_text(app).splitlines()
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        assert lines[-1].strip() == "⏎ Open  b Backfill  esc Back"
        assert any(line.startswith(" hourly-sync ") and "FAILED 1h" in line for line in lines)


async def test_a_hostile_workflow_name_shows_literally(
    make_app: MakeApp, settle: Settle, board_db: Database
) -> None:
    name = "[@click=app.quit]sched[/]"
    save_document(
        board_db,
        {"name": name, "triggers": [{"type": "schedule", "cron": "0 * * * *"}],
         "actions": [{"type": "create_task", "title": "x"}]},
        actor="tester",
    )  # fmt: skip
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_board(pilot, settle)
        assert column(screen, "workflow")[0] == name
        assert f"{name} · trigger #0 · cron 0 * * * *" in screen_text(app)
        await pilot.click("#schedules-table", offset=(3, 1))  # on the name: nothing to click
        await settle(pilot)
        assert app.is_running
