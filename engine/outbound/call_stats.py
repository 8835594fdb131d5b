"""Per-process figures of outbound calls, per destination and minute, flushed to the table.

Every HTTP request and SMTP send is counted once (``record``) with its latency, whether it
failed, and a 429's ``Retry-After``. The counts live in memory and a background thread
(``Flusher``) rewrites this process's ``destination_minute`` rows with the running totals
every ``FLUSH_SECONDS`` and when the process stops, so writers never contend and a call
costs a lock and a few additions.

Latency is kept as counts per fixed bucket (``BUCKET_BOUNDS_MS``, a 1-2-5 series: log
spaced); a percentile is read from the summed buckets by linear interpolation inside the
bucket it falls in (``percentile``), so it is exact to the bucket's width — within a
factor 2.5 of the bucket's lower bound, and reported as at least the lower bound of the
open-ended last bucket (over 30 s).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.db import Database
from engine.outbound.tables import MINUTES
from engine.outbound.tables import utc_now as utcnow

log = logging.getLogger("wfconsole.outbound")
BUCKET_BOUNDS_MS: tuple[float, ...] = (
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000,
)  # fmt: skip
"""Upper bounds of the latency buckets; one more bucket holds everything slower."""
FLUSH_SECONDS = 1.0
KEEP_MINUTES = 3
"""Minutes a process keeps in memory (older ones were flushed for the last time)."""


@dataclass
class MinuteFigures:
    """One destination's calls in one minute, in this process."""

    calls: int = 0
    errors: int = 0
    rate_limited: int = 0
    last_retry_after: float | None = None
    last_retry_after_at: datetime | None = None
    latency_ms_sum: float = 0.0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKET_BOUNDS_MS) + 1))


def bucket_of(latency_ms: float) -> int:
    """The index of the bucket ``latency_ms`` falls in."""
    for index, bound in enumerate(BUCKET_BOUNDS_MS):
        if latency_ms <= bound:
            return index
    return len(BUCKET_BOUNDS_MS)


def percentile(buckets: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0 to 1) of the latencies counted in ``buckets``; None without calls."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            lower = BUCKET_BOUNDS_MS[index - 1] if index > 0 else 0.0
            if index >= len(BUCKET_BOUNDS_MS):
                return float(lower)
            upper = BUCKET_BOUNDS_MS[index]
            return float(lower + (upper - lower) * max(rank - seen, 0.0) / count)
        seen += count
    return float(BUCKET_BOUNDS_MS[-1])


def minute_of(moment: datetime) -> datetime:
    """The minute ``moment`` falls in."""
    return moment.replace(second=0, microsecond=0)


