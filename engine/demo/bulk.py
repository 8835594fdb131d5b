"""Bulk writers for the demo history: staging tables in, real rows out.

Shapes (see ``engine.demo.history``) and runs (id, shape, creation time) go into
temporary staging tables; the database joins them into execution, step and log rows,
adding each run's creation time to the shape's offsets, so Python never formats the
millions of rows itself. All real rows land in one transaction: an error leaves the
database as it was.

- SQLite: executemany into the staging tables, then ``INSERT … SELECT``.
- PostgreSQL: COPY (``write_row``) into staging tables on one connection, where each
  table's rows come out in binary from ``COPY (SELECT …) TO STDOUT``; they go into
  ``COPY … FROM STDIN`` on the writing connection, PostgreSQL's fastest insert path,
  while a thread already stages the next chunk.
  For a large load (at least BULK_MIN executions, and not small next to what the table
  holds) the writing transaction also drops the three tables' secondary indexes and
  foreign keys first and rebuilds them at the end, as PostgreSQL's "Populating a
  Database" advises; until it commits, other sessions wait on those tables.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from engine.db import Database
from engine.demo.history import SHAPE_COLUMNS, SHAPE_LOG_COLUMNS, SHAPE_STEP_COLUMNS, Shapes

Rows = list[tuple[Any, ...]]
RUN_COLUMNS = ("seq", "id", "shape", "created_us")
BULK_MIN = 100_000
HISTORY_TABLES = ("workflow_execution", "workflow_execution_step", "workflow_execution_log")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_STAGING = (
    """CREATE TEMP TABLE demo_shape (shape INTEGER PRIMARY KEY, workflow_id VARCHAR(36),
    workflow_version INTEGER, status VARCHAR(16), trigger_type VARCHAR(16),
    trigger_data {json}, result {json}, error TEXT, error_signature VARCHAR(120),
    start_off BIGINT, end_off BIGINT, duration_ms {float}, retry_count INTEGER,
    available_off BIGINT, worker_id VARCHAR(128), next_step INTEGER,
    cancel_requested {bool}){tail}""",
    """CREATE TEMP TABLE demo_shape_step (shape INTEGER, step_index INTEGER,
    action_type VARCHAR(32), status VARCHAR(16), result {json}, error TEXT, attempt INTEGER,
    start_off BIGINT, end_off BIGINT, duration_ms {float},
    PRIMARY KEY (shape, step_index)){tail}""",
    """CREATE TEMP TABLE demo_shape_log (shape INTEGER, seq INTEGER, level VARCHAR(8),
    message TEXT, step_index INTEGER, at_off BIGINT, PRIMARY KEY (shape, seq)){tail}""",
    """CREATE TEMP TABLE demo_run (seq BIGINT PRIMARY KEY, id VARCHAR(36), shape INTEGER,
    created_us BIGINT){tail}""",
)

# (table, columns, SELECT over the staging tables); {name} is a timestamp from _OFFSETS.
_TARGETS = (
    ("workflow_execution",
     "id, workflow_id, workflow_version, status, trigger_type, trigger_data, result, error,"
     " error_signature, created_at, started_at, completed_at, duration_ms, retry_count,"
     " available_at, worker_id, next_step, cancel_requested, event_depth",
     "SELECT r.id, s.workflow_id, s.workflow_version, s.status, s.trigger_type,"
     " s.trigger_data, s.result, s.error, s.error_signature, {created}, {start}, {end},"
     " s.duration_ms, s.retry_count, {available}, s.worker_id, s.next_step, s.cancel_requested, 0"
     " FROM demo_run r JOIN demo_shape s ON s.shape = r.shape ORDER BY r.seq"),
    ("workflow_execution_step",
     "execution_id, step_index, action_type, status, result, error, attempt, started_at,"
     " completed_at, duration_ms",
     "SELECT r.id, p.step_index, p.action_type, p.status, p.result, p.error, p.attempt,"
     " {step_start}, {step_end}, p.duration_ms"
     " FROM demo_run r JOIN demo_shape_step p ON p.shape = r.shape"
     " ORDER BY r.seq, p.step_index"),
    ("workflow_execution_log",
     'execution_id, level, message, step_index, "timestamp"',
     "SELECT r.id, l.level, l.message, l.step_index, {at}"
     " FROM demo_run r JOIN demo_shape_log l ON l.shape = r.shape ORDER BY r.seq, l.seq"),
)  # fmt: skip
_OFFSETS = {
    "created": "r.created_us",
    "start": "r.created_us + s.start_off",
    "end": "r.created_us + s.end_off",
    "available": "r.created_us + s.available_off",
    "step_start": "r.created_us + p.start_off",
    "step_end": "r.created_us + p.end_off",
    "at": "r.created_us + l.at_off",
}

_COUNTERS = """UPDATE workflow SET
    avg_execution_ms = (COALESCE(avg_execution_ms, 0) * (success_count + failure_count)
        + {p}) / NULLIF(success_count + failure_count + {p}, 0),
    execution_count = execution_count + {p},
    success_count = success_count + {p},
    failure_count = failure_count + {p},
    last_execution_at = CASE WHEN last_execution_at IS NULL OR last_execution_at < {p}
        THEN {p} ELSE last_execution_at END
    WHERE id = {p}"""


@dataclass
class CounterUpdate:
    """How much one workflow's counters grow (executions counts every final state)."""

    workflow_id: str
    executions: int = 0
    success: int = 0
    failed: int = 0
    duration_sum: float = 0.0  # over SUCCESS and FAILED
    last_micros: int = 0

    def params(self, last: Any) -> tuple[Any, ...]:
        """Parameters of the counter UPDATE, in order."""
        finished = self.success + self.failed
        return (self.duration_sum, finished, self.executions, self.success, self.failed,
                last, last, self.workflow_id)  # fmt: skip


