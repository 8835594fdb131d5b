"""One alert check: evaluate the rules, report new incidents to Sentry, send what is due.

``alerts_tick`` is what a worker runs every ``alerts.check_interval`` seconds; it logs
and swallows every error, so a broken check never takes a consumer down.
``wfconsole alerts check`` runs ``check_alerts`` once, for cron.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from engine.alerts.delivery import notify_alerts
from engine.alerts.incidents import AlertRow, evaluate_alerts
from engine.config import Settings
from engine.db import Database
from engine.error_reporting import capture_alert
from engine.services.metrics import QueueCounter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertCheck:
    """What one check did: incidents opened and resolved, notifications sent."""

    opened: list[AlertRow]
    resolved: list[AlertRow]
    notified: list[AlertRow]


def check_alerts(
    db: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    queue_counter: QueueCounter | None = None,
) -> AlertCheck:
    """Evaluate every configured rule at ``now`` and notify the incidents that are due."""
    now = now or datetime.now(UTC)
    report = evaluate_alerts(db, settings, now=now, queue_counter=queue_counter)
    for row in report.opened:
        try:
            capture_alert(
                rule=row.rule, subject=row.subject, severity=row.severity, message=row.message
            )
        except Exception:
            log.exception("could not report alert #%s to Sentry", row.id)
    notified = notify_alerts(db, settings, now=now)
    return AlertCheck(report.opened, report.resolved, notified)


def alerts_tick(
    db: Database, settings: Settings, queue_counter: QueueCounter | None = None
) -> AlertCheck | None:
    """The workers' periodic check (every ``alerts.check_interval`` s); never raises."""
    if not settings.alerts.enabled:
        return None
    try:
        return check_alerts(db, settings, queue_counter=queue_counter)
    except Exception:
        log.exception("alert check failed")
        return None
