"""``huey_consumer`` with wall-clock and CPU accounting of where each execution's time goes.

    python -m bench._profiled_consumer engine.queue.huey -w 8 -k thread

Bench-only: wraps engine and library functions from the outside (no engine code changes)
and writes ``$BENCH_PROFILE_DIR/consumer-<pid>.json`` every second: per item the calls,
wall seconds and this thread's CPU seconds. Items: the batch call, the claim
transaction, each SQL statement kind, commits, pre-pings, the webhook step, the commit
rounds, and Huey's dequeue/execute. A stage label kept per thread (claim, step, finish)
says which transaction a statement or commit belongs to; "per execution" figures divide
batch-level items by the number of executions, so batching shows as calls/ex below 1.
SIGUSR1 clears the totals (the benchmark sends it right before the timed phase).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from huey import Huey
from huey.bin.huey_consumer import consumer_main
from sqlalchemy.dialects.postgresql import _psycopg_common as pg_psycopg

from engine.execution import attempt, executor, postgres_pipeline

_local = threading.local()
_lock = threading.Lock()
_totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])  # calls, wall, cpu


def _add(name: str, wall: float, cpu: float) -> None:
    with _lock:
        entry = _totals[name]
        entry[0] += 1
        entry[1] += wall
        entry[2] += cpu


def _stage() -> str:
    return getattr(_local, "stage", "other")


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def _since(name: str, start: tuple[float, float]) -> None:
    wall, cpu = _clock()
    _add(name.format(stage=_stage()), wall - start[0], cpu - start[1])


def _timed(name: str, stage: str | None = None):
    def wrap(func):
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if stage is not None:
                _local.stage = stage
            start = _clock()
            try:
                return func(*args, **kwargs)
            finally:
                _since(name, start)

        return inner

    return wrap


def _statement_kind(statement: str) -> str:
    if "pg_advisory_xact_lock" in statement:
        return "select pg_advisory_xact_lock"
    return " ".join(statement.split()[:3]).lower()[:45]


def _before(conn, cursor, statement, parameters, context, executemany) -> None:
    conn.info["bench_t"] = _clock()


def _after(conn, cursor, statement, parameters, context, executemany) -> None:
    start = conn.info.pop("bench_t", None)
    if start is not None:
        _since(f"sql[{{stage}}] {_statement_kind(statement)}", start)
        _since("sql[{stage}] (all statements)", start)


def _timed_begin(begin):
    @contextlib.contextmanager
    def inner(self: sa.engine.Engine):
        start = _clock()
        with begin(self) as conn:
            yield conn
        _since("transaction[{stage}] checkout..commit", start)

    return inner


def _install() -> None:
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", _before)
    sa.event.listen(sa.engine.Engine, "after_cursor_execute", _after)
    sa.engine.Engine.begin = _timed_begin(sa.engine.Engine.begin)  # type: ignore[method-assign]
    psycopg.Connection.commit = _timed("commit[{stage}]")(psycopg.Connection.commit)  # type: ignore[method-assign]
    dialect = pg_psycopg._PGDialect_common_psycopg
    dialect.do_ping = _timed("ping[{stage}] pool pre-ping SELECT 1")(dialect.do_ping)  # type: ignore[method-assign]
    Executor = executor.Executor
    Executor._run_claimed = _timed("batch thread: claimed -> done", "claim")(Executor._run_claimed)  # type: ignore[method-assign]
    Executor._claim = _timed("claim: transaction, cap check, attempts", "claim")(Executor._claim)  # type: ignore[method-assign]
    pipelined = _timed("claim: pipelined round trip", "claim")
    postgres_pipeline.claim_batch = pipelined(postgres_pipeline.claim_batch)
    attempt.run_action = _timed("step (run_action: webhook)", "step")(attempt.run_action)
    collect = _timed("wait for steps (drive thread)", "wait")(Executor._collect)
    Executor._collect = staticmethod(collect)  # type: ignore[method-assign]
    Executor._commit = _timed("commit round (lock, writes, COMMIT)", "finish")(Executor._commit)  # type: ignore[method-assign]
    Huey.execute = _timed("huey execute (task total)", "huey")(Huey.execute)
    Huey.dequeue = _timed("huey dequeue (incl. waiting)", "huey")(Huey.dequeue)
    Huey.enqueue = _timed("huey enqueue", "huey")(Huey.enqueue)
    out = Path(os.environ.get("BENCH_PROFILE_DIR", ".")) / f"consumer-{os.getpid()}.json"
    threading.Thread(target=_dump_loop, args=(out,), daemon=True).start()


def _dump_loop(path: Path) -> None:
    while True:
        time.sleep(1.0)
        with _lock:
            data = {name: list(entry) for name, entry in _totals.items()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)


def _reset(*_: Any) -> None:
    with _lock:
        _totals.clear()


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, _reset)
    _install()
    consumer_main()
