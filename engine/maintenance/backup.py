"""Backups and restores: pg_dump/pg_restore on PostgreSQL, the online backup API on SQLite.

A backup is written under a temporary name and renamed when whole, so a crash never
leaves a half file under a backup's name; the file format (backup_file.py) lets restore
refuse a truncated or foreign file before touching the database. Restore refuses a
database that already holds workflows or executions unless ``force`` is given.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from engine.config import Settings, data_dir
from engine.db import Database
from engine.maintenance.backup_file import BackupInfo, BackupWriter, payload, verify
from engine.models import utcnow
from engine.security.private_files import ensure_private_dir, ensure_private_sqlite
from engine.workflow_cache.cache import mark_restored

NAME_PREFIX, NAME_SUFFIX = "wfconsole-", ".backup"
STAMP = "%Y%m%dT%H%M%SZ"


class BackupError(Exception):
    """A backup or restore could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    seconds: float
    pruned: tuple[Path, ...] = ()


def backups_dir(settings: Settings) -> Path:
    """Where backups go: ``retention.backups_dir``, else ``<data dir>/backups``."""
    configured = settings.retention.backups_dir
    return Path(configured).expanduser() if configured else data_dir() / "backups"


def backup_name(now: datetime) -> str:
    """A file name that sorts by time: ``wfconsole-20250601T120000Z.backup``."""
    return f"{NAME_PREFIX}{now:{STAMP}}{NAME_SUFFIX}"


def _kind(db: Database) -> str:
    backend = make_url(db.url).get_backend_name()
    if backend not in ("postgresql", "sqlite"):
        raise BackupError(f"backups support PostgreSQL and SQLite, not {backend}")
    return backend


