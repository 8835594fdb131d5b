"""What the statistics' queries share: the clock, windows, day buckets, planner settings.

The figures of ``wfconsole stats`` (``engine.plain_reads.statistics``) read a million
rows on PostgreSQL in about a second because each query's plan was tuned: ranges of an
index instead of a value computed per row, and no JIT compilation, which costs more than
it saves on these short scans. ``tuned_rows`` keeps those planner settings to the one
query's transaction, so a pooled connection goes back to the pool as it came.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

# ``pyformat``: the Reader's parameter style, for a query run with its SET LOCAL settings
# in one transaction (``Reader.rows`` commits each query on its own).
from engine.plain_reads.reader import Dialect, Reader, pyformat

NO_JIT = {"jit": "off"}
"""Compiling these queries costs more than it saves (tens of ms per query at 1M rows)."""


def aware_utc(now: datetime) -> datetime:
    """``now`` as aware UTC; a naive clock is refused (SQLite stores naive UTC text, so the
    zone must be known to compare)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def window_bounds(now: datetime, hours: float) -> tuple[datetime, datetime]:
    """The last ``hours`` before ``now`` (aware UTC)."""
    now = aware_utc(now)
    return now - timedelta(hours=hours), now


def day_start(day: date) -> datetime:
    """Midnight (UTC) at the start of ``day``."""
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def utc_day(dialect: Dialect, column: str) -> str:
    """SQL for the UTC date of a timestamp column."""
    if dialect == "sqlite":
        return f"date({column})"  # stored as naive UTC text
    return f"CAST(timezone('UTC', {column}) AS DATE)"


def as_date(value: date | str) -> date:
    """A date as the driver returns it: SQLite's ``date()`` is text."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def tuned_rows(
    reader: Reader,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    settings: Mapping[str, str] = NO_JIT,
) -> list[Sequence[Any]]:
    """Every row of one query, planned on PostgreSQL with ``settings`` (``SET LOCAL``
    names and values written here, never user input). SQLite has none to set.

    The settings and the query share one transaction (psycopg's ``transaction()``: a
    BEGIN and COMMIT on an idle connection, autocommit or not), so nothing outlives it.
    """
    if reader.dialect == "sqlite":
        return reader.rows(sql, params)
    connection = reader.connection
    with connection.transaction(), connection.cursor() as cursor:
        for name, value in settings.items():
            cursor.execute(f"SET LOCAL {name} = {value}")
        cursor.execute(pyformat(sql), params or {})
        return list(cursor.fetchall())
