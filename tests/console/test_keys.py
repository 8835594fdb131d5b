"""Every console key, driven through Pilot against the seeded database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from textual.command import CommandPalette

from engine.db import Database
from tests.console.conftest import HOSTILE_NAME, Settle, insert_executions, screen_text
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.execution_detail import ExecutionDetailScreen
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.screens.help import HelpScreen
from wfconsole.console.screens.workflows import WorkflowsScreen

MakeApp = Callable[..., WfConsoleApp]


def column(table: object, key: str) -> list[str]:
    """The plain text of one column, top to bottom."""
    return [cell.plain for cell in table.get_column(key)]  # type: ignore[attr-defined]


async def test_w_shows_the_workflows_by_name(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowsScreen)
        assert column(app.screen.table, "name") == [HOSTILE_NAME, "invoice-alert", "nightly-report"]
        assert column(app.screen.table, "triggers")[1] == "manual,event,hook"


async def test_x_shows_executions_newest_first(make_app: MakeApp, settle: Settle) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionsScreen)
        times = column(app.screen.table, "time")
        assert len(times) == 18
        assert times == sorted(times, reverse=True)


async def test_question_mark_lists_app_and_screen_keys(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        listed = {(item.key, item.description) for g in app.screen.groups for item in g.keys}
        for expected in [("w", "Workflows"), ("x", "Executions"), ("?", "Help"), ("q ^q", "Quit"),
                         ("/", "Filter"), ("⏎", "Open"),
                         ("^c super+c", "Copy selected text")]:  # fmt: skip
            assert expected in listed
        for group in app.screen.groups:  # keys doing the same thing share one line
            descriptions = [item.description for item in group.keys]
            assert len(descriptions) == len(set(descriptions)), group.title
        await pilot.press("escape")
        assert isinstance(app.screen, ExecutionsScreen)


async def test_slash_filters_workflows_by_name_and_escape_clears(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, WorkflowsScreen)
        await pilot.press("slash", *"REPORT")
        assert column(screen.table, "name") == ["nightly-report"]
        await pilot.press("escape")
        assert column(screen.table, "name") == [HOSTILE_NAME, "invoice-alert", "nightly-report"]
        assert not screen.filter_bar.is_open
        assert app.focused is screen.table


async def test_typing_key_letters_into_the_filter_does_not_trigger_them(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("slash", "q", "w", "x", "question_mark")
        assert app.is_running
        assert isinstance(app.screen, WorkflowsScreen)
        assert app.screen.filter_bar.value == "qwx?"


async def test_slash_filters_executions_by_status(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        await pilot.press("slash", *"status:failed", "enter")
        await settle(pilot)
        assert column(screen.table, "status") == ["FAILED"] * 3
        assert "filter status:FAILED" in screen_text(app)


async def test_a_bad_executions_filter_is_reported_and_kept_open(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        await pilot.press("slash", *"status:bogus", "enter")
        await settle(pilot)
        assert screen.filter_bar.is_open
        assert screen.filter.is_empty
        assert len(screen.rows) == 18


async def test_escape_in_the_executions_filter_shows_everything_again(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        await pilot.press("slash", *"nightly-report", "enter")
        await settle(pilot)
        assert set(column(screen.table, "workflow")) == {"nightly-report"}
        await pilot.press("slash", "escape")
        await settle(pilot)
        assert len(screen.rows) == 18


async def test_l_on_a_workflow_shows_its_executions(make_app: MakeApp, settle: Settle) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("down", "l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        assert screen.filter.workflow == "invoice-alert"
        assert column(screen.table, "workflow") == ["invoice-alert"] * 6


async def test_enter_on_an_execution_opens_its_detail_and_escape_goes_back(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "down", "down", "enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, ExecutionDetailScreen)
        assert detail.detail is not None
        assert detail.detail.row.workflow == "invoice-alert"
        assert detail.detail.row.status == "FAILED"
        shown = screen_text(app)
        assert "SMTP timeout" in shown
        assert '"amount": 1250.5' in shown
        await pilot.press("escape")
        assert isinstance(app.screen, ExecutionsScreen)


async def test_detail_shows_steps_and_log_lines(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 60)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        shown = screen_text(app)
        assert "#0  slack" in shown
        assert "#1  create_task" in shown
        assert "execution started" in shown
        assert "slack answered ␛[31mslowly␛[0m [b]1.2s[/b]" in shown


async def test_q_quits(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_ctrl_p_opens_the_palette_and_goes_to_workflows(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"go to workflows")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowsScreen)


async def test_palette_refresh_reloads_the_executions(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        insert_executions(
            console_db, "nightly-report", 1, first_number=9000,
            newest=datetime(2024, 5, 2, tzinfo=UTC),
        )  # fmt: skip
        await pilot.press("ctrl+p", *"refresh")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        assert len(screen.rows) == 19
        assert screen.rows[0].created_at.day == 2


async def test_section_keys_wait_while_the_help_is_open(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark", "w")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark", "w")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowsScreen)
