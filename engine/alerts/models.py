"""The alert history: one row per incident of a rule on a subject.

An incident is open (``resolved_at`` NULL) from the evaluation that finds the condition
until the one that finds it cleared. A partial unique index allows one open incident per
rule and subject, so several workers evaluating at once never open it twice; the
notification is claimed with a conditional UPDATE on ``notify_count``, so it is sent once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.models import BigIntId, JSONType, utcnow


class AlertEvent(SQLModel, table=True):
    """One incident: opened, maybe notified (``deliveries`` says how), maybe resolved."""

    __tablename__ = "alert_event"
    __table_args__ = (
        sa.Index(
            "uq_alert_event_open",
            "rule",
            "subject",
            unique=True,
            postgresql_where=sa.text("resolved_at IS NULL"),
            sqlite_where=sa.text("resolved_at IS NULL"),
        ),
        sa.Index("idx_alert_event_opened", "opened_at", "id"),
        sa.Index("idx_alert_event_rule_subject", "rule", "subject", "notified_at"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigIntId, primary_key=True))
    rule: str = Field(max_length=32)
    subject: str = Field(max_length=200)
    """The workflow's name, or ``queue`` / ``workers``."""
    severity: str = Field(max_length=16)
    message: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    value: float | None = None
    """The measured figure when the incident opened (failure share, queue depth …)."""
    opened_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None
    notified_at: datetime | None = None
    notify_count: int = 0
    deliveries: list[dict[str, Any]] | None = Field(
        default=None, sa_column=sa.Column(JSONType, nullable=True)
    )
    """Per channel of the last notification: ``{channel, ok, summary | error, transient}``."""


ALERT_MODELS: tuple[type[SQLModel], ...] = (AlertEvent,)
