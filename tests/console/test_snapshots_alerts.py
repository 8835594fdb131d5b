"""SVG snapshots of the alert history opened from the dashboard with ``a``.

Regenerate with ``pytest tests/console/test_snapshots_alerts.py --snapshot-update`` and
look at the SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from engine.db import Database
from tests.console.alerts_seed import seed_alerts
from tests.console.conftest import settle_app
from tests.console.test_dashboard import DashboardBackend
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend

SIZES = [pytest.param((120, 36), id="120x36"), pytest.param((80, 24), id="80x24")]
SnapCompare = Callable[..., bool]


async def open_alerts(pilot: Pilot[Any]) -> None:
    await settle_app(pilot)
    await pilot.press("a")
    await settle_app(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_alerts_screen(
    snap_compare: SnapCompare,
    make_app: Callable[..., WfConsoleApp],
    backend: EngineBackend,
    console_db: Database,
    size: tuple[int, int],
) -> None:
    seed_alerts(console_db)
    app = make_app(section="dashboard", backend=DashboardBackend(backend))
    assert snap_compare(app, terminal_size=size, run_before=open_alerts)
