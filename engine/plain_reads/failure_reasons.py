"""The failure reasons of ``wfconsole stats``: FAILED runs of a window by error signature.

Grouped by the signature stored at failure time (``error_signature``) and ranked in the
database; only rows left unsigned (failed before migration 0008 signed them) are
normalised here (a CLI call, not a dashboard tick). On PostgreSQL the window's failures
and their messages are read from partial indexes of FAILED rows (migration 0013), not from
the table: there, a window's failures sit one or two to a page over the whole table.

The signature and transience of a message are ``engine.execution.error_signature``'s,
a layer above this package: callers pass them in as ``ErrorSignatures``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.plain_reads.figure_sql import NO_JIT, tuned_rows, window_bounds
from engine.plain_reads.reader import Reader, stored_time

NO_MESSAGE = "(no message)"
# No parallel workers either: the groups are few, starting workers costs more.
_SETTINGS = {**NO_JIT, "max_parallel_workers_per_gather": "0"}


@dataclass(frozen=True)
class FailureReason:
    """Failures sharing one error signature, with the most common full message."""

    signature: str
    failures: int
    transient: bool
    example: str


@dataclass(frozen=True)
class ErrorSignatures:
    """How messages are grouped and judged (``normalise_error``, ``classify_error``)."""

    normalise: Callable[[str], str]
    classify: Callable[[str], bool]


# FAILED as a literal, not a parameter: SQLite uses the partial index only for a WHERE it
# can match against the index's own.
_GROUPED_SQLITE = """
    WITH grouped AS (
        SELECT error_signature AS stored, error, count(*) AS n
        FROM workflow_execution
        WHERE status = 'FAILED' AND completed_at >= :since AND completed_at <= :until
        GROUP BY error_signature, error
    )
"""
# PostgreSQL: the window's failures index-only (migration 0013), not a heap page per row.
# ``idx_execution_failed_message`` holds the message of every failure whose message fits
# an index entry, ``idx_execution_failed_long_message`` finds the few others in the heap.
# Each WHERE repeats its index's predicate word for word (literals, not parameters): the
# planner uses a partial index only for a WHERE that implies the predicate.
_GROUPED_PG = """
    WITH grouped AS (
        SELECT failed.error_signature AS stored, failed.error, count(*) AS n FROM (
            SELECT error_signature, error FROM workflow_execution
            WHERE status = 'FAILED' AND coalesce(octet_length(error), 0) <= 2000
                AND completed_at >= :since AND completed_at <= :until
            UNION ALL
            SELECT error_signature, error FROM workflow_execution
            WHERE status = 'FAILED' AND octet_length(error) > 2000
                AND completed_at >= :since AND completed_at <= :until
        ) AS failed
        GROUP BY failed.error_signature, failed.error
    )
"""
# The ``limit`` signatures of the most signed failures (ties: signature), each with its
# failures and its most common message (ties: the greatest text), then the unsigned
# groups as they are. Python orders text by code point, which is byte order on UTF-8,
# not a locale's: PostgreSQL compares in the "C" collation ({order}).
_RANKED = """
    SELECT top.signature, top.n, top.error FROM (
        SELECT ranked.signature, ranked.n, ranked.error FROM (
            SELECT signed.signature,
                   sum(signed.n) OVER (PARTITION BY signed.signature) AS n,
                   signed.error,
                   row_number() OVER (
                       PARTITION BY signed.signature
                       ORDER BY signed.n DESC, coalesce(signed.error, ''){order} DESC
                   ) AS place
            FROM (
                SELECT coalesce(nullif(stored, ''), :no_message){order} AS signature, error, n
                FROM grouped WHERE stored IS NOT NULL
            ) AS signed
        ) AS ranked
        WHERE ranked.place = 1
        ORDER BY ranked.n DESC, ranked.signature
        LIMIT :limit
    ) AS top
    UNION ALL
    SELECT NULL AS signature, n, error FROM grouped WHERE stored IS NULL
"""
_SIGNED = "SELECT stored, error, n FROM grouped WHERE stored IS NOT NULL"


def failure_reasons(
    reader: Reader,
    signatures: ErrorSignatures,
    *,
    now: datetime,
    days: int = 30,
    limit: int = 10,
) -> list[FailureReason]:
    """FAILED executions of the last ``days`` by error signature, most first.

    The database ranks the signatures and picks each one's most common message, so only
    ``limit`` rows travel. Rows without a stored signature come back in the same
    statement as distinct messages; when the window has any, the signed (signature,
    message) groups are read as well and merged here as the read-time normalisation
    merged them.
    """
    since, until = window_bounds(now, days * 24)
    params = {
        "since": stored_time(since, reader.dialect),
        "until": stored_time(until, reader.dialect),
        "no_message": NO_MESSAGE,
        "limit": limit,
    }
    postgresql = reader.dialect == "postgresql"
    grouped = _GROUPED_PG if postgresql else _GROUPED_SQLITE
    ranked = grouped + _RANKED.format(order=' COLLATE "C"' if postgresql else "")
    rows = tuned_rows(reader, ranked, params, settings=_SETTINGS)
    if all(signature is not None for signature, _, _ in rows):
        rows.sort(key=lambda row: (-row[1], row[0]))
        return [
            FailureReason(signature, int(n), signatures.classify(error or ""), error or "")
            for signature, n, error in rows
        ]
    signed = tuned_rows(reader, grouped + _SIGNED, params, settings=_SETTINGS)
    unsigned_rows = [(error, n) for signature, n, error in rows if signature is None]
    return _merged_reasons(signatures, signed, unsigned_rows, limit)


def _merged_reasons(
    signatures: ErrorSignatures, signed: Sequence[Any], unsigned: Sequence[Any], limit: int
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
        signature = (stored if stored is not None else signatures.normalise(message)) or NO_MESSAGE
        totals[signature] += count
        best = examples.get(signature)
        if best is None or (count, message) > best:
            examples[signature] = (count, message)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        FailureReason(sig, n, signatures.classify(examples[sig][1]), examples[sig][1])
        for sig, n in ranked
    ]
