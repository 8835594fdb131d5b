"""``database.read_url``: the console's and the API's reads go to the replica, writes and
read-your-own-write paths to the primary.

No real replica is needed: the "replica" is a copy of the primary (CREATE DATABASE …
TEMPLATE) that then gets one more workflow and execution of its own, reached through a
connection with ``default_transaction_read_only=on``. So a read that shows the
replica-only rows was served by the read URL, and a write sent there would fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import InternalError
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from engine.config import ConsoleSettings, Settings
from engine.db import Database, connect_database
from engine.execution.executor import Executor
from engine.http.app import create_app
from engine.maintenance.backup import BackupError
from engine.services.executions import ExecutionNotFound, get_execution
from engine.services.maintenance import restore_database
from engine.services.tokens import create_token
from engine.services.workflows import list_workflows, save_document
from engine.triggers.new_executions import run_workflow
from engine.workers.runtime import Queue
from tests.conftest import settings_for_url
from tests.console.conftest import (
    BASE_TIME,
    insert_executions,
    screen_text,
    seed_executions,
    seed_workflows,
    settle_app,
)
from tests.pg import database_name, fresh_postgres_url
from tests.test_http_hooks import Server
from wfconsole.console.app import WfConsoleApp
from wfconsole.console.backend import ConsoleBackend
from wfconsole.console.engine_backend import EngineBackend
from wfconsole.console.sections import SECTIONS

READ_ONLY = "options=-c%20default_transaction_read_only%3Don"
REPLICA_ONLY = "replica-only"
ACTOR = "tester"  # saved the seeded workflows first: SUPER_ADMIN


@dataclass
class Replicated:
    """A primary, a read-only "replica" holding one more workflow, and the wiring."""

    settings: Settings
    db: Database
    replica_execution: str
    """An execution that exists on the replica only."""
    token: str


def _task_workflow(name: str, **triggers: str) -> dict[str, Any]:
    kinds = [{"type": "manual"}] + [{"type": k, "path": v} for k, v in triggers.items()]
    return {"name": name, "triggers": kinds,
            "actions": [{"type": "create_task", "title": "check"}]}  # fmt: skip


@pytest.fixture
def replicated(postgres_template: str, tmp_path: Path) -> Iterator[Replicated]:
    with fresh_postgres_url("wf_primary", template=postgres_template) as primary_url:
        seed = connect_database(settings_for_url(primary_url))
        seed_workflows(seed)
        seed_executions(seed)
        token = create_token(seed, actor=ACTOR, name="replica-test").token
        seed.dispose()  # a template must have no connections
        with fresh_postgres_url("wf_replica", template=database_name(primary_url)) as replica:
            settings = Settings.model_validate({
                "database": {"url": primary_url, "read_url": f"{replica}?{READ_ONLY}"},
                "queue": {"path": str(tmp_path / "queue.db")},
            })  # fmt: skip
            marker = connect_database(settings_for_url(replica))
            save_document(marker, _task_workflow(REPLICA_ONLY), actor=ACTOR)
            [execution] = run_workflow(marker, Queue(settings), REPLICA_ONLY, actor=ACTOR)
            marker.dispose()
            db = connect_database(settings)
            yield Replicated(settings, db, execution, token)
            db.dispose()


def names(workflows: list[Any]) -> set[str]:
    return {w.name for w in workflows}


def test_the_read_url_refuses_writes(replicated: Replicated) -> None:
    with (
        pytest.raises(InternalError, match="read-only transaction"),
        replicated.db.read_engine.begin() as conn,
    ):
        conn.execute(sa.text("UPDATE workflow SET priority = 1"))


# --- the console -------------------------------------------------------------------------


def backend_reads(r: Replicated) -> dict[str, Callable[[EngineBackend], object]]:
    """Every read of the console backend, called as the screens call it."""
    marked, since = [r.replica_execution], BASE_TIME - timedelta(days=1)
    return {
        "describe": lambda b: b.describe(),
        "list_workflows": lambda b: names(b.list_workflows()),
        "list_executions": lambda b: {row.workflow for row in b.list_executions()},
        "preview_retry": lambda b: b.preview_retry(marked).unchanged,
        "preview_cancel": lambda b: b.preview_cancel(marked).changes,
        "get_execution": lambda b: b.get_execution(r.replica_execution).row.workflow,
        "diff_executions": lambda b: (
            b.diff_executions(r.replica_execution, r.replica_execution).left.workflow
        ),
        "schedule_board": lambda b: [s.trigger.workflow for s in b.schedule_board()],
        "failure_clusters": lambda b: len(b.failure_clusters(since=since)),
        "failure_cluster_ids": lambda b: b.failure_cluster_ids(
            b.failure_clusters(since=since)[0].key, since=since
        ),
        "executions_by_ids": lambda b: [row.workflow for row in b.executions_by_ids(marked)],
        "dashboard_metrics": lambda b: b.dashboard_metrics(now=BASE_TIME).health.ok,
        "health": lambda b: b.health().ok,
        "health_checks": lambda b: b.health_checks()["status"],
        "queue_report": lambda b: b.queue_report() is not None,
        "list_alerts": lambda b: b.list_alerts(),
        "count_workflow_executions": lambda b: b.count_workflow_executions(REPLICA_ONLY),
        "workflow_schedules": lambda b: b.workflow_schedules("nightly-report"),
        "workflow_document": lambda b: b.workflow_document(REPLICA_ONLY)["name"],
        "list_workflow_versions": lambda b: len(b.list_workflow_versions(REPLICA_ONLY)),
        "diff_workflow_versions": lambda b: b.diff_workflow_versions(REPLICA_ONLY, 1, None).lines,
        "maintenance_overview": lambda b: b.maintenance_overview().database_kind,
        "preview_cleanup": lambda b: b.preview_cleanup().executions,
        "held_summary": lambda b: b.held_summary(REPLICA_ONLY).workflow,
        "paused_workflows": lambda b: b.paused_workflows(),
        "workflow_limits": lambda b: b.workflow_limits(REPLICA_ONLY).workflow,
        "destination_board": lambda b: b.destination_board(window="24h"),
        "preview_release": lambda b: b.preview_release("hooks.example.com").runs,
    }


PRIMARY_CALLS = {
    "user_role", "retry_executions", "cancel_executions", "save_workflow",
    "set_workflow_enabled", "delete_workflow", "run_workflow", "roll_back_workflow",
    "run_cleanup", "vacuum_database", "backup_database", "restore_database",
    "flush_stale_locks", "backfill_schedule", "replay_executions",
    "pause_workflow", "resume_workflow", "set_workflow_limit", "clear_workflow_limit",
    "hold_destination", "release_destination",
}  # fmt: skip
LOCAL_CALLS = {"saved_views"}
"""Calls that read no database: the operator's own views file."""


