"""Saved views in the console: the command palette lists each ``wfconsole views save``d
filter as ``View: NAME`` and applies it to the execution list."""

from __future__ import annotations

from collections.abc import Callable

from textual.command import CommandPalette

from engine.services.saved_views import save_view, views_path
from tests.console.conftest import Settle, execution_id, screen_text
from tests.console.helpers import notes
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.executions import ExecutionsScreen
from wfconsole.console.views.execution_filter import ExecutionFilter

MakeApp = Callable[..., WfConsoleApp]


async def test_the_palette_applies_a_saved_view_to_the_executions(
    make_app: MakeApp, settle: Settle
) -> None:
    save_view("invoice eight", "status:SUCCESS where:trigger.invoice.id <= 7")
    app = make_app(section="failures")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *"view invoice")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        assert "View: invoice eight" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        assert screen.filter == ExecutionFilter(status="SUCCESS", where="trigger.invoice.id <= 7")
        assert [row.id for row in screen.rows] == [execution_id(1), execution_id(7)]


async def test_a_hand_broken_view_says_why_and_changes_nothing(
    make_app: MakeApp, settle: Settle
) -> None:
    save_view("broken", "status:FAILED")
    views_path().write_text('{"views": {"broken": "status:DONE"}}', encoding="utf-8")
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *"view broken", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen) and screen.filter.is_empty
        assert any(note.startswith("view broken: status: unknown status 'DONE'")
                   for note in notes(app))  # fmt: skip


async def test_an_unreadable_views_file_leaves_the_palette_working(
    make_app: MakeApp, settle: Settle
) -> None:
    views_path().parent.mkdir(parents=True, exist_ok=True)
    views_path().write_text("not json", encoding="utf-8")
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *"filter")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        # The palette reads the views on a thread of its own (not a Textual worker, which
        # settle waits for): under load its note can come a moment later.
        for _ in range(100):
            if any("saved views:" in note for note in notes(app)):
                break
            await pilot.pause(0.05)
        assert any("saved views:" in note and "not JSON" in note for note in notes(app))
