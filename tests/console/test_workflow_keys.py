"""The workflows screen's change keys, driven through Pilot against the seeded database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import col, select
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import TextArea

from engine.access.audit import ensure_user
from engine.db import Database, session_scope
from engine.models import AuditLog, Role, Workflow, WorkflowExecution
from engine.services.workflows import save_document
from tests.console.conftest import HOSTILE_NAME, Settle, screen_text
from tests.console.helpers import notes, press_settled
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.screens.confirm import ConfirmScreen
from wfconsole.console.screens.editor import EditorScreen
from wfconsole.console.screens.run_workflow import RunWorkflowScreen
from wfconsole.console.screens.template_picker import TemplatePickerScreen
from wfconsole.console.screens.workflows import WorkflowsScreen

MakeApp = Callable[..., WfConsoleApp]
PINNED_NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def column(screen: WorkflowsScreen, key: str) -> list[str]:
    return [cell.plain for cell in screen.table.get_column(key)]


def stored(db: Database, name: str) -> Workflow | None:
    with db.read_session() as session:
        return session.exec(select(Workflow).where(Workflow.name == name)).first()


def audit(db: Database) -> list[tuple[str, str]]:
    with db.read_session() as session:
        rows = session.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
        return [(r.actor, r.action) for r in rows]


def executions_of(db: Database, name: str) -> list[WorkflowExecution]:
    with db.read_session() as session:
        return list(
            session.exec(
                select(WorkflowExecution)
                .join(Workflow, col(Workflow.id) == col(WorkflowExecution.workflow_id))
                .where(Workflow.name == name)
            ).all()
        )


async def open_workflows(pilot: Pilot[Any], settle: Settle, *down: str) -> WorkflowsScreen:
    await settle(pilot)
    if down:
        await press_settled(pilot, settle, *down)
    screen = pilot.app.screen
    assert isinstance(screen, WorkflowsScreen)
    return screen


@pytest.fixture
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setattr("wfconsole.console.widgets.schedule_panel.now", lambda: PINNED_NOW)
    return PINNED_NOW


async def test_space_disables_and_enables_in_the_database_and_the_row(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_workflows(pilot, settle, "down")
        await press_settled(pilot, settle, "space")
        assert stored(console_db, "invoice-alert").enabled is False  # type: ignore[union-attr]
        assert column(screen, "enabled")[1] == "no"
        assert column(screen, "name")[1] == "invoice-alert"  # the cursor stays on the row
        await press_settled(pilot, settle, "space")
        assert stored(console_db, "invoice-alert").enabled is True  # type: ignore[union-attr]
        assert column(screen, "enabled")[1] == "yes"
    assert audit(console_db)[-2:] == [("tester", "workflow.disable"), ("tester", "workflow.enable")]


async def test_run_with_bad_json_shows_the_error_and_runs_nothing(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle, "down")
        await press_settled(pilot, settle, "r")
        dialog = app.screen
        assert isinstance(dialog, RunWorkflowScreen)
        assert dialog.workflow == "invoice-alert"
        await press_settled(pilot, settle, "f7", *'{"a": ', "ctrl+r")
        assert app.screen is dialog
        assert "not valid JSON: Expecting value at line 1, column 7" in screen_text(app)
        await press_settled(pilot, settle, "f7", *"[1, 2]", "ctrl+r")
        assert "the payload must be a JSON object, not an array" in screen_text(app)
        await press_settled(pilot, settle, "escape")
        assert isinstance(app.screen, WorkflowsScreen)
    assert len(executions_of(console_db, "invoice-alert")) == 6
    assert ("tester", "workflow.run") not in audit(console_db)


async def test_run_with_a_json_object_starts_an_execution_with_it(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle, "down")
        await press_settled(pilot, settle, "r")
        await press_settled(pilot, settle, "f7", *'{"order": 42}', "ctrl+r")
        assert isinstance(app.screen, WorkflowsScreen)
    [new] = [e for e in executions_of(console_db, "invoice-alert") if e.trigger_data.get("order")]
    assert (new.status, new.trigger_type, new.trigger_data) == ("PENDING", "manual", {"order": 42})
    assert f"invoice-alert: started execution {new.id}" in notes(app)


async def test_run_of_a_disabled_workflow_says_why(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle, "down", "down")
        await press_settled(pilot, settle, "r")
        await press_settled(pilot, settle, "ctrl+r")
    assert "workflow 'nightly-report' is disabled; enable it first" in notes(app)
    assert len(executions_of(console_db, "nightly-report")) == 6


async def test_delete_asks_with_the_execution_count_and_n_keeps_it(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle, "down")
        await press_settled(pilot, settle, "delete")
        assert isinstance(app.screen, ConfirmScreen)
        shown = screen_text(app)
        assert "Delete workflow invoice-alert?" in shown
        assert "Its 6 executions" in shown
        await press_settled(pilot, settle, "n")
        assert isinstance(app.screen, WorkflowsScreen)
    assert stored(console_db, "invoice-alert") is not None


async def test_delete_confirmed_removes_the_workflow_and_its_row(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_workflows(pilot, settle, "down")
        await press_settled(pilot, settle, "ctrl+d")
        await press_settled(pilot, settle, "y")
        assert column(screen, "name") == [HOSTILE_NAME, "nightly-report"]
    assert stored(console_db, "invoice-alert") is None
    assert executions_of(console_db, "invoice-alert") == []
    assert audit(console_db)[-1] == ("tester", "workflow.delete")
    assert "deleted invoice-alert and 6 executions" in notes(app)


async def test_a_hostile_name_in_the_delete_question_is_literal(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle)
        await press_settled(pilot, settle, "delete")
        assert f"Delete workflow {HOSTILE_NAME}?" in screen_text(app)
        await pilot.click("#confirm-question")
        await pilot.press("n")
        assert app.is_running


async def test_enter_opens_the_workflow_in_the_editor(make_app: MakeApp, settle: Settle) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle, "down")
        await press_settled(pilot, settle, "enter")
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        assert editor.original_name == "invoice-alert"
        assert '"name": "invoice-alert"' in editor.query_one("#editor-text", TextArea).text
        await press_settled(pilot, settle, "escape")
        assert isinstance(app.screen, WorkflowsScreen)


async def test_n_picks_a_template_and_opens_it_as_a_new_workflow(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle)
        await press_settled(pilot, settle, "n")
        assert isinstance(app.screen, TemplatePickerScreen)
        await pilot.press("down", "enter")  # the second template: email
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        assert editor.original_name is None
        text = editor.query_one("#editor-text", TextArea).text
        assert '"name": "new-email-workflow"' in text
        assert '"type": "email"' in text


async def test_saving_a_new_workflow_lists_it_with_the_cursor_on_it(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_workflows(pilot, settle)
        await pilot.press("n", "enter")  # the first template: webhook
        await settle(pilot)
        await press_settled(pilot, settle, "ctrl+s")
        assert app.screen is screen
        assert "new-webhook-workflow" in column(screen, "name")
        selected = screen.selected_workflow()
        assert selected is not None and selected.name == "new-webhook-workflow"
    assert stored(console_db, "new-webhook-workflow") is not None


async def test_the_schedule_panel_lists_the_next_five_fire_times(
    make_app: MakeApp, settle: Settle, pinned_clock: datetime
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle)
        assert "cron 0 2" not in screen_text(app)  # no schedule on the first workflow
        await press_settled(pilot, settle, "down", "down")
        shown = screen_text(app)
        assert "cron 0 2 * * *  UTC" in shown
        for day in range(2, 7):
            assert f"2024-05-0{day} 02:00 UTC" in shown


async def test_the_schedule_panel_shows_local_and_utc_times(
    make_app: MakeApp, settle: Settle, console_db: Database, pinned_clock: datetime
) -> None:
    save_document(
        console_db,
        {
            "name": "berlin-mornings",
            "triggers": [{"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}],
            "actions": [{"type": "slack", "channel": "#ops", "text": "guten Morgen"}],
        },
        actor="tester",
    )
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle, "down")
        shown = screen_text(app)
        assert "cron 0 9 * * 1-5  Europe/Berlin" in shown
        assert "Thu 2024-05-02 09:00 CEST   07:00 UTC" in shown
        assert "Wed 2024-05-08 09:00 CEST   07:00 UTC" in shown


@pytest.fixture
def viewer_app(console_db: Database, backend: EngineBackend) -> WfConsoleApp:
    with session_scope(console_db) as session:
        user = ensure_user(session, "vera")
        user.role = Role.VIEWER.value
        session.add(user)
    return WfConsoleApp(backend, operator="vera", initial_section="workflows")


async def test_a_viewer_sees_the_change_keys_disabled_and_pressing_them_changes_nothing(
    viewer_app: WfConsoleApp, settle: Settle, console_db: Database
) -> None:
    app = viewer_app
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_workflows(pilot, settle, "down")
        enabled = {a.binding.action: a.enabled for a in screen.active_bindings.values()}
        for action in ("toggle_enabled", "run_workflow", "new_workflow", "delete_workflow"):
            assert enabled[action] is False, action
        assert enabled["show_versions"] and enabled["show_runs"]
        for key in ("space", "r", "n", "delete"):
            await press_settled(pilot, settle, key)
            assert app.screen is screen, key
        assert column(screen, "enabled")[1] == "yes"
    assert "On/off: needs ADMIN (you are VIEWER)" in notes(app)
    assert "Run now: needs OPERATOR (you are VIEWER)" in notes(app)
    assert stored(console_db, "invoice-alert").enabled is True  # type: ignore[union-attr]
    assert len(executions_of(console_db, "invoice-alert")) == 6
    assert [a for a in audit(console_db) if a[0] == "vera"] == []


async def test_the_palette_offers_the_keys_and_names_the_refusal(
    viewer_app: WfConsoleApp, settle: Settle
) -> None:
    app = viewer_app
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle, "down")
        await press_settled(pilot, settle, "ctrl+p", *"run now")
        assert isinstance(app.screen, CommandPalette)
        assert "unavailable: needs OPERATOR (you are VIEWER)" in screen_text(app)
        await press_settled(pilot, settle, "enter")
        assert isinstance(app.screen, WorkflowsScreen)
    assert "Run now: needs OPERATOR (you are VIEWER)" in notes(app)


async def test_the_run_payload_is_typed_inside_the_empty_object(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_workflows(pilot, settle, "down")
        await press_settled(pilot, settle, "r", *'"order": 7', "ctrl+r")
    [new] = [e for e in executions_of(console_db, "invoice-alert") if e.trigger_data.get("order")]
    assert new.trigger_data == {"order": 7}
