"""``wfconsole user list | add | set-role | remove`` as a SUPER_ADMIN runs them, on SQLite
and PostgreSQL: roles change, removal revokes tokens, the last SUPER_ADMIN stays, and
every mistake is one line on stderr with nothing changed.

Who may run them (SUPER_ADMIN only) is part of tests/cli/test_roles.py's matrix.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from engine.access.api_tokens import ApiToken
from engine.access.roles import PermissionDenied
from engine.db import Database
from engine.models import AuditLog, Role, User, table_of
from engine.services.tokens import authenticate, create_token
from engine.services.users import UserConflict, set_role
from tests.api_client import ROOT
from tests.api_client import set_role as give_role
from tests.cli.runner import Cli, Outcome, runner, write_config

ALLOWED = "VIEWER, OPERATOR, ADMIN, SUPER_ADMIN"


@pytest.fixture
def root_cli(any_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``wfconsole ARGS --user root`` on a database whose only user is root, SUPER_ADMIN."""
    give_role(any_db, ROOT, Role.SUPER_ADMIN)
    run = runner(capsys, write_config(tmp_path / "users.toml", any_db.url))
    return lambda *args: run(*args, "--user", ROOT)


def stored_users(db: Database) -> dict[str, tuple[str, bool]]:
    """username → (role, disabled) straight from the table."""
    users = table_of(User)
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(users.c.username, users.c.role, users.c.disabled))
        return {row.username: (row.role, bool(row.disabled)) for row in rows}


def audit_details(db: Database, action: str) -> list[tuple[str, Any]]:
    """(actor, details) of every ``action`` row, oldest first."""
    audit = table_of(AuditLog)
    query = sa.select(audit.c.actor, audit.c.details).where(audit.c.action == action)
    with db.engine.connect() as conn:
        return [(row.actor, row.details) for row in conn.execute(query.order_by(audit.c.id))]


def listed(cli: Cli) -> dict[str, str]:
    outcome = cli("user", "list", "--json")
    assert outcome.code == 0, outcome.err
    return {row["user"]: row["role"] for row in json.loads(outcome.out)}


def one_error_line(outcome: Outcome) -> str:
    """The single stderr line of a refused command (exit 1, nothing on stdout)."""
    assert (outcome.code, outcome.out) == (1, "")
    [line] = outcome.err_lines
    assert line.startswith("wfconsole: error: ") and "Traceback" not in outcome.err
    return line


def test_an_added_user_is_listed_with_their_role_and_audited(
    root_cli: Cli, any_db: Database
) -> None:
    added = root_cli("user", "add", "bob", "--role", "admin")

    assert (added.code, added.out) == (0, "bob: added as ADMIN\n")
    assert listed(root_cli) == {"bob": "ADMIN", ROOT: "SUPER_ADMIN"}
    [(actor, details)] = audit_details(any_db, "user.add")
    assert actor == ROOT
    assert details == {"user": "bob", "role": "ADMIN", "restored": False}


def test_set_role_changes_the_stored_role_and_is_audited(root_cli: Cli, any_db: Database) -> None:
    give_role(any_db, "bob", Role.VIEWER)

    changed = root_cli("user", "set-role", "bob", "OPERATOR")
    again = root_cli("user", "set-role", "bob", "OPERATOR")

    assert changed.out == "bob: VIEWER -> OPERATOR\n"
    assert again.out == "bob: already OPERATOR\n"
    assert stored_users(any_db)["bob"] == ("OPERATOR", False)
    [(actor, details)] = audit_details(any_db, "user.set_role")  # the no-op is not audited
    assert (actor, details) == (ROOT, {"user": "bob", "role": "OPERATOR", "previous": "VIEWER"})


@pytest.mark.parametrize(
    "args",
    [("user", "add", "bob", "--role", "boss"), ("user", "set-role", "vera", "boss")],
    ids=["add", "set-role"],
)
def test_an_unknown_role_is_one_line_naming_the_allowed_roles(
    root_cli: Cli, any_db: Database, args: tuple[str, ...]
) -> None:
    give_role(any_db, "vera", Role.VIEWER)
    before = stored_users(any_db)

    line = one_error_line(root_cli(*args))

    assert line == f"wfconsole: error: role: unknown role 'boss' (allowed: {ALLOWED})"
    assert stored_users(any_db) == before


def test_bad_names_and_existing_or_unknown_users_are_refused_in_one_line(
    root_cli: Cli, any_db: Database
) -> None:
    give_role(any_db, "bob", Role.ADMIN)
    before = stored_users(any_db)

    assert "name: no spaces" in one_error_line(
        root_cli("user", "add", "two words", "--role", "ADMIN")
    )
    assert "'bob' already exists (ADMIN)" in one_error_line(
        root_cli("user", "add", "bob", "--role", "VIEWER")
    )
    assert "no user named 'ghost'" in one_error_line(root_cli("user", "set-role", "ghost", "ADMIN"))
    assert "no user named 'ghost'" in one_error_line(root_cli("user", "remove", "ghost", "--yes"))
    assert "--yes" in one_error_line(root_cli("user", "remove", "bob"))
    assert stored_users(any_db) == before


