"""Opening and resolving incidents (the history is read in ``history.py``).

``evaluate_alerts`` runs the configured rules at ``now`` and reconciles their findings with
the open incidents: a new breach opens one, a cleared condition resolves it, a breach that
is still there changes nothing (so nothing is sent twice). It sends nothing itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa

from engine.alerts.history import AlertCursor as AlertCursor  # re-exported
from engine.alerts.history import AlertNotFound as AlertNotFound  # re-exported
from engine.alerts.history import AlertRow as AlertRow  # re-exported
from engine.alerts.history import iter_alerts as iter_alerts  # re-exported
from engine.alerts.history import list_alerts as list_alerts  # re-exported
from engine.alerts.history import row_of as _row
from engine.alerts.models import AlertEvent
from engine.alerts.rules import RULES, Breach
from engine.config import Settings
from engine.db import Database
from engine.models import table_of
from engine.services.metrics import QueueCounter, utc

log = logging.getLogger(__name__)
_events = table_of(AlertEvent)


@dataclass(frozen=True)
class AlertReport:
    """What one evaluation changed."""

    opened: list[AlertRow]
    resolved: list[AlertRow]


def open_incidents(db: Database) -> list[AlertRow]:
    """Every incident not resolved yet, oldest first."""
    query = sa.select(_events).where(_events.c.resolved_at.is_(None)).order_by(_events.c.id)
    with db.engine.connect() as conn:
        return [_row(record) for record in conn.execute(query)]


def get_alert(db: Database, alert_id: int) -> AlertRow | None:
    """One incident by id."""
    with db.engine.connect() as conn:
        record = conn.execute(sa.select(_events).where(_events.c.id == alert_id)).first()
    return _row(record) if record is not None else None


def evaluate_alerts(
    db: Database,
    settings: Settings,
    *,
    now: datetime,
    queue_counter: QueueCounter | None = None,
) -> AlertReport:
    """Run the configured rules at ``now``; open incidents for new breaches, resolve cleared.

    A rule that fails (its query raised) or cannot measure leaves its incidents as they
    are; an incident of a rule no longer configured is resolved.
    """
    now = utc(now)
    if not settings.alerts.enabled:
        return AlertReport([], [])
    current = {(row.rule, row.subject): row for row in open_incidents(db)}
    configured = list(dict.fromkeys(settings.alerts.rules))
    opened: list[AlertRow] = []
    resolved: list[AlertRow] = []
    for rule in configured:
        try:
            findings = RULES[rule](db, settings, now, queue_counter)
        except Exception:
            log.exception("alert rule %s could not be evaluated", rule)
            continue
        if findings is None:
            continue
        severity = str(getattr(settings.alerts, f"{rule}_severity"))
        for subject, breach in findings.items():
            if (rule, subject) not in current:
                row = _open(db, rule, subject, severity, breach, now)
                if row is not None:
                    opened.append(row)
        for (open_rule, subject), row in current.items():
            if open_rule == rule and subject not in findings and _resolve(db, row.id, now):
                resolved.append(_resolved(row, now))
    for (open_rule, _subject), row in current.items():
        if open_rule not in configured and _resolve(db, row.id, now):
            resolved.append(_resolved(row, now))
    return AlertReport(opened, resolved)


def _open(
    db: Database, rule: str, subject: str, severity: str, breach: Breach, now: datetime
) -> AlertRow | None:
    """Insert the incident; None when another evaluator opened it first (unique index)."""
    subject = subject[:200]
    values = {
        "rule": rule, "subject": subject, "severity": severity, "message": breach.message,
        "value": breach.value, "opened_at": now, "notify_count": 0,
    }  # fmt: skip
    try:
        with db.engine.begin() as conn:
            inserted = conn.execute(sa.insert(_events).values(**values)).inserted_primary_key
    except sa.exc.IntegrityError:
        return None
    assert inserted is not None
    log.warning("alert opened: [%s] %s %s: %s", severity, rule, subject, breach.message)
    return AlertRow(
        id=int(inserted[0]), rule=rule, severity=severity, subject=subject,
        message=breach.message, value=breach.value, opened_at=now, resolved_at=None,
        notified_at=None, notify_count=0,
    )  # fmt: skip


def _resolve(db: Database, alert_id: int, now: datetime) -> bool:
    with db.engine.begin() as conn:
        result = conn.execute(
            sa.update(_events)
            .where(_events.c.id == alert_id, _events.c.resolved_at.is_(None))
            .values(resolved_at=now)
        )
    return result.rowcount == 1


def _resolved(row: AlertRow, now: datetime) -> AlertRow:
    log.info("alert resolved: %s %s", row.rule, row.subject)
    return replace(row, resolved_at=now)
