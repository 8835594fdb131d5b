"""Throwaway PostgreSQL databases for tests.

``fresh_postgres_url(prefix)`` creates a uniquely named, empty database on the test server
and drops it afterwards. When the server is unreachable the test is skipped — except under
``CI=true``, where PostgreSQL is part of the contract and its absence fails the test.

The server is ``$TEST_POSTGRES_URL`` (an admin connection, default
``postgresql://postgres@127.0.0.1:5432/postgres``). The name deliberately does not start
with ``WFCONSOLE_``: the suite's isolation fixture removes those variables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


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


def _connect() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(admin_url(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        server_unavailable(first_line)
        raise  # unreachable: skip and fail raise


@contextmanager
def fresh_postgres_url(prefix: str = "wf_test") -> Iterator[str]:
    """Create an empty database named ``<prefix>_<unique>``; yield its URL; drop it."""
    name = f"{prefix.lower()}_{os.getpid()}_{uuid.uuid4().hex[:10]}"[:63]
    with _connect() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(admin_url()).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with _connect() as admin:
            # FORCE ends connections a failed test left open (PostgreSQL 13+).
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
