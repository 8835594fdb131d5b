"""Fixtures shared by the whole suite: an isolated environment and migrated test databases.

Every test runs in its own working directory with its own data directory and without
the developer's configuration (``$WFCONSOLE_CONFIG``, ``./wfconsole.toml``, ``DATABASE_URL``
and friends), so a test never reads or writes the developer's real database.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from engine.config import CONFIG_ENV, ENV_PREFIX, LEGACY_ENV, Settings
from engine.db import Database, connect_database, open_database, upgrade
from tests.pg import database_name, fresh_postgres_url
from tests.pg_pool import drop_free_databases, reusable_postgres_url


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the developer's config and data out of the test; return the data home."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    for name in LEGACY_ENV:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name, raising=False)
    data_home = tmp_path / "xdg-data"
    data_home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    monkeypatch.chdir(tmp_path)
    return data_home


def settings_for_url(url: str) -> Settings:
    """Default settings pointing at one database."""
    return Settings.model_validate({"database": {"url": url}})


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'test.db'}"


class _Templates:
    """Migrated databases made once per test process and shared by every test in it.

    Fixtures reach them through ``sqlite_template``/``postgres_template``; helpers that are
    not fixtures (``tests.consumers.deployment``) call ``migrated_sqlite_template()`` and
    ``migrated_postgres_template()``. A migration takes about a second on PostgreSQL and
    0.2 to 0.8 s on SQLite; copying a template takes a few milliseconds (SQLite) or
    0.2 s (PostgreSQL's CREATE DATABASE … TEMPLATE). Removed when the session finishes.
    """

    sqlite_folder: Path | None = None
    postgres: ExitStack | None = None
    postgres_name = ""


def migrated_sqlite_template() -> Path:
    """A SQLite file at the newest migration, made once per process; copy it, never open it."""
    if _Templates.sqlite_folder is None:
        folder = Path(tempfile.mkdtemp(prefix="wf-sqlite-template-"))
        open_database(settings_for_url(f"sqlite:///{folder / 'template.db'}")).dispose()
        _Templates.sqlite_folder = folder
    return _Templates.sqlite_folder / "template.db"


def migrated_postgres_template() -> str:
    """The name of a PostgreSQL database at the newest migration (``wfconsole db upgrade``'s
    code), made once per process; use it as ``fresh_postgres_url(template=…)``."""
    if _Templates.postgres is None:
        stack = ExitStack()
        url = stack.enter_context(fresh_postgres_url("wf_template", wait_for_drop=True))
        try:
            db = connect_database(settings_for_url(url))
            try:
                upgrade(db)
            finally:
                db.dispose()  # a template must have no connections
        except BaseException:
            stack.close()
            raise
        _Templates.postgres, _Templates.postgres_name = stack, database_name(url)
    return _Templates.postgres_name


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collection left alive (gc.freeze): the test modules and the libraries
    they import live to the end of the run, and every full collection walked them again.
    On the console and API tests that was 5-8 % of a test process's CPU time."""
    gc.collect()
    gc.freeze()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove the shared templates and the emptied databases (in each xdist worker, at
    its end)."""
    drop_free_databases()
    if _Templates.sqlite_folder is not None:
        shutil.rmtree(_Templates.sqlite_folder, ignore_errors=True)
        _Templates.sqlite_folder = None
    if _Templates.postgres is not None:
        _Templates.postgres.close()
        _Templates.postgres = None


@pytest.fixture(scope="session")
def sqlite_template() -> Path:
    """A SQLite file migrated once per session; ``sqlite_db`` copies it."""
    return migrated_sqlite_template()


def copy_sqlite_file(template: Path, target: Path) -> None:
    """Copy a SQLite database file (and its WAL, if one was left) to ``target``."""
    for suffix in ("", "-wal"):  # the last connection's close normally folds the WAL in
        if template.with_name(template.name + suffix).exists():
            shutil.copy(  # with the template's mode (0600), as wfconsole makes its files
                template.with_name(template.name + suffix),
                target.with_name(target.name + suffix),
            )


@pytest.fixture
def sqlite_db(sqlite_url: str, sqlite_template: Path) -> Iterator[Database]:
    """A migrated SQLite database in a temporary file."""
    copy_sqlite_file(sqlite_template, Path(sqlite_url.removeprefix("sqlite:///")))
    db = open_database(settings_for_url(sqlite_url))
    yield db
    db.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a new, empty (un-migrated) PostgreSQL database, dropped afterwards.

    Skips when the server is unreachable, fails instead under CI=true (see tests/pg.py).
    """
    with fresh_postgres_url("wf_test") as url:
        yield url


@pytest.fixture(scope="session")
def postgres_template() -> str:
    """A PostgreSQL database migrated once per session with ``wfconsole db upgrade``'s code.

    ``postgres_db`` copies it (CREATE DATABASE … TEMPLATE) instead of migrating each time.
    """
    return migrated_postgres_template()


@pytest.fixture
def postgres_db(postgres_template: str) -> Iterator[Database]:
    """A PostgreSQL database at the newest migration holding what a new one holds: a copy
    of the template, or one an earlier test used, emptied (``tests.pg_pool``)."""
    with reusable_postgres_url(postgres_template) as url:
        db = connect_database(settings_for_url(url))
        yield db
        db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest) -> Database:
    """Runs the test once on a migrated SQLite database and once on PostgreSQL."""
    db: Database = request.getfixturevalue(f"{request.param}_db")
    return db