def test_every_backend_call_is_either_a_replica_read_or_a_primary_call(
    replicated: Replicated,
) -> None:
    declared = {n for n, v in vars(ConsoleBackend).items() if callable(v) and n[0] != "_"}
    assert declared == set(backend_reads(replicated)) | PRIMARY_CALLS | LOCAL_CALLS


def test_every_console_read_works_on_the_read_only_replica_and_shows_its_rows(
    replicated: Replicated,
) -> None:
    backend = EngineBackend(replicated.db, replicated.settings)
    seen: dict[str, Any] = {name: read(backend) for name, read in backend_reads(replicated).items()}

    assert REPLICA_ONLY in seen["list_workflows"]
    assert REPLICA_ONLY in seen["list_executions"]
    assert seen["get_execution"] == seen["diff_executions"] == REPLICA_ONLY
    assert seen["schedule_board"] == ["nightly-report"]
    assert seen["executions_by_ids"] == [REPLICA_ONLY]
    assert seen["count_workflow_executions"] == 1
    assert (seen["workflow_document"], seen["list_workflow_versions"]) == (REPLICA_ONLY, 1)
    assert (seen["preview_retry"], seen["preview_cancel"]) == ({"PENDING": 1}, 1)
    assert seen["health"] is True and seen["dashboard_metrics"] is True
    assert seen["health_checks"] == "healthy"
    assert seen["failure_clusters"] > 0 and seen["failure_cluster_ids"]
    assert seen["held_summary"] == seen["workflow_limits"] == REPLICA_ONLY
    assert (seen["paused_workflows"], seen["destination_board"]) == ([], [])
    assert seen["preview_release"] == 0


