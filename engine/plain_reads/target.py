"""Whether a command can read through the driver alone, and the reader that does.

``plain_target`` reads the merged configuration (``engine.config_sources``) without
validating it, and answers only when every key given is one whose check is plain: a
string, a whole number in range, a boolean. Any other key, section or value returns None
and the caller loads ``Settings`` as always, so a bad value gets the same one-line error
naming it. ``tests/test_plain_reads.py`` checks that whatever this accepts, ``Settings``
accepts too and reads the same database.

``open_reader`` connects with ``sqlite3`` or ``psycopg`` and checks that the schema is at
this version's head; a database that is missing, behind, or does not answer returns None,
so the full path creates, migrates or reports it in its own words.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config_sources import data_dir, merged_data
from engine.plain_reads.reader import Dialect, Reader, connect_sqlite
from engine.plain_reads.schema import head_revision


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _empty_text(value: Any) -> bool:
    return value == ""


def _whole(low: int, high: int | None = None) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        return (
            type(value) is int  # a bool is not a whole number here
            and value >= low
            and (high is None or value <= high)
        )

    return check


def _false(value: Any) -> bool:
    return value is False


def _positive_number(value: Any) -> bool:
    return type(value) in (int, float) and 0 < value < math.inf


# The keys a plain read accepts, each with a check no stricter than Settings' own. A
# read replica (``read_url``) and SQL echo go through the full path.
PLAIN_KEYS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "database": {"url": _text, "read_url": _empty_text, "pool_size": _whole(1), "echo": _false},
    "queue": {
        "path": _text,
        "name": _text,
        "redis_url": _text,
        "concurrency": _whole(1, 256),
        "batch_size": _whole(1, 256),
        "embedded_worker": lambda value: isinstance(value, bool),
    },
    "console": {"refresh_interval": _positive_number},
}
DEFAULT_REFRESH_INTERVAL = 2.0
"""``console.refresh_interval``'s default, as ``engine.config.ConsoleSettings`` has it
(a test keeps the two equal)."""
_SQLITE_URL = re.compile(r"^sqlite:///(?P<path>[^?#]+)$")
# One '@' at most, nothing libpq and SQLAlchemy might read apart (spaces, fragments).
_POSTGRES_URL = re.compile(
    r"^(?:postgres|postgresql|postgresql\+psycopg)://(?P<rest>[^\s#@]*@?[^\s#@]*)$"
)


@dataclass(frozen=True)
class PlainConsoleSettings:
    """The console's settings, read plainly (``RefreshSettings`` of the console)."""

    refresh_interval: float = DEFAULT_REFRESH_INTERVAL


@dataclass(frozen=True)
class PlainTarget:
    """Where a plain read connects: a SQLite file or a libpq URI, and the local queue."""

    dialect: Dialect
    location: str
    """The SQLite file's path, or the PostgreSQL URI as libpq reads it."""
    queue_path: Path
    queue_name: str
    redis_url: str
    """Set when the queue runs on Redis (the plain reads do not count it)."""
    console: PlainConsoleSettings = PlainConsoleSettings()


def plain_target(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> PlainTarget | None:
    """The target of a plain read, or None when the settings need the full path."""
    environ = os.environ if environ is None else environ
    try:
        _, data = merged_data(config_path, environ)
    except Exception:  # the full path reports it in its own words
        return None
    for section, values in data.items():
        allowed = PLAIN_KEYS.get(section)
        if allowed is None or not isinstance(values, dict):
            return None
        if any(key not in allowed or not allowed[key](value) for key, value in values.items()):
            return None
    database, queue = data.get("database", {}), data.get("queue", {})
    console = data.get("console", {})
    found = _location(database.get("url", ""))
    if found is None:
        return None
    dialect, location = found
    return PlainTarget(
        dialect=dialect,
        location=location,
        queue_path=Path(queue["path"]) if queue.get("path") else data_dir() / "queue.db",
        queue_name=queue.get("name", "wfconsole"),
        redis_url=queue.get("redis_url", ""),
        console=PlainConsoleSettings(
            float(console.get("refresh_interval", DEFAULT_REFRESH_INTERVAL))
        ),
    )


def _location(url: str) -> tuple[Dialect, str] | None:
    if not url:
        return "sqlite", str(data_dir() / "wfconsole.db")
    sqlite = _SQLITE_URL.match(url)
    if sqlite is not None:
        path = sqlite["path"]
        if path == ":memory:" or path.startswith("file:"):
            return None
        return "sqlite", path
    postgres = _POSTGRES_URL.match(url)
    if postgres is not None:
        return "postgresql", "postgresql://" + postgres["rest"]
    return None


def open_reader(target: PlainTarget) -> Reader | None:
    """A reader on the target's database at this version's schema, or None (see above)."""
    try:
        connection = _connect(target)
    except Exception:  # the full path reports a database that is not there
        return None
    reader = Reader(connection, target.dialect)
    try:
        versions = [row[0] for row in reader.rows("SELECT version_num FROM alembic_version")]
        at_head = versions == [head_revision()]
    except Exception:  # no schema yet, or a schema this version does not read
        at_head = False
    if not at_head:
        connection.close()
        return None
    return reader


def _connect(target: PlainTarget) -> Any:
    if target.dialect == "sqlite":
        if not Path(target.location).is_file():
            raise sqlite3.OperationalError("no database file yet")
        return connect_sqlite(target.location)
    import psycopg

    return psycopg.connect(target.location, autocommit=True, connect_timeout=5)
