"""Payload search: a GIN index of the trigger data on PostgreSQL.

``executions list --where 'trigger.order = o2'`` turns an equality on a trigger path into
a JSONB containment (``trigger_data @> '{"order": "o2"}'``), which this index
(``jsonb_path_ops``: containment only, smaller and faster than the default operator class)
serves. SQLite has no such index: a payload search there reads the rows newest first.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 00:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "idx_execution_trigger_data"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON workflow_execution"
            " USING gin (trigger_data jsonb_path_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
