"""SQLModel tables: the database is the source of truth.

All timestamps are timezone-aware UTC (TIMESTAMPTZ on PostgreSQL). JSON columns are
JSONB on PostgreSQL. Deleting a workflow cascades to its executions, their steps and
their log rows.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

# The statuses and roles live in a module without SQLAlchemy, for code that must start
# fast (the console's first screen, read commands); they are the models' too.
from engine.statuses import FINAL_STATUSES as FINAL_STATUSES
from engine.statuses import ExecutionStatus as ExecutionStatus
from engine.statuses import LogLevel as LogLevel
from engine.statuses import Role as Role

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    """Current time as aware UTC, the storage convention."""
    return datetime.now(UTC)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table of a model, for Core statements on hot paths."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return table


def new_id() -> str:
    """A time-ordered UUIDv7 string: ids sort by creation time."""
    millis = time.time_ns() // 1_000_000
    raw = bytearray(millis.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def _json(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=sa.Column(JSONType, nullable=nullable))


def _fk(target: str, ondelete: str, nullable: bool = False) -> Any:
    return Field(
        sa_column=sa.Column(
            sa.String(36), sa.ForeignKey(target, ondelete=ondelete), nullable=nullable
        )
    )


class User(SQLModel, table=True):
    __tablename__ = "user"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    username: str = Field(max_length=128, unique=True)
    display_name: str | None = Field(default=None, max_length=256)
    email: str | None = Field(default=None, max_length=320)
    role: str = Field(default=Role.VIEWER.value, max_length=16)
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Workflow(SQLModel, table=True):
    __tablename__ = "workflow"
    __table_args__ = (
        sa.Index("idx_workflow_enabled", "enabled"),
        sa.Index("idx_workflow_category", "category"),
        sa.Index("idx_workflow_created_by", "created_by_id"),
        sa.Index("idx_workflow_updated_at", "updated_at"),
        # The few paused or limited workflows, for the plain claim's anti-join.
        sa.Index(
            "idx_workflow_flow_gated",
            "id",
            postgresql_where=sa.text("flow_gated"),
            sqlite_where=sa.text("flow_gated"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=200, unique=True)
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    enabled: bool = False
    version: int = 1
    triggers: list[dict[str, Any]] = Field(sa_column=sa.Column(JSONType, nullable=False))
    conditions: dict[str, Any] | None = _json()
    actions: list[dict[str, Any]] = Field(sa_column=sa.Column(JSONType, nullable=False))
    priority: int = 5
    max_retries: int = 3
    retry_delay: int = 60
    timeout: int = 300
    category: str | None = Field(default=None, max_length=100)
    tags: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    execution_count: int = 0
    success_count: int = 0
    failure_count: int = 0
    last_execution_at: datetime | None = None
    avg_execution_ms: float | None = None
    created_by_id: str | None = _fk("user.id", "SET NULL", nullable=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Flow control (issue 16; migration 0012). Paused: triggers are still accepted and
    # their runs held PENDING; nothing starts until resumed.
    paused_at: datetime | None = None
    paused_by: str | None = Field(default=None, max_length=128)
    paused_until: datetime | None = None
    """Resume by itself at this time (``workflow pause --for``), with ``resume_catch_up``."""
    resume_catch_up: str | None = Field(default=None, max_length=40)
    # The definition's limits (``max_concurrent``, ``rate_limit``), copied on every save
    # so a claim need not read the definition; and an operator's override with an expiry.
    max_concurrent: int | None = None
    rate_limit: str | None = Field(default=None, max_length=16)
    override_concurrent: int | None = None
    override_rate: str | None = Field(default=None, max_length=16)
    override_until: datetime | None = None
    override_by: str | None = Field(default=None, max_length=128)
    rate_window_start: datetime | None = None
    rate_window_count: int = 0
    flow_gated: bool = False
    """True while the workflow is paused or limited: its runs are claimed by the gated
    path, never by the plain claim (one flag, so ungated workflows cost nothing extra)."""


class WorkflowVersion(SQLModel, table=True):
    """Every saved definition of a workflow, so versions can be listed, diffed, rolled back."""

    __tablename__ = "workflow_version"
    __table_args__ = (sa.UniqueConstraint("workflow_id", "version", name="uq_workflow_version"),)

    id: int | None = Field(default=None, sa_column=sa.Column(BigIntId, primary_key=True))
    workflow_id: str = _fk("workflow.id", "CASCADE")
    version: int
    definition: dict[str, Any] = Field(sa_column=sa.Column(JSONType, nullable=False))
    created_by: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class WorkflowTrigger(SQLModel, table=True):
    """One row per trigger of a workflow, so events, hooks and schedules are found by index."""

    __tablename__ = "workflow_trigger"
    __table_args__ = (
        sa.Index("idx_trigger_type_key", "type", "key"),
        sa.Index("idx_trigger_workflow", "workflow_id"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigIntId, primary_key=True))
    workflow_id: str = _fk("workflow.id", "CASCADE")
    position: int
    type: str = Field(max_length=16)
    key: str | None = Field(default=None, max_length=500)
    next_fire_at: datetime | None = None


POSTGRESQL_ONLY_INDEXES = frozenset({
    "idx_execution_trigger_data", "idx_execution_failed_message",
    "idx_execution_failed_long_message",
})  # fmt: skip
"""Indexes created on PostgreSQL only (``ddl_if``): a SQLite schema has none of them."""


class WorkflowExecution(SQLModel, table=True):
    __tablename__ = "workflow_execution"
    __table_args__ = (
        # The original's single-column indexes on workflow_id and status are served by the
        # composites below that lead with those columns; each index costs every write.
        sa.Index("idx_execution_trigger_type", "trigger_type"),
        sa.Index("idx_execution_started_at", "started_at"),
        sa.Index("idx_execution_workflow_status", "workflow_id", "status"),
        # Newest-first listing, unfiltered, by status and by workflow (keyset pagination).
        sa.Index("idx_execution_created", "created_at", "id"),
        sa.Index("idx_execution_status_created", "status", "created_at", "id"),
        sa.Index("idx_execution_workflow_created", "workflow_id", "created_at", "id"),
        # The sweeper's due and lease scans: only unfinished rows, so finishing a run
        # removes it from this index instead of adding another entry.
        sa.Index(
            "idx_execution_active",
            "status",
            "available_at",
            postgresql_where=sa.text("status IN ('PENDING', 'RUNNING')"),
            sqlite_where=sa.text("status IN ('PENDING', 'RUNNING')"),
        ),
        # Dashboard and metrics windows (finished per minute, 24 h rates and durations) by
        # completion time, index-only; unfinished rows add no entry.
        sa.Index(
            "idx_execution_completed",
            "completed_at",
            "status",
            "duration_ms",
            postgresql_where=sa.text("completed_at IS NOT NULL"),
            sqlite_where=sa.text("completed_at IS NOT NULL"),
        ),
        # `wfconsole stats`: per-workflow and daily figures of a window, one index range
        # per (workflow, day), index-only (engine/services/statistics.window_figures).
        sa.Index(
            "idx_execution_workflow_completed",
            "workflow_id",
            "completed_at",
            "status",
            "duration_ms",
            postgresql_where=sa.text("completed_at IS NOT NULL"),
            sqlite_where=sa.text("completed_at IS NOT NULL"),
        ),
        # Failure clusters of a window (engine/services/failures.py): FAILED rows only, so
        # other runs add no entry; a range on created_at, with the grouping columns.
        sa.Index(
            "idx_execution_failed_signature",
            "created_at",
            "workflow_id",
            "workflow_version",
            "next_step",
            "error_signature",
            postgresql_where=sa.text("status = 'FAILED'"),
            sqlite_where=sa.text("status = 'FAILED'"),
        ),
        # `wfconsole stats`' failure reasons (engine/plain_reads/failure_reasons.py): a
        # window's failures by completion time with their messages, index-only, FAILED rows
        # only; a message too long for an index entry goes to the second index instead.
        # PostgreSQL only (POSTGRESQL_ONLY_INDEXES): SQLite reads the rows.
        sa.Index(
            "idx_execution_failed_message",
            "completed_at",
            postgresql_include=["error_signature", "error"],
            postgresql_where=sa.text(
                "status = 'FAILED' AND coalesce(octet_length(error), 0) <= 2000"
            ),
        ).ddl_if(dialect="postgresql"),
        sa.Index(
            "idx_execution_failed_long_message",
            "completed_at",
            postgresql_where=sa.text("status = 'FAILED' AND octet_length(error) > 2000"),
        ).ddl_if(dialect="postgresql"),
        # Payload search (engine/services/payload_search.py): trigger-data containment.
        # PostgreSQL only (POSTGRESQL_ONLY_INDEXES): SQLite has no index that could serve it.
        sa.Index(
            "idx_execution_trigger_data",
            "trigger_data",
            postgresql_using="gin",
            postgresql_ops={"trigger_data": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
        # Replays name their original (engine/services/replay.py); other runs add no entry.
        sa.Index(
            "idx_execution_replay_of",
            "replay_of",
            postgresql_where=sa.text("replay_of IS NOT NULL"),
            sqlite_where=sa.text("replay_of IS NOT NULL"),
        ),
        # Only scheduled runs carry a key; manual/event/webhook runs add no index entry.
        sa.Index(
            "uq_execution_dedupe_key",
            "dedupe_key",
            unique=True,
            postgresql_where=sa.text("dedupe_key IS NOT NULL"),
            sqlite_where=sa.text("dedupe_key IS NOT NULL"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    workflow_id: str = _fk("workflow.id", "CASCADE")
    workflow_version: int = 1
    status: str = Field(default=ExecutionStatus.PENDING.value, max_length=16)
    trigger_type: str = Field(max_length=16)
    trigger_data: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONType, nullable=False)
    )
    context: dict[str, Any] | None = _json()
    result: dict[str, Any] | None = _json()
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    error_signature: str | None = Field(default=None, max_length=120)
    """``normalise_error(error)``, written with the FAILED status (the failure clusters group
    by it); NULL for runs that never failed, and for FAILED rows nothing has filled yet."""
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: float | None = None
    retry_count: int = 0
    available_at: datetime = Field(default_factory=utcnow)
    lease_until: datetime | None = None
    worker_id: str | None = Field(default=None, max_length=128)
    next_step: int = 0
    cancel_requested: bool = False
    event_depth: int = 0
    dedupe_key: str | None = Field(default=None, max_length=300)
    replay_of: str | None = Field(default=None, max_length=36)
    """The execution this one replays (``wfconsole executions replay``); NULL otherwise."""
    waiting: str | None = Field(default=None, max_length=16)
    """Why a PENDING run is held (issue 16): "limit" or "destination"; NULL otherwise.
    ("paused" and "retry" are derived when listed: the workflow's pause, a future
    ``available_at`` after a failure.)"""
    waiting_for: str | None = Field(default=None, max_length=255)
    """The destination (host[:port]) a run with ``waiting = 'destination'`` waits for."""


class WorkflowExecutionStep(SQLModel, table=True):
    """One finished action of an execution; a retry resumes after the last one."""

    __tablename__ = "workflow_execution_step"
    __table_args__ = (
        sa.UniqueConstraint("execution_id", "step_index", name="uq_step_execution_index"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigIntId, primary_key=True))
    execution_id: str = _fk("workflow_execution.id", "CASCADE")
    step_index: int
    action_type: str = Field(max_length=32)
    status: str = Field(max_length=16)
    result: dict[str, Any] | None = _json()
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    attempt: int = 0
    started_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime = Field(default_factory=utcnow)
    duration_ms: float = 0.0


class WorkflowExecutionLog(SQLModel, table=True):
    __tablename__ = "workflow_execution_log"
    __table_args__ = (
        sa.Index("idx_log_execution_id", "execution_id"),
        sa.Index("idx_log_level", "level"),
        sa.Index("idx_log_timestamp", "timestamp"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigIntId, primary_key=True))
    execution_id: str = _fk("workflow_execution.id", "CASCADE")
    level: str = Field(default=LogLevel.INFO.value, max_length=8)
    message: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    data: dict[str, Any] | None = _json()
    step_index: int | None = None
    timestamp: datetime = Field(default_factory=utcnow)


class WorkerHeartbeat(SQLModel, table=True):
    """One row per running worker process, refreshed every ``queue.heartbeat_interval``."""

    __tablename__ = "worker_heartbeat"

    worker_id: str = Field(primary_key=True, max_length=128)
    hostname: str = Field(max_length=255)
    pid: int
    kind: str = Field(max_length=16)  # "consumer" or "embedded"
    started_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)


class AuditLog(SQLModel, table=True):
    """Who changed what, when: every change from the console, CLI or API."""

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("idx_audit_timestamp", "timestamp"),
        sa.Index("idx_audit_target", "target_type", "target_id"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigIntId, primary_key=True))
    timestamp: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    target_type: str = Field(max_length=32)
    target_id: str | None = Field(default=None, max_length=200)
    details: dict[str, Any] | None = _json()


class DefinitionGeneration(SQLModel, table=True):
    """One row whose ``gen`` grows by one in every transaction that changes a workflow.

    The workflow cache (engine/workflow_cache/cache.py) keys its entries by the number, so a
    change committed by any process makes every cached lookup a miss.
    """

    __tablename__ = "definition_generation"

    id: int = Field(default=1, primary_key=True)
    gen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    changed_at: datetime = Field(default_factory=utcnow)


class QueueSigningKey(SQLModel, table=True):
    """The deployment's generated queue-signing key: at most one row (``id`` 1).

    Written once, by whichever process of the deployment needs it first (insert if
    absent, then read back), and read once by every process that signs or checks queue
    messages (engine/queue/messages.py). Unused while ``queue.signing_key`` is configured.
    """

    __tablename__ = "queue_signing_key"

    id: int = Field(default=1, primary_key=True)
    key: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class DestinationState(SQLModel, table=True):
    """One outbound destination's hold and circuit breaker (issue 16)."""

    __tablename__ = "destination_state"

    destination: str = Field(primary_key=True, max_length=255)
    """``host[:port]`` of a webhook, Slack, Teams or Twilio call, or of the SMTP server."""
    held_at: datetime | None = None
    held_by: str | None = Field(default=None, max_length=128)
    held_until: datetime | None = None
    """A hold ends by itself at this time; NULL with ``held_at`` set: until released."""
    breaker_state: str = Field(default="closed", max_length=16)  # closed | open | half_open
    consecutive_failures: int = 0
    opened_at: datetime | None = None
    probe_by: str | None = Field(default=None, max_length=128)
    generation: int = 0
    """Bumped by every change of this row; workers compare the table's sum with the one
    their snapshot was read at (engine/outbound/holds.py)."""
    updated_at: datetime = Field(default_factory=utcnow)


class DestinationMinute(SQLModel, table=True):
    """One worker process's outbound calls to one destination in one minute (the board).

    Each process owns its rows and rewrites them with its running totals, so writers never
    contend; the board sums the rows of a window.
    """

    __tablename__ = "destination_minute"
    __table_args__ = (sa.Index("idx_destination_minute_minute", "minute"),)

    destination: str = Field(primary_key=True, max_length=255)
    minute: datetime = Field(primary_key=True)
    worker_id: str = Field(primary_key=True, max_length=128)
    calls: int = 0
    errors: int = 0
    rate_limited: int = 0
    """Answers 429."""
    last_retry_after: float | None = None
    last_retry_after_at: datetime | None = None
    latency_ms_sum: float = 0.0
    latency_buckets: list[int] = Field(
        default_factory=list, sa_column=sa.Column(JSONType, nullable=False)
    )
    """Call counts per latency bucket (the bucket bounds are the engine's, fixed)."""
