"""The workflow cache with Redis: the shared number only grows, and a dead Redis costs
one timeout, then nothing for the back-off.

Real SQLite, PostgreSQL and Redis; the Redis that never answers is a loopback socket that
accepts connections and stays silent.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from engine.config import Settings
from engine.db import Database, connect_database
from engine.maintenance.backup import create_backup, restore_backup
from engine.services.workflows import save_document
from engine.workflow_cache.cache import WorkflowCache
from engine.workflow_cache.generation import database_generation
from engine.workflow_cache.lookups import find_workflow
from engine.workflow_cache.redis_store import RedisMirror
from tests.consumers import redis_test_url
from tests.test_definition_cache import (  # noqa: F401  (fixtures `connect`, `redis_prefix`)
    ADMIN,
    NAME,
    connect,
    orders,
    redis_prefix,
)


def version_seen(db: Database) -> int:
    workflow = find_workflow(db, NAME)
    assert workflow is not None
    return workflow.version


def test_a_late_publish_of_an_older_change_does_not_bring_it_back(
    connect: Callable[..., Database],  # noqa: F811
) -> None:
    reader, first, second = connect("redis"), connect("redis"), connect("redis")
    save_document(first, orders("v1"), actor=ADMIN)
    save_document(first, orders("v2"), actor=ADMIN)
    older = database_generation(first)
    assert version_seen(reader) == 2  # the reader now holds version 2 under `older`

    save_document(second, orders("v3"), actor=ADMIN)
    first.workflow_cache.publish(older)  # the first writer's publish, arriving late

    assert version_seen(reader) == 3
    assert first.workflow_cache.shared_generation() == database_generation(first) > older


def test_a_reader_that_stalled_with_an_old_number_cannot_put_it_back(
    redis_prefix: str,  # noqa: F811
) -> None:
    mirror = RedisMirror(redis_test_url(), prefix=f"wfconsole:{redis_prefix}:workflow-cache")
    try:
        assert mirror.offer(1_000_002) == 1_000_002
        assert mirror.offer(1_000_001) == 1_000_002
        assert mirror.generation() == 1_000_002
    finally:
        mirror.close()


def test_a_token_left_in_redis_by_the_previous_version_is_replaced(
    redis_prefix: str,  # noqa: F811
) -> None:
    prefix = f"wfconsole:{redis_prefix}:workflow-cache"
    client = redis.Redis.from_url(redis_test_url())
    client.set(f"{prefix}:generation", "4a963f1f-ab26-4765-9743-1b62f30fffb3")
    mirror = RedisMirror(redis_test_url(), prefix=prefix)
    try:
        assert mirror.generation() is None
        assert mirror.offer(1_000_001) == 1_000_001
        assert mirror.generation() == 1_000_001
    finally:
        mirror.close()
        client.close()


def test_a_change_that_never_reached_redis_is_seen_after_the_recheck_and_not_before(
    connect: Callable[..., Database],  # noqa: F811
) -> None:
    now = [1_000_000.0]
    reader = connect("redis")
    reader.workflow_cache.clock = lambda: now[0]
    silent = connect("process")  # commits the number but never writes it to Redis
    save_document(silent, orders("v1"), actor=ADMIN)
    assert version_seen(reader) == 1

    save_document(silent, orders("v2"), actor=ADMIN)
    now[0] += reader.workflow_cache.recheck - 0.5
    within = version_seen(reader)
    now[0] += 1
    after = version_seen(reader)

    assert (within, after) == (1, 2)


def test_a_restore_is_seen_through_redis_though_it_brings_back_an_older_number(
    sqlite_db: Database,
    tmp_path: Path,
    redis_prefix: str,  # noqa: F811
) -> None:
    def on_redis() -> Database:
        prefix = f"wfconsole:{redis_prefix}:workflow-cache"
        cache = WorkflowCache(redis_url=redis_test_url(), prefix=prefix)
        return dataclasses.replace(sqlite_db, workflow_cache=cache)

    admin, reader = on_redis(), on_redis()
    save_document(admin, orders("v1"), actor=ADMIN)
    settings = Settings.model_validate({"database": {"url": sqlite_db.url}})
    backup = create_backup(admin, settings, output=tmp_path / "v1.backup")
    save_document(admin, orders("v2"), actor=ADMIN)
    save_document(admin, orders("v3"), actor=ADMIN)
    assert version_seen(reader) == 3

    restore_backup(admin, backup.path, force=True)

    assert version_seen(reader) == 1
    assert reader.workflow_cache.shared_generation() == database_generation(reader)
    for db in (admin, reader):
        db.workflow_cache.close()


class SilentRedis:
    """A loopback port that accepts connections and never answers (a hung Redis)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def silent_redis() -> Iterator[SilentRedis]:
    server = SilentRedis()
    yield server
    server.close()


def test_a_hung_redis_costs_one_timeout_then_nothing_for_the_back_off(
    sqlite_db: Database, silent_redis: SilentRedis
) -> None:
    save_document(sqlite_db, orders("v1"), actor=ADMIN)
    now = [1_000_000.0]
    timeout = 0.5
    cache = WorkflowCache(
        redis_url=silent_redis.url, redis_timeout=timeout, redis_backoff=5, clock=lambda: now[0]
    )
    db = dataclasses.replace(sqlite_db, workflow_cache=cache)

    started = time.monotonic()
    first = version_seen(db)
    first_took = time.monotonic() - started
    started = time.monotonic()
    during = [version_seen(db) for _ in range(20)]
    during_took = time.monotonic() - started
    connections_during = len(silent_redis.connections)
    now[0] += 6
    after = version_seen(db)

    assert (first, set(during), after) == (1, {1}, 1)
    assert timeout <= first_took < 2 * timeout
    assert during_took < timeout
    assert connections_during == 1
    assert len(silent_redis.connections) == 2  # tried again once the back-off was over
    cache.close()


def test_no_password_shows_in_the_repr_of_a_database_or_its_cache() -> None:
    settings = Settings.model_validate(
        {
            "database": {"url": "postgresql://wf:db-pass-4711@127.0.0.1:1/wf"},
            "queue": {
                "redis_url": "redis://:url-pass-4712@127.0.0.1:1/0",
                "redis_password": "env-pass-4713",
            },
        }
    )
    db = connect_database(settings)  # connects lazily: nothing listens there
    try:
        shown = repr(db) + repr(db.workflow_cache)
    finally:
        db.dispose()

    assert "postgresql" in shown and "workflow-cache" in shown
    for password in ("db-pass-4711", "url-pass-4712", "env-pass-4713"):
        assert password not in shown
