"""Execution throughput and enqueue→start latency of wfconsole, beside raw Huey.

For a one-webhook-action workflow (manual trigger, POST with a small templated JSON body)
against a fast local HTTP sink in its own process:

  A  PostgreSQL + Redis, C ``huey_consumer engine.queue.huey -w T -k thread`` processes
  B  SQLite + SqliteHuey with an EmbeddedWorker in this process (the local default)

Each measures executions/s from the first trigger to the last completion (N inserted and
enqueued flat out), and enqueue→start latency (``started_at - created_at``): for A at half
the measured rate, for B at a low rate and after idle spells. Baselines from the same run:
raw Huey no-op tasks/s on the same broker and worker count, and PostgreSQL single-row
commit rates. Every process, database and queue it creates is removed at the end.

    .venv/bin/python bench/throughput.py [--quick] [--only pg|sqlite] [--executions N] …
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
import redis

from bench import _profile
from bench._baseline import pg_commit_rate, raw_redis_rate, raw_sqlite_rate
from bench._engine import (
    idle_latency,
    measure_throughput,
    paced_latency,
    save_bench_workflow,
    warm_up,
    write_config,
)
from bench._procs import (
    Children,
    CpuMeter,
    backend_pids,
    consumer_cmd,
    fresh_database,
    note,
    start_sink,
    terminate_as_interrupt,
)
from bench._report import Report
from bench._sink import sink_stats
from engine.config import load_settings
from engine.db import connect_database, open_database, upgrade
from engine.workers.runtime import LOCAL_POLL_SECONDS, EmbeddedWorker, Queue


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="wfconsole executions/s and enqueue→start latency, beside raw Huey.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--executions",
        "-n",
        type=int,
        default=5000,
        help="executions per throughput measurement (and raw no-op tasks)",
    )
    parser.add_argument(
        "--threads",
        "-t",
        type=int,
        default=8,
        help="worker threads per consumer process (PostgreSQL + Redis)",
    )
    parser.add_argument(
        "--consumers", "-c", type=int, default=2, help="consumer processes (PostgreSQL + Redis)"
    )
    parser.add_argument(
        "--local-threads",
        type=int,
        default=5,
        help="embedded worker threads (SQLite; queue.concurrency default 5)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="A: per-stage timings from the consumers + py-spy CPU profile",
    )
    parser.add_argument(
        "--pgoptions",
        default="",
        help="PGOPTIONS for the consumers, e.g. '-c synchronous_commit=off' (what-if runs)",
    )
    parser.add_argument(
        "--consumer-module",
        default="",
        help="run consumers as 'python -m MODULE' (a huey_consumer wrapper, for what-if runs)",
    )
    parser.add_argument("--only", choices=("pg", "sqlite"), help="run one scenario")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 500 executions, short latency phases"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=500,
        help="executions per run_workflow(count=…) call when flat out",
    )
    parser.add_argument(
        "--max-running", type=int, default=64, help="workflow.max_concurrent_executions for the run"
    )
    parser.add_argument(
        "--latency-seconds", type=float, default=10.0, help="length of the paced latency phase"
    )
    parser.add_argument(
        "--pg-rate",
        type=float,
        default=None,
        help="trigger rate (/s) of the PostgreSQL latency phase (default: half the measured"
        " throughput; 125 is half the issue's 250/s floor)",
    )
    parser.add_argument(
        "--local-rate",
        type=float,
        default=10.0,
        help="trigger rate (/s) of the SQLite latency phase",
    )
    parser.add_argument(
        "--idle-probes", type=int, default=5, help="SQLite: single runs each after an idle spell"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=4.0, help="SQLite: length of each idle spell"
    )
    parser.add_argument(
        "--commit-seconds",
        type=float,
        default=3.0,
        help="length of each raw PostgreSQL commit-rate measurement",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the headline figures as one JSON object"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--pg-admin-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="connection allowed to CREATE/DROP DATABASE",
    )
    parser.add_argument("--database", default="wf_bench_tp", help="throwaway database name")
    args = parser.parse_args(argv)
    if args.quick:
        args.executions = min(args.executions, 500)
        args.latency_seconds = min(args.latency_seconds, 3.0)
        args.idle_probes, args.idle_seconds = min(args.idle_probes, 2), min(args.idle_seconds, 2)
        args.commit_seconds = min(args.commit_seconds, 1.0)
    return args


def run_pg(args, children: Children, sink_port: int, tmp: Path, report: Report) -> None:
    c, t, n = args.consumers, args.threads, args.executions
    note(f"raw Huey no-op on Redis: {c} consumers x {t} threads, {n} tasks")
    raw = raw_redis_rate(children, args.redis_url, n, c, t, tmp)
    note(f"  {raw.per_second:,.0f} tasks/s")
    with fresh_database(args.pg_admin_url, args.database) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SHOW synchronous_commit").fetchone()
            sync = str(row[0]) if row else "?"
        note(f"raw PostgreSQL commit rate, 2 connections (synchronous_commit={sync})")
        commits = {
            mode: pg_commit_rate(url, 2, args.commit_seconds, mode) for mode in ("on", "off")
        }
        tp, lat, sink = pg_engine(args, children, sink_port, tmp, url, report)
    report.pg(args, raw, commits, sync, tp, lat, *sink)


def pg_engine(args, children: Children, sink_port: int, tmp: Path, url: str, report: Report):
    """Scenario A proper: C consumer processes on the engine's queue and a fresh database."""
    c, t, n = args.consumers, args.threads, args.executions
    config = write_config(
        tmp / "pg.toml",
        db_url=url,
        redis_url=args.redis_url,
        queue_path=tmp / "unused.db",
        queue_name=f"wf-bench-{uuid.uuid4().hex[:8]}",
        threads=t,
        max_running=args.max_running,
    )
    settings = load_settings(config)
    db = connect_database(settings)
    upgrade(db)
    queue = Queue(settings, db=db)
    procs, spy = [], None
    env = {"WFCONSOLE_CONFIG": str(config), "BENCH_PROFILE_DIR": str(tmp)}
    if args.pgoptions:
        env["PGOPTIONS"] = args.pgoptions
    module = args.consumer_module or "huey.bin.huey_consumer"
    module = _profile.PROFILED if args.profile else module
    try:
        save_bench_workflow(db, sink_port)
        for i in range(c):
            cmd = consumer_cmd("engine.queue.huey", t, tmp / f"pg-{i}.log", module)
            procs.append(children.start(cmd, env=env))
        warm_up(db, queue, c * t * 4, procs)
        before = sink_stats(sink_port)
        if args.profile:
            _profile.reset(procs)
            spy = _profile.start_py_spy(children, procs[0].pid, tmp / "py-spy.txt")
            time.sleep(1.0)  # let py-spy attach
        note(f"engine on PostgreSQL + Redis: {n} executions flat out")
        redis_pid = redis.Redis.from_url(args.redis_url).info("server")["process_id"]
        meter = CpuMeter(
            {
                "consumers": lambda: [proc.pid for proc in procs],
                "postgres": lambda: backend_pids(url),
                "redis": lambda: [redis_pid],
                "sink": lambda: [args.sink_pid],
                "bench": lambda: [os.getpid()],
            }
        )
        meter.start()
        tp = measure_throughput(db, queue, n, args.batch, timeout=max(120, n / 20), procs=procs)
        tp.cpu = meter.stop()
        if args.profile:
            totals = _profile.collect(tmp, procs)
            _profile.stop_py_spy(children, spy)
            report.profile = (totals, n, _profile.cpu_summary(tmp / "py-spy.txt"))
        rate = args.pg_rate or tp.per_second / 2
        note(
            f"  {tp.per_second:,.0f} executions/s; latency at {rate:,.0f}/s for "
            f"{args.latency_seconds:g}s"
        )
        lat = paced_latency(db, queue, rate, args.latency_seconds, timeout=120, procs=procs)
        after = sink_stats(sink_port)
    finally:
        for proc in procs:
            children.stop(proc)
        queue.huey.flush()
        db.dispose()
    return tp, lat, (before, after)