class CallStats:
    """This process's running totals per (destination, minute); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures: dict[tuple[str, datetime], MinuteFigures] = {}
        self._dirty: set[tuple[str, datetime]] = set()

    def record(
        self,
        destination: str,
        latency_ms: float,
        *,
        error: bool,
        rate_limited: bool = False,
        retry_after: float | None = None,
    ) -> None:
        """Count one call."""
        now = utcnow()
        key = (destination, minute_of(now))
        with self._lock:
            figures = self._figures.get(key)
            if figures is None:
                figures = self._figures[key] = MinuteFigures()
            figures.calls += 1
            figures.errors += int(error)
            figures.rate_limited += int(rate_limited)
            if retry_after is not None:
                figures.last_retry_after = retry_after
                figures.last_retry_after_at = now
            figures.latency_ms_sum += latency_ms
            figures.latency_buckets[bucket_of(latency_ms)] += 1
            self._dirty.add(key)

    def take_dirty(self) -> list[tuple[str, datetime, MinuteFigures]]:
        """Copies of the figures changed since the last call; forgets minutes long past."""
        cutoff = minute_of(utcnow()) - timedelta(minutes=KEEP_MINUTES)
        with self._lock:
            dirty = [
                (dest, minute, _copy(self._figures[(dest, minute)])) for dest, minute in self._dirty
            ]
            self._dirty.clear()
            for key in [k for k in self._figures if k[1] < cutoff]:
                del self._figures[key]
        return dirty

    def put_back(self, keys: Sequence[tuple[str, datetime]]) -> None:
        """Mark figures dirty again (a flush that failed)."""
        with self._lock:
            self._dirty.update(k for k in keys if k in self._figures)


def _copy(figures: MinuteFigures) -> MinuteFigures:
    return MinuteFigures(
        figures.calls, figures.errors, figures.rate_limited, figures.last_retry_after,
        figures.last_retry_after_at, figures.latency_ms_sum, list(figures.latency_buckets),
    )  # fmt: skip


def write_figures(
    db: Database, worker_id: str, rows: Sequence[tuple[str, datetime, MinuteFigures]]
) -> None:
    """Upsert this process's rows (its running totals replace what it wrote before)."""
    if not rows:
        return
    values = [
        {
            "destination": dest,
            "minute": minute,
            "worker_id": worker_id,
            "calls": f.calls,
            "errors": f.errors,
            "rate_limited": f.rate_limited,
            "last_retry_after": f.last_retry_after,
            "last_retry_after_at": f.last_retry_after_at,
            "latency_ms_sum": f.latency_ms_sum,
            "latency_buckets": f.latency_buckets,
        }
        for dest, minute, f in rows
    ]
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(MINUTES)
    replaced = {
        name: statement.excluded[name]
        for name in values[0]
        if name not in ("destination", "minute", "worker_id")
    }
    statement = statement.on_conflict_do_update(
        index_elements=["destination", "minute", "worker_id"], set_=replaced
    )
    with db.engine.begin() as conn:
        conn.execute(statement, values)


def delete_before(db: Database, cutoff: datetime) -> int:
    """Delete the minute rows older than ``cutoff``; returns how many."""
    with db.engine.begin() as conn:
        return conn.execute(sa.delete(MINUTES).where(MINUTES.c.minute < cutoff)).rowcount or 0


def _database_away(exc: Exception) -> bool:
    """Whether ``exc`` says the database cannot be reached or is busy (try again later),
    rather than that it refuses these values."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Flusher:
    """A daemon thread writing a ``CallStats``'s changed figures every ``FLUSH_SECONDS``."""

    def __init__(self, stats: CallStats, db: Database, worker_id: str) -> None:
        self.stats, self.db, self.worker_id = stats, db, worker_id
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._loop, name="wfconsole-outbound", daemon=True)
        self._thread.start()

    def flush(self) -> None:
        """Write what changed now.

        One upsert for all rows; when it fails, row by row, so one row the database
        refuses (``DataError``, ``IntegrityError``…: a value that cannot be stored) is
        dropped with a warning instead of keeping every destination's figures out. When
        the database is away (``OperationalError``, ``InterfaceError``) the rows not
        written are kept for the next flush.
        """
        rows = self.stats.take_dirty()
        try:
            write_figures(self.db, self.worker_id, rows)
        except Exception as exc:
            if _database_away(exc):
                self._away(exc, rows)
                return
            for index, row in enumerate(rows):
                try:
                    write_figures(self.db, self.worker_id, [row])
                except Exception as row_exc:
                    if _database_away(row_exc):
                        self._away(row_exc, rows[index:])
                        return
                    log.warning(
                        "outbound call figures of %r at %s dropped (cannot be stored): %s",
                        row[0][:80], row[1].isoformat(), _first_line(row_exc),
                    )  # fmt: skip
        if self._failing:
            log.warning("outbound call figures written again")
        self._failing = False

    def _away(self, exc: Exception, rows: Sequence[tuple[str, datetime, MinuteFigures]]) -> None:
        """The database is away: the next flush writes ``rows``."""
        if not self._failing:  # once per outage, not every second
            log.warning("could not write outbound call figures (will retry): %s", exc)
        self._failing = True
        self.stats.put_back([(dest, minute) for dest, minute, _ in rows])

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

    def stop(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
