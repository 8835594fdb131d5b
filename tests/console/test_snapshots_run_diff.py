"""SVG snapshots of the run diff, its run picker, the schedules board and the backfill
preview, at 120x36 and 80x24.

Regenerate after an intended change with
``pytest tests/console/test_snapshots_run_diff.py --snapshot-update`` and look at them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from engine.db import Database
from tests.console.conftest import settle_app
from tests.console.diff_seed import BAD_RUN, BOARD_NOW, add_diff_steps, seed_schedules
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.screens.executions import ExecutionsScreen

SIZES = [pytest.param((120, 36), id="120x36"), pytest.param((80, 24), id="80x24")]
MakeApp = Callable[..., WfConsoleApp]
SnapCompare = Callable[..., bool]


def diff_of_the_bad_run(*then: str) -> Callable[[Pilot[Any]], Any]:
    """A ``run_before``: ``=`` on invoice-alert's failed run, then ``then``."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle_app(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ExecutionsScreen)
        screen.table.move_cursor(row=screen.table.get_row_index(BAD_RUN))
        await pilot.press("equals_sign", *then)
        await settle_app(pilot)

    return run_before


def on_the_board(*then: str) -> Callable[[Pilot[Any]], Any]:
    """A ``run_before``: ``s`` on the workflows, then ``then``."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle_app(pilot)
        await pilot.press("s")
        await settle_app(pilot)
        await pilot.press(*then)
        await settle_app(pilot)

    return run_before


@pytest.fixture
def board(console_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_schedules(console_db)
    monkeypatch.setattr("wfconsole.console.screens.schedules.now", lambda: BOARD_NOW)


@pytest.mark.parametrize("size", SIZES)
def test_run_diff_screen(
    snap_compare: SnapCompare, make_app: MakeApp, console_db: Database, size: tuple[int, int]
) -> None:
    add_diff_steps(console_db)
    assert snap_compare(make_app(), terminal_size=size, run_before=diff_of_the_bad_run())


@pytest.mark.parametrize("size", SIZES)
def test_run_picker(
    snap_compare: SnapCompare, make_app: MakeApp, console_db: Database, size: tuple[int, int]
) -> None:
    add_diff_steps(console_db)
    assert snap_compare(make_app(), terminal_size=size, run_before=diff_of_the_bad_run("tab"))


@pytest.mark.parametrize("size", SIZES)
def test_schedules_screen(
    snap_compare: SnapCompare, make_app: MakeApp, board: None, size: tuple[int, int]
) -> None:
    app = make_app(section="workflows")
    assert snap_compare(app, terminal_size=size, run_before=on_the_board())


@pytest.mark.parametrize("size", SIZES)
def test_backfill_preview(
    snap_compare: SnapCompare, make_app: MakeApp, board: None, size: tuple[int, int]
) -> None:
    app = make_app(section="workflows")
    assert snap_compare(app, terminal_size=size, run_before=on_the_board("b"))
