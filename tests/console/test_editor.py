"""The workflow editor, driven through Pilot: check as you type, save, dry run, leave."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from sqlmodel import col, select
from textual.pilot import Pilot
from textual.widgets import Static

from engine.db import Database
from engine.models import AuditLog, Workflow, WorkflowVersion
from engine.services.workflows import export_documents, save_document
from tests.console.conftest import HOSTILE_NAME, Settle, screen_text
from wfconsole.console.app import WfConsoleApp, screen_commands
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.screens.discard_changes import DiscardChangesScreen
from wfconsole.console.screens.dry_run import DryRunScreen
from wfconsole.console.screens.editor import EditorScreen

MakeApp = Callable[..., WfConsoleApp]
HOOK_URL = "https://erp.example.com/hook"


def hook_document(name: str = "hook-alert") -> dict[str, Any]:
    return {
        "name": name,
        "triggers": [{"type": "event", "event": "invoice.created"}],
        "conditions": {"path": "trigger.amount", "op": "gt", "value": 1000},
        "actions": [
            {"type": "webhook", "url": HOOK_URL, "body": {"id": "{{ trigger.id }}"}},
        ],
    }


def stored(db: Database, name: str = "hook-alert") -> tuple[int, int, list[tuple[str, str]]]:
    """(version, stored versions of it, audit rows about workflows as (actor, action))."""
    with db.read_session() as session:
        workflow = session.exec(select(Workflow).where(Workflow.name == name)).one()
        versions = session.exec(
            select(WorkflowVersion).where(WorkflowVersion.workflow_id == workflow.id)
        ).all()
        audit = session.exec(
            select(AuditLog).where(AuditLog.target_id == workflow.id).order_by(col(AuditLog.id))
        ).all()
        return workflow.version, len(versions), [(a.actor, a.action) for a in audit]


def errors_shown(screen: EditorScreen) -> str:
    """The error panel's text, unwrapped."""
    content = screen.query_one("#editor-error-list", Static).content
    return content.plain if isinstance(content, Text) else str(content)


def notes(app: WfConsoleApp) -> list[str]:
    return [notification.message for notification in app._notifications]


async def open_editor(
    pilot: Pilot[Any], settle: Settle, document: dict[str, Any], original: str | None
) -> tuple[EditorScreen, list[str | None]]:
    """Push the editor as the workflows screen will; collect what it dismisses with."""
    app = pilot.app
    assert isinstance(app, WfConsoleApp)
    results: list[str | None] = []
    screen = EditorScreen(app.backend, document, original_name=original)
    await app.push_screen(screen, results.append)
    await settle(pilot)
    return screen, results


async def until_checked(pilot: Pilot[Any], settle: Settle, screen: EditorScreen) -> None:
    """Wait out the typing pause and the check worker (event-driven, bounded)."""
    for _ in range(50):
        await pilot.pause(0.05)
        await settle(pilot)
        if screen.up_to_date:
            return
    raise AssertionError("the editor never checked the text")


async def type_into_url(pilot: Pilot[Any], screen: EditorScreen, *keys: str) -> None:
    """Put the cursor at the start of the webhook URL and press ``keys``."""
    lines = screen.text_area.text.splitlines()
    row = next(i for i, line in enumerate(lines) if HOOK_URL in line)
    screen.text_area.move_cursor((row, lines[row].index(HOOK_URL)))
    await pilot.press(*keys)