def _statements(timestamp: Any) -> list[tuple[str, str, str]]:
    stamps = {name: timestamp(expr) for name, expr in _OFFSETS.items()}
    return [(table, columns, select.format(**stamps)) for table, columns, select in _TARGETS]


class BulkWriter:
    """The interface: use as a context manager; commits on success, rolls back on error."""

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Commit when the block succeeded, otherwise roll back; always release."""

    def load_shapes(self, shapes: Shapes) -> None:
        """Fill the shape staging tables."""

    def insert_runs(self, chunks: Iterable[Rows], done: Callable[[int], None]) -> None:
        """Insert the executions, steps and logs of every chunk of runs (seq, id, shape,
        created µs); ``done(count)`` after each chunk."""

    def update_counters(self, updates: list[CounterUpdate]) -> None:
        """Grow each workflow's counters by what was inserted."""


class SqliteWriter(BulkWriter):
    """SQLite: one IMMEDIATE transaction; timestamps as SQLAlchemy's naive UTC text."""

    def __init__(self, db: Database) -> None:
        self.raw = db.engine.raw_connection()
        self.conn: Any = self.raw.driver_connection
        self.statements = _statements(
            lambda us: (
                f"strftime('%Y-%m-%d %H:%M:%S', ({us}) / 1000000, 'unixepoch')"
                f" || printf('.%06d', ({us}) % 1000000)"
            )
        )

    def __enter__(self) -> SqliteWriter:
        try:
            self.conn.execute("BEGIN IMMEDIATE")  # take the write lock now, not halfway
            types = {"json": "TEXT", "float": "REAL", "bool": "INTEGER", "tail": ""}
            for ddl in _STAGING:
                self.conn.execute(ddl.format(**types))
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Drop the staging tables (they would outlive the transaction) and commit."""
        try:
            if kind is None:
                for table in ("demo_run", "demo_shape_log", "demo_shape_step", "demo_shape"):
                    self.conn.execute(f"DROP TABLE temp.{table}")
                self.conn.execute("COMMIT")
            else:
                self.conn.rollback()
        finally:
            self.raw.close()

    def _load(self, table: str, columns: tuple[str, ...], rows: Rows) -> None:
        marks = ", ".join("?" for _ in columns)
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def load_shapes(self, shapes: Shapes) -> None:
        """Fill the shape staging tables."""
        self._load("demo_shape", SHAPE_COLUMNS, shapes.rows)
        self._load("demo_shape_step", SHAPE_STEP_COLUMNS, shapes.steps)
        self._load("demo_shape_log", SHAPE_LOG_COLUMNS, shapes.logs)

    def insert_runs(self, chunks: Iterable[Rows], done: Callable[[int], None]) -> None:
        """Stage each chunk, then ``INSERT … SELECT`` its rows."""
        for runs in chunks:
            self._load("demo_run", RUN_COLUMNS, runs)
            for table, columns, select in self.statements:
                self.conn.execute(f"INSERT INTO {table} ({columns}) {select}")
            self.conn.execute("DELETE FROM demo_run")
            done(len(runs))

    def update_counters(self, updates: list[CounterUpdate]) -> None:
        """Grow each workflow's counters by what was inserted."""
        self.conn.executemany(
            _COUNTERS.format(p="?"),
            [u.params(f"{_EPOCH + timedelta(microseconds=u.last_micros):%Y-%m-%d %H:%M:%S.%f}")
             for u in updates],
        )  # fmt: skip


