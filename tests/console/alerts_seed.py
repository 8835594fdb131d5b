"""Alert incidents at fixed times for the console's alert history tests and snapshots."""

from __future__ import annotations

from datetime import timedelta

from engine.alerts.models import AlertEvent
from engine.db import Database, session_scope
from tests.console.conftest import BASE_TIME, HOSTILE_ERROR, HOSTILE_NAME


def seed_alerts(db: Database) -> None:
    """Two open incidents and a resolved one about a workflow named with markup."""
    with session_scope(db) as session:
        session.add_all([
            AlertEvent(
                rule="failure_rate", subject=HOSTILE_NAME, severity="high",
                message=f"7 of 10 runs failed in the last 15 min (70% > 50%) {HOSTILE_ERROR}",
                value=0.7, opened_at=BASE_TIME - timedelta(hours=2),
                resolved_at=BASE_TIME - timedelta(hours=1),
                notified_at=BASE_TIME - timedelta(hours=2), notify_count=1,
                deliveries=[
                    {"channel": "email", "ok": True, "summary": "email sent to 1 recipient(s)"},
                    {"channel": "slack", "ok": False, "error": "Slack API error: ratelimited",
                     "transient": True},
                ],
            ),
            AlertEvent(
                rule="queue_depth", subject="queue", severity="medium",
                message="1500 messages queued (threshold 1000)", value=1500.0,
                opened_at=BASE_TIME - timedelta(minutes=30),
            ),
            AlertEvent(
                rule="no_worker", subject="workers", severity="critical",
                message="no worker process alive; last seen 2024-05-01 11:50:00 UTC", value=0.0,
                opened_at=BASE_TIME - timedelta(minutes=10),
                notified_at=BASE_TIME - timedelta(minutes=10), notify_count=1,
                deliveries=[{"channel": "email", "ok": True, "summary": "sent"}],
            ),
        ])  # fmt: skip
