"""Plain reads (engine/plain_reads): the database driver's answers are SQLAlchemy's, the
settings they accept are settings ``Settings`` accepts too, and anything else goes the
full way with the same output and the same errors (issue 15: read commands in a blink)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.config import ConfigError, load_settings
from engine.core_tables import WORKFLOW
from engine.db import Database, normalize_url
from engine.demo.seed import seed_demo
from engine.http.health import health_document as full_health_document
from engine.plain_reads import target as target_module
from engine.plain_reads.executions import ExecutionNotFound, iter_executions
from engine.plain_reads.health import database_check
from engine.plain_reads.health import health_document as plain_health_document
from engine.plain_reads.reader import Reader
from engine.plain_reads.target import PLAIN_KEYS, PlainTarget, open_reader, plain_target
from engine.plain_reads.workflows import iter_workflows
from engine.services.executions import ExecutionRow, cursor_of, list_executions
from tests.cli.runner import Cli, runner

W = WORKFLOW.c


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    """``data`` as a TOML file: top-level values first, then one table per section."""
    lines = [f"{key} = {toml_value(v)}" for key, v in data.items() if not isinstance(v, dict)]
    for section, values in data.items():
        if isinstance(values, dict):
            lines.append(f"[{section}]")
            lines.extend(f"{key} = {toml_value(value)}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- which settings a plain read accepts ------------------------------------------------

ACCEPTED = [
    {},
    {"database": {"url": "sqlite:////srv/wf/wfconsole.db"}},
    {"database": {"url": "sqlite:///relative.db", "pool_size": 4, "echo": False, "read_url": ""}},
    {"database": {"url": "postgresql://wf:s3cret@db.internal:5433/wf?sslmode=require"}},
    {"database": {"url": "postgres://wf@db/wf"}},
    {"database": {"url": "postgresql+psycopg://wf@db/wf"}},
    {"queue": {"path": "/srv/wf/queue.db", "name": "blue", "concurrency": 256, "batch_size": 1,
               "embedded_worker": False, "redis_url": "redis://cache:6379/0"}},
    {"console": {"refresh_interval": 0.5}},
    {"console": {"refresh_interval": 3}},
]  # fmt: skip
REFUSED = [
    {"smtp": {"host": "mail.internal"}},  # any other section: Settings validates it
    {"database": {"read_url": "postgresql://replica/wf"}},  # a replica: its own checks
    {"database": {"echo": True}},  # SQL echo is the full engine's
    {"database": {"pool_size": "4"}},  # coerced by Settings: not plain
    {"database": {"pool_size": 0}},  # Settings' error, in its words
    {"database": {"pool_size": True}},
    {"database": {"no_such_key": 1}},
    {"queue": {"concurrency": 257}},
    {"queue": {"signing_key": "k"}},
    {"database": {"url": 5}},
    {"database": {"url": "sqlite://"}},
    {"database": {"url": "sqlite:///:memory:"}},
    {"database": {"url": "sqlite:///file:x.db?mode=ro&uri=true"}},
    {"database": {"url": "sqlite+pysqlite:///x.db"}},
    {"database": {"url": "mysql://db/wf"}},
    {"database": {"url": "postgresql://a@b@db/wf"}},  # read apart by libpq and SQLAlchemy
    {"database": {"url": "postgresql://db/wf#fragment"}},
    {"database": 5},
    {"console": {"refresh_interval": 0}},
    {"console": {"refresh_interval": "2"}},
    {"console": {"refresh_interval": True}},
    {"console": {"refresh_interval": float("inf")}},
]


@pytest.mark.parametrize("data", ACCEPTED)
def test_accepted_settings_are_valid_settings_naming_the_same_database(
    tmp_path: Path, data: dict[str, Any]
) -> None:
    config = write_toml(tmp_path / "c.toml", data)

    found = plain_target(config, environ={})
    settings = load_settings(config, environ={})
    settings_url = normalize_url(settings.database_url)

    assert found is not None
    assert found.console.refresh_interval == settings.console.refresh_interval
    if found.dialect == "sqlite":
        assert settings_url == f"sqlite:///{found.location}"
    else:
        assert settings_url == found.location.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.mark.parametrize("data", REFUSED)
def test_other_settings_go_the_full_way(tmp_path: Path, data: dict[str, Any]) -> None:
    assert plain_target(write_toml(tmp_path / "c.toml", data), environ={}) is None


def test_environment_variables_count_as_the_file_does(tmp_path: Path) -> None:
    url = "postgresql://wf@db/wf"
    found = plain_target(None, environ={"DATABASE_URL": url})
    assert found is not None
    assert (found.dialect, found.location, found.redis_url) == ("postgresql", url, "")
    assert plain_target(None, environ={"WORKFLOW_QUEUE_CONCURRENCY": "3"}) is None  # text
    assert plain_target(None, environ={"SMTP_HOST": "mail"}) is None
    assert plain_target(None, environ={"WFCONSOLE_DATABASE__READ_URL": "postgresql://r/x"}) is None
    assert plain_target(tmp_path / "missing.toml", environ={}) is None  # the full path says so


_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
_VALUES = st.one_of(
    _TEXT,
    _TEXT.map(lambda t: f"sqlite:///{t}"),
    _TEXT.map(lambda t: f"postgresql://{t}"),
    st.integers(min_value=-3, max_value=300),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
_SECTIONS = st.fixed_dictionaries(
    {},
    optional={
        section: st.dictionaries(st.sampled_from(sorted(keys)), _VALUES, max_size=4)
        for section, keys in PLAIN_KEYS.items()
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_SECTIONS)
def test_whatever_a_plain_read_accepts_settings_accept(
    tmp_path: Path, data: dict[str, Any]
) -> None:
    config = write_toml(tmp_path / "c.toml", data)
    if plain_target(config, environ={}) is None:
        return
    try:
        load_settings(config, environ={})
    except ConfigError as exc:  # pragma: no cover - the failure this test looks for
        pytest.fail(f"plain read accepted settings that Settings refuses: {exc}")


# --- the driver reads what SQLAlchemy reads ---------------------------------------------


@pytest.fixture
def seeded(any_db: Database) -> Database:
    seed_demo(any_db, executions=1_300, actor="root")  # more than one 1,000-row page
    with any_db.engine.begin() as conn:  # a paused workflow: its PENDING runs wait
        name = conn.execute(sa.select(W.name).order_by(W.name).limit(1)).scalar_one()
        conn.execute(
            sa.update(WORKFLOW).where(W.name == name)
            .values(paused_at=datetime.now(UTC), override_concurrent=2,
                    override_until=datetime.now(UTC) + timedelta(hours=1))
        )  # fmt: skip
    return any_db


@pytest.fixture
def driver(seeded: Database, tmp_path: Path) -> Iterator[Reader]:
    config = write_toml(tmp_path / "plain.toml", {"database": {"url": seeded.url}})
    found = plain_target(config, environ={})
    assert found is not None
    reader = open_reader(found)
    assert reader is not None
    yield reader
    reader.connection.close()


def reference(db: Database, limit: int, **filters: Any) -> list[ExecutionRow]:
    """``list_executions`` (SQLAlchemy, typed columns) paged by its own cursors."""
    rows: list[ExecutionRow] = []
    while len(rows) < limit:
        after = cursor_of(rows[-1]) if rows else None
        page = list_executions(db, limit=min(1000, limit - len(rows)), after=after, **filters)
        rows += page
        if not page:
            break
    return rows


def first_workflow(db: Database) -> str:
    with db.engine.connect() as conn:
        return str(conn.execute(sa.select(W.name).order_by(W.name).limit(1)).scalar_one())


def test_executions_read_by_the_driver_are_sqlalchemys_rows(
    seeded: Database, driver: Reader
) -> None:
    name = first_workflow(seeded)
    for limit, filters in [
        (1_250, {}),
        (40, {"status": "FAILED"}),
        (40, {"status": "PENDING", "workflow": name}),
        (2_000, {"workflow": name}),
    ]:
        expected = reference(seeded, limit, **filters)
        assert list(iter_executions(driver, limit=limit, **filters)) == expected, filters
    paused = [r for r in reference(seeded, 2_000, workflow=name) if r.status == "PENDING"]
    assert all(r.waiting == "paused" for r in paused)


def test_cursors_resume_without_gap_or_overlap(seeded: Database, driver: Reader) -> None:
    everything = reference(seeded, 5_000)
    middle = everything[1_100].id
    older = list(iter_executions(driver, limit=None, before=middle))
    newer = list(iter_executions(driver, limit=None, after=middle))
    assert older == everything[1_101:]
    assert newer == list(reversed(everything[:1_100]))
    with pytest.raises(ExecutionNotFound):
        list(iter_executions(driver, limit=5, before="' OR '1'='1"))
    assert list(iter_executions(driver, limit=5, workflow="' OR 1=1 --")) == []


def test_workflows_read_by_the_driver_match_the_typed_columns(
    seeded: Database, driver: Reader
) -> None:
    plain = list(iter_workflows(driver))
    with seeded.engine.connect() as conn:
        typed = conn.execute(
            sa.select(W.name, W.enabled, W.triggers, W.actions, W.last_execution_at,
                      W.paused_at, W.override_until).order_by(W.name)
        ).all()  # fmt: skip
    assert [(w.name, w.enabled, w.trigger_types, w.action_count, w.last_execution_at,
             w.paused_at) for w in plain] == [
        (t.name, t.enabled, tuple(x["type"] for x in t.triggers), len(t.actions),
         t.last_execution_at, t.paused_at) for t in typed
    ]  # fmt: skip
    limited = plain[0]
    assert (limited.flow_state, limited.max_concurrent) == ("paused", 2)
    assert limited.override_until == typed[0].override_until
    assert [w.name for w in iter_workflows(driver, limit=2, after=plain[0].name)] == [
        w.name for w in plain[1:3]
    ]
    with Reader.of_engine(seeded.read_engine) as through_engine:
        assert list(iter_workflows(through_engine)) == plain


def test_health_read_by_the_driver_is_the_full_document(seeded: Database, driver: Reader) -> None:
    database, counts = database_check(driver)
    plain = plain_health_document(database, counts, lambda: None)
    full = full_health_document(seeded, lambda: None)
    assert {**plain, "timestamp": None} == {**full, "timestamp": None}
    assert plain["checks"]["workflows"]["total"] > 0


# --- commands: the same output either way, the full way when the plain read cannot -------


@pytest.fixture
def both_ways(
    seeded: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Cli, Cli, list[bool]]:  # fmt: skip
    """A CLI on plain settings, one on settings that need the full path, and whether each
    run got a plain reader."""
    given = {"database": {"url": seeded.url}, "queue": {"path": str(tmp_path / "q.db")}}
    plain = write_toml(tmp_path / "plain.toml", given)
    full = write_toml(tmp_path / "full.toml", {**given, "retention": {"logs_days": 90}})
    return runner(capsys, plain), runner(capsys, full), readers_opened(monkeypatch)


def readers_opened(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """From now on, whether each plain reader asked for opened (appended as it is)."""
    opened: list[bool] = []
    real_open = target_module.open_reader

    def spy(found: PlainTarget) -> Reader | None:
        reader = real_open(found)
        opened.append(reader is not None)
        return reader

    monkeypatch.setattr(target_module, "open_reader", spy)
    return opened


@pytest.mark.parametrize(
    "command",
    [
        ("executions", "list", "--limit", "1100", "--json"),
        ("executions", "list", "--status", "FAILED", "--limit", "7"),
        ("executions", "list", "--all", "--jsonl"),
        ("workflow", "list"),
        ("workflow", "list", "--json"),
        ("health", "--json"),
    ],
)
def test_a_command_prints_the_same_the_plain_way_and_the_full_way(
    both_ways: tuple[Cli, Cli, list[bool]], command: tuple[str, ...]
) -> None:
    plain_cli, full_cli, opened = both_ways
    plain, full = plain_cli(*command), full_cli(*command)
    assert opened == [True]  # the plain settings read plainly; the full ones never tried
    assert (plain.code, plain.err) == (full.code, full.err) == (0, "")
    if command[0] == "health":
        plain_doc, full_doc = json.loads(plain.out), json.loads(full.out)
        assert {**plain_doc, "timestamp": 0} == {**full_doc, "timestamp": 0}
    else:
        assert plain.out == full.out
        assert len(plain.out.splitlines()) > 5


def test_an_unknown_cursor_is_the_same_error_either_way(
    both_ways: tuple[Cli, Cli, list[bool]],
) -> None:
    plain_cli, full_cli, _ = both_ways
    plain = plain_cli("executions", "list", "--before", "nope")
    full = full_cli("executions", "list", "--before", "nope")
    assert plain.code == full.code == 1
    assert plain.err == full.err == "wfconsole: error: no execution with id 'nope'\n"


def test_a_missing_sqlite_file_is_created_by_the_full_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "new" / "wf.db"
    cli = runner(
        capsys, write_toml(tmp_path / "c.toml", {"database": {"url": f"sqlite:///{database}"}})
    )
    outcome = cli("executions", "list", "--json")
    assert (outcome.code, outcome.out, outcome.err) == (0, "[]\n", "")
    assert database.is_file()


def test_a_database_behind_this_version_is_not_read_plainly(
    sqlite_db: Database, tmp_path: Path
) -> None:
    with sqlite_db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0011_older'")
    found = plain_target(
        write_toml(tmp_path / "c.toml", {"database": {"url": sqlite_db.url}}), environ={}
    )
    assert found is not None
    assert open_reader(found) is None


def test_postgres_not_migrated_or_down_gets_the_full_paths_error(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = runner(capsys, write_toml(tmp_path / "a.toml", {"database": {"url": postgres_url}}))
    outcome = empty("executions", "list")
    assert outcome.code == 1
    assert outcome.err.endswith("is not initialised: run 'wfconsole db upgrade'\n")
    down_url = "postgresql://postgres@127.0.0.1:1/none"
    down = runner(capsys, write_toml(tmp_path / "b.toml", {"database": {"url": down_url}}))
    outcome = down("workflow", "list")
    assert outcome.code == 1
    assert outcome.err.startswith("wfconsole: error: cannot connect to postgresql+psycopg://")
    health = down("health", "--json")
    assert health.code == 1
    assert json.loads(health.out)["checks"]["database"]["status"] == "down"
