"""Throwaway PostgreSQL databases for tests.

``fresh_postgres_url(prefix)`` creates a uniquely named database on the test server and
drops it afterwards. When the server is unreachable the test is skipped — except under
``CI=true``, where PostgreSQL is part of the contract and its absence fails the test.

The server is ``$TEST_POSTGRES_URL`` (an admin connection, default
``postgresql://postgres@127.0.0.1:5432/postgres``). The name deliberately does not start
with ``WFCONSOLE_``: the suite's isolation fixture removes those variables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

# DROP DATABASE waits for a checkpoint (about half a second); tests need not wait for it.
# Pending drops finish before the interpreter exits.
_dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-drop")


def admin_url() -> str:
    """The admin connection used to create and drop test databases."""
    return os.environ.get("TEST_POSTGRES_URL") or DEFAULT_ADMIN_URL


def in_ci() -> bool:
    """True when the run must not skip tests that need a server."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def server_unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI=true."""
    message = f"PostgreSQL at {make_url(admin_url()).render_as_string()} unavailable: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: PostgreSQL is required)", pytrace=False)
    pytest.skip(message)


def _connect(server: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(server, autocommit=True, connect_timeout=5)


def _drop(server: str, name: str) -> None:
    with _connect(server) as admin:
        # FORCE ends connections a failed test left open (PostgreSQL 13+).
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def create_database(prefix: str = "wf_test", *, template: str | None = None) -> str:
    """Create a database named ``<prefix>_<unique>`` (empty, or a copy of ``template``, a
    database nobody is connected to) and return its URL; the caller drops it."""
    server = admin_url()
    name = f"{prefix.lower()}_{os.getpid()}_{uuid.uuid4().hex[:10]}"[:63]
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    try:
        admin = _connect(server)
    except psycopg.OperationalError as exc:
        server_unavailable((str(exc).strip().splitlines() or [type(exc).__name__])[0])
        raise  # not reached: skip and fail raise
    with admin:
        admin.execute(create)
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_later(name: str) -> None:
    """Drop the database ``name`` in the background (finished before the process exits)."""
    _dropper.submit(_drop, admin_url(), name)


@contextmanager
def fresh_postgres_url(
    prefix: str = "wf_test", *, template: str | None = None, wait_for_drop: bool = False
) -> Iterator[str]:
    """Create a database named ``<prefix>_<unique>``; yield its URL; drop it afterwards.

    The database is empty, or a copy of ``template`` (a database nobody is connected to).
    The drop runs in the background unless ``wait_for_drop``.
    """
    url = create_database(prefix, template=template)
    try:
        yield url
    finally:
        if wait_for_drop:
            _drop(admin_url(), database_name(url))
        else:
            drop_later(database_name(url))


def database_name(url: str) -> str:
    """The database part of a URL from ``fresh_postgres_url``."""
    return make_url(url).database or ""