def test_console_writes_go_to_the_primary_which_it_then_reads_for_a_while(
    replicated: Replicated,
) -> None:
    db, settings = replicated.db, replicated.settings
    backend = EngineBackend(db, settings, queue=Queue(settings, db=db))

    [started] = backend.run_workflow("invoice-alert", {"n": 1}, actor=ACTOR)
    assert [c.outcome for c in backend.cancel_executions([started], actor=ACTOR)] == ["cancelled"]
    assert backend.retry_executions([started], actor=ACTOR) == [started]
    assert backend.set_workflow_enabled("invoice-alert", False, actor=ACTOR) is True

    # Right after its own changes the console reads the primary: they show at once.
    assert backend.get_execution(started).row.status == "PENDING"
    shown = {w.name: w.enabled for w in backend.list_workflows()}
    assert shown["invoice-alert"] is False and REPLICA_ONLY not in shown
    # The replica never saw them (it is another database here: "infinite lag")...
    with pytest.raises(ExecutionNotFound):
        get_execution(db, started)
    # ...and once the window is over the console reads the replica again.
    backend.deployment.primary_until = float("-inf")
    assert {w.name: w.enabled for w in backend.list_workflows()}["invoice-alert"] is True
    assert REPLICA_ONLY in names(backend.list_workflows())


def test_console_flow_changes_go_to_the_primary_and_show_at_once(replicated: Replicated) -> None:
    db, settings = replicated.db, replicated.settings
    backend = EngineBackend(db, settings, queue=Queue(settings, db=db))

    backend.pause_workflow("invoice-alert", for_="1h", actor=ACTOR)
    backend.set_workflow_limit("invoice-alert", concurrency="2", rate=None, for_=None, actor=ACTOR)
    backend.hold_destination("hooks.example.com", for_=None, actor=ACTOR)
    assert backend.held_summary("invoice-alert").paused
    assert [p.workflow for p in backend.paused_workflows()] == ["invoice-alert"]
    assert backend.workflow_limits("invoice-alert").concurrency == 2
    assert [f.destination for f in backend.destination_board(window="5m")] == ["hooks.example.com"]
    backend.deployment.primary_until = float("-inf")  # the replica saw none of it
    assert not backend.held_summary("invoice-alert").paused
    assert backend.destination_board(window="5m") == []

    assert backend.resume_workflow("invoice-alert", catch_up="skip", actor=ACTOR).was_paused
    assert backend.clear_workflow_limit("invoice-alert", actor=ACTOR).concurrency is None
    assert backend.release_destination("hooks.example.com", actor=ACTOR).was_held
    assert backend.paused_workflows() == [] and backend.destination_board(window="5m") == []


class CheckedBackend:
    """Delegates to a backend and keeps every error a screen's call raised."""

    def __init__(self, inner: EngineBackend) -> None:
        self.inner, self.failures = inner, list[str]()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                self.failures.append(f"{name}: {exc}")
                raise

        return checked


async def test_every_console_section_loads_from_the_replica(replicated: Replicated) -> None:
    backend = CheckedBackend(EngineBackend(replicated.db, replicated.settings))
    app = WfConsoleApp(
        backend,
        operator=ACTOR,
        console_settings=ConsoleSettings(refresh_interval=3600.0),
        initial_section="dashboard",
    )
    shown = {}
    async with app.run_test(size=(160, 48)) as pilot:
        for section in SECTIONS:
            await pilot.press(section.key)
            await settle_app(pilot)
            shown[section.mode] = screen_text(app)
    assert backend.failures == []
    assert REPLICA_ONLY in shown["workflows"] and REPLICA_ONLY in shown["executions"]


# --- the API, /health and /metrics ----------------------------------------------------------


def get_paths(r: Replicated) -> dict[str, str]:
    """A request path for every GET route of ``wfconsole serve``."""
    return {
        "/health": "/health",
        "/metrics": "/metrics",
        "/api/openapi.json": "/api/openapi.json",
        "/api/workflows": "/api/workflows",
        "/api/workflows/{name}": f"/api/workflows/{REPLICA_ONLY}",
        "/api/workflows/{name}/flow": f"/api/workflows/{REPLICA_ONLY}/flow",
        "/api/executions": "/api/executions?limit=100",
        "/api/executions/{id}": f"/api/executions/{r.replica_execution}",
        # Compared with itself: both sides exist only on the replica.
        "/api/executions/{id}/diff": (
            f"/api/executions/{r.replica_execution}/diff?against={r.replica_execution}"
        ),
        "/api/schedules": "/api/schedules",
        "/api/destinations": "/api/destinations",
    }


