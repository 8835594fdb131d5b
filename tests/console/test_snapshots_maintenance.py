"""SVG snapshots of the maintenance screen, its sizes and backup times fixed.

Regenerate with ``pytest tests/console/test_snapshots_maintenance.py --snapshot-update``
and look at the SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.services.health import ComponentHealth, HealthReport
from engine.services.maintenance import BackupFile, MaintenanceOverview
from tests.console.conftest import settle_app
from wfconsole.app import WfConsoleApp
from wfconsole.backend import EngineBackend

SIZES = [pytest.param((120, 36), id="120x36"), pytest.param((80, 24), id="80x24")]
SnapCompare = Callable[..., bool]
BACKUPS = Path("/var/backups/wfconsole")


class FixedOverviewBackend:
    """The seeded backend with the database size and the backup files fixed."""

    def __init__(self, inner: EngineBackend) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def maintenance_overview(self) -> MaintenanceOverview:
        def backup(stamp: str, size: int) -> BackupFile:
            taken = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            return BackupFile(BACKUPS / f"wfconsole-{stamp}.backup", size, taken)

        return MaintenanceOverview(
            database_kind="sqlite",
            database_size=1_572_864,
            size_error=None,
            logs_days=90,
            executions_days=30,
            backups_days=30,
            backups_dir=BACKUPS,
            backups=[
                backup("20240501T020000Z", 812_345),
                backup("20240430T020000Z", 798_112),
                backup("20240429T020000Z", 1_203),
            ],
        )

    def health(self) -> HealthReport:
        return HealthReport(ComponentHealth(True), ComponentHealth(True))


@pytest.mark.parametrize("size", SIZES)
def test_maintenance_screen(
    snap_compare: SnapCompare,
    make_app: Callable[..., WfConsoleApp],
    backend: EngineBackend,
    size: tuple[int, int],
) -> None:
    app = make_app(section="maintenance", backend=FixedOverviewBackend(backend))
    assert snap_compare(app, terminal_size=size, run_before=settle_app)
