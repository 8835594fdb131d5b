"""Replays: an execution made by ``wfconsole executions replay`` names the one it replays.

``workflow_execution.replay_of`` holds the original's id (NULL for every other run); the
partial index finds the replays of a run without adding an entry for the others.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 00:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "idx_execution_replay_of"
NOT_NULL = "replay_of IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("workflow_execution", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replay_of", sa.String(length=36), nullable=True))
        batch_op.create_index(
            INDEX, ["replay_of"], postgresql_where=sa.text(NOT_NULL), sqlite_where=sa.text(NOT_NULL)
        )


def downgrade() -> None:
    with op.batch_alter_table("workflow_execution", schema=None) as batch_op:
        batch_op.drop_index(
            INDEX, postgresql_where=sa.text(NOT_NULL), sqlite_where=sa.text(NOT_NULL)
        )
        batch_op.drop_column("replay_of")
