"""The pooled connection's psycopg connection, borrowed for the PostgreSQL fast paths.

``pipeline``: BEGIN, the statements and COMMIT go out together (one round trip for a
transaction of several statements). ``autocommit``: a transaction that is one statement,
sent alone (no BEGIN or COMMIT to send, parse and wait for). ``records``: rows as one
JSON parameter for ``jsonb_to_recordset``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.types.json import Jsonb


def jsonb(value: Any) -> Jsonb | None:
    """A value for a jsonb parameter; None stays SQL NULL."""
    return None if value is None else Jsonb(value)


@contextmanager
def pipeline(conn: sa.Connection) -> Iterator[psycopg.Connection[Any]]:
    """The pooled connection's psycopg connection in autocommit + pipeline mode.

    The caller sends BEGIN … COMMIT itself (in autocommit mode psycopg adds no BEGIN of
    its own, which would cost a round trip). On any error the transaction is rolled
    back; a broken connection is invalidated so the pool never hands it out again.
    """
    if conn.in_transaction():
        conn.rollback()
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    raw.autocommit = True
    try:
        with raw.pipeline():
            yield raw
    except BaseException:
        if raw.broken or raw.closed:
            conn.invalidate()
        elif raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raw.execute("ROLLBACK")
        raise
    finally:
        if not (raw.broken or raw.closed):
            raw.autocommit = False


@contextmanager
def autocommit(conn: sa.Connection) -> Iterator[psycopg.Connection[Any]]:
    """The pooled connection's psycopg connection in autocommit mode, for a transaction
    that is one statement (its own implicit transaction: all or nothing, committed when it
    returns). A broken connection is invalidated so the pool never hands it out again."""
    if conn.in_transaction():
        conn.rollback()
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    raw.autocommit = True
    try:
        yield raw
    except BaseException:
        if raw.broken or raw.closed:
            conn.invalidate()
        raise
    finally:
        if not (raw.broken or raw.closed):
            raw.autocommit = False


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def records(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as one JSON array of objects, read as rows by ``jsonb_to_recordset``: one
    parameter for psycopg to send instead of one array per column dumped element by
    element. Datetimes go as ISO 8601 with their offset, so they arrive unchanged."""
    return json.dumps(rows, default=_json_value, separators=(",", ":"))
