"""An index of finished runs by workflow and completion time, for ``wfconsole stats``.

``idx_execution_workflow_completed`` (workflow_id, completed_at, status, duration_ms),
finished rows only: ``engine/services/statistics.window_figures`` reads the per-workflow
counts and the daily figures of a window from it in one pass, index-only, as one range
per (workflow, day) instead of computing a date and hashing a workflow id per row
(issue 15: `wfconsole stats` at a million executions). Unfinished rows add no entry, and
a run gets its one entry when it finishes, like ``idx_execution_completed``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 00:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX: Final = "idx_execution_workflow_completed"
COLUMNS: Final = ["workflow_id", "completed_at", "status", "duration_ms"]
FINISHED_ONLY: Final = "completed_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("workflow_execution", schema=None) as batch_op:
        batch_op.create_index(
            INDEX,
            COLUMNS,
            postgresql_where=sa.text(FINISHED_ONLY),
            sqlite_where=sa.text(FINISHED_ONLY),
        )


def downgrade() -> None:
    with op.batch_alter_table("workflow_execution", schema=None) as batch_op:
        batch_op.drop_index(
            INDEX,
            postgresql_where=sa.text(FINISHED_ONLY),
            sqlite_where=sa.text(FINISHED_ONLY),
        )
