"""What ``wfconsole stats`` and one ``GET /metrics`` scrape cost at a million executions.

Seeds ``wf_stats_bench`` on PostgreSQL with ``wfconsole demo``'s generator (a week of
history), vacuums it so index-only scans apply, prints each statistics query's median
and best time (and the plan of the daily aggregate), then drops the database unless
``--keep``; ``--reuse`` skips seeding when it already exists (it is migrated to head).

Baselines in the same run (issue 15): the queries as they were before the window figures
and failure reasons moved into SQL (``previous_*`` below: a per-row UTC date, a grouping
by workflow id over the table, every distinct message normalised in Python), checked to
give the same figures; the whole `wfconsole stats --json` process beside
`python -c pass` and beside the bare imports the command needs.

    .venv/bin/python bench/stats_queries.py [--executions 1000000] [--samples 5]
        [--reuse] [--keep] [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._args import add_admin_url, print_load
from bench._seeded import IdleQueue, drop_database, median_ms, seeded_database
from engine.config import Settings
from engine.db import Database, connect_database, upgrade
from engine.execution.error_signature import classify_error, normalise_error
from engine.services import failure_reasons
from engine.services import statistics as stats
from engine.services.stats_report import collect_statistics

BENCH_DB = "wf_stats_bench"
ROOT = Path(__file__).resolve().parent.parent
E, W = stats.E, stats.W


def previous_daily(db: Database, *, now: datetime, days: int = 30) -> list[stats.DayStats]:
    """``daily_statistics`` before issue 15: a UTC date computed per row, then grouped."""
    first = now.date() - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    day = sa.cast(sa.func.timezone("UTC", E.completed_at), sa.Date).label("day")
    decided = E.status.in_(stats.DECIDED)
    query = (
        sa.select(day, sa.func.count(), sa.func.count().filter(E.status == stats.SUCCESS),
                  sa.func.count().filter(E.status == stats.FAILED),
                  sa.func.sum(E.duration_ms).filter(decided),
                  sa.func.count(E.duration_ms).filter(decided))
        .where(E.completed_at >= start, E.completed_at <= now)
        .group_by(day)
    )  # fmt: skip
    with db.read_engine.connect() as conn:
        rows = {row[0]: row[1:] for row in conn.execute(query)}
    result = []
    for offset in range(days):
        current = first + timedelta(days=offset)
        total, succeeded, failed, duration_sum, timed = rows.get(current, (0, 0, 0, None, 0))
        avg = float(duration_sum) / timed if timed else None
        result.append(stats.DayStats(current, int(total), int(succeeded), int(failed), avg))
    return result


def previous_hourly(db: Database, *, now: datetime, hours: int = 24) -> list[stats.HourCount]:
    """``hourly_activity`` before issue 15: an epoch hour computed per row, then grouped."""
    current = now.replace(minute=0, second=0, microsecond=0)
    start = current - timedelta(hours=hours - 1)
    first = int(start.timestamp()) // 3600
    finished, failed = [0] * hours, [0] * hours
    bucket = sa.func.floor(sa.extract("epoch", E.completed_at) / 3600).label("hour")
    query = (
        sa.select(bucket, sa.func.count(), sa.func.count().filter(E.status == stats.FAILED))
        .where(E.completed_at >= start, E.completed_at <= now)
        .group_by(bucket)
    )
    with db.read_engine.connect() as conn:
        for number, total, failures in conn.execute(query):
            finished[int(number) - first] += int(total)
            failed[int(number) - first] += int(failures)
    return [
        stats.HourCount(start + timedelta(hours=i), finished[i], failed[i]) for i in range(hours)
    ]


def previous_counts(db: Database, *, now: datetime, days: int = 30) -> list[stats.WorkflowCount]:
    """``workflow_counts`` before issue 15: the window's rows grouped by workflow id."""
    since = now - timedelta(days=days)
    grouped = (
        sa.select(E.workflow_id, sa.func.count().label("n"),
                  sa.func.count().filter(E.status == stats.FAILED).label("f"))
        .where(E.completed_at >= since, E.completed_at <= now)
        .group_by(E.workflow_id)
        .subquery()
    )  # fmt: skip
    query = sa.select(W.name, grouped.c.n, grouped.c.f).join(grouped, grouped.c.workflow_id == W.id)
    with db.read_engine.connect() as conn:
        return [stats.WorkflowCount(name, int(n), int(f)) for name, n, f in conn.execute(query)]


def previous_reasons(
    db: Database, *, now: datetime, days: int = 30, limit: int = 10
) -> list[failure_reasons.FailureReason]:
    """``failure_reasons`` before issue 15: every distinct message normalised in Python."""
    since = now - timedelta(days=days)
    query = (
        sa.select(E.error, sa.func.count())
        .where(E.status == stats.FAILED, E.completed_at >= since, E.completed_at <= now)
        .group_by(E.error)
    )
    totals: Counter[str] = Counter()
    examples: dict[str, tuple[int, str]] = {}
    with db.read_engine.connect() as conn:
        for error, count in conn.execute(query):
            message = error or ""
            signature = normalise_error(message) or "(no message)"
            totals[signature] += int(count)
            if signature not in examples or (int(count), message) > examples[signature]:
                examples[signature] = (int(count), message)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        failure_reasons.FailureReason(sig, n, classify_error(examples[sig][1]), examples[sig][1])
        for sig, n in ranked
    ]


