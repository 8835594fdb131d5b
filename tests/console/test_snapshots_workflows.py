"""SVG snapshots of the workflows screen's panel and dialogs, at 120x36 and 80x24.

Regenerate after an intended change with ``pytest tests/console --snapshot-update`` and
look at the report before committing the new SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from textual.pilot import Pilot

from engine.db import Database, session_scope
from engine.models import WorkflowVersion
from engine.services.workflows import save_document
from tests.console.conftest import BASE_TIME, settle_app
from wfconsole.console.app import WfConsoleApp

SIZES = [pytest.param((120, 36), id="120x36"), pytest.param((80, 24), id="80x24")]
MakeApp = Callable[..., WfConsoleApp]
SnapCompare = Callable[..., bool]


def pressing(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """A ``run_before`` that settles, presses ``keys`` and settles again."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle_app(pilot)
        await pilot.press(*keys)
        await settle_app(pilot)

    return run_before


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("wfconsole.console.widgets.schedule_panel.now", lambda: BASE_TIME)


@pytest.fixture
def second_version(console_db: Database) -> None:
    """invoice-alert gets a second version; both carry fixed save times."""
    save_document(
        console_db,
        {
            "name": "invoice-alert",
            "description": "Tell #ops about new invoices",
            "triggers": [{"type": "manual"}, {"type": "event", "event": "invoice.created"}],
            "actions": [{"type": "slack", "channel": "#ops", "text": "invoice {{ trigger.id }}"}],
        },
        actor="editor-bob",
    )
    with session_scope(console_db) as session:
        for row in session.exec(select(WorkflowVersion).order_by(col(WorkflowVersion.id))):
            row.created_at = BASE_TIME - timedelta(days=10 - row.version)
            session.add(row)


@pytest.mark.parametrize("size", SIZES)
def test_workflows_screen_with_a_schedule(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]
) -> None:
    app = make_app(section="workflows")
    assert snap_compare(app, terminal_size=size, run_before=pressing("down", "down"))


@pytest.mark.parametrize("size", SIZES)
def test_run_dialog(snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app(section="workflows")
    keys = ("down", "r", "f7", *'{"id": 7', "ctrl+r")
    assert snap_compare(app, terminal_size=size, run_before=pressing(*keys))


@pytest.mark.parametrize("size", SIZES)
def test_delete_confirmation(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]
) -> None:
    app = make_app(section="workflows")
    assert snap_compare(app, terminal_size=size, run_before=pressing("down", "delete"))


@pytest.mark.parametrize("size", SIZES)
def test_template_picker(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]
) -> None:
    app = make_app(section="workflows")
    assert snap_compare(app, terminal_size=size, run_before=pressing("n"))


@pytest.mark.parametrize("size", SIZES)
def test_version_history_with_diff(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int], second_version: None
) -> None:
    app = make_app(section="workflows")
    assert snap_compare(app, terminal_size=size, run_before=pressing("down", "v", "down"))