def run_sqlite(args, sink_port: int, tmp: Path, report: Report) -> None:
    t, n = args.local_threads, args.executions
    note(f"raw Huey no-op on SqliteHuey: in-process consumer x {t} threads, {n} tasks")
    raw = raw_sqlite_rate(n, t, tmp, LOCAL_POLL_SECONDS)
    note(f"  {raw.per_second:,.0f} tasks/s")
    config = write_config(
        tmp / "sqlite.toml",
        db_url=f"sqlite:///{tmp / 'wf.db'}",
        redis_url="",
        queue_path=tmp / "queue.db",
        queue_name="wf-bench",
        threads=t,
        max_running=args.max_running,
    )
    settings = load_settings(config)
    db = open_database(settings)
    queue = Queue(settings, db=db)
    worker = EmbeddedWorker(queue, t)
    worker.start()
    try:
        save_bench_workflow(db, sink_port)
        warm_up(db, queue, t * 4)
        before = sink_stats(sink_port)
        note(f"engine on SQLite + SqliteHuey (embedded worker): {n} executions flat out")
        meter = CpuMeter({"bench": lambda: [os.getpid()], "sink": lambda: [args.sink_pid]})
        meter.start()
        tp = measure_throughput(db, queue, n, args.batch, timeout=max(120, n / 5))
        tp.cpu = meter.stop()
        note(
            f"  {tp.per_second:,.0f} executions/s; latency at {args.local_rate:g}/s, then "
            f"{args.idle_probes} runs after {args.idle_seconds:g}s idle"
        )
        lat = paced_latency(db, queue, args.local_rate, args.latency_seconds, timeout=120)
        idle = idle_latency(db, queue, args.idle_probes, args.idle_seconds, timeout=30)
        after = sink_stats(sink_port)
    finally:
        worker.stop()
        db.dispose()
    report.sqlite(args, raw, tp, lat, idle, before, after)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report()
    children = Children()
    with terminate_as_interrupt(), tempfile.TemporaryDirectory(prefix="wf-bench-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            sink, port = start_sink(children)
            args.sink_pid = sink.pid
            if args.only in (None, "pg"):
                run_pg(args, children, port, tmp, report)
            if args.only in (None, "sqlite"):
                run_sqlite(args, port, tmp, report)
        except KeyboardInterrupt:
            note("interrupted; cleaning up")
            return 130
        finally:
            children.stop_all()
    if args.json:
        print(json.dumps(report.figures))
    else:
        report.print(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
