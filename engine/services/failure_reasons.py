"""The failure reasons of ``wfconsole stats``: FAILED runs of a window by error signature.

Grouped by the signature stored at failure time (``error_signature``) and ranked in the
database; only rows left unsigned (failed before migration 0008 signed them) are
normalised here (a CLI call, not a dashboard tick).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.core_tables import EXECUTION, FAILED
from engine.db import Database
from engine.execution.error_signature import classify_error, normalise_error
from engine.services.statistics import window_bounds

E = EXECUTION.c


@dataclass(frozen=True)
class FailureReason:
    """Failures sharing one error signature, with the most common full message."""

    signature: str
    failures: int
    transient: bool
    example: str


def failure_reasons(
    db: Database, *, now: datetime, days: int = 30, limit: int = 10
) -> list[FailureReason]:
    """FAILED executions of the last ``days`` by error signature, most first.

    Grouped by the signature stored at failure time (``error_signature``): the database
    ranks the signatures and picks each one's most common message (ties: the greatest
    text), so only ``limit`` rows travel. Rows without a stored signature (failed before
    migration 0008 signed them) come back in the same statement as distinct messages;
    when the window has any, the signed (signature, message) groups are read as well and
    merged here as the read-time normalisation merged them.
    """
    since, until = window_bounds(now, days * 24)
    grouped = (
        sa.select(E.error_signature.label("stored"), E.error, sa.func.count().label("n"))
        .where(_FAILED_ROW, E.completed_at >= since, E.completed_at <= until)
        .group_by(E.error_signature, E.error)
        .cte("grouped")
    )
    stored = grouped.c.stored
    unsigned = sa.select(sa.null().label("signature"), grouped.c.n, grouped.c.error).where(
        stored.is_(None)
    )
    query = sa.union_all(_ranked_signatures(db, grouped, limit), unsigned)
    with db.read_engine.connect() as conn:
        if not db.is_sqlite:
            conn.exec_driver_sql("SET LOCAL jit = off")  # compiling costs more than it saves
            conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        rows = list(conn.execute(query))
        if all(signature is not None for signature, _, _ in rows):
            rows.sort(key=lambda row: (-row[1], row[0]))
            return [
                FailureReason(signature, int(n), classify_error(error or ""), error or "")
                for signature, n, error in rows
            ]
        signed = conn.execute(
            sa.select(stored, grouped.c.error, grouped.c.n).where(stored.is_not(None))
        ).all()
    unsigned_rows = [(error, n) for signature, n, error in rows if signature is None]
    return _merged_reasons(signed, unsigned_rows, limit)


def _ranked_signatures(db: Database, grouped: Any, limit: int) -> Any:
    """The ``limit`` signatures of the most signed failures (ties: signature), each with
    its failures and its most common message (ties: the greatest text)."""
    signature = sa.func.coalesce(sa.func.nullif(grouped.c.stored, ""), NO_MESSAGE)
    signed = (
        sa.select(_byte_order(db, signature).label("signature"), grouped.c.error, grouped.c.n)
        .where(grouped.c.stored.is_not(None))
        .subquery("signed")
    )
    example = _byte_order(db, sa.func.coalesce(signed.c.error, ""))
    ranked = sa.select(
        signed.c.signature,
        sa.func.sum(signed.c.n).over(partition_by=signed.c.signature).label("n"),
        signed.c.error,
        sa.func.row_number()
        .over(partition_by=signed.c.signature, order_by=(signed.c.n.desc(), example.desc()))
        .label("place"),
    ).subquery("ranked")
    top = (
        sa.select(ranked.c.signature, ranked.c.n, ranked.c.error)
        .where(ranked.c.place == 1)
        .order_by(ranked.c.n.desc(), ranked.c.signature)
        .limit(limit)
        .subquery("top")
    )
    return sa.select(top.c.signature, top.c.n, top.c.error)


NO_MESSAGE = "(no message)"
# A literal, not a bound parameter: SQLite uses a partial index only for a WHERE it can
# match against the index's own.
_FAILED_ROW = E.status == sa.literal_column(f"'{FAILED}'")


def _byte_order(db: Database, column: Any) -> Any:
    # Python orders text by code point, which is byte order on UTF-8, not a locale's.
    return column if db.is_sqlite else column.collate("C")


def _merged_reasons(
    signed: Sequence[Any], unsigned: Sequence[Any], limit: int
) -> list[FailureReason]:
    """Signed and unsigned groups merged as the read-time normalisation grouped them: by
    message first (a message counts all its rows, signed or not), then by signature."""
    messages: dict[str | None, list[Any]] = {}
    for stored, error, count in signed:
        messages.setdefault(error, [stored, 0])[1] += int(count)
    for error, count in unsigned:
        messages.setdefault(error, [None, 0])[1] += int(count)
    totals: Counter[str] = Counter()
    examples: dict[str, tuple[int, str]] = {}
    for error, (stored, count) in messages.items():
        message = error or ""
        signature = (stored if stored is not None else normalise_error(message)) or NO_MESSAGE
        totals[signature] += count
        best = examples.get(signature)
        if best is None or (count, message) > best:
            examples[signature] = (count, message)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        FailureReason(sig, n, classify_error(examples[sig][1]), examples[sig][1])
        for sig, n in ranked
    ]
