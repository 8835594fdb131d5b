"""SVG snapshots of the maintenance screen, its sizes, backup times, health and queue fixed.

Regenerate with ``pytest tests/console/test_snapshots_maintenance.py --snapshot-update``
and look at the SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from engine.queue.locks import HeldLock
from engine.services.maintenance import BackupFile, MaintenanceOverview
from engine.services.queue_tools import QueueLock, QueueReport, StaleLease
from tests.console.conftest import settle_app
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend

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

    def health_checks(self) -> dict[str, Any]:
        return {
            "status": "healthy",
            "timestamp": "2024-05-01T12:00:00+00:00",
            "checks": {
                "database": {"status": "up"},
                "queue": {"status": "up"},
                "workflows": {"total": 12, "enabled": 9, "executing": 3},
            },
        }

    def queue_report(self) -> QueueReport:
        taken = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        lease = StaleLease(
            "00000000-0000-7000-8000-000000000042", "invoice-alert", "worker-7:4242", taken
        )
        lock = HeldLock("nightly-export", "q.lock.nightly-export", "worker-7:4242", b"")
        return QueueReport(
            taken_at=taken, queued=14, scheduled=3, queue_error=None, pending_due=12,
            pending_later=3, running=4, running_expired=1, held_by_dead=1,
            workers_alive=2, workers_dead=1, stale_leases=[lease],
            locks=[QueueLock(lock, stale=True)],
        )  # fmt: skip


@pytest.mark.parametrize("size", SIZES)
def test_maintenance_screen(
    snap_compare: SnapCompare,
    make_app: Callable[..., WfConsoleApp],
    backend: EngineBackend,
    size: tuple[int, int],
) -> None:
    app = make_app(section="maintenance", backend=FixedOverviewBackend(backend))
    assert snap_compare(app, terminal_size=size, run_before=settle_app)


@pytest.mark.parametrize("size", SIZES)
def test_flush_confirmation(
    snap_compare: SnapCompare,
    make_app: Callable[..., WfConsoleApp],
    backend: EngineBackend,
    size: tuple[int, int],
) -> None:
    app = make_app(section="maintenance", backend=FixedOverviewBackend(backend))

    async def ask_to_flush(pilot: Pilot[Any]) -> None:
        await settle_app(pilot)
        await pilot.press("l")
        await settle_app(pilot)

    assert snap_compare(app, terminal_size=size, run_before=ask_to_flush)
