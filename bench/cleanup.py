"""Retention cleanup of a million executions on PostgreSQL while workers keep executing.

Seeds a fresh database with N finished executions 31 to 120 days old (one step and five
log lines each: 7M rows at N = 1M) by ``INSERT … SELECT generate_series``, plus old
PENDING and RUNNING runs that must survive. Then:

1. ``wfconsole cleanup --dry-run`` as a user runs it: the row counts must not change;
2. the baseline: the same deletion as two bare DELETE statements in one transaction on
   a copy of the seeded database, with nothing else running (the physical floor; it
   holds its locks until the end);
3. the engine's ``run_cleanup`` (time-paced batches) while --consumers consumer
   processes execute a steady --rate runs/s of a two-step webhook workflow.

Reported: rows/s deleted, batch duration p50/p99/max, the workers' claim and commit waits
(p50/p99/max) before, during and after the cleanup, the longest lock wait seen in
``pg_stat_activity``, and whether every stream run ended SUCCESS. ``--json`` prints the
figures as one JSON object instead.

    .venv/bin/python bench/cleanup.py [--quick] [--executions 1000000] [--rate 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from bench._args import add_admin_url
from bench._cleanup_load import LockWaits, Stream, save_stream_workflow, stream_outcome, waits
from bench._cleanup_report import print_report
from bench._cleanup_seed import HISTORY, seed_old_history, seed_unfinished
from bench._engine import write_config
from bench._procs import (
    PYTHON,
    Children,
    consumer_cmd,
    fresh_database,
    note,
    percentile,
    start_sink,
    terminate_as_interrupt,
    wait_until,
)
from engine.config import load_settings
from engine.db import Database, connect_database, upgrade
from engine.maintenance.cleanup import FINISHED, cutoffs, plan_cleanup, run_cleanup
from engine.models import utcnow
from engine.services.workflows import save_document
from engine.workers.runtime import Queue

DATABASE = "wf_bench_cleanup"
UNFINISHED_EACH = 10
LOGS_DAYS, EXECUTIONS_DAYS = 90, 30


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--executions", "-n", type=int, default=1_000_000)
    parser.add_argument("--logs-per", type=int, default=5, help="log lines per old execution")
    parser.add_argument("--rate", type=float, default=100.0, help="stream runs per second")
    parser.add_argument("--consumers", "-c", type=int, default=2)
    parser.add_argument("--threads", "-t", type=int, default=4)
    parser.add_argument("--before", type=float, default=10.0, help="seconds of stream before")
    parser.add_argument("--after", type=float, default=5.0, help="seconds of stream after")
    parser.add_argument("--target-ms", type=float, default=250.0, help="batch duration aimed at")
    parser.add_argument("--batch-size", type=int, default=20_000, help="most rows per batch")
    parser.add_argument("--quick", action="store_true", help="50,000 executions, short phases")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    add_admin_url(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.executions = min(args.executions, 50_000)
        args.before, args.after = min(args.before, 5.0), min(args.after, 3.0)
    return args


def table_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
            for table in HISTORY
        }


def seed(db: Database, url: str, args: argparse.Namespace) -> None:
    save_document(
        db,
        {"name": "bench-old-history", "triggers": [{"type": "manual"}],
         "actions": [{"type": "create_task", "title": "t"}]},
        actor="bench",
    )  # fmt: skip
    with db.engine.connect() as conn:
        workflow_id = conn.exec_driver_sql(
            "SELECT id FROM workflow WHERE name = 'bench-old-history'"
        ).scalar_one()
    started = time.perf_counter()
    rows = seed_old_history(url, workflow_id, args.executions, args.logs_per)
    seed_unfinished(url, workflow_id, UNFINISHED_EACH)
    note(f"seeded {rows:,} rows in {time.perf_counter() - started:.1f}s")


def dry_run(config: Path, url: str) -> dict[str, Any]:
    """``wfconsole cleanup --dry-run`` in its own process; the counts before and after."""
    before = table_counts(url)
    cli = [PYTHON, "-m", "wfconsole", "cleanup", "--dry-run", "--config", str(config)]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=600, check=False)
    after = table_counts(url)
    unchanged = before == after and done.returncode == 0
    return {"exit": done.returncode, "counts_before": before, "counts_after": after,
            "unchanged": unchanged, "output": done.stdout}  # fmt: skip


def bare_delete(admin_url: str, source: str) -> dict[str, float]:
    """The same deletion as two DELETEs in one transaction, on a copy of ``source``."""
    copy = f"{DATABASE}_raw"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(copy), sql.Identifier(source)
            )
        )
    url = admin_url.rsplit("/", 1)[0] + "/" + copy
    try:
        logs_before, executions_before = cutoffs(
            logs_days=LOGS_DAYS, executions_days=EXECUTIONS_DAYS
        )
        rows_before = sum(table_counts(url).values())
        started = time.perf_counter()
        with psycopg.connect(url) as conn:
            conn.execute(
                'DELETE FROM workflow_execution_log WHERE "timestamp" < %s', (logs_before,)
            )
            conn.execute(
                "DELETE FROM workflow_execution WHERE status = ANY(%s) AND created_at < %s",
                (list(FINISHED), executions_before),
            )
        seconds = time.perf_counter() - started
        rows = rows_before - sum(table_counts(url).values())
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(copy))
            )
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}


def under_load(args: argparse.Namespace, url: str, config: Path, children: Children,
               tmp: Path) -> dict[str, Any]:  # fmt: skip
    """Consumers execute the stream; the engine cleans up meanwhile."""
    settings = load_settings(config)
    db = connect_database(settings)
    queue = Queue(settings, db=db)
    env = {"WFCONSOLE_CONFIG": str(config)}
    procs = [
        children.start(consumer_cmd("engine.queue.huey", args.threads, tmp / f"c{i}.log"), env=env)
        for i in range(args.consumers)
    ]
    try:
        stream = Stream(db, queue, args.rate).start()
        # Measure from a steady state: the runs queued while consumers started have finished.
        sent = max(1, stream.sent)
        wait_until(lambda: _finished(url) >= sent, 60, what="first runs", procs=procs)
        with LockWaits(url) as locks:
            begin = utcnow()
            time.sleep(args.before)
            during = utcnow()  # the counts are part of the cleanup's load too
            counting = time.perf_counter()
            plan = plan_cleanup(db, logs_days=LOGS_DAYS, executions_days=EXECUTIONS_DAYS)
            counting = time.perf_counter() - counting
            note(f"cleanup of {plan.rows:,} rows under {args.rate:g} runs/s")
            result = run_cleanup(
                db, logs_days=LOGS_DAYS, executions_days=EXECUTIONS_DAYS, actor="bench",
                batch_size=args.batch_size, target_seconds=args.target_ms / 1000, plan=plan,
            )  # fmt: skip
            ended = utcnow()
            time.sleep(args.after)
            stream.stop()
            final = ended if args.after <= 0 else utcnow()
        note(f"  {plan.rows / result.seconds:,.0f} rows/s; waiting for the stream to finish")
        wait_until(lambda: _finished(url) >= stream.sent, 120, what="stream runs to finish",
                   procs=procs)  # fmt: skip
    finally:
        for proc in procs:
            children.stop(proc)
        queue.huey.flush()
        db.dispose()
    batches = [s * 1000 for s in result.batch_seconds]
    return {
        "rows_deleted": plan.rows,
        "count_seconds": counting,
        "seconds": result.seconds,
        "rows_per_second": plan.rows / result.seconds,
        "batches": result.batches,
        "timeouts": result.timeouts,
        "batch_p50_ms": percentile(batches, 50),
        "batch_p99_ms": percentile(batches, 99),
        "batch_max_ms": max(batches, default=float("nan")),
        "waits": {
            "before": waits(url, begin, during).summary(),
            "during": waits(url, during, ended).summary(),
            "after": waits(url, ended, final).summary(),
        },
        "lock_wait_max_ms": locks.longest_ms,
        "lock_wait_samples": locks.waiting_samples,
        "stream_sent": stream.sent,
        "stream_statuses": stream_outcome(url),
    }


def _finished(url: str) -> int:
    return sum(count for status, count in stream_outcome(url).items() if status in FINISHED)


def leftovers(url: str) -> dict[str, int]:
    """What must be left: the old unfinished runs; and what must not: old finished ones."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM workflow_execution"
            " WHERE created_at < now() - interval '30 days' GROUP BY status"
        ).fetchall()
    return {str(status): int(count) for status, count in rows}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures: dict[str, Any] = {"load_average_start": os.getloadavg()}
    children = Children()
    with terminate_as_interrupt(), tempfile.TemporaryDirectory(prefix="wf-bench-clean-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            with fresh_database(args.admin_url, DATABASE) as url:
                _sink, port = start_sink(children)
                config = write_config(
                    tmp / "bench.toml", db_url=url, redis_url=args.redis_url,
                    queue_path=tmp / "unused.db", queue_name=f"wf-bench-{uuid.uuid4().hex[:8]}",
                    threads=args.threads, max_running=200,
                )  # fmt: skip
                db = connect_database(load_settings(config))
                upgrade(db)
                seed(db, url, args)
                save_stream_workflow(db, port)
                db.dispose()
                note("wfconsole cleanup --dry-run")
                figures["dry_run"] = dry_run(config, url)
                note("baseline: bare DELETE in one transaction on a copy, nothing else running")
                figures["bare_delete"] = bare_delete(args.admin_url, DATABASE)
                figures["cleanup"] = under_load(args, url, config, children, tmp)
                figures["old_left"] = leftovers(url)
        except KeyboardInterrupt:
            note("interrupted; cleaning up")
            return 130
        finally:
            children.stop_all()
    figures["executions_seeded"] = args.executions
    figures["load_average_end"] = os.getloadavg()
    figures["settings"] = {k: v for k, v in vars(args).items() if k not in ("json", "admin_url")}
    if args.json:
        print(json.dumps(figures, default=str))
    else:
        print_report(figures, UNFINISHED_EACH)
    return 0


if __name__ == "__main__":
    sys.exit(main())
