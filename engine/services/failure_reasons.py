"""The failure reasons of ``wfconsole stats``: FAILED runs of a window by error signature.

The query is ``engine.plain_reads.failure_reasons`` (one implementation, which the
command's plain read runs too); here it runs on a connection of ``db.read_engine``, with
the signatures of ``engine.execution.error_signature``.
"""

from __future__ import annotations

from datetime import datetime

from engine.db import Database
from engine.execution.error_signature import classify_error, normalise_error
from engine.plain_reads.failure_reasons import NO_MESSAGE as NO_MESSAGE
from engine.plain_reads.failure_reasons import ErrorSignatures
from engine.plain_reads.failure_reasons import FailureReason as FailureReason
from engine.plain_reads.failure_reasons import failure_reasons as plain_failure_reasons
from engine.plain_reads.reader import Reader

SIGNATURES = ErrorSignatures(normalise=normalise_error, classify=classify_error)
"""How failures group and whether they look transient: the executor's own judgement."""


def failure_reasons(
    db: Database, *, now: datetime, days: int = 30, limit: int = 10
) -> list[FailureReason]:
    """FAILED executions of the last ``days`` by error signature, most first (see
    ``engine.plain_reads.failure_reasons.failure_reasons``)."""
    with Reader.of_engine(db.read_engine) as reader:
        return plain_failure_reasons(reader, SIGNATURES, now=now, days=days, limit=limit)
