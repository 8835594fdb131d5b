"""The reused PostgreSQL test databases (``tests.pg_pool``) hold exactly what a new copy of
the migrated template holds, and a database whose schema a test changed is not reused."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.pg_pool import reusable_postgres_url

Rows = dict[str, list[tuple[Any, ...]]]


def contents(url: str) -> tuple[Rows, list[tuple[Any, ...]]]:
    """Every table's rows and every sequence's position."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [t for (t,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]  # fmt: skip
        rows = {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                for t in tables}  # fmt: skip
        sequences = conn.execute(
            "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1"
        ).fetchall()
    return rows, sequences


def name_of(url: str) -> str:
    return make_url(url).database or ""


def test_a_used_database_comes_back_as_the_template_holds_it(postgres_template: str) -> None:
    with reusable_postgres_url(postgres_template) as url:
        fresh = contents(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO \"user\" (id, username, role, disabled, created_at) "
                         "VALUES ('u1', 'left-behind', 'VIEWER', false, now())")  # fmt: skip
            conn.execute("INSERT INTO definition_generation VALUES (2, 41, now())")
            conn.execute("SELECT nextval('audit_log_id_seq')")
            conn.execute("UPDATE definition_generation SET gen = gen + 1 WHERE id = 1")
            open_elsewhere = psycopg.connect(url, autocommit=True)  # a connection left open
        used = name_of(url)
    assert contents(url) == fresh != ({}, [])
    assert fresh[0]["definition_generation"], "the template's own row is put back"
    assert open_elsewhere.closed or open_elsewhere.broken or _is_ended(open_elsewhere)
    with reusable_postgres_url(postgres_template) as again:
        assert name_of(again) == used and contents(again) == fresh


def _is_ended(conn: psycopg.Connection[Any]) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


@pytest.mark.parametrize(
    "change",
    [
        "CREATE TABLE stray (id int)",
        "CREATE INDEX stray_index ON workflow (description)",
        "UPDATE alembic_version SET version_num = 'elsewhere'",
        "ALTER TABLE workflow ALTER COLUMN description SET DEFAULT 'x'",
    ],
)
def test_a_database_whose_schema_changed_is_not_reused(postgres_template: str, change: str) -> None:
    with (
        reusable_postgres_url(postgres_template) as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        conn.execute(change)
    with reusable_postgres_url(postgres_template) as again:
        assert name_of(again) != name_of(url)
        with psycopg.connect(again, autocommit=True) as conn:
            assert conn.execute("SELECT to_regclass('stray')").fetchone() == (None,)
