"""SVG snapshots of the execution list with marks and of the blast-radius dialog.

Regenerate after an intended change with
``pytest tests/console/test_snapshots_executions.py --snapshot-update`` and look at them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from engine.db import Database, session_scope
from engine.models import WorkflowExecution
from tests.console.conftest import execution_id, settle_app
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.executions import ExecutionsScreen

SIZES = [pytest.param((120, 36), id="120x36"), pytest.param((80, 24), id="80x24")]
MakeApp = Callable[..., WfConsoleApp]
SnapCompare = Callable[..., bool]


async def mark_three_failed(pilot: Pilot[Any]) -> None:
    """Mark rows 3 to 5 (the FAILED executions 2, 8 and 14), leaving the cursor on row 6."""
    await settle_app(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ExecutionsScreen)
    screen.table.move_cursor(row=2)
    await pilot.press("down", "space", "space", "space")
    await settle_app(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_executions_with_marks(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]
) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=mark_three_failed)


@pytest.mark.parametrize("size", SIZES)
def test_blast_radius_dialog(
    snap_compare: SnapCompare,
    make_app: MakeApp,
    console_db: Database,
    size: tuple[int, int],
) -> None:
    with session_scope(console_db) as session:
        execution = session.get(WorkflowExecution, execution_id(8))
        assert execution is not None
        execution.next_step = 1  # one finished step that the retry skips

    async def open_dialog(pilot: Pilot[Any]) -> None:
        await mark_three_failed(pilot)
        await pilot.press("up", "up", "up", "up", "space")  # also the SUCCESS row 13
        await pilot.press("r")
        await settle_app(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=open_dialog)
