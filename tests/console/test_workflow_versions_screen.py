"""The version history screen: the diff of each version and roll-back, through Pilot."""

from __future__ import annotations

from collections.abc import Callable

from engine.db import Database
from engine.services.workflows import list_versions, save_document
from tests.console.conftest import Settle, screen_text
from tests.console.test_workflow_keys import audit, notes, open_workflows, stored, viewer_app
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.confirm import ConfirmScreen
from wfconsole.console.screens.workflow_versions import WorkflowVersionsScreen
from wfconsole.console.screens.workflows import WorkflowsScreen

MakeApp = Callable[..., WfConsoleApp]
__all__ = ["viewer_app"]  # a fixture this module uses


async def test_v_shows_versions_with_the_diff_and_b_rolls_back(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    document = {
        "name": "invoice-alert",
        "triggers": [{"type": "manual"}],
        "actions": [{"type": "slack", "channel": "#ops", "text": "changed"}],
    }
    save_document(console_db, document, actor="editor-bob")
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle, "down")
        await pilot.press("v")
        await settle(pilot)
        versions = app.screen
        assert isinstance(versions, WorkflowVersionsScreen)
        assert [cell.plain for cell in versions.table.get_column("version")] == ["v2", "v1"]
        assert "editor-bob" in screen_text(app)
        await pilot.press("down")  # v1 against the current definition
        await settle(pilot)
        shown = screen_text(app)
        assert "v1 → current" in shown
        assert '-      "text": "hello"' in shown
        assert '+      "text": "changed"' in shown
        await pilot.press("p")  # v1 has nothing before it
        await settle(pilot)
        assert "v1 is the first version" in screen_text(app)
        await pilot.press("p", "b")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "Roll back invoice-alert to version 1?" in screen_text(app)
        await pilot.press("y")
        await settle(pilot)
        assert [cell.plain for cell in versions.table.get_column("version")] == ["v3", "v2", "v1"]
        assert "invoice-alert: v1 restored as version 3" in notes(app)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowsScreen)
    assert [v.version for v in list_versions(console_db, "invoice-alert")] == [3, 2, 1]
    restored = stored(console_db, "invoice-alert")
    assert restored is not None
    assert [a["type"] for a in restored.actions] == ["slack", "create_task"]
    assert audit(console_db)[-1] == ("tester", "workflow.rollback")


async def test_enter_in_the_versions_moves_to_the_diff_and_escape_comes_back(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle, "down")
        await pilot.press("v")
        await settle(pilot)
        versions = app.screen
        assert isinstance(versions, WorkflowVersionsScreen)
        await pilot.press("enter")
        assert app.focused is versions.query_one("#versions-diff")
        await pilot.press("escape")
        assert app.focused is versions.table
        assert app.screen is versions


async def test_a_viewer_cannot_roll_back(
    viewer_app: WfConsoleApp, settle: Settle, console_db: Database
) -> None:
    app = viewer_app
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle, "down")
        await pilot.press("v")
        await settle(pilot)
        versions = app.screen
        assert isinstance(versions, WorkflowVersionsScreen)
        await pilot.press("b")
        await settle(pilot)
        assert app.screen is versions
    assert "Roll back: needs ADMIN (you are VIEWER)" in notes(app)
    assert [v.version for v in list_versions(console_db, "invoice-alert")] == [1]