def served_get_routes(app: Starlette) -> set[str]:
    found = set()
    for route in app.routes:
        prefix, routes = (route.path, route.routes) if isinstance(route, Mount) else ("", [route])
        for inner in routes:
            if isinstance(inner, Route) and "GET" in (inner.methods or ()):
                found.add(prefix + inner.path)
    return found - {"/api/{rest:path}"}


def test_every_get_route_is_served_by_the_replica(replicated: Replicated) -> None:
    r = replicated
    with Server(r.settings, r.db) as server:
        assert served_get_routes(create_app(server.receiver)) == set(get_paths(r))
        auth = {"Authorization": f"Bearer {r.token}"}
        answers = {
            route: httpx.get(server.base + path, headers=auth, timeout=20)
            for route, path in get_paths(r).items()
        }
    assert {route: a.status_code for route, a in answers.items()} == dict.fromkeys(answers, 200)
    assert REPLICA_ONLY in {w["name"] for w in answers["/api/workflows"].json()["workflows"]}
    assert answers["/api/workflows/{name}"].json()["definition"]["name"] == REPLICA_ONLY
    assert REPLICA_ONLY in {e["workflow"] for e in answers["/api/executions"].json()["executions"]}
    assert answers["/api/executions/{id}"].json()["workflow"] == REPLICA_ONLY
    on_primary = len(list_workflows(r.db.on_primary()))
    assert answers["/health"].json()["checks"]["workflows"]["total"] == on_primary + 1
    assert f"wfconsole_workflows {on_primary + 1}.0" in answers["/metrics"].text


def test_what_was_just_written_is_found_on_the_primary(replicated: Replicated) -> None:
    """A run through the API, a hook saved a moment ago and the executor's definition
    look-up all read the primary: the replica here never sees them."""
    r = replicated
    save_document(r.db, _task_workflow("primary-only", webhook="fresh-hook"), actor=ACTOR)
    auth = {"Authorization": f"Bearer {r.token}"}
    with Server(r.settings, r.db) as server:
        ran = httpx.post(f"{server.base}/api/workflows/primary-only/run", headers=auth)
        assert ran.status_code == 202, ran.text
        [started] = ran.json()["executions"]
        fetched = httpx.get(f"{server.base}/api/executions/{started}", headers=auth)
        hooked = server.post("fresh-hook", b"{}", **{"Content-Type": "application/json"})
        listed = httpx.get(f"{server.base}/api/executions?workflow=primary-only", headers=auth)
    assert fetched.status_code == 200 and fetched.json()["status"] == "PENDING"
    assert hooked.status_code == 202, hooked.text
    assert listed.json()["executions"] == []  # lists are the replica's, lag and all
    assert Executor(r.db, r.settings, "replica-test").run(started).status == "SUCCESS"


def test_health_is_down_when_the_primary_is_down_even_if_the_replica_answers(
    replicated: Replicated,
) -> None:
    r = replicated
    dead = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    broken = Database(url=r.db.url, engine=dead, read_engine=r.db.read_engine, has_replica=True)
    health = EngineBackend(broken, r.settings).health()
    assert not health.database.ok and health.database.detail.startswith("primary: ")


def test_restore_counts_the_runs_running_on_the_primary(
    replicated: Replicated, tmp_path: Path
) -> None:
    """The "no restore while RUNNING" guard must not trust a replica that lags."""
    r = replicated
    with r.db.read_engine.connect() as conn:
        on_replica = conn.execute(
            sa.text("SELECT count(*) FROM workflow_execution WHERE status = 'RUNNING'")
        ).scalar_one()
    insert_executions(r.db, "invoice-alert", 1, first_number=9001, newest=BASE_TIME,
                      status="RUNNING")  # fmt: skip

    with pytest.raises(BackupError, match=rf"^{on_replica + 1} execution\(s\) are RUNNING"):
        restore_database(r.db, tmp_path / "never-read.backup", actor=ACTOR)


# --- SQLite, no read_url ----------------------------------------------------------------


def test_sqlite_without_read_url_reads_and_writes_one_database(sqlite_db: Database) -> None:
    seed_workflows(sqlite_db)
    settings = settings_for_url(sqlite_db.url)
    backend = EngineBackend(sqlite_db, settings)
    assert not sqlite_db.has_replica and sqlite_db.on_primary() is sqlite_db
    assert backend.set_workflow_enabled("invoice-alert", False, actor=ACTOR) is True
    backend.deployment.primary_until = float("-inf")
    assert {w.name: w.enabled for w in backend.list_workflows()}["invoice-alert"] is False
