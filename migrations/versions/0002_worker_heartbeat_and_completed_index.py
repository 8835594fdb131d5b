"""Worker heartbeats, and an index on finished executions by completion time.

The dashboard, ``wfconsole stats`` and ``/metrics`` count finished and failed runs per
minute and over 24 h and average their durations; ``idx_execution_completed`` serves
those windows index-only. It is partial, so a PENDING or RUNNING row adds no entry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeat",
        sa.Column("worker_id", sa.String(length=128), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker_id"),
    )
    with op.batch_alter_table("workflow_execution", schema=None) as batch_op:
        batch_op.create_index(
            "idx_execution_completed",
            ["completed_at", "status", "duration_ms"],
            unique=False,
            postgresql_where=sa.text("completed_at IS NOT NULL"),
            sqlite_where=sa.text("completed_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("workflow_execution", schema=None) as batch_op:
        batch_op.drop_index(
            "idx_execution_completed",
            postgresql_where=sa.text("completed_at IS NOT NULL"),
            sqlite_where=sa.text("completed_at IS NOT NULL"),
        )
    op.drop_table("worker_heartbeat")
