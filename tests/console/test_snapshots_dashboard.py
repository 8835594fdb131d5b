"""SVG snapshots of the dashboard on the seeded data with its clock fixed.

Regenerate with ``pytest tests/console/test_snapshots_dashboard.py --snapshot-update``
and look at the SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.console.conftest import settle_app
from tests.console.test_dashboard import DashboardBackend
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend

SIZES = [pytest.param((120, 36), id="120x36"), pytest.param((80, 24), id="80x24")]
SnapCompare = Callable[..., bool]


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_screen(
    snap_compare: SnapCompare,
    make_app: Callable[..., WfConsoleApp],
    backend: EngineBackend,
    size: tuple[int, int],
) -> None:
    app = make_app(section="dashboard", backend=DashboardBackend(backend))
    assert snap_compare(app, terminal_size=size, run_before=settle_app)
