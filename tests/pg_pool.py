"""Migrated PostgreSQL databases reused from test to test within one test process.

``CREATE DATABASE … TEMPLATE`` costs 0.3 to 0.5 s on the 2-core CI machine, and about 800
tests ask for a fresh migrated database: the biggest share of the suite's set-up time.
A database a test has finished with is emptied instead (its connections ended, every
table but ``alembic_version`` emptied, the template's rows and sequence positions put
back) and handed to the next test — unless the test changed anything but rows: its
schema fingerprint (tables, columns, indexes, constraints, triggers, functions, grants,
schemas, extensions, the database's settings and ``alembic_version``) must equal the
template's, or the database is dropped as before. A database that cannot be emptied is
dropped too. So a test sees exactly what a new copy of the template holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.pg import admin_url, create_database, drop_later

_FINGERPRINT_QUERIES = (
    # The catalogs rather than information_schema.columns and pg_indexes: a third of the
    # time, for the same facts.
    """SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
              pg_get_expr(d.adbin, d.adrelid), a.attnotnull
       FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
       JOIN pg_namespace AS n ON n.oid = c.relnamespace
       LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
         AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       ORDER BY 1, 2, 3""",
    """SELECT n.nspname, c.relname, pg_get_indexdef(c.oid) FROM pg_index AS i
       JOIN pg_class AS c ON c.oid = i.indexrelid
       JOIN pg_namespace AS n ON n.oid = c.relnamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       ORDER BY 1, 2""",
    """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
       FROM pg_constraint AS c JOIN pg_namespace AS n ON n.oid = c.connamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2""",
    "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger "
    "WHERE NOT tgisinternal ORDER BY 1, 2",
    """SELECT n.nspname, p.proname, md5(p.prosrc) FROM pg_proc AS p
       JOIN pg_namespace AS n ON n.oid = p.pronamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3""",
    """SELECT n.nspname, c.relname, c.relkind, c.relpersistence, c.relacl::text,
              c.relrowsecurity
       FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       ORDER BY 1, 2""",
    "SELECT nspname, nspacl::text FROM pg_namespace ORDER BY 1",
    "SELECT extname, extversion FROM pg_extension ORDER BY 1",
    """SELECT setrole, setconfig::text FROM pg_db_role_setting
       WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
       ORDER BY 1""",
    "SELECT datacl::text FROM pg_database WHERE datname = current_database()",
    "SELECT version_num FROM alembic_version ORDER BY 1",
)


@dataclass
class _Template:
    """What a new copy of the template holds beyond its schema."""

    name: str
    fingerprint: str
    tables: list[str]
    """Every table of the public schema but ``alembic_version``."""
    rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
    """The tables the migrations filled: their columns and rows."""
    sequences: list[tuple[str, int, bool]]
    """Every sequence with its ``last_value`` and ``is_called``."""
    free: list[str] = field(default_factory=list)
    """Emptied databases waiting for the next test."""


_templates: dict[str, _Template] = {}


def _connect(database: str) -> psycopg.Connection[tuple[Any, ...]]:
    url = make_url(admin_url()).set(database=database).render_as_string(hide_password=False)
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def _fingerprint(conn: psycopg.Connection[tuple[Any, ...]]) -> str:
    digest = hashlib.sha256()
    with conn.cursor() as cursor:
        cursor.execute(";".join(_FINGERPRINT_QUERIES))  # one round trip, a result each
        while True:
            for row in cursor.fetchall():
                digest.update(repr(row).encode())
            digest.update(b"|")
            if not cursor.nextset():
                break
    return digest.hexdigest()


def _positions(
    conn: psycopg.Connection[tuple[Any, ...]], names: list[str]
) -> list[tuple[str, int, bool]]:
    """Each named sequence's ``last_value`` and ``is_called``, in one query."""
    if not names:
        return []
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("(SELECT {}, {}, last_value, is_called FROM {})").format(
            sql.Literal(index), sql.Literal(name), sql.SQL(name)
        )
        for index, name in enumerate(names)
    )
    rows = conn.execute(sql.SQL("{} ORDER BY 1").format(query)).fetchall()
    return [(name, int(last), bool(called)) for _, name, last, called in rows]


def _sequences(conn: psycopg.Connection[tuple[Any, ...]]) -> list[tuple[str, int, bool]]:
    names = conn.execute(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename)"
        " FROM pg_sequences ORDER BY 1"
    ).fetchall()
    return _positions(conn, [name for (name,) in names])


def _describe(template: str) -> _Template:
    with _connect(template) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'alembic_version' ORDER BY 1"
            )
        ]
        rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
        for table in tables:
            cursor = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
            found = cursor.fetchall()
            if found:
                columns = [column.name for column in cursor.description or ()]
                rows[table] = (columns, found)
        return _Template(template, _fingerprint(conn), tables, rows, _sequences(conn))


def _empty(template: _Template, name: str) -> bool:
    """Empty the database ``name`` back to the template's state; False when it cannot be
    (it is gone, or the test changed more than rows)."""
    try:
        with _connect(name) as conn:
            # The connections a test left open end first (its own is spared).
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if _fingerprint(conn) != template.fingerprint:
                return False
            with conn.transaction():
                # DELETE, not TRUNCATE: the tables hold a test's few rows, and TRUNCATE
                # makes new files for every table and index (0.2 s against 0.01 s).
                # Foreign keys are not checked while the whole database is emptied.
                # Statements without parameters go together, in one round trip.
                conn.execute(
                    sql.SQL("; ").join(
                        [sql.SQL("SET LOCAL session_replication_role = replica")]
                        + [
                            sql.SQL("DELETE FROM {}").format(sql.Identifier(table))
                            for table in template.tables
                        ]
                    )
                )
                for table, (columns, rows) in template.rows.items():
                    insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                        sql.Identifier(table),
                        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                    )
                    with conn.cursor() as cursor:
                        cursor.executemany(insert, rows)
                if template.sequences:
                    conn.execute(
                        sql.SQL("SELECT {}").format(
                            sql.SQL(", ").join(
                                sql.SQL("setval({}, {}, {})").format(
                                    sql.Literal(sequence), sql.Literal(last), sql.Literal(called)
                                )
                                for sequence, last, called in template.sequences
                            )
                        )
                    )
            names = [name for name, _, _ in template.sequences]
            return _positions(conn, names) == template.sequences
    except psycopg.Error:
        return False


@contextmanager
def reusable_postgres_url(template_name: str) -> Iterator[str]:
    """The URL of a database holding exactly what the migrated template holds: an emptied
    one a previous test used, or a new copy. Emptied for the next test afterwards, or
    dropped when that cannot be done."""
    template = _templates.get(template_name)
    if template is None:
        template = _templates[template_name] = _describe(template_name)
    if not template.free:
        url = create_database("wf_test", template=template_name)
        name = make_url(url).database or ""
    else:
        name = template.free.pop()
        url = make_url(admin_url()).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        if _empty(template, name):
            template.free.append(name)
        else:
            drop_later(name)


def drop_free_databases() -> None:
    """Drop the emptied databases (at the end of the test process)."""
    for template in _templates.values():
        while template.free:
            drop_later(template.free.pop())
    _templates.clear()
