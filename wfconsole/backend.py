"""What the console's screens call, and the implementation over the engine's services.

Screens depend on ``ConsoleBackend`` only, so tests can hand the app a fake; the console
never builds SQL or touches the queue's storage itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from engine.config import Settings
from engine.db import Database, redact_url, session_scope
from engine.services.audit import ensure_user
from engine.services.executions import Cursor, ExecutionDetail, ExecutionRow
from engine.services.executions import get_execution as _get_execution
from engine.services.executions import list_executions as _list_executions
from engine.services.workflows import WorkflowSummary
from engine.services.workflows import list_workflows as _list_workflows

QueueKind = Literal["sqlite", "redis"]


@dataclass(frozen=True)
class BackendInfo:
    """What the header shows about the deployment the console is attached to."""

    database_url: str
    """The database URL with its password hidden."""
    queue_kind: QueueKind
    queue_location: str
    """The SQLite queue file or the Redis URL (password hidden)."""


class ConsoleBackend(Protocol):
    """Every call a console screen makes; each may block, so screens call it from workers."""

    def describe(self) -> BackendInfo:
        """The database and queue the console is attached to."""
        ...

    def user_role(self, username: str) -> str:
        """The role of ``username`` (a ``Role`` value); first sight creates the user."""
        ...

    def list_workflows(self) -> list[WorkflowSummary]:
        """Every workflow with its counters, by name."""
        ...

    def list_executions(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> list[ExecutionRow]:
        """One page of executions, newest first; ``after`` continues past a cursor."""
        ...

    def get_execution(self, execution_id: str) -> ExecutionDetail:
        """One execution with its steps and log lines."""
        ...


class EngineBackend:
    """``ConsoleBackend`` over the engine's service functions and one open database."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def describe(self) -> BackendInfo:
        """The database and queue the console is attached to."""
        if self.settings.uses_redis:
            return BackendInfo(
                self.db.display_url, "redis", redact_url(self.settings.queue.redis_url)
            )
        return BackendInfo(self.db.display_url, "sqlite", str(self.settings.queue_path))

    def user_role(self, username: str) -> str:
        """The role of ``username`` (a ``Role`` value); first sight creates the user."""
        with session_scope(self.db) as session:
            return ensure_user(session, username).role

    def list_workflows(self) -> list[WorkflowSummary]:
        """Every workflow with its counters, by name."""
        return _list_workflows(self.db)

    def list_executions(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> list[ExecutionRow]:
        """One page of executions, newest first; ``after`` continues past a cursor."""
        return _list_executions(self.db, status=status, workflow=workflow, limit=limit, after=after)

    def get_execution(self, execution_id: str) -> ExecutionDetail:
        """One execution with its steps and log lines."""
        return _get_execution(self.db, execution_id)
