"""SVG snapshots of flow control's screens at 120x36 and 80x24: the pause and resume
dialogs, a resume's blast radius, the limits dialog, the dashboard's paused banner, the
outbound board, the hold dialog and a release's blast radius.

Regenerate after an intended change with ``pytest tests/console --snapshot-update`` and
look at the report before committing the new SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from engine.db import Database
from tests.console.conftest import BASE_TIME, settle_app
from tests.console.flow_seed import (
    HELD,
    paused_with_held,
    pinned_times,
    seed_destinations,
    waiting_for,
)
from tests.console.test_dashboard import DashboardBackend
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend

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
def paused(console_db: Database) -> None:
    """invoice-alert paused at a fixed time by alice, holding two more runs."""
    paused_with_held(console_db, "invoice-alert", 2, at=BASE_TIME)


@pytest.fixture
def destinations(console_db: Database) -> None:
    """Three destinations; the held one has a run waiting for it."""
    seed_destinations(console_db)
    waiting_for(console_db, HELD)
    pinned_times(console_db, BASE_TIME)


@pytest.mark.parametrize("size", SIZES)
def test_pause_dialog(snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app(section="workflows")
    assert snap_compare(app, terminal_size=size, run_before=pressing("down", "p", *"1h"))


@pytest.mark.parametrize("size", SIZES)
def test_resume_dialog(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int], paused: None
) -> None:
    app = make_app(section="workflows")
    assert snap_compare(app, terminal_size=size, run_before=pressing("down", "p", "down"))


@pytest.mark.parametrize("size", SIZES)
def test_resume_blast_radius(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int], paused: None
) -> None:
    app = make_app(section="workflows")
    keys = ("down", "p", "down", "enter")
    assert snap_compare(app, terminal_size=size, run_before=pressing(*keys))


@pytest.mark.parametrize("size", SIZES)
def test_limits_dialog(snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app(section="workflows")
    keys = ("down", "L", "2", "tab", *"10/m")
    assert snap_compare(app, terminal_size=size, run_before=pressing(*keys))


@pytest.mark.parametrize("size", SIZES)
def test_outbound_board(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int], destinations: None
) -> None:
    app = make_app(section="outbound")
    assert snap_compare(app, terminal_size=size, run_before=pressing())


@pytest.mark.parametrize("size", SIZES)
def test_hold_dialog(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int], destinations: None
) -> None:
    app = make_app(section="outbound")
    assert snap_compare(app, terminal_size=size, run_before=pressing("h", *"15m"))


@pytest.mark.parametrize("size", SIZES)
def test_release_blast_radius(
    snap_compare: SnapCompare, make_app: MakeApp, size: tuple[int, int], destinations: None
) -> None:
    app = make_app(section="outbound")
    assert snap_compare(app, terminal_size=size, run_before=pressing("end", "u"))


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_paused_banner(
    snap_compare: SnapCompare,
    make_app: MakeApp,
    backend: EngineBackend,
    size: tuple[int, int],
    paused: None,
) -> None:
    app = make_app(section="dashboard", backend=DashboardBackend(backend))
    assert snap_compare(app, terminal_size=size, run_before=settle_app)