def previous_collect(db: Database, now: datetime) -> list[object]:
    """``collect_statistics`` before issue 15: the same reads, one after the other."""
    from engine.services.metrics import active_executions, period_summary

    counts = previous_counts(db, now=now)
    return [
        active_executions(db, now=now), period_summary(db, now=now, hours=24),
        stats.duration_figures(db, now=now), previous_hourly(db, now=now),
        previous_daily(db, now=now), stats.top_failing(counts), stats.most_executed(counts),
        previous_reasons(db, now=now), stats.workflows_created(db, now=now),
    ]  # fmt: skip


def best_ms(run: Callable[[], object], samples: int) -> float:
    """The best wall time of ``run()`` over ``samples`` calls, in milliseconds."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def process_ms(argv: list[str], samples: int, env: dict[str, str]) -> float:
    """The best whole-process wall time of ``argv`` (ms)."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    parser.add_argument("--keep", action="store_true", help="do not drop it at the end")
    parser.add_argument("--json", action="store_true", help="print the medians as JSON, last")
    add_admin_url(parser)
    args = parser.parse_args()
    print_load()
    url = seeded_database(args.admin_url, BENCH_DB, args.executions, args.reuse)
    db = connect_database(Settings.model_validate({"database": {"url": url}}))
    upgrade(db)  # a reused database gets the indexes added since it was seeded
    now = datetime.now(UTC)
    try:
        with psycopg.connect(url) as conn:
            plan = conn.execute(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT CAST(timezone('UTC', "
                "completed_at) AS DATE) AS day, count(*) FROM workflow_execution "
                "WHERE completed_at >= now() - interval '30 days' GROUP BY day"
            ).fetchall()
        print("daily aggregate plan (the previous query's shape):")
        for (line,) in plan:
            print("   ", line)
        same = _same_figures(db, now)
        print(f"same figures as the previous queries: {'yes' if same else 'NO'}")
        queries: dict[str, Callable[[], object]] = {
            "executions per hour (24 h)": lambda: stats.hourly_activity(db, now=now),
            "  previous: executions per hour": lambda: previous_hourly(db, now=now),
            "avg + p95 duration (24 h)": lambda: stats.duration_figures(db, now=now),
            "avg + p95 duration (1 h, /metrics)": lambda: stats.duration_figures(
                db, now=now, hours=1
            ),
            "daily + per-workflow (30 d, one read)": lambda: stats.window_figures(db, now=now),
            "  previous: daily statistics": lambda: previous_daily(db, now=now),
            "  previous: per-workflow counts": lambda: previous_counts(db, now=now),
            "failure reasons (30 d)": lambda: failure_reasons.failure_reasons(db, now=now),
            "  previous: failure reasons": lambda: previous_reasons(db, now=now),
            "workflows created (30 d)": lambda: stats.workflows_created(db, now=now),
            "workflow counter totals (/metrics)": lambda: stats.workflow_totals(db),
            "whole `wfconsole stats`": lambda: collect_statistics(db, IdleQueue(), now=now),
            "  previous: whole, one query at a time": lambda: previous_collect(db, now),
        }
        try:
            from engine.http.metrics import scrape

            queries["one /metrics scrape"] = lambda: scrape(db, IdleQueue(), now=now)
        except ImportError:
            pass
        medians: dict[str, float] = {}
        for label, run in queries.items():
            medians[label] = median_ms(run, args.samples)
            best = best_ms(run, args.samples)
            print(f"{label:<40} median {medians[label]:8.1f} ms   best {best:8.1f} ms")
        medians.update(_processes(url, args.samples))
    finally:
        db.dispose()
        if not args.keep:
            drop_database(args.admin_url, BENCH_DB)
    print(f"load average after {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        print(json.dumps({"executions": args.executions, "median_ms": medians}))
    return 0 if same else 1


def _same_figures(db: Database, now: datetime) -> bool:
    """The new reads against the previous ones; the daily means to the document's 0.1 ms
    (the sums are added in another order)."""

    def days(rows: list[stats.DayStats]) -> list[tuple[object, ...]]:
        return [(d.day, d.finished, d.succeeded, d.failed,
                 None if d.avg_duration_ms is None else round(d.avg_duration_ms, 1))
                for d in rows]  # fmt: skip

    daily, counts = stats.window_figures(db, now=now)
    return (
        stats.hourly_activity(db, now=now) == previous_hourly(db, now=now)
        and days(daily) == days(previous_daily(db, now=now))
        and sorted(counts, key=repr) == sorted(previous_counts(db, now=now), key=repr)
        and failure_reasons.failure_reasons(db, now=now) == previous_reasons(db, now=now)
    )


def _processes(url: str, samples: int) -> dict[str, float]:
    """`wfconsole stats --json` as a shell runs it, beside the floors under it."""
    with tempfile.TemporaryDirectory(prefix="wf-stats-bench-") as tmp:
        config = Path(tmp) / "wfconsole.toml"
        config.write_text(f'[database]\nurl = "{url}"\n')
        env = {**os.environ, "WFCONSOLE_CONFIG": str(config)}
        python = sys.executable
        wfconsole = str(Path(python).with_name("wfconsole"))
        # What the plain path loads (engine/plain_reads): the driver, not SQLAlchemy.
        imports = ("import psycopg, engine.plain_reads.statistics, engine.plain_reads.target, "
                   "engine.execution.error_signature, wfconsole.cli.commands.stats")  # fmt: skip
        figures = {
            "process: python -c pass": process_ms([python, "-c", "pass"], samples, env),
            "process: the command's imports": process_ms([python, "-c", imports], samples, env),
            "process: wfconsole stats --json": process_ms(
                [wfconsole, "stats", "--json"], samples, env
            ),
        }
    for label, value in figures.items():
        print(f"{label:<40} best   {value:8.1f} ms")
    return figures


if __name__ == "__main__":
    sys.exit(main())
