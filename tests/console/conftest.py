"""Console fixtures: a seeded SQLite database with fixed timestamps, and app factories.

The root conftest's autouse ``isolated_environment`` already keeps the developer's config
out (no ``$WFCONSOLE_CONFIG``, working directory and XDG data home under ``tmp_path``).
Timestamps and execution ids are fixed so snapshots are stable.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlmodel import col, select
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from engine.config import ConsoleSettings, Settings, load_settings
from engine.db import Database, open_database, session_scope
from engine.models import (
    Workflow,
    WorkflowExecution,
    WorkflowExecutionLog,
    WorkflowExecutionStep,
)
from engine.services.executions import ExecutionRow
from engine.services.workflows import save_document
from tests.conftest import copy_sqlite_file, settings_for_url
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.engine_backend import EngineBackend

BASE_TIME = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
HOSTILE_NAME = "[@click=app.quit]x[/]"
HOSTILE_ERROR = "boom \x1b[2J [red]markup[/red] [@click=app.quit]click me[/]"
DETAIL_ID = "00000000-0000-7000-8000-000000000001"
STATUSES = ("SUCCESS", "FAILED", "RUNNING", "PENDING", "CANCELLED", "SKIPPED")

Settle = Callable[[Pilot[Any]], Awaitable[None]]


def execution_id(number: int) -> str:
    """A fixed, valid execution id."""
    return f"00000000-0000-7000-8000-{number:012d}"


def _definition(name: str, triggers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "triggers": triggers,
        "actions": [
            {"type": "slack", "channel": "#ops", "text": "hello"},
            {"type": "create_task", "title": "Follow up"},
        ],
        **extra,
    }


def seed_workflows(db: Database) -> None:
    """Three workflows, one of them named and described with console markup."""
    save_document(
        db,
        _definition(
            "invoice-alert",
            [
                {"type": "manual"},
                {"type": "event", "event": "invoice.created"},
                {"type": "webhook", "path": "invoice-created"},
            ],
        ),
        actor="tester",
    )
    save_document(
        db,
        _definition("nightly-report", [{"type": "schedule", "cron": "0 2 * * *"}], enabled=False),
        actor="tester",
    )
    save_document(
        db,
        _definition(HOSTILE_NAME, [{"type": "manual"}], description=HOSTILE_NAME),
        actor="tester",
    )


def insert_executions(
    db: Database,
    workflow_name: str,
    count: int,
    *,
    first_number: int,
    newest: datetime,
    status: str = "SUCCESS",
) -> None:
    """``count`` finished executions one minute apart, the newest at ``newest``."""
    with session_scope(db) as session:
        workflow = session.exec(select(Workflow).where(Workflow.name == workflow_name)).one()
        for offset in range(count):
            created = newest - timedelta(minutes=offset)
            session.add(
                WorkflowExecution(
                    id=execution_id(first_number + offset),
                    workflow_id=workflow.id,
                    status=status,
                    trigger_type="event",
                    trigger_data={"n": offset},
                    created_at=created,
                    started_at=created,
                    completed_at=created + timedelta(seconds=1),
                    duration_ms=1000.0,
                    available_at=created,
                )
            )


def seed_executions(db: Database) -> None:
    """One execution of each status per workflow, with counters, steps and log lines."""
    number = 1
    with session_scope(db) as session:
        workflows = session.exec(select(Workflow).order_by(col(Workflow.name))).all()
        for w_index, workflow in enumerate(workflows):
            for s_index, status in enumerate(STATUSES):
                created = BASE_TIME - timedelta(minutes=10 * s_index + w_index)
                final = status not in ("RUNNING", "PENDING")
                error = None
                if status == "FAILED":
                    error = HOSTILE_ERROR if workflow.name == HOSTILE_NAME else "SMTP timeout"
                session.add(
                    WorkflowExecution(
                        id=execution_id(number),
                        workflow_id=workflow.id,
                        status=status,
                        trigger_type="manual" if s_index % 2 else "event",
                        trigger_data={"invoice": {"id": number, "amount": 1250.5}},
                        error=error,
                        created_at=created,
                        started_at=None if status == "PENDING" else created,
                        completed_at=created + timedelta(seconds=2.5) if final else None,
                        duration_ms=2500.0 if final else None,
                        retry_count=2 if status == "FAILED" else 0,
                        available_at=created,
                        worker_id="worker-1" if status != "PENDING" else None,
                    )
                )
                number += 1
            workflow.execution_count = 4
            workflow.success_count = 1
            workflow.failure_count = 1
            workflow.last_execution_at = BASE_TIME - timedelta(minutes=w_index)
            workflow.avg_execution_ms = 2500.0
    _add_steps_and_logs(db, DETAIL_ID)


def _add_steps_and_logs(db: Database, execution: str) -> None:
    with session_scope(db) as session:
        session.add_all(
            [
                WorkflowExecutionStep(
                    execution_id=execution, step_index=0, action_type="slack",
                    status="SUCCESS", result={"ts": "1714564800.000100"}, attempt=1,
                    started_at=BASE_TIME, completed_at=BASE_TIME, duration_ms=120.0,
                ),
                WorkflowExecutionStep(
                    execution_id=execution, step_index=1, action_type="create_task",
                    status="SUCCESS", result={"task_id": 7}, attempt=1,
                    started_at=BASE_TIME, completed_at=BASE_TIME, duration_ms=15.0,
                ),
                WorkflowExecutionLog(
                    execution_id=execution, level="INFO", message="execution started",
                    timestamp=BASE_TIME,
                ),
                WorkflowExecutionLog(
                    execution_id=execution, level="WARNING",
                    message="slack answered \x1b[31mslowly\x1b[0m [b]1.2s[/b]", step_index=0,
                    timestamp=BASE_TIME + timedelta(seconds=1),
                ),
            ]
        )  # fmt: skip


@pytest.fixture
def console_settings(tmp_path: Path) -> Settings:
    """Settings for a SQLite file in the test's working directory (a stable display URL)."""
    return load_settings(environ={"DATABASE_URL": "sqlite:///console.db"})


