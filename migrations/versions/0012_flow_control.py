"""Flow control (issue 16): pause and limits on workflows, held runs, destinations.

- ``workflow``: the pause (``paused_at``, ``paused_by``, ``paused_until``,
  ``resume_catch_up``), the definition's limits copied on save (``max_concurrent``,
  ``rate_limit``), an operator's override with an expiry (``override_*``), the rate
  window's counter, and ``flow_gated`` (paused or limited: claimed by the gated path).
- ``workflow_execution``: ``waiting`` ("limit" | "destination") and ``waiting_for``.
- ``destination_state``: holds and the circuit breaker, per ``host[:port]``.
- ``destination_minute``: per worker process, destination and minute, the outbound calls'
  counts and latency histogram the destinations board sums.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 00:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _workflow_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_by", sa.String(length=128), nullable=True),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resume_catch_up", sa.String(length=40), nullable=True),
        sa.Column("max_concurrent", sa.Integer(), nullable=True),
        sa.Column("rate_limit", sa.String(length=16), nullable=True),
        sa.Column("override_concurrent", sa.Integer(), nullable=True),
        sa.Column("override_rate", sa.String(length=16), nullable=True),
        sa.Column("override_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("override_by", sa.String(length=128), nullable=True),
        sa.Column("rate_window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rate_window_count", sa.Integer(), nullable=False, server_default="0"),
        # A constant default ("0" is false on both databases): an expression
        # default would make Alembic rebuild the SQLite table (see migrations/env.py).
        sa.Column("flow_gated", sa.Boolean(), nullable=False, server_default="0"),
    )


def _execution_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("waiting", sa.String(length=16), nullable=True),
        sa.Column("waiting_for", sa.String(length=255), nullable=True),
    )


def upgrade() -> None:
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        for column in _workflow_columns():
            batch_op.add_column(column)
        # The plain claim's anti-join finds the few gated workflows without a scan.
        batch_op.create_index(
            "idx_workflow_flow_gated",
            ["id"],
            unique=False,
            postgresql_where=sa.text("flow_gated"),
            sqlite_where=sa.text("flow_gated"),
        )
    with op.batch_alter_table("workflow_execution", schema=None) as batch_op:
        for column in _execution_columns():
            batch_op.add_column(column)
    op.create_table(
        "destination_state",
        sa.Column("destination", sa.String(length=255), primary_key=True),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held_by", sa.String(length=128), nullable=True),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breaker_state", sa.String(length=16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("probe_by", sa.String(length=128), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "destination_minute",
        sa.Column("destination", sa.String(length=255), primary_key=True),
        sa.Column("minute", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("worker_id", sa.String(length=128), primary_key=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("rate_limited", sa.Integer(), nullable=False),
        sa.Column("last_retry_after", sa.Float(), nullable=True),
        sa.Column("last_retry_after_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latency_ms_sum", sa.Float(), nullable=False),
        sa.Column("latency_buckets", JSON, nullable=False),
    )
    op.create_index("idx_destination_minute_minute", "destination_minute", ["minute"])


def downgrade() -> None:
    op.drop_index("idx_destination_minute_minute", table_name="destination_minute")
    op.drop_table("destination_minute")
    op.drop_table("destination_state")
    with op.batch_alter_table("workflow_execution", schema=None) as batch_op:
        for column in reversed(_execution_columns()):
            batch_op.drop_column(column.name)
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        batch_op.drop_index(
            "idx_workflow_flow_gated",
            postgresql_where=sa.text("flow_gated"),
            sqlite_where=sa.text("flow_gated"),
        )
        for column in reversed(_workflow_columns()):
            batch_op.drop_column(column.name)
