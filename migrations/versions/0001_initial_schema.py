"""Initial schema: users, workflows and versions, triggers, executions, steps, logs, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 20:30:21.027880
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("idx_audit_target", ["target_type", "target_id"], unique=False)
        batch_op.create_index("idx_audit_timestamp", ["timestamp"], unique=False)

    op.create_table(
        "user",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "workflow",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "triggers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "conditions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "actions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("retry_delay", sa.Integer(), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("execution_count", sa.Integer(), nullable=False),
        sa.Column("success_count", sa.Integer(), nullable=False),
        sa.Column("failure_count", sa.Integer(), nullable=False),
        sa.Column("last_execution_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("avg_execution_ms", sa.Float(), nullable=True),
        sa.Column("created_by_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        batch_op.create_index("idx_workflow_category", ["category"], unique=False)
        batch_op.create_index("idx_workflow_created_by", ["created_by_id"], unique=False)
        batch_op.create_index("idx_workflow_enabled", ["enabled"], unique=False)
        batch_op.create_index("idx_workflow_updated_at", ["updated_at"], unique=False)

    op.create_table(
        "workflow_execution",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("workflow_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger_type", sa.String(length=16), nullable=False),
        sa.Column(
            "trigger_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker_id", sa.String(length=128), nullable=True),
        sa.Column("next_step", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("event_depth", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflow.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workflow_execution", schema=None) as batch_op:
        batch_op.create_index("idx_execution_created", ["created_at", "id"], unique=False)
        batch_op.create_index("idx_execution_started_at", ["started_at"], unique=False)
        batch_op.create_index(
            "uq_execution_dedupe_key",
            ["dedupe_key"],
            unique=True,
            postgresql_where=sa.text("dedupe_key IS NOT NULL"),
            sqlite_where=sa.text("dedupe_key IS NOT NULL"),
        )
        batch_op.create_index(
            "idx_execution_active",
            ["status", "available_at"],
            unique=False,
            postgresql_where=sa.text("status IN ('PENDING', 'RUNNING')"),
            sqlite_where=sa.text("status IN ('PENDING', 'RUNNING')"),
        )
        batch_op.create_index(
            "idx_execution_status_created", ["status", "created_at", "id"], unique=False
        )
        batch_op.create_index("idx_execution_trigger_type", ["trigger_type"], unique=False)
        batch_op.create_index(
            "idx_execution_workflow_created", ["workflow_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "idx_execution_workflow_status", ["workflow_id", "status"], unique=False
        )

    op.create_table(
        "workflow_trigger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=True),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflow.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workflow_trigger", schema=None) as batch_op:
        batch_op.create_index("idx_trigger_type_key", ["type", "key"], unique=False)
        batch_op.create_index("idx_trigger_workflow", ["workflow_id"], unique=False)

    op.create_table(
        "workflow_version",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflow.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_id", "version", name="uq_workflow_version"),
    )
    op.create_table(
        "workflow_execution_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("step_index", sa.Integer(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["execution_id"], ["workflow_execution.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workflow_execution_log", schema=None) as batch_op:
        batch_op.create_index("idx_log_execution_id", ["execution_id"], unique=False)
        batch_op.create_index("idx_log_level", ["level"], unique=False)
        batch_op.create_index("idx_log_timestamp", ["timestamp"], unique=False)

    op.create_table(
        "workflow_execution_step",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("action_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["execution_id"], ["workflow_execution.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("execution_id", "step_index", name="uq_step_execution_index"),
    )


def downgrade() -> None:
    op.drop_table("workflow_execution_step")
    with op.batch_alter_table("workflow_execution_log", schema=None) as batch_op:
        batch_op.drop_index("idx_log_timestamp")
        batch_op.drop_index("idx_log_level")
        batch_op.drop_index("idx_log_execution_id")

    op.drop_table("workflow_execution_log")
    op.drop_table("workflow_version")
    with op.batch_alter_table("workflow_trigger", schema=None) as batch_op:
        batch_op.drop_index("idx_trigger_workflow")
        batch_op.drop_index("idx_trigger_type_key")

    op.drop_table("workflow_trigger")
    with op.batch_alter_table("workflow_execution", schema=None) as batch_op:
        batch_op.drop_index("idx_execution_workflow_status")
        batch_op.drop_index("idx_execution_workflow_created")
        batch_op.drop_index("idx_execution_trigger_type")
        batch_op.drop_index("idx_execution_status_created")
        batch_op.drop_index(
            "idx_execution_active",
            postgresql_where=sa.text("status IN ('PENDING', 'RUNNING')"),
            sqlite_where=sa.text("status IN ('PENDING', 'RUNNING')"),
        )
        batch_op.drop_index("uq_execution_dedupe_key")
        batch_op.drop_index("idx_execution_started_at")
        batch_op.drop_index("idx_execution_created")

    op.drop_table("workflow_execution")
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        batch_op.drop_index("idx_workflow_updated_at")
        batch_op.drop_index("idx_workflow_enabled")
        batch_op.drop_index("idx_workflow_created_by")
        batch_op.drop_index("idx_workflow_category")

    op.drop_table("workflow")
    op.drop_table("user")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("idx_audit_timestamp")
        batch_op.drop_index("idx_audit_target")

    op.drop_table("audit_log")