@pytest.fixture(scope="session")
def seeded_console_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded database, migrated and seeded once per session; ``console_db`` copies it.

    Migrating and seeding took 0.1 s of each console test on a quiet machine and about
    0.3 s under suite load; a file copy takes a few milliseconds. The seed is fixed (ids
    and timestamps), so every copy holds the same data.
    """
    path = tmp_path_factory.mktemp("console-template") / "console.db"
    db = open_database(settings_for_url(f"sqlite:///{path}"))
    seed_workflows(db)
    seed_executions(db)
    db.dispose()  # the last connection's close folds the WAL into the file
    return path


@pytest.fixture
def console_db(
    console_settings: Settings, seeded_console_template: Path, tmp_path: Path
) -> Iterator[Database]:
    """A migrated database holding the seeded workflows and executions (a fresh copy)."""
    copy_sqlite_file(seeded_console_template, tmp_path / "console.db")
    db = open_database(console_settings)
    yield db
    db.dispose()


@pytest.fixture
def backend(console_db: Database, console_settings: Settings) -> EngineBackend:
    """The engine-backed console backend over the seeded database."""
    return EngineBackend(console_db, console_settings)


@pytest.fixture
def make_app(backend: EngineBackend) -> Callable[..., WfConsoleApp]:
    """Build the app; the live refresh is slow unless a test asks otherwise."""

    def build(
        section: str = "executions", refresh_interval: float = 3600.0, **kwargs: Any
    ) -> WfConsoleApp:
        return WfConsoleApp(
            kwargs.pop("backend", backend),
            operator="tester",
            console_settings=ConsoleSettings(refresh_interval=refresh_interval),
            initial_section=section,
            **kwargs,
        )

    return build


async def settle_app(pilot: Pilot[Any]) -> None:
    """Wait until every worker finished and its messages were handled."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def steady_cursors(pilot: Pilot[Any]) -> None:
    """Stop every text cursor on the screen blinking, drawn on. A blinking cursor makes an
    SVG snapshot flaky (one colour more or less by the blink's phase at the picture, which
    a loaded machine shifts); the style update drops lines cached while it was off."""
    for field in pilot.app.screen.query("Input, TextArea"):
        assert isinstance(field, Input | TextArea)
        field.cursor_blink = False
        field.notify_style_update()
        field.refresh()
    await settle_app(pilot)


@pytest.fixture
def snap_compare(snap_compare: Callable[..., bool]) -> Callable[..., bool]:
    """pytest-textual-snapshot's ``snap_compare``, with the text cursors held steady
    (``steady_cursors``) after ``run_before`` and before the picture."""

    def compare(app: Any, *args: Any, run_before: Any = None, **kwargs: Any) -> bool:
        async def before(pilot: Pilot[Any]) -> None:
            if run_before is not None:
                result = run_before(pilot)
                if result is not None:
                    await result
            await steady_cursors(pilot)

        return snap_compare(app, *args, run_before=before, **kwargs)

    return compare


@pytest.fixture
def settle() -> Settle:
    """``await settle(pilot)``: wait for workers and their messages, never sleep."""
    return settle_app


def screen_text(app: WfConsoleApp) -> str:
    """What the terminal shows, as plain text (the export_screenshot path, minus SVG)."""
    console = Console(
        width=app.size.width,
        height=app.size.height,
        file=io.StringIO(),
        record=True,
        legacy_windows=False,
        safe_box=False,
        color_system=None,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


class RecordingBackend:
    """A backend that delegates to another and records every execution-list call."""

    def __init__(self, inner: EngineBackend) -> None:
        self.inner = inner
        self.execution_calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        """Every call other than the recorded ones goes straight to the real backend."""
        return getattr(self.inner, name)

    def list_executions(self, **query: Any) -> list[ExecutionRow]:
        self.execution_calls.append(query)
        return self.inner.list_executions(**query)


@pytest.fixture
def recording_backend(backend: EngineBackend) -> RecordingBackend:
    """The seeded backend, recording execution-list calls."""
    return RecordingBackend(backend)
