"""SVG snapshots of the replay dialog, the cluster replay preview and a refused ``where:``
filter, at 120x36 and 80x24.

Regenerate after an intended change with
``pytest tests/console/test_snapshots_replay.py --snapshot-update`` and look at them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from engine.db import Database
from tests.console.conftest import settle_app
from tests.console.failures_seed import use_failures
from tests.console.replay_seed import FAILED_RUN, seed_replay
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.executions import ExecutionsScreen

SIZES = [pytest.param((120, 36), id="120x36"), pytest.param((80, 24), id="80x24")]
MakeApp = Callable[..., WfConsoleApp]
SnapCompare = Callable[..., bool]


async def replay_dialog(pilot: Pilot[Any]) -> None:
    """``R`` on the failed order-sync run, its preview drawn."""
    await settle_app(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ExecutionsScreen)
    screen.table.move_cursor(row=screen.table.get_row_index(FAILED_RUN))
    await pilot.press("R")
    await settle_app(pilot)
    # A loaded machine can fire the options' debounce after the first plan and plan again:
    # the picture is of the preview drawn, not of "planning…".
    for _ in range(100):
        plan = pilot.app.screen.query_one("#replay-plan", Static)
        if "planning" not in str(plan.render()):
            break
        await pilot.pause(0.05)
        await settle_app(pilot)
    # (The text cursors are held steady by the suite's ``snap_compare``.)


async def cluster_preview(pilot: Pilot[Any]) -> None:
    """``R`` on the biggest failure cluster."""
    await settle_app(pilot)
    await pilot.press("R")
    await settle_app(pilot)


async def refused_where(pilot: Pilot[Any]) -> None:
    """A ``where:`` the engine cannot read, applied."""
    await settle_app(pilot)
    await pilot.press("slash", *"where:trigger.n", "space", *"in", "space", "3", "enter")
    await settle_app(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_replay_dialog(
    snap_compare: SnapCompare, make_app: MakeApp, console_db: Database, size: tuple[int, int]
) -> None:
    seed_replay(console_db)
    assert snap_compare(make_app(), terminal_size=size, run_before=replay_dialog)


@pytest.mark.parametrize("size", SIZES)
def test_cluster_replay_preview(
    snap_compare: SnapCompare,
    make_app: MakeApp,
    console_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    size: tuple[int, int],
) -> None:
    use_failures(console_db, monkeypatch)
    app = make_app(section="failures")
    assert snap_compare(app, terminal_size=size, run_before=cluster_preview)


@pytest.mark.parametrize("size", SIZES)
def test_refused_where_filter(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]
) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=refused_where)
