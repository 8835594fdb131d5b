"""The alert history as the CLI and the console list it: read with Core over the
lightweight table, so ``wfconsole alerts list`` loads neither the models nor the rules."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.core_tables import ALERT_EVENT
from engine.db import Database

_events = ALERT_EVENT


@dataclass(frozen=True)
class AlertRow:
    """One incident as the CLI, the console and notifications show it."""

    id: int
    rule: str
    severity: str
    subject: str
    message: str
    value: float | None
    opened_at: datetime
    resolved_at: datetime | None
    notified_at: datetime | None
    notify_count: int
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """True until the condition was found cleared."""
        return self.resolved_at is None

    def as_json(self) -> dict[str, Any]:
        """A JSON-able dict (timestamps as ISO-8601 UTC)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id, "rule": self.rule, "severity": self.severity,
            "subject": self.subject, "message": self.message, "value": self.value,
            "open": self.is_open, "opened_at": iso(self.opened_at),
            "resolved_at": iso(self.resolved_at), "notified_at": iso(self.notified_at),
            "notify_count": self.notify_count, "deliveries": self.deliveries,
        }  # fmt: skip


def row_of(record: Any) -> AlertRow:
    """An ``alert_event`` row as the lists show it."""
    return AlertRow(
        id=record.id, rule=record.rule, severity=record.severity, subject=record.subject,
        message=record.message, value=record.value, opened_at=record.opened_at,
        resolved_at=record.resolved_at, notified_at=record.notified_at,
        notify_count=record.notify_count, deliveries=list(record.deliveries or []),
    )  # fmt: skip


def list_alerts(
    db: Database,
    *,
    open_only: bool = False,
    limit: int = 100,
    older_than: AlertCursor | None = None,
    newer_than: AlertCursor | None = None,
) -> list[AlertRow]:
    """One page of the alert history, newest first (``idx_alert_event_opened``): those
    older than ``older_than``; or with ``newer_than``, those opened after it, oldest first."""
    key = sa.tuple_(_events.c.opened_at, _events.c.id)
    query = sa.select(_events)
    if open_only:
        query = query.where(_events.c.resolved_at.is_(None))
    if older_than is not None:
        query = query.where(key < (older_than.opened_at, older_than.id))
    if newer_than is not None:
        query = query.where(key > (newer_than.opened_at, newer_than.id))
        query = query.order_by(_events.c.opened_at, _events.c.id)
    else:
        query = query.order_by(_events.c.opened_at.desc(), _events.c.id.desc())
    with db.read_engine.connect() as conn:
        return [row_of(record) for record in conn.execute(query.limit(limit))]


@dataclass(frozen=True)
class AlertCursor:
    """Where a page of the history ended: the (opened_at, id) of its last row."""

    opened_at: datetime
    id: int


class AlertNotFound(LookupError):
    """No incident has that id."""

    def __init__(self, alert_id: int) -> None:
        super().__init__(f"no alert with id {alert_id}")


ALERT_PAGE = 500
"""Rows read per query when streaming the history."""


def iter_alerts(
    db: Database,
    *,
    limit: int | None,
    before: int | None = None,
    after: int | None = None,
    open_only: bool = False,
) -> Iterator[AlertRow]:
    """The history up to ``limit`` rows (None: all), streamed a page at a time: newest
    first continuing past the incident ``before``, or with ``after`` those opened after
    that one, oldest first. Raises AlertNotFound for an unknown cursor id."""
    older = _cursor_for(db, before) if before is not None else None
    newer = _cursor_for(db, after) if after is not None else None
    left = limit
    while left is None or left > 0:
        size = ALERT_PAGE if left is None else min(left, ALERT_PAGE)
        page = list_alerts(db, open_only=open_only, limit=size, older_than=older, newer_than=newer)
        yield from page
        if len(page) < size:
            return
        if left is not None:
            left -= len(page)
        last = AlertCursor(page[-1].opened_at, page[-1].id)
        older, newer = (None, last) if newer is not None else (last, None)


def _cursor_for(db: Database, alert_id: int) -> AlertCursor:
    with db.read_engine.connect() as conn:
        opened = conn.execute(
            sa.select(_events.c.opened_at).where(_events.c.id == alert_id)
        ).scalar()
    if opened is None:
        raise AlertNotFound(alert_id)
    return AlertCursor(opened, alert_id)
