"""Roles, execution statuses and log levels: plain enums, importable without SQLAlchemy.

``engine.models`` re-exports them; code on a fast start path (the console's first screen,
the permission gate, read commands) imports them from here so that it does not load
SQLModel and the ORM.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "VIEWER"
    OPERATOR = "OPERATOR"
    ADMIN = "ADMIN"
    SUPER_ADMIN = "SUPER_ADMIN"


class ExecutionStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"

    @property
    def is_final(self) -> bool:
        """True for the states an execution never leaves on its own."""
        return self not in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING)


FINAL_STATUSES = tuple(s.value for s in ExecutionStatus if s.is_final)


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
