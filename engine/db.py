"""Database engines, sessions and migrations.

A SQLite database is created and migrated on first use; PostgreSQL is migrated only by
``wfconsole db upgrade`` and every other command on an un-migrated one says so. A SQLite
file and the directories made for it are private to their owner (engine/security/private_files.py).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from engine.config import Settings
from engine.plain_reads.health import first_line as first_line
from engine.plain_reads.schema import MIGRATIONS_DIR as MIGRATIONS_DIR
from engine.plain_reads.schema import bare_alembic_config
from engine.plain_reads.schema import head_revision as head_revision
from engine.security.private_files import ensure_private_sqlite
from engine.workflow_cache.cache import SESSION_KEY, WorkflowCache

if TYPE_CHECKING:
    from sqlmodel import Session

    from engine.security.crypto import Vault

# Less free space than this under a SQLite file that failed with an I/O error: a full disk.
_NEARLY_FULL_BYTES = 1 << 20
_PG_DISK_FULL, _PG_IO_ERROR = "53100", "58030"  # SQLSTATE disk_full, io_error


class DatabaseError(Exception):
    """The database is unreachable, unusable or not migrated; the message says what to do."""


def normalize_url(url: str, *, field: str = "database.url") -> str:
    """Accept the URLs users type (``postgresql://``, ``postgres://``) and pick psycopg 3.

    ``field`` names the setting in the error for an unparseable URL.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        make_url(url)
    except ArgumentError:
        raise DatabaseError(f"{field}: not a valid database URL: {redact_url(url)}") from None
    return url


def redact_url(url: str) -> str:
    """The URL with its password hidden, safe to show and log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def is_sqlite(url: str) -> bool:
    """True when the URL names a SQLite database."""
    return url.startswith("sqlite")


def _sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for an in-memory database or a ``file:`` URI."""
    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return None if parsed.query.get("uri") in ("true", "1") else Path(database)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Writers take the lock at BEGIN, so two writers queue on busy_timeout instead of
    # failing with "database is locked" when a read transaction tries to upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, immediate: bool = True
) -> Engine:
    """An engine for the URL with the settings wfconsole relies on.

    On SQLite, ``immediate`` makes every transaction a write transaction from its BEGIN;
    read-only engines pass False so readers never wait on writers (WAL).
    """
    url = normalize_url(url)
    if is_sqlite(url):
        database = _sqlite_file(url)
        if database is not None:
            # 0600 before SQLite opens it: its -wal and -shm files take the database's mode.
            ensure_private_sqlite(database)
        engine = sa.create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size * 2,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not pysqlite, emit BEGIN so BEGIN IMMEDIATE takes effect.
        sa.event.listen(
            engine, "connect", lambda dbapi_conn, _rec: setattr(dbapi_conn, "isolation_level", None)
        )
        if immediate:
            sa.event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return sa.create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per checkout on the hot path. After a server
        # restart the first statement fails, SQLAlchemy invalidates the pool, and the
        # sweeper recovers the execution that statement belonged to.
        pool_recycle=1800,
        connect_args={"connect_timeout": 5},
    )


def _unkeyed_vault() -> Vault:
    from engine.security.crypto import Vault

    return Vault()


class _VaultOnce:
    """A vault made at its first use, once (views of one database share it)."""

    def __init__(self, make: Callable[[], Vault]) -> None:
        self._make = make
        self._vault: Vault | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Vault:
        with self._lock:
            if self._vault is None:
                self._vault = self._make()
            return self._vault


class _LazyVault:
    """``Database.vault``: set to a ``Vault``, or to a function making one at first use.

    Importing ``cryptography`` is a tenth of a small command's start, and only commands
    that store or read a secret need the vault.
    """

    def __get__(self, db: Database | None, owner: type | None = None) -> Vault:
        if db is None:  # the dataclass asks for the default: a vault without keys
            return cast("Vault", _unkeyed_vault)
        once: _VaultOnce = db.__dict__["_vault_once"]
        return once()

    def __set__(self, db: Database, value: Vault | Callable[[], Vault]) -> None:
        make = value if callable(value) else (lambda: value)
        db.__dict__["_vault_once"] = value if isinstance(value, _VaultOnce) else _VaultOnce(make)


