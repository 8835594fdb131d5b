"""The workflow cache: a change committed anywhere is seen by the next trigger everywhere.

Two ``Database`` objects on one database stand for two processes: each has its own
cache, so one sees the other's change only through the generation token (in the
database, or mirrored in Redis). Real SQLite, PostgreSQL and Redis throughout.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from engine.config import Settings
from engine.db import Database, connect_database
from engine.models import Workflow, WorkflowExecution, table_of
from engine.services.workflow_admin import delete_workflow, set_enabled
from engine.services.workflows import WorkflowNotFound, save_document
from engine.triggers.new_executions import WorkflowDisabled, emit_event, run_workflow
from engine.workers.runtime import Queue
from engine.workflow_cache.cache import WorkflowCache
from engine.workflow_cache.generation import database_generation
from engine.workflow_cache.lookups import event_listeners, find_workflow, webhook_hooks
from tests.consumers import redis_test_url

ADMIN = "admin"  # the first user of a database is its SUPER_ADMIN
NAME = "orders"


def orders(title: str = "v1", *, enabled: bool = True) -> dict[str, Any]:
    """A workflow on every cached trigger kind; a new ``title`` makes a new version."""
    return {
        "name": NAME,
        "enabled": enabled,
        "triggers": [
            {"type": "manual"},
            {"type": "webhook", "path": "orders"},
            {"type": "event", "event": "order.created"},
        ],
        "actions": [{"type": "create_task", "title": title}],
    }


@pytest.fixture
def queue(tmp_path: Path) -> Queue:
    """A real local queue the triggers enqueue into (nothing consumes it)."""
    return Queue(Settings.model_validate({"queue": {"path": str(tmp_path / "queue.db")}}))


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A queue name of its own for the Redis cache keys; its keys are deleted afterwards."""
    name = f"cache_{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_test_url())
    try:
        keys = list(client.scan_iter(f"wfconsole:{name}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def connect(any_db: Database, redis_prefix: str) -> Iterator[Callable[..., Database]]:
    """``connect(backend, **cache)``: another Database (another cache) on ``any_db``."""
    opened: list[Database] = []

    def open_one(backend: str = "process", **cache: Any) -> Database:
        queue: dict[str, Any] = {"name": redis_prefix}
        if backend == "redis":
            queue["redis_url"] = redis_test_url()
        settings = Settings.model_validate(
            {"database": {"url": any_db.url}, "queue": queue, "cache": cache}
        )
        db = connect_database(settings)
        opened.append(db)
        return db

    yield open_one
    for db in opened:
        db.dispose()


def versions_run(db: Database) -> list[int]:
    """The definition version of every execution, oldest first."""
    table = table_of(WorkflowExecution)
    with db.engine.connect() as conn:
        query = sa.select(table.c.workflow_version).order_by(table.c.created_at, table.c.id)
        return list(conn.execute(query).scalars())


def change_behind_the_cache(db: Database, **values: Any) -> None:
    """Edit the workflow row without telling any cache (as hand-written SQL would)."""
    with db.engine.begin() as conn:
        conn.execute(sa.update(table_of(Workflow)).values(**values))


def test_a_saved_version_is_run_by_the_next_trigger(any_db: Database, queue: Queue) -> None:
    save_document(any_db, orders("v1"), actor=ADMIN)
    run_workflow(any_db, queue, NAME, actor=ADMIN)
    run_workflow(any_db, queue, NAME, actor=ADMIN)
    save_document(any_db, orders("v2"), actor=ADMIN)
    run_workflow(any_db, queue, NAME, actor=ADMIN)

    assert versions_run(any_db) == [1, 1, 2]
    stats = any_db.workflow_cache.stats()
    assert (stats.hits["workflow"], stats.misses["workflow"]) == (1, 2)


@pytest.mark.parametrize("backend", ["process", "redis"])
def test_a_version_saved_through_another_cache_is_seen_at_once(
    connect: Callable[..., Database], queue: Queue, backend: str
) -> None:
    mine, theirs = connect(backend), connect(backend)
    save_document(theirs, orders("v1"), actor=ADMIN)
    assert [hook.version for hook in webhook_hooks(mine, "orders")] == [1]
    assert [w.version for w in event_listeners(mine, "order.created")] == [1]

    save_document(theirs, orders("v2"), actor=ADMIN)

    assert [hook.version for hook in webhook_hooks(mine, "orders")] == [2]
    assert [w.version for w in event_listeners(mine, "order.created")] == [2]
    run_workflow(mine, queue, NAME, actor=ADMIN)
    assert versions_run(mine) == [2]


@pytest.mark.parametrize("backend", ["process", "redis"])
def test_a_workflow_disabled_or_deleted_through_another_cache_no_longer_runs(
    connect: Callable[..., Database], queue: Queue, backend: str
) -> None:
    mine, theirs = connect(backend), connect(backend)
    save_document(theirs, orders("v1"), actor=ADMIN)
    assert webhook_hooks(mine, "orders") and event_listeners(mine, "order.created")

    set_enabled(theirs, NAME, False, actor=ADMIN)

    assert webhook_hooks(mine, "orders") == ()
    assert emit_event(mine, queue, "order.created", actor=ADMIN) == []
    with pytest.raises(WorkflowDisabled):
        run_workflow(mine, queue, NAME, actor=ADMIN)

    delete_workflow(theirs, NAME, actor=ADMIN)

    assert find_workflow(mine, NAME) is None
    with pytest.raises(WorkflowNotFound):
        run_workflow(mine, queue, NAME, actor=ADMIN)
    assert versions_run(mine) == []


def test_the_redis_cache_is_shared_by_every_process(connect: Callable[..., Database]) -> None:
    first, second = connect("redis"), connect("redis")
    save_document(first, orders("v1"), actor=ADMIN)

    webhook_hooks(first, "orders")
    hooks = webhook_hooks(second, "orders")

    assert [hook.version for hook in hooks] == [1]
    assert first.workflow_cache.stats().misses == {"hooks": 1}
    assert (second.workflow_cache.stats().hits, second.workflow_cache.stats().misses) == (
        {"hooks": 1},
        {"hooks": 0},
    )


@pytest.mark.parametrize("backend", ["process", "redis"])
def test_entries_expire_after_the_ttl(connect: Callable[..., Database], backend: str) -> None:
    now = [1_000_000.0]
    db = connect(backend, ttl=60)
    db.workflow_cache.clock = lambda: now[0]
    save_document(db, orders("v1"), actor=ADMIN)
    assert find_workflow(db, NAME) is not None
    change_behind_the_cache(db, version=7)

    now[0] += 59
    within = find_workflow(db, NAME)
    now[0] += 2
    after = find_workflow(db, NAME)

    assert within is not None and within.version == 1
    assert after is not None and after.version == 7


@pytest.mark.parametrize("cache", [{"enabled": False}, {"ttl": 0}], ids=["disabled", "ttl0"])
def test_without_the_cache_every_lookup_reads_the_database(
    connect: Callable[..., Database], cache: dict[str, Any]
) -> None:
    db = connect("process", **cache)
    save_document(db, orders("v1"), actor=ADMIN)
    first = find_workflow(db, NAME)
    change_behind_the_cache(db, version=7)
    second = find_workflow(db, NAME)

    assert first is not None and first.version == 1
    assert second is not None and second.version == 7
    stats = db.workflow_cache.stats()
    assert (stats.enabled, stats.hits, stats.misses) == (False, {"workflow": 0}, {"workflow": 2})


def test_an_unchanged_save_keeps_the_cached_entries(sqlite_db: Database) -> None:
    save_document(sqlite_db, orders("v1"), actor=ADMIN)
    token = database_generation(sqlite_db)
    find_workflow(sqlite_db, NAME)

    save_document(sqlite_db, orders("v1"), actor=ADMIN)
    find_workflow(sqlite_db, NAME)

    assert database_generation(sqlite_db) == token
    assert sqlite_db.workflow_cache.stats().hits == {"workflow": 1}


def test_a_run_of_a_workflow_deleted_since_its_lookup_is_refused_cleanly(
    any_db: Database, queue: Queue
) -> None:
    save_document(any_db, orders("v1"), actor=ADMIN)
    assert find_workflow(any_db, NAME) is not None
    with any_db.engine.begin() as conn:  # deleted without the cache hearing of it: a race
        conn.execute(sa.delete(table_of(Workflow)))

    with pytest.raises(WorkflowNotFound):
        run_workflow(any_db, queue, NAME, actor=ADMIN)

    assert versions_run(any_db) == []
    assert queue.huey.pending_count() == 0
    save_document(any_db, orders("again"), actor=ADMIN)  # the connection is fine afterwards
    assert len(run_workflow(any_db, queue, NAME, actor=ADMIN)) == 1


def test_a_redis_that_does_not_answer_leaves_the_database_in_charge(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.model_validate(
        {"database": {"url": sqlite_db.url}, "queue": {"redis_url": "redis://127.0.0.1:1/0"}}
    )
    db = connect_database(settings)  # nothing listens on port 1
    try:
        save_document(db, orders("v1"), actor=ADMIN)
        first = find_workflow(db, NAME)
        save_document(db, orders("v2"), actor=ADMIN)
        second = find_workflow(db, NAME)
    finally:
        db.dispose()

    assert first is not None and first.version == 1
    assert second is not None and second.version == 2
    assert "workflow" in caplog.text and "Redis" in caplog.text


def test_a_flood_of_unknown_paths_does_not_push_found_entries_out(sqlite_db: Database) -> None:
    cache = WorkflowCache(found_entries=4, absent_entries=8)
    db = dataclasses.replace(sqlite_db, workflow_cache=cache)
    save_document(db, orders("v1"), actor=ADMIN)
    assert webhook_hooks(db, "orders")

    flood = [webhook_hooks(db, f"random-{n}") for n in range(50)]
    found = webhook_hooks(db, "orders")
    newest, oldest = webhook_hooks(db, "random-49"), webhook_hooks(db, "random-0")

    assert set(flood) == {()} and (newest, oldest) == ((), ())
    assert [hook.version for hook in found] == [1]
    # Hits: "orders" and the newest unknown path; the oldest was dropped from the small store.
    assert (cache.stats().hits, cache.stats().misses) == ({"hooks": 2}, {"hooks": 52})
