"""Names, errors and payloads from the database show literally and never act as markup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from tests.console.conftest import HOSTILE_NAME, Settle, execution_id, screen_text
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.execution_detail import ExecutionDetailScreen
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.screens.workflows import WorkflowsScreen

MakeApp = Callable[..., WfConsoleApp]
SHOWN_ERROR = "boom ␛[2J [red]markup[/red] [@click=app.quit]click me[/]"
HOSTILE_FAILED_ID = execution_id(2)


async def click_text(pilot: Pilot[Any], needle: str) -> None:
    """Click the middle of the first place ``needle`` is shown on screen."""
    for y, line in enumerate(screen_text(pilot.app).splitlines()):  # type: ignore[arg-type]
        x = line.find(needle)
        if x >= 0:
            await pilot.click(offset=(x + len(needle) // 2, y))
            await pilot.pause()
            return
    raise AssertionError(f"{needle!r} is not on screen")


async def test_hostile_workflow_name_is_a_plain_cell(make_app: MakeApp, settle: Settle) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, WorkflowsScreen)
        key = screen.table.cursor_key
        assert key is not None
        cell = screen.table.get_cell(key, "name")
        assert cell.plain == HOSTILE_NAME
        assert cell.spans == []
        assert HOSTILE_NAME in screen_text(app)


async def test_clicking_the_hostile_workflow_name_does_not_quit(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await click_text(pilot, HOSTILE_NAME)
        await click_text(pilot, HOSTILE_NAME)
        await settle(pilot)
        assert app.is_running
        assert app.return_code is None


async def test_hostile_error_shows_literally_in_the_list(make_app: MakeApp, settle: Settle) -> None:
    app = make_app()
    async with app.run_test(size=(160, 36)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ExecutionsScreen)
        shown = screen_text(app)
        assert "boom ␛[2J [red]markup[/red]" in shown
        assert "\x1b" not in shown
        await click_text(pilot, "[red]markup[/red]")
        await settle(pilot)
        assert app.is_running
        assert app.return_code is None


async def test_hostile_error_and_name_show_literally_in_the_detail(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await app.push_screen(ExecutionDetailScreen(app.backend, HOSTILE_FAILED_ID))
        await settle(pilot)
        shown = screen_text(app)
        assert SHOWN_ERROR in shown
        assert f"workflow    {HOSTILE_NAME}" in shown
        await click_text(pilot, "[@click=app.quit]click me[/]")
        await click_text(pilot, HOSTILE_NAME)
        await settle(pilot)
        assert app.is_running
        assert isinstance(app.screen, ExecutionDetailScreen)


async def test_filter_echo_of_a_hostile_workflow_is_literal(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        assert screen.filter.workflow == HOSTILE_NAME
        assert len(screen.rows) == 6
        assert "workflow:'=[@click=app.quit]x[/]'" in screen_text(app)