@dataclass
class Database:
    """The engines and session factories of one configured database."""

    url: str = field(repr=False)
    """May hold a password: never shown (``display_url`` hides it)."""
    engine: Engine
    read_engine: Engine
    vault: _LazyVault = _LazyVault()
    """Encrypts the secrets stored in definitions (engine/security/crypto.py); made at its
    first use when given as a function (a vault without keys when not given)."""
    has_replica: bool = False
    """True when ``read_engine`` is a read replica (``database.read_url``), which may lag."""
    workflow_cache: WorkflowCache = field(default_factory=WorkflowCache)
    """Current workflows, hooks and listeners by key (engine/workflow_cache/cache.py)."""

    def session(self) -> Session:
        """A read-write session (use as a context manager)."""
        from sqlmodel import Session  # the ORM only for callers that ask for a session

        # The cache rides along so that a workflow change can announce itself on commit.
        info = {SESSION_KEY: self.workflow_cache}
        return Session(self.engine, expire_on_commit=False, info=info)

    def read_session(self) -> Session:
        """A session on the read replica when configured, otherwise the primary."""
        from sqlmodel import Session

        return Session(self.read_engine, expire_on_commit=False)

    @property
    def primary_read_engine(self) -> Engine:
        """For reads that must see the latest commit: the primary when a replica serves
        ``read_engine``; otherwise ``read_engine`` itself (on SQLite, readers that never
        wait on writers)."""
        return self.engine if self.has_replica else self.read_engine

    def on_primary(self) -> Database:
        """This database with its reads on the primary too (read-your-own-writes)."""
        if not self.has_replica:
            return self
        # The same vault, made once (``replace`` would make it to copy it).
        vault = self.__dict__["_vault_once"]
        return replace(self, read_engine=self.engine, has_replica=False, vault=vault)

    @property
    def is_sqlite(self) -> bool:
        """True for the local-first SQLite database."""
        return is_sqlite(self.url)

    @property
    def display_url(self) -> str:
        """The URL with its password hidden."""
        return redact_url(self.url)

    def dispose(self) -> None:
        """Close every pooled connection (of ``on_primary`` views too: they share them)."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        self.workflow_cache.close()


_upgrade_lock = threading.Lock()


def connect_database(settings: Settings) -> Database:
    """Engines for the configured database, without touching its schema."""
    url = normalize_url(settings.database_url)
    pool_size = settings.database.pool_size
    engine = create_db_engine(url, pool_size=pool_size, echo=settings.database.echo)
    read_engine = engine
    if settings.database.read_url:
        read_url = normalize_url(settings.database.read_url, field="database.read_url")
        read_engine = create_db_engine(read_url, pool_size=pool_size)
    elif is_sqlite(url):
        read_engine = create_db_engine(url, pool_size=pool_size, immediate=False)

    def make_vault() -> Vault:
        from engine.security.crypto import Vault

        return Vault.from_settings(settings, is_sqlite=is_sqlite(url))

    return Database(
        url=url,
        engine=engine,
        read_engine=read_engine,
        vault=make_vault,
        has_replica=bool(settings.database.read_url),
        workflow_cache=WorkflowCache.from_settings(settings),
    )


def open_database(settings: Settings, *, migrate: bool | None = None) -> Database:
    """Connect to the configured database; SQLite is migrated on first use.

    ``migrate=None`` means: migrate SQLite automatically, require PostgreSQL to be migrated.
    """
    db = connect_database(settings)
    if migrate is None:
        migrate = db.is_sqlite
    try:
        if migrate:
            with _upgrade_lock:
                if current_revision(db) != head_revision():
                    upgrade(db)
        else:
            require_migrated(db)
    except BaseException:
        db.dispose()  # a caller that tries again later must not pile up engines
        raise
    return db


def alembic_config(db: Database) -> Any:
    """An Alembic Config pointing at the migrations shipped inside the package."""
    config = bare_alembic_config()
    config.attributes["connection_engine"] = db.engine
    return config


def current_revision(db: Database) -> str | None:
    """The revision the database is at, or None when it has never been migrated.

    One query on the primary (through the SQLite reader engine, which takes no write
    lock); a missing ``alembic_version`` table means never migrated.
    """
    try:
        with db.primary_read_engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except sa.exc.DBAPIError as exc:
        if _missing_table(exc):
            return None
        if not isinstance(exc, sa.exc.OperationalError):
            raise
        trouble = disk_trouble(exc, db.url)
        if trouble is not None:  # the server or file answered: it is not a connection problem
            raise DatabaseError(f"database {db.display_url}: {trouble}") from None
        raise DatabaseError(f"cannot connect to {db.display_url}: {first_line(exc)}") from None
    if not rows:
        return None
    return ",".join(sorted(str(row[0]) for row in rows))


def _missing_table(exc: sa.exc.DBAPIError) -> bool:
    orig = exc.orig
    if str(getattr(orig, "sqlstate", "") or "") == "42P01":  # PostgreSQL undefined_table
        return True
    return "no such table" in str(orig)


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    from alembic import command

    try:
        command.upgrade(alembic_config(db), revision)
    except sa.exc.OperationalError as exc:
        trouble = disk_trouble(exc, db.url) or first_line(exc)
        raise DatabaseError(f"cannot migrate {db.display_url}: {trouble}") from None


def require_migrated(db: Database) -> None:
    """Raise DatabaseError when the schema is missing or behind this version."""
    current, head = current_revision(db), head_revision()
    if current is None:
        raise DatabaseError(
            f"database {db.display_url} is not initialised: run 'wfconsole db upgrade'"
        )
    if current != head:
        raise DatabaseError(
            f"database {db.display_url} is at revision {current}, this version needs {head}:"
            " run 'wfconsole db upgrade'"
        )


def disk_trouble(exc: BaseException, url: str | None = None) -> str | None:
    """``disk full: …`` or ``I/O error on …`` when a disk failed the database; else None.

    SQLite says "database or disk is full" when a write finds no room, but only "disk I/O
    error" when a new connection cannot grow its shared-memory file: with (nearly) no
    space left beside the file (``url`` names it) that is a full disk too.
    """
    orig = getattr(exc, "orig", None) or exc
    detail = first_line(exc)
    sqlite_error = str(getattr(orig, "sqlite_errorname", "") or "")
    sqlstate = str(getattr(orig, "sqlstate", "") or "")
    if sqlite_error.startswith("SQLITE_FULL"):
        return f"disk full: no space left for the database file ({detail})"
    if sqlite_error.startswith("SQLITE_IOERR"):
        if _free_bytes_beside(url) < _NEARLY_FULL_BYTES:
            return f"disk full: no space left for the database file ({detail})"
        return f"I/O error on the database file ({detail})"
    if sqlstate == _PG_DISK_FULL:
        return f"disk full on the database server ({detail})"
    if sqlstate == _PG_IO_ERROR:
        return f"I/O error on the database server ({detail})"
    return None


def _free_bytes_beside(url: str | None) -> int:
    """Free bytes in the folder of a SQLite database file (a lot when unknown)."""
    database = make_url(url).database if url and is_sqlite(url) else None
    if not database or database == ":memory:":
        return _NEARLY_FULL_BYTES
    try:
        return shutil.disk_usage(Path(database).expanduser().parent).free
    except OSError:
        return _NEARLY_FULL_BYTES


def storage_failure(exc: BaseException) -> str | None:
    """One line saying what the database reported, when ``exc`` is the database failing.

    A full disk, a lock held too long or a server that went away is the operator's to
    fix, not a bug: the CLI shows this line instead of a traceback. None for other errors.
    """
    import sqlite3

    import psycopg

    # The plain reads (engine/plain_reads) meet the drivers' own errors.
    if isinstance(
        exc, sa.exc.OperationalError | psycopg.OperationalError | sqlite3.OperationalError
    ):
        return disk_trouble(exc) or first_line(exc)
    return None


@contextmanager
def session_scope(db: Database) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with db.session() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


__all__ = [
    "Database",
    "DatabaseError",
    "connect_database",
    "create_db_engine",
    "disk_trouble",
    "open_database",
    "session_scope",
    "storage_failure",
]
