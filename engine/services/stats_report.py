"""``wfconsole stats``: every statistic in one call, on the engine's read connections.

The figures, the ``Statistics`` they make and the JSON document are
``engine.plain_reads.statistics``: one implementation, which the command's plain read
(the driver alone) runs too. Here they run on pooled connections of ``db.read_engine``,
one per thread.
"""

from __future__ import annotations

from datetime import datetime

from engine.db import Database
from engine.plain_reads.reader import Reader
from engine.plain_reads.statistics import DAYS as DAYS
from engine.plain_reads.statistics import HOURS as HOURS
from engine.plain_reads.statistics import LIMIT as LIMIT
from engine.plain_reads.statistics import QueueCounter
from engine.plain_reads.statistics import Statistics as Statistics
from engine.plain_reads.statistics import collect_statistics as plain_collect_statistics
from engine.plain_reads.statistics import statistics_document as statistics_document
from engine.services.failure_reasons import SIGNATURES


def collect_statistics(
    db: Database,
    queue: QueueCounter | None,
    *,
    now: datetime,
    hours: int = HOURS,
    days: int = DAYS,
    limit: int = LIMIT,
) -> Statistics:
    """Every figure at ``now``; the queue being down is a figure, the database a failure."""
    with Reader.of_engine(db.read_engine) as reader:
        return plain_collect_statistics(
            reader, lambda: Reader.of_engine(db.read_engine), queue, SIGNATURES,
            now=now, hours=hours, days=days, limit=limit,
        )  # fmt: skip