def _sqlite_path(db: Database) -> Path:
    database = make_url(db.url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _libpq(db: Database) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that carries it."""
    url: URL = make_url(db.url).set(drivername="postgresql")
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
        url = url.set(password=None)
    return url.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (it comes with the PostgreSQL client)")
    return path


@contextmanager
def _atomic_output(target: Path) -> Iterator[Path]:
    """A temporary file beside ``target``, renamed onto it only when the block succeeds.

    The file is 0600 (mkstemp) and a directory made for it 0700, as all local data.
    """
    ensure_private_dir(target.parent)
    handle, name = tempfile.mkstemp(prefix=".partial-", dir=target.parent)
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def create_backup(
    db: Database, settings: Settings, *, output: Path | None = None, now: datetime | None = None
) -> BackupResult:
    """Back up the database to ``output`` (default: a timestamped file in backups_dir)."""
    now = now or utcnow()
    target = output or backups_dir(settings) / backup_name(now)
    started = time.perf_counter()
    kind = _kind(db)
    with _atomic_output(target) as partial, partial.open("wb") as out:
        writer = BackupWriter(out, kind)
        if kind == "postgresql":
            _dump_postgres(db, writer)
        else:
            _dump_sqlite(db, writer)
        writer.close()
    pruned: tuple[Path, ...] = ()
    if output is None:
        pruned = tuple(prune_backups(target.parent, settings.retention.backups_days, now=now))
    return BackupResult(target, target.stat().st_size, time.perf_counter() - started, pruned)


def _dump_postgres(db: Database, writer: BackupWriter) -> None:
    url, env = _libpq(db)
    command = [_tool("pg_dump"), "--format=custom", "--compress=6", f"--dbname={url}"]
    # stderr goes to a file: a pipe nobody reads while stdout streams could fill and hang.
    with (
        tempfile.TemporaryFile() as stderr,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env) as process,
    ):
        stdout = process.stdout
        assert stdout is not None
        for chunk in iter(lambda: stdout.read(1 << 20), b""):
            writer.write(chunk)
        process.wait()
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace").strip()
    if process.returncode != 0:
        raise BackupError(f"pg_dump failed: {errors.splitlines()[-1] if errors else 'no output'}")


def _dump_sqlite(db: Database, writer: BackupWriter) -> None:
    source_path = _sqlite_path(db)
    with tempfile.TemporaryDirectory(dir=source_path.parent) as scratch:
        copy_path = Path(scratch) / "copy.db"
        source = sqlite3.connect(source_path)
        copy = sqlite3.connect(copy_path)
        try:
            source.backup(copy)  # consistent even while workers write (online backup API)
        finally:
            copy.close()
            source.close()
        compressor = zlib.compressobj(6)
        with copy_path.open("rb") as raw:
            for chunk in iter(lambda: raw.read(1 << 20), b""):
                writer.write(compressor.compress(chunk))
        writer.write(compressor.flush())


def prune_backups(directory: Path, keep_days: int, *, now: datetime | None = None) -> list[Path]:
    """Delete this tool's backups older than ``keep_days`` (by the time in their name)."""
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    removed = []
    for path in sorted(directory.glob(f"{NAME_PREFIX}*{NAME_SUFFIX}")):
        stamp = path.name[len(NAME_PREFIX) : -len(NAME_SUFFIX)]
        try:
            taken = datetime.strptime(stamp, STAMP).replace(tzinfo=cutoff.tzinfo)
        except ValueError:
            continue  # not named by us: leave it alone
        if taken < cutoff:
            path.unlink()
            removed.append(path)
    return removed


def database_has_data(db: Database) -> bool:
    """Whether the database holds any workflow or execution (restore would replace them)."""
    with db.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        for table in ("workflow", "workflow_execution"):
            if table in tables and conn.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first():
                return True
    return False


def restore_backup(db: Database, path: Path, *, force: bool = False) -> float:
    """Replace the database's contents with the backup at ``path``; returns seconds taken."""
    info = verify(path)
    kind = _kind(db)
    if info.kind != kind:
        raise BackupError(f"{path}: a {info.kind} backup cannot be restored into {kind}")
    if not force and database_has_data(db):
        raise BackupError(
            "the database already holds workflows or executions; "
            "restore replaces them all — add --force to go ahead"
        )
    started = time.perf_counter()
    db.engine.dispose()
    if kind == "postgresql":
        _restore_postgres(db, info)
    else:
        _restore_sqlite(db, info)
    db.engine.dispose()
    mark_restored(db)
    return time.perf_counter() - started


def _restore_postgres(db: Database, info: BackupInfo) -> None:
    url, env = _libpq(db)
    command = [
        _tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
        "--single-transaction", "--exit-on-error", f"--dbname={url}",
    ]  # fmt: skip
    with (
        tempfile.TemporaryFile() as stderr,
        subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, env=env
        ) as process,
    ):
        assert process.stdin is not None
        try:
            for chunk in payload(info):
                process.stdin.write(chunk)
            process.stdin.close()
        except BrokenPipeError:
            pass
        process.wait()
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace").strip()
    if process.returncode != 0:
        last = errors.splitlines()[-1] if errors else "no output"
        raise BackupError(f"pg_restore failed (nothing was changed): {last}")


def _restore_sqlite(db: Database, info: BackupInfo) -> None:
    target = ensure_private_sqlite(_sqlite_path(db))  # restoring may create the database
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        restored_path = Path(scratch) / "restored.db"
        decompressor = zlib.decompressobj()
        with restored_path.open("wb") as out:
            for chunk in payload(info):
                out.write(decompressor.decompress(chunk))
            out.write(decompressor.flush())
        restored = sqlite3.connect(restored_path)
        destination = sqlite3.connect(target)
        try:
            if restored.execute("PRAGMA quick_check").fetchone() != ("ok",):
                raise BackupError(f"{info.path}: the SQLite database inside is damaged")
            restored.backup(destination)
        except sqlite3.DatabaseError as exc:
            raise BackupError(
                f"the SQLite database inside the backup is unreadable: {exc}"
            ) from None
        finally:
            destination.close()
            restored.close()