async def test_a_valid_document_opens_as_valid(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    save_document(console_db, hook_document(), actor="tester")
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen, _ = await open_editor(
            pilot, settle, export_documents(console_db, "hook-alert")[0], "hook-alert"
        )
        assert screen.check.valid
        shown = screen_text(app)
        assert "hook-alert · valid" in shown
        assert "no errors" in shown
        assert '"url": "https://erp.example.com/hook"' in shown


async def test_breaking_the_text_shows_the_path_and_refuses_save_then_fixing_saves(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    save_document(console_db, hook_document(), actor="tester")
    before = stored(console_db)
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        screen, results = await open_editor(
            pilot, settle, export_documents(console_db, "hook-alert")[0], "hook-alert"
        )
        await type_into_url(pilot, screen, "x")
        await until_checked(pilot, settle, screen)
        shown = screen_text(app)
        assert "invalid (1 error)" in shown
        assert "actions[0].url: invalid URL: only http and https are allowed" in errors_shown(
            screen
        )

        await pilot.press("ctrl+s")
        await settle(pilot)
        assert any(n.startswith("not saved: actions[0].url: invalid URL") for n in notes(app))
        assert stored(console_db) == before
        assert app.screen is screen

        await pilot.press("backspace")
        await until_checked(pilot, settle, screen)
        assert "hook-alert · valid" in screen_text(app)
        # The text now equals the stored one; change the body so there is a new version.
        screen.text_area.replace("{{ trigger.ref }}", *_span(screen, "{{ trigger.id }}"))
        await until_checked(pilot, settle, screen)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert results == ["hook-alert"]
        version, versions, audit = stored(console_db)
        assert (version, versions) == (before[0] + 1, before[1] + 1)
        assert audit[-1] == ("tester", "workflow.update")
        saved = export_documents(console_db, "hook-alert")[0]
        assert saved["actions"][0]["body"] == {"id": "{{ trigger.ref }}"}
        assert "saved hook-alert as version 2" in notes(app)


def _span(screen: EditorScreen, needle: str) -> tuple[tuple[int, int], tuple[int, int]]:
    lines = screen.text_area.text.splitlines()
    row = next(i for i, line in enumerate(lines) if needle in line)
    start = lines[row].index(needle)
    return (row, start), (row, start + len(needle))


async def test_dry_run_shows_condition_results_and_the_rendered_request(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await open_editor(pilot, settle, hook_document(), None)
        await pilot.press("ctrl+r")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, DryRunScreen)
        assert dialog.result is not None and dialog.result.conditions_passed
        shown = screen_text(app)
        assert "Conditions: pass" in shown
        assert "✓ trigger.amount gt 1000  (found 1001)" in shown
        assert f"POST {HOOK_URL}" in shown
        assert 'body: {"id": "<id>"}' in shown

        # Edit the payload so the rule fails, and run again.
        dialog.payload.text = '{"amount": 5, "id": 9}'
        await pilot.press("ctrl+r")
        await settle(pilot)
        shown = screen_text(app)
        assert "Conditions: fail — the run would be SKIPPED" in shown
        assert "✗ trigger.amount gt 1000  (found 5)" in shown
        assert 'body: {"id": 9}' in shown

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        assert app.screen.payload_text == '{"amount": 5, "id": 9}'
    with console_db.read_session() as session:  # a dry run stores nothing
        assert session.exec(select(Workflow).where(Workflow.name == "hook-alert")).first() is None


async def test_a_bad_payload_is_reported_not_run(make_app: MakeApp, settle: Settle) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_editor(pilot, settle, hook_document(), None)
        await pilot.press("ctrl+r")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, DryRunScreen)
        dialog.payload.text = '{"amount": '
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert "payload is not valid JSON: Expecting value at line 1" in screen_text(app)


async def test_leaving_with_unsaved_changes_asks_first(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    save_document(console_db, hook_document(), actor="tester")
    before = stored(console_db)
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen, results = await open_editor(
            pilot, settle, export_documents(console_db, "hook-alert")[0], "hook-alert"
        )
        await type_into_url(pilot, screen, "x")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DiscardChangesScreen)
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is screen
        assert results == []
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert results == [None]
        assert app.screen is not screen
    assert stored(console_db) == before


async def test_leaving_without_changes_does_not_ask(make_app: MakeApp, settle: Settle) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen, results = await open_editor(pilot, settle, hook_document(), None)
        await pilot.press("escape")
        await settle(pilot)
        assert results == [None]
        assert app.screen is not screen


async def test_a_viewer_sees_save_disabled_and_cannot_save(
    backend: EngineBackend, settle: Settle, console_db: Database
) -> None:
    save_document(console_db, hook_document(), actor="tester")
    before = stored(console_db)
    app = WfConsoleApp(backend, operator="viewer", initial_section="workflows")
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        assert app.role == "VIEWER"
        screen, results = await open_editor(
            pilot, settle, export_documents(console_db, "hook-alert")[0], "hook-alert"
        )
        assert screen.active_bindings["ctrl+s"].enabled is False
        assert "save disabled: needs ADMIN (you are VIEWER)" in screen_text(app)
        screen.text_area.replace("{{ trigger.ref }}", *_span(screen, "{{ trigger.id }}"))
        await until_checked(pilot, settle, screen)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "cannot save: needs ADMIN (you are VIEWER)" in notes(app)
        assert results == []
    assert stored(console_db) == before


async def test_a_new_workflow_with_a_taken_name_is_refused_in_the_error_panel(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen, results = await open_editor(pilot, settle, hook_document("invoice-alert"), None)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert results == []
        assert "name: a workflow named 'invoice-alert' already exists" in errors_shown(screen)
        assert not screen.check.valid


async def test_renaming_an_existing_workflow_is_an_error_as_you_type(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        document = export_documents(console_db, "invoice-alert")[0]
        screen, _ = await open_editor(pilot, settle, document, "invoice-alert")
        screen.text_area.replace("invoice-alarm", *_span(screen, "invoice-alert"))
        await until_checked(pilot, settle, screen)
        assert "name: renaming is not supported: keep 'invoice-alert'" in errors_shown(screen)


async def test_hostile_strings_in_the_document_are_shown_literally(
    make_app: MakeApp, settle: Settle, console_db: Database
) -> None:
    document = export_documents(console_db, HOSTILE_NAME)[0]
    document["actions"].append({"type": "sms", "to": HOSTILE_NAME + "\x1b[2J", "body": "hi"})
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen, _ = await open_editor(pilot, settle, document, HOSTILE_NAME)
        assert app.is_running
        shown = screen_text(app)
        assert f"{HOSTILE_NAME} · invalid (1 error)" in shown
        errors = errors_shown(screen)
        assert f"actions[2].to: invalid phone number '{HOSTILE_NAME}\\x1b[2J'" in errors
        assert f'"description": "{HOSTILE_NAME}"' in shown


async def test_the_palette_offers_save_with_the_reason_a_viewer_cannot(
    backend: EngineBackend, settle: Settle
) -> None:
    app = WfConsoleApp(backend, operator="viewer", initial_section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await open_editor(pilot, settle, hook_document(), None)
        listed = {name: help_text for name, help_text, _ in screen_commands(app, app.screen)}
        assert listed["Save"] == "(^s) unavailable: needs ADMIN (you are VIEWER)"
        assert listed["Dry run"] == "(^r) on this screen"


async def test_hostile_strings_in_a_dry_run_are_shown_literally(
    make_app: MakeApp, settle: Settle
) -> None:
    document = hook_document(HOSTILE_NAME)
    document["actions"].insert(0, {"type": "slack", "channel": "#ops", "text": "{{ trigger.id }}"})
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await open_editor(pilot, settle, document, None)
        await pilot.press("ctrl+r")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, DryRunScreen)
        dialog.payload.text = '{"amount": 2000, "id": "[@click=app.quit]x[/] \\u001b[2J"}'
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.is_running
        shown = screen_text(app)
        assert f"Dry run · {HOSTILE_NAME}" in shown
        assert "text: [@click=app.quit]x[/] ␛[2J" in shown
        assert 'body: {"id": "[@click=app.quit]x[/] \\u001b[2J"}' in shown


async def test_q_outside_the_text_asks_before_quitting_with_unsaved_changes(
    make_app: MakeApp, settle: Settle
) -> None:
    app = make_app(section="workflows")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen, _ = await open_editor(pilot, settle, hook_document(), None)
        await type_into_url(pilot, screen, "q")  # typed into the text, not a quit
        assert app.is_running
        assert "qhttps://" in screen.text_area.text
        await pilot.press("tab")  # to the error list
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, DiscardChangesScreen)
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is screen and app.is_running
        await pilot.press("q", "y")
        await settle(pilot)
        assert not app.is_running
