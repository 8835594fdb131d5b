"""Fixtures shared by the whole suite: an isolated environment and migrated test databases.

Every test runs in its own working directory with its own data directory and without
the developer's configuration (``$WFCONSOLE_CONFIG``, ``./wfconsole.toml``, ``DATABASE_URL``
and friends), so a test never reads or writes the developer's real database.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import CONFIG_ENV, ENV_PREFIX, LEGACY_ENV, Settings
from engine.db import Database, connect_database, open_database, upgrade
from tests.pg import database_name, fresh_postgres_url


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


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; ``sqlite_db`` copies it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    open_database(settings_for_url(f"sqlite:///{path}")).dispose()
    return path


@pytest.fixture
def sqlite_db(sqlite_url: str, sqlite_template: Path) -> Iterator[Database]:
    """A migrated SQLite database in a temporary file."""
    target = Path(sqlite_url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal"):  # the last connection's close normally folds the WAL in
        if sqlite_template.with_name(sqlite_template.name + suffix).exists():
            shutil.copy(  # with the template's mode (0600), as wfconsole makes its files
                sqlite_template.with_name(sqlite_template.name + suffix),
                target.with_name(target.name + suffix),
            )
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
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated once per session with ``wfconsole db upgrade``'s code.

    ``postgres_db`` copies it (CREATE DATABASE … TEMPLATE) instead of migrating each time.
    """
    with fresh_postgres_url("wf_template", wait_for_drop=True) as url:
        db = connect_database(settings_for_url(url))
        try:
            upgrade(db)
        finally:
            db.dispose()  # a template must have no connections
        yield database_name(url)


@pytest.fixture
def postgres_db(postgres_template: str) -> Iterator[Database]:
    """A fresh PostgreSQL database at the newest migration, dropped afterwards."""
    with fresh_postgres_url("wf_test", template=postgres_template) as url:
        db = connect_database(settings_for_url(url))
        yield db
        db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest) -> Database:
    """Runs the test once on a migrated SQLite database and once on PostgreSQL."""
    db: Database = request.getfixturevalue(f"{request.param}_db")
    return db
