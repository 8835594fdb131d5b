"""What every chaos test needs: deployments on chosen servers, scale, and the after-checks.

After each fault the same four things must hold (issue 7): no execution lost, none stuck,
repeats within the documented bound, and the workflow's counters equal to its executions.
``assert_recovered`` checks them all.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine.config import load_settings
from engine.db import Database, connect_database, upgrade
from engine.execution import claims as store
from engine.models import FINAL_STATUSES
from engine.queue.sweeper import WORKER_LOST
from engine.services.workflows import save_document
from tests.conftest import settings_for_url
from tests.consumers import SWEEP_INTERVAL, WORKFLOW_TIMEOUT, Deployment, _flush_redis, _toml
from tests.execution_support import assert_counters_match_table, keys_seen, workflow_document
from tests.http_sink import HttpSink

E = store.E
SOAK_ENV = "WFCONSOLE_SOAK"


def soak() -> bool:
    """True when the long soak variants were asked for (``WFCONSOLE_SOAK=1``)."""
    return os.environ.get(SOAK_ENV, "").strip().lower() in ("1", "true", "yes")


def scaled(normal: int, long: int) -> int:
    """``normal`` in CI, ``long`` under WFCONSOLE_SOAK=1."""
    return long if soak() else normal


def queue_sections(name: str | None = None) -> dict[str, Any]:
    """The sections every chaos deployment shares (fast sweeper, short workflow timeout)."""
    return {
        "queue": {
            "name": name or f"chaos_{uuid.uuid4().hex[:12]}",
            "sweep_interval": SWEEP_INTERVAL,
            "concurrency": 4,
        },
        "security": {"allow_private_targets": True},
        "workflow": {"default_timeout": WORKFLOW_TIMEOUT, "webhook_max_retries": 0},
        "logging": {"level": "WARNING"},
    }


@contextmanager
def postgres_deployment(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[Deployment]:
    """PostgreSQL (migrated here) + Redis on the given servers; the queue's keys go after."""
    db = connect_database(settings_for_url(database_url))
    try:
        upgrade(db)
        sections = queue_sections()
        sections["queue"]["redis_url"] = redis_url
        sections = {"database": {"url": database_url}, **sections}
        yield Deployment("postgres", db, sections, tmp_path / "wfconsole-chaos.toml")
    finally:
        db.dispose()
        with contextlib.suppress(Exception):  # a private Redis may be gone already
            _flush_redis(redis_url, sections["queue"]["name"])


def set_keys(deployed: Deployment, section: str, **values: Any) -> None:
    """Change config keys of a deployment (its file too, for the processes started later)."""
    deployed.sections[section].update(values)
    deployed.config_path.write_text(_toml(deployed.sections), encoding="utf-8")
    deployed.settings = load_settings(deployed.config_path)


def define_hook_workflow(db: Database, name: str, sink: HttpSink, **fields: Any) -> str:
    """A workflow with one outbound webhook step to the sink (manual and webhook triggers)."""
    document = workflow_document(
        name, [sink.url("/hook")], timeout=WORKFLOW_TIMEOUT, max_retries=10, retry_delay=1,
        **fields,
    )  # fmt: skip
    document["triggers"] = [{"type": "manual"}, {"type": "webhook", "path": name}]
    save_document(db, document, actor="chaos")
    return name


def statuses(db: Database, ids: list[str]) -> Counter[str]:
    """How many of ``ids`` are in each status (ids missing from the table count as LOST)."""
    counts: Counter[str] = Counter()
    with db.engine.connect() as conn:
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            rows = conn.execute(sa.select(E.status).where(E.id.in_(chunk))).scalars().all()
            counts.update(rows)
            counts["LOST"] += len(chunk) - len(rows)
    if not counts["LOST"]:
        del counts["LOST"]
    return counts


def all_final(db: Database, ids: list[str]) -> bool:
    """Every id has a row in a final state."""
    counts = statuses(db, ids)
    return sum(counts[s] for s in FINAL_STATUSES) == len(ids)


def swept_up(db: Database, ids: list[str]) -> int:
    """How many of ``ids`` the sweeper re-enqueued (it moves ``available_at`` to then; in
    runs without retries, nothing else moves it)."""
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(E.created_at, E.available_at).where(E.id.in_(ids))).all()
    return sum((r.available_at - r.created_at) >= timedelta(seconds=1) for r in rows)


def hand_backs(db: Database) -> Counter[str]:
    """How often the sweeper took each execution back from a lost worker."""
    logs = store.LOGS.c
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(logs.execution_id, sa.func.count())
            .where(logs.message.like(f"{WORKER_LOST}%"))
            .group_by(logs.execution_id)
        ).all()
    return Counter({execution_id: count for execution_id, count in rows})


def history(db: Database, execution_id: str) -> str:
    """An execution's row and log lines, for assertion messages."""
    logs = store.LOGS.c
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.select(E.status, E.retry_count, E.error, E.worker_id).where(E.id == execution_id)
        ).one()
        lines = conn.execute(
            sa.select(logs.timestamp, logs.level, logs.message)
            .where(logs.execution_id == execution_id)
            .order_by(logs.timestamp)
        ).all()
    shown = "\n".join(f"  {t:%H:%M:%S.%f} {level} {message}" for t, level, message in lines)
    return f"{execution_id}: {tuple(row)}\n{shown}"


def repeats(sink: HttpSink) -> Counter[str]:
    """Per execution, how many of its step calls the sink saw more than once."""
    extra: Counter[str] = Counter()
    for key, count in Counter(keys_seen(sink)).items():
        if count > 1:
            extra[key.rsplit(":", 1)[0]] += count - 1
    return extra


def assert_recovered(
    db: Database,
    workflow: str,
    ids: list[str],
    sink: HttpSink,
    *,
    max_repeats: int,
    database_crashes: int = 0,
) -> None:
    """The four checks after a fault.

    No execution lost and none stuck: every accepted id ended SUCCESS. Repeats within the
    documented bound: a step is sent again only for an execution the sweeper took back
    from a lost worker (at most once per hand-back) or one in flight when the database
    crashed (at most once per crash: a claim is committed without waiting for its WAL
    flush, so a crash can undo it after its step went out), and ``max_repeats`` in all.
    Counters: the Workflow row equals its executions table.
    """
    counts = statuses(db, ids)
    assert counts == Counter({"SUCCESS": len(ids)}), counts
    seen = set(keys_seen(sink))
    missing = [i for i in ids if f"{i}:0" not in seen]
    assert not missing, f"{len(missing)} accepted execution(s) never reached the sink"
    extra, taken_back = repeats(sink), hand_backs(db)
    beyond = {i: n for i, n in extra.items() if n > taken_back[i] + database_crashes}
    assert not beyond, (
        f"steps repeated beyond their hand-backs and crashes: {beyond}\n"
        + "\n".join(history(db, i) for i in list(beyond)[:3])
    )
    assert sum(extra.values()) <= max_repeats, (sum(extra.values()), max_repeats)
    print(f"{sum(taken_back.values())} hand-back(s), {sum(extra.values())} repeated step(s)")
    assert_counters_match_table(db, workflow)
