"""The 24 h failure clusters at 100,000 distinct error texts: stored signatures against
the old read-time normalisation, measured in the same run (issue 15, item 4).

For SQLite (a temporary file) and PostgreSQL (a fresh ``wf_bench_clusters``, dropped at
the end; skipped when the server is unreachable): migrates, seeds ``--failures`` FAILED
executions created over the last 24 h across four workflows, each with an error text of
its own (order ids, hosts, times and amounts in it), signed as the worker signs a failure
(``normalise_error``, timed: the cost each failure now pays once). Then, best of
``--samples`` after one untimed run:

- **stored**: ``list_failure_clusters`` over the last 24 h, grouping by the stored column;
- **baseline**: the read before this change, in this file: the database groups by raw
  error text, Python normalises every distinct text (the signature cache cleared first:
  100,000 texts overflow it anyway) and merges;
- **unfilled**: the same service call after the column is set to NULL (rows nobody
  signed: the fallback), then the migration's batched backfill of those rows, timed.

Both reads must return the same clusters; a difference is printed and the exit status
is 1. ``--distinct-signatures`` makes every text its own signature as well (the worst
case for the stored read: 100,000 groups).

    .venv/bin/python bench/failure_clusters.py [--failures 100000] [--samples 3]
        [--only sqlite|pg] [--distinct-signatures] [--json]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._args import add_admin_url, print_load
from engine.config import Settings
from engine.db import Database, connect_database, upgrade
from engine.execution.error_signature import _normalise, classify_error, normalise_error
from engine.models import Workflow, WorkflowExecution, new_id, table_of, utcnow
from engine.services.failures import (
    ClusterKey,
    FailureCluster,
    _byte_order,
    _Definitions,
    _sample_errors,
    _tune,
    _utc,
    list_failure_clusters,
)

BENCH_DB = "wf_bench_clusters"
ROOT = Path(__file__).resolve().parent.parent
E = table_of(WorkflowExecution)
WORKFLOWS = {
    "billing": ["slack", "webhook", "email"],
    "orders": ["webhook", "create_task"],
    "reports": ["create_task", "email", "teams"],
    "alerts": ["sms", "slack"],
}
# Each {n} is the failure's number; {h} a hex id; {t} a time: every text differs.
TEMPLATES = (
    "step 1 (webhook): order {h} at {t}: HTTP 503 from https://erp.example.com/hook/{n}?id={h}",
    "step 0 (webhook): connection to 10.0.{a}.{b}:8443 timed out after {s}.{n} s",
    "step 2 (email): SMTP 421 mx{a}.example.net busy, message {h} deferred at {t}",
    "step 1 (create_task): missing value for 'trigger.owner': no key 'owner' in order {n}",
    "step 0 (sms): Twilio 21610: recipient +1555{n:07d} unsubscribed",
    "step 1 (slack): Slack API error: channel_not_found (C{n:09d})",
    "invoice {n} of {s}.50 EUR for customer {h} rejected: HTTP 422",
    "worker lost",
)


def error_text(number: int, distinct_signature: bool) -> str:
    """The ``number``-th failure's message; unique, and normalising like its siblings."""
    template = TEMPLATES[number % len(TEMPLATES)]
    text = template.format(
        n=number, h=f"{number * 2654435761 % 2**48:012x}", a=number % 251, b=number % 13,
        s=number % 97, t=f"2026-12-08T{number % 24:02d}:{number % 60:02d}:07Z",
    )  # fmt: skip
    if template == "worker lost":
        text = f"worker lost (worker-{number})"
    if distinct_signature:  # letters only: the normaliser keeps them
        text += " tag " + "".join(chr(97 + (number // 26**k) % 26) for k in range(4))
    return text


def seed(db: Database, count: int, distinct_signature: bool) -> float:
    """Insert ``count`` FAILED runs of the last 24 h; returns µs of signing per failure."""
    now = utcnow()
    workflows = []
    with db.engine.begin() as conn:
        for name, actions in WORKFLOWS.items():
            workflow = Workflow(
                name=name, triggers=[{"type": "manual"}], actions=[{"type": a} for a in actions]
            )
            row = workflow.model_dump(exclude_none=True)
            conn.execute(sa.insert(table_of(Workflow)), row)
            workflows.append((workflow.id, len(actions)))
    texts = [error_text(n, distinct_signature) for n in range(count)]
    started = time.perf_counter()
    signatures = [normalise_error(text) for text in texts]
    signing_us = (time.perf_counter() - started) / max(1, count) * 1e6
    rows = []
    for number, (text, signature) in enumerate(zip(texts, signatures, strict=True)):
        created = now - timedelta(seconds=86_000 * (count - number) / count)
        workflow_id, steps = workflows[(number // len(TEMPLATES)) % len(workflows)]
        rows.append({
            "id": new_id(), "workflow_id": workflow_id, "workflow_version": 1,
            "status": "FAILED", "trigger_type": "manual", "trigger_data": {},
            "error": text, "error_signature": signature, "created_at": created,
            "started_at": created, "completed_at": created + timedelta(seconds=2),
            "duration_ms": 2000.0, "retry_count": 3, "available_at": created,
            "next_step": number % steps, "cancel_requested": False, "event_depth": 0,
        })  # fmt: skip
    with db.engine.begin() as conn:
        for start in range(0, len(rows), 10_000):
            conn.execute(sa.insert(E), rows[start : start + 10_000])
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return signing_us


def read_time_clusters(db: Database, *, since: Any) -> list[FailureCluster]:
    """The clusters as read before signatures were stored: every distinct text in Python."""
    c = E.c
    error: Any = sa.func.substr(sa.func.coalesce(c.error, ""), 1, 2000)
    with db.read_engine.connect() as conn:
        _tune(conn)
        if conn.dialect.name == "postgresql":
            error = error.collate("C")
        seen = sa.func.coalesce(c.completed_at, c.created_at)
        columns = (c.workflow_id, c.workflow_version, c.next_step, error)
        groups = conn.execute(
            sa.select(*columns[:3], error.label("error"), sa.func.count().label("n"),
                      sa.func.min(seen).label("first"), sa.func.max(seen).label("last"))
            .where(c.status == "FAILED", c.created_at >= since)
            .group_by(*columns)
        ).all()  # fmt: skip
        definitions = _Definitions(conn, ((g.workflow_id, g.workflow_version) for g in groups))
    merged: dict[ClusterKey, list[Any]] = {}
    for g in groups:
        action = definitions.action_type(g.workflow_id, g.workflow_version, g.next_step)
        key = ClusterKey(g.workflow_id, action, normalise_error(g.error))
        m = merged.get(key)
        if m is None:
            merged[key] = [g.n, g.first, g.last, g]
            continue
        m[0] += g.n
        m[1], m[2] = min(m[1], g.first), max(m[2], g.last)
        if (g.n, g.last) > (m[3].n, m[3].last):
            m[3] = g
    result = [
        FailureCluster(key, definitions.names.get(key.workflow_id, "?"), n, _utc(first),
                       _utc(last), classify_error(sample.error), sample.error)
        for key, (n, first, last, sample) in merged.items()
    ]  # fmt: skip
    result.sort(key=lambda c: (-c.count, -c.last_seen.timestamp(), c.workflow, c.signature))
    return result[:500]


def python_ranked_clusters(db: Database, *, since: Any, limit: int = 500) -> list[FailureCluster]:
    """The stored-signature read before the ranking moved into SQL (issue 15): every
    (workflow, version, step, signature) group travels, Python merges, sorts and cuts."""
    c = E.c
    seen = sa.func.coalesce(c.completed_at, c.created_at)
    raw = sa.func.substr(sa.func.coalesce(c.error, ""), 1, 2000)
    with db.read_engine.connect() as conn:
        _tune(conn)
        groups = []
        for stored, text in ((True, c.error_signature), (False, raw)):
            text = _byte_order(conn, text)
            grouping = (c.workflow_id, c.workflow_version, c.next_step, text)
            query = (
                sa.select(*grouping[:3], text.label("text"), sa.func.count().label("n"),
                          sa.func.min(seen).label("first"), sa.func.max(seen).label("last"),
                          sa.func.max(_byte_order(conn, c.id)).label("sample_id"))
                .where(c.status == sa.literal_column("'FAILED'"), c.created_at >= since,
                       c.error_signature.is_not(None) if stored else c.error_signature.is_(None))
                .group_by(*grouping)
            )  # fmt: skip
            for row in conn.execute(query):
                signature = row.text if stored else normalise_error(row.text)
                groups.append((row, signature or ""))
        definitions = _Definitions(conn, ((g.workflow_id, g.workflow_version) for g, _ in groups))
        merged: dict[ClusterKey, list[Any]] = {}
        for g, signature in groups:
            action = definitions.action_type(g.workflow_id, g.workflow_version, g.next_step)
            key = ClusterKey(g.workflow_id, action, signature)
            m = merged.get(key)
            if m is None:
                merged[key] = [g.n, g.first, g.last, g.sample_id]
                continue
            m[0] += g.n
            m[1], m[2], m[3] = min(m[1], g.first), max(m[2], g.last), max(m[3], g.sample_id)
        ranked = sorted(
            merged.items(),
            key=lambda item: (-item[1][0], -_utc(item[1][2]).timestamp(),
                              definitions.names.get(item[0].workflow_id, "?"),
                              item[0].signature),
        )[:limit]  # fmt: skip
        samples = _sample_errors(conn, [m[3] for _, m in ranked])
    return [
        FailureCluster(key, definitions.names.get(key.workflow_id, "?"), n, _utc(first),
                       _utc(last), classify_error(samples.get(sid, "")), samples.get(sid, ""))
        for key, (n, first, last, sid) in ranked
    ]  # fmt: skip


def best_ms(call: Callable[[], object], samples: int) -> tuple[float, Any]:
    """One untimed run, then the best of ``samples`` (ms) and the last result."""
    result = call()
    times = []
    for _ in range(samples):
        _normalise.cache_clear()
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    return min(times), result


def migration() -> ModuleType:
    """The revision that adds the column (its ``backfill`` is timed here)."""
    path = ROOT / "migrations" / "versions" / "0008_execution_error_signature.py"
    spec = importlib.util.spec_from_file_location("migration_0008", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def summary(clusters: list[FailureCluster]) -> list[tuple[Any, ...]]:
    return [(c.key, c.count, c.first_seen, c.last_seen) for c in clusters]


def full(clusters: list[FailureCluster]) -> list[tuple[Any, ...]]:
    """Everything a cluster shows, its sample message included."""
    return [(*summary([c])[0], c.workflow, c.transient, c.sample_error) for c in clusters]


def measure(label: str, db: Database, args: argparse.Namespace) -> dict[str, float]:
    """Seed, then time the three reads and the backfill on ``db``; print and return them."""
    started = time.perf_counter()
    signing_us = seed(db, args.failures, args.distinct_signatures)
    print(f"{label}: seeded {args.failures:,} failures in {time.perf_counter() - started:.1f} s"
          f" (signing {signing_us:.1f} µs per failure)", file=sys.stderr)  # fmt: skip
    since = utcnow() - timedelta(hours=24)
    stored_ms, stored = best_ms(lambda: list_failure_clusters(db, since=since), args.samples)
    python_ms, python_ranked = best_ms(
        lambda: python_ranked_clusters(db, since=since), args.samples
    )
    base_ms, base = best_ms(lambda: read_time_clusters(db, since=since), args.samples)
    same = summary(stored) == summary(base) and full(stored) == full(python_ranked)
    with db.engine.begin() as conn:
        conn.execute(sa.update(E).values(error_signature=None))
    unfilled_ms, unfilled = best_ms(lambda: list_failure_clusters(db, since=since), 1)
    same = same and summary(unfilled) == summary(base)
    started = time.perf_counter()
    with db.engine.connect() as conn:
        filled = migration().backfill(conn, commit_each_batch=True)
    backfill_s = time.perf_counter() - started
    refilled = list_failure_clusters(db, since=since)
    same = same and summary(refilled) == summary(base)
    print(f"\n{label}: {len(stored)} clusters, biggest {stored[0].count:,}; "
          f"24 h clusters, best of {args.samples}:")  # fmt: skip
    print(f"  stored signatures, ranked in SQL      {stored_ms:8.1f} ms")
    print(f"  stored, ranked in Python (before)     {python_ms:8.1f} ms   "
          f"({python_ms / stored_ms:.1f}x)")  # fmt: skip
    print(f"  baseline: read-time normalisation     {base_ms:8.1f} ms   "
          f"({base_ms / stored_ms:.1f}x the stored read)")  # fmt: skip
    print(f"  unfilled rows (fallback)              {unfilled_ms:8.1f} ms")
    print(f"  backfill of {filled:,} rows (batches of 5,000) {backfill_s:6.2f} s"
          f"  ({filled / backfill_s:,.0f} rows/s)")  # fmt: skip
    print(f"  signing at failure time               {signing_us:8.1f} µs per failure")
    print(f"  same clusters from every read: {'yes' if same else 'NO'}")
    return {
        "stored_ms": stored_ms, "python_ranked_ms": python_ms, "baseline_ms": base_ms,
        "unfilled_ms": unfilled_ms,
        "backfill_s": backfill_s, "signing_us": signing_us, "same": float(same),
    }  # fmt: skip


@contextmanager
def sqlite_database() -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="wf-bench-clusters-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = connect_database(Settings.model_validate({"database": {"url": url}}))
        try:
            upgrade(db)
            yield db
        finally:
            db.dispose()


@contextmanager
def postgres_database(admin_url: str) -> Iterator[Database | None]:
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB))
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL unreachable, skipped: {str(exc).strip().splitlines()[0]}")
        yield None
        return
    with admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))
        url = make_url(admin_url).set(database=BENCH_DB).render_as_string(hide_password=False)
        db = connect_database(Settings.model_validate({"database": {"url": url}}))
        try:
            upgrade(db)
            yield db
        finally:
            db.dispose()
            admin.execute(drop)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--failures", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--only", choices=("sqlite", "pg"))
    parser.add_argument("--distinct-signatures", action="store_true",
                        help="every text its own signature too (100,000 clusters)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the figures as JSON, last")
    add_admin_url(parser)
    args = parser.parse_args()
    print_load()
    figures: dict[str, dict[str, float]] = {}
    if args.only in (None, "sqlite"):
        with sqlite_database() as db:
            figures["sqlite"] = measure("SQLite", db, args)
    if args.only in (None, "pg"):
        with postgres_database(args.admin_url) as pg:
            if pg is not None:
                figures["postgresql"] = measure("PostgreSQL", pg, args)
    print_load()
    if args.json:
        print(json.dumps({"failures": args.failures, "figures": figures}))
    return 0 if all(f["same"] for f in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