def test_the_last_super_admin_can_be_neither_demoted_nor_removed(
    root_cli: Cli, any_db: Database
) -> None:
    demoted = one_error_line(root_cli("user", "set-role", ROOT, "ADMIN"))
    removed = one_error_line(root_cli("user", "remove", ROOT, "--yes"))

    assert "cannot demote 'root': the last SUPER_ADMIN" in demoted
    assert "cannot remove 'root': the last SUPER_ADMIN" in removed
    assert stored_users(any_db) == {ROOT: ("SUPER_ADMIN", False)}
    assert audit_details(any_db, "user.set_role") == audit_details(any_db, "user.remove") == []


def test_a_super_admin_may_step_down_once_another_remains(root_cli: Cli, any_db: Database) -> None:
    root_cli("user", "add", "alice", "--role", "SUPER_ADMIN")

    stepped_down = root_cli("user", "set-role", ROOT, "ADMIN")

    assert stepped_down.code == 0, stepped_down.err
    assert "needs SUPER_ADMIN (you are ADMIN)" in one_error_line(root_cli("user", "list"))
    assert stored_users(any_db)["alice"] == ("SUPER_ADMIN", False)


def test_removing_a_user_revokes_their_tokens_and_unlists_them(
    root_cli: Cli, any_db: Database
) -> None:
    give_role(any_db, "bob", Role.ADMIN)
    token = create_token(any_db, actor=ROOT, name="bob's ci", for_user="bob").token
    assert authenticate(any_db, token) is not None

    removed = root_cli("user", "remove", "bob", "--yes")

    assert removed.out == "bob: removed (was ADMIN; 1 token(s) revoked)\n"
    assert authenticate(any_db, token) is None
    tokens = table_of(ApiToken)
    with any_db.engine.connect() as conn:
        assert conn.execute(sa.select(tokens.c.revoked_at)).scalar_one() is not None
    assert listed(root_cli) == {ROOT: "SUPER_ADMIN"}
    assert stored_users(any_db)["bob"] == ("VIEWER", True)  # kept for the audit trail
    [(actor, details)] = audit_details(any_db, "user.remove")
    assert (actor, details) == (ROOT, {"user": "bob", "role": "ADMIN", "revoked_tokens": 1})


def test_a_removed_user_added_again_gets_the_new_role_but_not_their_old_tokens(
    root_cli: Cli, any_db: Database
) -> None:
    give_role(any_db, "bob", Role.ADMIN)
    token = create_token(any_db, actor=ROOT, name="old", for_user="bob").token
    root_cli("user", "remove", "bob", "--yes")

    restored = root_cli("user", "add", "bob", "--role", "VIEWER")

    assert restored.code == 0, restored.err
    assert stored_users(any_db)["bob"] == ("VIEWER", False)
    assert authenticate(any_db, token) is None
    assert audit_details(any_db, "user.add")[-1][1]["restored"] is True


def test_super_admins_demoting_each_other_at_once_leave_one(postgres_db: Database) -> None:
    """Both changes wait on the same locks, so the second sees the first's result."""
    give_role(postgres_db, ROOT, Role.SUPER_ADMIN)
    give_role(postgres_db, "alice", Role.SUPER_ADMIN)
    outcomes: dict[str, object] = {}

    def demote(actor: str, target: str) -> Callable[[], None]:
        def run() -> None:
            try:
                outcomes[actor] = set_role(postgres_db, target, "ADMIN", actor=actor)
            except (UserConflict, PermissionDenied) as exc:
                outcomes[actor] = exc

        return run

    url = postgres_db.engine.url.set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as watcher:
        holder.execute("SELECT id FROM \"user\" WHERE role = 'SUPER_ADMIN' FOR UPDATE")
        threads = [threading.Thread(target=demote(ROOT, "alice")),
                   threading.Thread(target=demote("alice", ROOT))]  # fmt: skip
        for thread in threads:
            thread.start()
        _wait_for_lock_waiters(watcher, 2)
    for thread in threads:
        thread.join(timeout=30)

    supers = [
        name for name, (role, _) in stored_users(postgres_db).items() if role == "SUPER_ADMIN"
    ]
    assert len(supers) == 1
    assert sorted(type(o).__name__ for o in outcomes.values()) in (
        ["PermissionDenied", "RoleChange"],
        ["RoleChange", "UserConflict"],
    )


def _wait_for_lock_waiters(conn: psycopg.Connection[Any], count: int) -> None:
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = conn.execute(query).fetchone()
        if row is not None and row[0] >= count:
            return
        time.sleep(0.02)
    pytest.fail(f"the {count} changes never waited on the SUPER_ADMIN locks")
