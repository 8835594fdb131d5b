"""The lightweight Core tables read fast paths use agree with the SQLModel tables, and
the schema-revision check that every command runs reads no migration module."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

import engine.alerts.models  # registers alert_event
import engine.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from engine import core_tables
from engine.db import Database, current_revision, head_revision
from engine.models import ExecutionStatus
from engine.plain_reads.schema import _alembic_head


def _family(kind: sa.types.TypeEngine[object]) -> type[sa.types.TypeEngine[object]]:
    """What a column's values look like in Python: the type a decorator stands for."""
    implementation = kind.impl if isinstance(kind, sa.TypeDecorator) else kind
    return type(implementation).__mro__[
        next(
            i for i, cls in enumerate(type(implementation).__mro__)
            if cls.__module__ == "sqlalchemy.sql.sqltypes"
        )
    ]  # fmt: skip


def test_every_lightweight_column_exists_in_the_model_with_the_same_type() -> None:
    for light in core_tables.ALL:
        model = SQLModel.metadata.tables[light.name]
        for column in light.columns:
            assert column.name in model.c, f"{light.name}.{column.name} is not in the model"
            modelled = model.c[column.name].type
            assert issubclass(_family(modelled), _family(column.type)) or issubclass(
                _family(column.type), _family(modelled)
            ), f"{light.name}.{column.name}: {modelled!r} vs {column.type!r}"


def test_timestamps_are_aware_utc_like_the_models() -> None:
    for light in core_tables.ALL:
        model = SQLModel.metadata.tables[light.name]
        for column in light.columns:
            if type(model.c[column.name].type).__name__ == "UTCDateTime":
                assert isinstance(column.type, core_tables.UTCDateTime), column


def test_statuses_are_the_models_statuses() -> None:
    assert tuple(status.value for status in ExecutionStatus) == core_tables.STATUSES


def test_head_read_from_the_revision_files_is_alembics_head() -> None:
    assert head_revision() == _alembic_head()


def test_a_new_sqlite_file_has_no_revision_and_a_migrated_one_the_head(
    tmp_path: object, sqlite_db: Database
) -> None:
    assert current_revision(sqlite_db) == head_revision()
    empty = sa.create_engine(f"sqlite:///{tmp_path}/empty.db")
    bare = Database(url=str(empty.url), engine=empty, read_engine=empty)
    try:
        assert current_revision(bare) is None
    finally:
        bare.dispose()


def test_tables_written_through_core_name_every_column_of_the_model() -> None:
    # The heartbeat and the cache generation write through these: a column added to the
    # model must be added here too, or its inserts would leave it out.
    for light in (core_tables.WORKER_HEARTBEAT, core_tables.DEFINITION_GENERATION):
        model = SQLModel.metadata.tables[light.name]
        assert {c.name for c in light.columns} == {c.name for c in model.columns}, light.name
