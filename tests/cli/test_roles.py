"""Every CLI command that changes something checks the operator's stored role, as the
console does, and leaves an audit row saying who did what when.

For each command: a role one step too low is refused with one line on stderr, exit 1,
and nothing in the database changes; then the lowest role that may do it succeeds and
its audit row names the operator.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.access.api_tokens import ApiToken
from engine.alerts.models import AlertEvent
from engine.db import Database, open_database
from engine.maintenance.backup import create_backup
from engine.models import (
    AuditLog,
    DestinationState,
    Role,
    User,
    Workflow,
    WorkflowExecution,
    table_of,
    utcnow,
)
from engine.services.tokens import create_token
from engine.services.workflow_admin import set_enabled
from engine.services.workflows import save_document
from tests.api_client import PEOPLE, ROOT, set_role
from tests.cli.runner import Outcome, runner, write_config
from tests.conftest import settings_for_url
from tests.console.conftest import execution_id, insert_executions

FAILED, PENDING = execution_id(1), execution_id(2)


@dataclass(frozen=True)
class Seeded:
    """A database with one user per role, a workflow, a FAILED and a PENDING run."""

    db: Database
    tmp_path: Path
    config: Path
    root_token: int


def _flow(name: str) -> dict[str, object]:
    return {"name": name, "triggers": [{"type": "manual"}, {"type": "event", "event": "go"}],
            "actions": [{"type": "create_task", "title": "check"}]}  # fmt: skip


@pytest.fixture
def seeded(sqlite_db: Database, tmp_path: Path) -> Seeded:
    for role, person in [(Role.SUPER_ADMIN, ROOT), *PEOPLE.items()]:  # root first: the owner
        set_role(sqlite_db, person, role)
    save_document(sqlite_db, _flow("flow"), actor=ROOT)
    newest = utcnow() - timedelta(minutes=5)
    insert_executions(sqlite_db, "flow", 1, first_number=1, newest=newest, status="FAILED")
    insert_executions(sqlite_db, "flow", 1, first_number=2, newest=newest, status="PENDING")
    token = create_token(sqlite_db, actor=ROOT, name="root's own").info.id
    config = tmp_path / "wf.toml"
    config.write_text(
        f"[database]\nurl = {json.dumps(sqlite_db.url)}\n"
        f"[queue]\npath = {json.dumps(str(tmp_path / 'queue.db'))}\n"
        '[alerts]\nrules = ["no_worker"]\nno_worker = "always"\n',
        encoding="utf-8",
    )
    return Seeded(sqlite_db, tmp_path, config, token)


def _import_file(s: Seeded) -> list[str]:
    path = s.tmp_path / "imported.json"
    path.write_text(json.dumps(_flow("imported")), encoding="utf-8")
    return ["workflow", "import", str(path)]


def _enable(s: Seeded) -> list[str]:
    set_enabled(s.db, "flow", False, actor=ROOT)
    return ["workflow", "enable", "flow"]


def _flush_locks(s: Seeded) -> list[str]:
    """A RUNNING execution whose lease ran out an hour ago, held by no live worker."""
    executions = table_of(WorkflowExecution)
    with s.db.engine.begin() as conn:
        conn.execute(
            sa.update(executions)
            .where(executions.c.id == PENDING)
            .values(status="RUNNING", lease_until=utcnow() - timedelta(hours=1), worker_id="gone")
        )
    return ["maintenance", "flush-locks"]


def _restore(s: Seeded) -> list[str]:
    path = s.tmp_path / "before.backup"
    create_backup(s.db, settings_for_url(s.db.url), output=path)
    return ["maintenance", "restore", str(path), "--force"]


def _backfill(s: Seeded) -> list[str]:
    """An hourly schedule that has not run: three fire times to backfill."""
    document = {"name": "hourly", "triggers": [{"type": "schedule", "cron": "0 * * * *"}],
                "actions": [{"type": "create_task", "title": "tick"}]}  # fmt: skip
    save_document(s.db, document, actor=ROOT)
    return ["schedules", "backfill", "hourly", "--since", "3h"]


def _leaver(s: Seeded) -> list[str]:
    set_role(s.db, "leaver", Role.OPERATOR)
    return ["user", "remove", "leaver", "--yes"]


def _paused(s: Seeded) -> list[str]:
    from engine.services.flow_control import pause

    pause(s.db, "flow", actor=ROOT)
    return ["workflow", "resume", "flow", "--catch-up", "skip"]


def _held(s: Seeded) -> list[str]:
    from engine.services.destinations import hold

    hold(s.db, "hooks.example.com", actor=ROOT)
    return ["destinations", "release", "hooks.example.com"]


@dataclass(frozen=True)
class Case:
    """One changing command, the role it needs and the audit action it writes."""

    command: Callable[[Seeded], list[str]]
    needs: Role
    action: str


CASES = {
    "workflow import": Case(_import_file, Role.ADMIN, "workflow.create"),
    "workflow enable": Case(_enable, Role.ADMIN, "workflow.enable"),
    "workflow disable": Case(lambda s: ["workflow", "disable", "flow"], Role.ADMIN,
                             "workflow.disable"),
    "workflow delete": Case(lambda s: ["workflow", "delete", "flow", "--yes"], Role.ADMIN,
                            "workflow.delete"),
    "run": Case(lambda s: ["run", "flow"], Role.OPERATOR, "workflow.run"),
    "event": Case(lambda s: ["event", "go"], Role.OPERATOR, "event.emit"),
    "executions retry": Case(lambda s: ["executions", "retry", FAILED], Role.OPERATOR,
                             "execution.retry"),
    "executions cancel": Case(lambda s: ["executions", "cancel", PENDING], Role.OPERATOR,
                              "execution.cancel"),
    "cleanup": Case(lambda s: ["cleanup"], Role.ADMIN, "maintenance.cleanup"),
    "maintenance vacuum": Case(lambda s: ["maintenance", "vacuum"], Role.ADMIN,
                               "maintenance.vacuum"),
    "maintenance backup": Case(
        lambda s: ["maintenance", "backup", "-o", str(s.tmp_path / "b.backup")], Role.ADMIN,
        "maintenance.backup",
    ),
    "maintenance flush-locks": Case(_flush_locks, Role.ADMIN, "maintenance.flush_locks"),
    "maintenance restore": Case(_restore, Role.ADMIN, "maintenance.restore"),
    "alerts check": Case(lambda s: ["alerts", "check"], Role.OPERATOR, "alerts.check"),
    "schedules backfill": Case(_backfill, Role.OPERATOR, "schedule.backfill"),
    "executions replay": Case(lambda s: ["executions", "replay", FAILED], Role.OPERATOR,
                              "execution.replay"),
    "token create": Case(
        lambda s: ["token", "create", "--name", "ci", "--for-user", PEOPLE[Role.VIEWER]],
        Role.SUPER_ADMIN, "token.create",
    ),
    "token revoke": Case(lambda s: ["token", "revoke", str(s.root_token)], Role.SUPER_ADMIN,
                         "token.revoke"),
    "secrets rotate": Case(lambda s: ["secrets", "rotate"], Role.SUPER_ADMIN, "secrets.rotate"),
    "user add": Case(lambda s: ["user", "add", "newcomer", "--role", "OPERATOR"],
                     Role.SUPER_ADMIN, "user.add"),
    "user set-role": Case(lambda s: ["user", "set-role", PEOPLE[Role.VIEWER], "OPERATOR"],
                          Role.SUPER_ADMIN, "user.set_role"),
    "user remove": Case(_leaver, Role.SUPER_ADMIN, "user.remove"),
    "demo": Case(lambda s: ["demo", "--executions", "5", "--no-open", "--force"], Role.ADMIN,
                 "demo.seed"),
    "workflow pause": Case(lambda s: ["workflow", "pause", "flow", "--for", "1h"],
                           Role.OPERATOR, "workflow.pause"),
    "workflow resume": Case(_paused, Role.OPERATOR, "workflow.resume"),
    "workflow limit": Case(lambda s: ["workflow", "limit", "flow", "--concurrency", "2"],
                           Role.ADMIN, "workflow.limit"),
    "destinations hold": Case(lambda s: ["destinations", "hold", "hooks.example.com:8443",
                                         "--for", "10m"], Role.OPERATOR, "destination.hold"),
    "destinations release": Case(_held, Role.OPERATOR, "destination.release"),
}  # fmt: skip
ROLES = list(Role)


def state(db: Database) -> dict[str, object]:
    """What any of the commands could change."""
    with db.engine.connect() as conn:

        def rows(table: sa.Table, *columns: str) -> list[tuple[object, ...]]:
            query = sa.select(*(table.c[c] for c in columns)).order_by(
                *(table.c[c] for c in columns)
            )
            return [tuple(row) for row in conn.execute(query)]

        return {
            "audit": rows(table_of(AuditLog), "id", "action"),
            "workflows": rows(table_of(Workflow), "name", "enabled", "version"),
            "executions": rows(table_of(WorkflowExecution), "id", "status", "retry_count"),
            "alerts": rows(table_of(AlertEvent), "id"),
            "tokens": rows(table_of(ApiToken), "id", "revoked_at"),
            "users": rows(table_of(User), "username", "role", "disabled"),
            "destinations": rows(table_of(DestinationState), "destination", "held_at"),
        }


def audit_rows(db: Database, action: str, *, after_id: int) -> list[tuple[str, datetime]]:
    """(actor, timestamp) of the ``action`` rows written after row ``after_id``."""
    audit = table_of(AuditLog)
    query = sa.select(audit.c.actor, audit.c.timestamp).where(
        audit.c.action == action, audit.c.id > after_id
    )
    with db.engine.connect() as conn:
        return [(row.actor, row.timestamp) for row in conn.execute(query)]


def test_the_matrix_covers_every_changing_command() -> None:
    from wfconsole.cli import build_parser

    commands = set()
    for name, parser in _subcommands(build_parser()):
        subs = list(_subcommands(parser))
        commands |= {f"{name} {sub}" for sub, _ in subs} if subs else {name}
    read_only = {
        "db upgrade", "workflow validate", "workflow export", "workflow list",
        "workflow versions", "executions list", "maintenance queue", "worker", "serve",
        "token list", "user list", "secrets status", "secrets generate-key", "health",
        "alerts list", "stats", "executions diff",
        # The operator's own shortcuts, in a private file: no database, no role, no audit.
        "views save", "views list", "views delete",
    }  # fmt: skip
    # db upgrade sets a database up; worker and serve run the engine itself.
    assert commands - read_only == set(CASES)


def _subcommands(parser: object) -> list[tuple[str, object]]:
    import argparse

    for action in getattr(parser, "_actions", []):
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


@pytest.mark.parametrize("label", sorted(CASES))
def test_a_changing_command_needs_its_role_and_is_audited(
    label: str, seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[label]
    cli = runner(capsys, seeded.config)
    args = case.command(seeded)
    too_low = ROLES[ROLES.index(case.needs) - 1]
    before = state(seeded.db)

    refused: Outcome = cli(*args, "--user", PEOPLE[too_low])

    assert (refused.code, refused.out) == (1, "")
    [line] = refused.err_lines
    assert line.startswith("wfconsole: error: ") and "Traceback" not in refused.err
    assert f"needs {case.needs.value} (you are {too_low.value})" in line
    assert state(seeded.db) == before

    last_audit = max((i for i, _ in before["audit"]), default=0)  # type: ignore[attr-defined]
    started = utcnow()
    allowed = cli(*args, "--user", PEOPLE[case.needs])

    assert allowed.code == 0, allowed.err
    [(actor, when)] = audit_rows(seeded.db, case.action, after_id=last_audit)
    assert actor == PEOPLE[case.needs]
    assert when.replace(tzinfo=UTC) >= started - timedelta(seconds=1)


def test_demo_refuses_a_database_with_other_workflows_without_force(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = runner(capsys, seeded.config)
    before = state(seeded.db)

    refused = cli("demo", "--executions", "5", "--no-open", "--user", ROOT)

    assert (refused.code, refused.out) == (1, "")
    assert refused.err_lines == [
        "wfconsole: error: demo: the database already holds 1 workflow(s) besides the demo "
        "ones; add --force to load the samples anyway"
    ]
    assert state(seeded.db) == before


def test_demo_on_a_new_database_makes_its_operator_super_admin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    cli = runner(capsys, write_config(tmp_path / "new.toml", url))

    seeded = cli("demo", "--executions", "5", "--no-open", "--user", "first")
    again = cli("demo", "--executions", "5", "--no-open", "--user", "first")  # samples only
    newcomer = cli("demo", "--executions", "5", "--no-open", "--user", "second")

    assert (seeded.code, again.code) == (0, 0), seeded.err + again.err
    assert newcomer.code == 1 and "needs ADMIN (you are VIEWER)" in newcomer.err
    db = open_database(settings_for_url(url))
    try:  # the refusal rolled back the newcomer's row with everything else
        assert state(db)["users"] == [("first", "SUPER_ADMIN", False)]
        assert [actor for actor, _ in audit_rows(db, "demo.seed", after_id=0)] == ["first"] * 2
    finally:
        db.dispose()
