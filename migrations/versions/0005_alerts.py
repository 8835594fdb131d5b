"""Alert history: one row per incident of an alert rule on a subject.

A partial unique index keeps one open incident (``resolved_at IS NULL``) per rule and
subject, so evaluators on several workers never open the same incident twice.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 00:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "resolved_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "alert_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_count", sa.Integer(), nullable=False),
        sa.Column(
            "deliveries",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_alert_event_open",
        "alert_event",
        ["rule", "subject"],
        unique=True,
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )
    op.create_index("idx_alert_event_opened", "alert_event", ["opened_at", "id"])
    op.create_index(
        "idx_alert_event_rule_subject", "alert_event", ["rule", "subject", "notified_at"]
    )


def downgrade() -> None:
    op.drop_index("idx_alert_event_rule_subject", table_name="alert_event")
    op.drop_index("idx_alert_event_opened", table_name="alert_event")
    op.drop_index(
        "uq_alert_event_open",
        table_name="alert_event",
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )
    op.drop_table("alert_event")
