"""Alembic environment: runs on SQLite and PostgreSQL alike (batch mode for SQLite)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool
from sqlmodel import SQLModel

import engine.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from engine.access import api_tokens as _api_tokens  # noqa: F401  (REST API bearer tokens)
from engine.actions import record_tables as _records  # noqa: F401  (the create_* actions' tables)
from engine.alerts import models as _alerts  # noqa: F401  (alert history)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    """Emit SQL without a connection (``alembic upgrade --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _foreign_keys(connection: Connection, *, on: bool) -> None:
    """SQLite's foreign-key enforcement, set outside any transaction."""
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def run_migrations_online() -> None:
    """Migrate through the engine wfconsole passes in, or one built from the URL."""
    connectable = config.attributes.get("connection_engine")
    if connectable is None:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
    with connectable.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch operation that rebuilds a table drops the old one; with foreign keys
            # on, SQLite deletes the rows that reference it first (ON DELETE CASCADE: a
            # rebuilt ``workflow`` would take every execution with it). Off for the
            # migration (a no-op inside a transaction: set on the driver's connection before
            # SQLAlchemy begins one), on again after.
            _foreign_keys(connection, on=False)
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=True,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if sqlite:
                _foreign_keys(connection, on=True)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