class PostgresWriter(BulkWriter):
    """PostgreSQL: staging on one connection, COPY into the tables on another."""

    def __init__(self, db: Database, *, executions: int) -> None:
        self.executions = executions
        self.stage_raw, self.target_raw = db.engine.raw_connection(), db.engine.raw_connection()
        self.stage: Any = self.stage_raw.driver_connection
        self.target: Any = self.target_raw.driver_connection
        self.statements = _statements(
            lambda us: f"(TIMESTAMPTZ 'epoch' + ({us}) * INTERVAL '1 microsecond')"
        )
        self.dropped: list[str] = []  # what restores each dropped key and index

    def __enter__(self) -> PostgresWriter:
        types = {"json": "JSONB", "float": "DOUBLE PRECISION", "bool": "BOOLEAN",
                 "tail": " ON COMMIT DROP"}  # fmt: skip
        try:
            for ddl in _STAGING:
                self.stage.execute(ddl.format(**types))
            if self.executions >= BULK_MIN:
                held = self.target.execute(
                    "SELECT reltuples FROM pg_class WHERE oid = 'workflow_execution'::regclass"
                ).fetchone()[0]
                if held <= 2 * self.executions:  # a rebuild costs what the table holds
                    self._drop_indexes_and_keys()
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Rebuild what was dropped, commit, refresh statistics; or roll back everything."""
        try:
            if kind is None:
                self.target.execute("SET LOCAL maintenance_work_mem = '256MB'")
                self.target.execute("SET LOCAL work_mem = '64MB'")  # FK validation joins
                for restore in reversed(self.dropped):
                    self.target.execute(restore)
                self.target.commit()
                for table in HISTORY_TABLES:
                    self.target.execute(f"ANALYZE {table}")
                self.target.commit()
            else:
                self.target.rollback()
        finally:
            self.stage.rollback()  # the staging tables go with it
            self.stage_raw.close()
            self.target_raw.close()

    def _drop_indexes_and_keys(self) -> None:
        """Drop the foreign keys and the indexes that back no constraint; remember how to
        restore each. Primary and unique keys stay: they grow in order, cheaply."""
        tables = "ARRAY['" + "', '".join(HISTORY_TABLES) + "']::regclass[]"
        keys = self.target.execute(
            "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid)"
            f" FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY({tables})"
        ).fetchall()
        indexes = self.target.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i"
            f" WHERE indrelid = ANY({tables}) AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        ).fetchall()
        for table, name, definition in keys:
            self.target.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            self.dropped.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        for name, definition in indexes:
            self.target.execute(f"DROP INDEX {name}")
            self.dropped.append(definition)

    def _load(self, table: str, columns: tuple[str, ...], rows: Rows) -> None:
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self.stage.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)  # JSON columns take JSON text

    def load_shapes(self, shapes: Shapes) -> None:
        """Fill the shape staging tables."""
        self._load("demo_shape", SHAPE_COLUMNS, shapes.rows)
        self._load("demo_shape_step", SHAPE_STEP_COLUMNS, shapes.steps)
        self._load("demo_shape_log", SHAPE_LOG_COLUMNS, shapes.logs)

    def _staged(self, runs: Rows) -> list[list[bytes]]:
        """The binary COPY data of each table's rows for ``runs`` (staging connection)."""
        self._load("demo_run", RUN_COLUMNS, runs)
        outputs = []
        with self.stage.cursor() as cursor:
            for _table, _columns, select in self.statements:
                with cursor.copy(f"COPY ({select}) TO STDOUT (FORMAT BINARY)") as source:
                    outputs.append([bytes(block) for block in source])
        self.stage.execute("TRUNCATE demo_run")
        return outputs

    def insert_runs(self, chunks: Iterable[Rows], done: Callable[[int], None]) -> None:
        """COPY each chunk in while a thread stages the next one on the other connection.

        Binary COPY: no text formatting or parsing. The staging columns and SELECT
        expressions have exactly the target columns' types (the PostgreSQL tests check).
        """
        ready: queue.Queue[tuple[int, list[list[bytes]]] | BaseException | None]
        ready = queue.Queue(maxsize=1)
        stop = threading.Event()

        def hand_over(item: tuple[int, list[list[bytes]]] | BaseException | None) -> None:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def stage_all() -> None:
            try:
                for runs in chunks:
                    if stop.is_set():
                        return
                    hand_over((len(runs), self._staged(runs)))
                hand_over(None)
            except BaseException as exc:  # handed to the main thread, raised there
                hand_over(exc)

        stager = threading.Thread(target=stage_all, name="demo-stage", daemon=True)
        stager.start()
        try:
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                count, outputs = item
                with self.target.cursor() as cursor:
                    for (table, columns, _select), blocks in zip(
                        self.statements, outputs, strict=True
                    ):
                        sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
                        with cursor.copy(sql) as target:
                            for block in blocks:
                                target.write(block)
                done(count)
        finally:
            stop.set()
            stager.join()

    def update_counters(self, updates: list[CounterUpdate]) -> None:
        """Grow each workflow's counters by what was inserted."""
        with self.target.cursor() as cursor:
            cursor.executemany(
                _COUNTERS.format(p="%s"),
                [u.params(_EPOCH + timedelta(microseconds=u.last_micros)) for u in updates],
            )


def writer_for(db: Database, *, executions: int) -> BulkWriter:
    """The bulk writer for the database's dialect, for a load of ``executions``."""
    return SqliteWriter(db) if db.is_sqlite else PostgresWriter(db, executions=executions)
