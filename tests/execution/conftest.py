"""Fixtures of the execution tests: one migrated database per backend for each module
(migrating is the slow part), emptied after each test; an ``Engine`` over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from engine.db import Database, connect_database, open_database, upgrade
from engine.security import outbound
from tests import http_sink as sink_fixtures
from tests.conftest import settings_for_url
from tests.execution_support import Engine, make_engine
from tests.http_sink import HttpSink
from tests.pg import fresh_postgres_url

http_sink = sink_fixtures.http_sink


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    outbound.close_clients()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def migrated_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One migrated database per backend for the whole module (migrating is the slow part)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('executor') / 'test.db'}"
        db = open_database(settings_for_url(url))
        yield db
        db.dispose()
        return
    with fresh_postgres_url("wf_executor") as url:
        db = connect_database(settings_for_url(url))
        upgrade(db)
        yield db
        db.dispose()


@pytest.fixture
def db(migrated_db: Database) -> Iterator[Database]:
    """The module's database, emptied after each test."""
    yield migrated_db
    with migrated_db.engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def engine(db: Database, tmp_path: Path) -> Engine:
    return make_engine(db, tmp_path)


@pytest.fixture
def second_sink() -> Iterator[HttpSink]:
    with HttpSink() as sink:
        yield sink
