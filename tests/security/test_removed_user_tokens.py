"""A removed user holds no API token: none can be created for them, theirs stop working.

``wfconsole token create --for-user U`` for a removed user (or one that never existed)
is one line on stderr naming U, exit 1, and nothing written: no token row, no user row,
no ``token.create`` audit. A removed user cannot create one for themselves either. The
tokens they had are revoked in the transaction that removes them, and authentication
refuses a disabled user's token anyway, so the API answers 401 — also after the user is
added back. A removal racing a creation on PostgreSQL never leaves a live token behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import engine.services.tokens
import engine.services.users
from engine.access.api_tokens import ApiToken
from engine.db import Database
from engine.models import AuditLog, Role, User, table_of
from engine.services.tokens import authenticate, create_token
from engine.services.users import UserNotFound, add_user, remove_user
from tests.api_client import ROOT, Api, running_api
from tests.api_client import set_role as give_role
from tests.cli.runner import Cli, Outcome, runner, write_config


@pytest.fixture
def root_cli(any_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``wfconsole ARGS`` on a database whose SUPER_ADMIN is root and where bob, an
    ADMIN, was removed."""
    give_role(any_db, ROOT, Role.SUPER_ADMIN)
    give_role(any_db, "bob", Role.ADMIN)
    remove_user(any_db, "bob", actor=ROOT)
    return runner(capsys, write_config(tmp_path / "tokens.toml", any_db.url))


def token_rows(db: Database) -> list[tuple[str, bool]]:
    """(owner, live) of every stored token."""
    tokens, users = table_of(ApiToken), table_of(User)
    query = sa.select(users.c.username, tokens.c.revoked_at.is_(None)).join(
        users, users.c.id == tokens.c.user_id
    )
    with db.engine.connect() as conn:
        return [(row[0], bool(row[1])) for row in conn.execute(query)]


def audit_actions(db: Database) -> list[str]:
    audit = table_of(AuditLog)
    with db.engine.connect() as conn:
        return list(conn.execute(sa.select(audit.c.action).order_by(audit.c.id)).scalars())


def usernames(db: Database) -> set[str]:
    users = table_of(User)
    with db.engine.connect() as conn:
        return set(conn.execute(sa.select(users.c.username)).scalars())


def refusal(outcome: Outcome) -> str:
    """The one stderr line of a refused command (exit 1, nothing on stdout)."""
    assert (outcome.code, outcome.out) == (1, ""), outcome
    [line] = outcome.err_lines
    assert line.startswith("wfconsole: error: cannot create the token: ")
    assert "Traceback" not in outcome.err
    return line


def test_a_token_for_a_removed_user_is_refused_and_nothing_is_written(
    root_cli: Cli, any_db: Database
) -> None:
    before = audit_actions(any_db)

    line = refusal(root_cli("token", "create", "--name", "ci", "--for-user", "bob",
                            "--user", ROOT))  # fmt: skip

    assert "user 'bob' was removed" in line
    assert token_rows(any_db) == []
    assert audit_actions(any_db) == before


def test_a_token_for_a_user_who_never_existed_is_refused_and_no_user_is_made(
    root_cli: Cli, any_db: Database
) -> None:
    before = audit_actions(any_db)

    line = refusal(root_cli("token", "create", "--name", "ci", "--for-user", "ghost",
                            "--user", ROOT, "--json"))  # fmt: skip

    assert "no user named 'ghost'" in line and "wfconsole user add ghost" in line
    assert "ghost" not in usernames(any_db)
    assert token_rows(any_db) == []
    assert audit_actions(any_db) == before


def test_a_removed_user_cannot_create_a_token_for_themselves(
    root_cli: Cli, any_db: Database
) -> None:
    before = audit_actions(any_db)

    line = refusal(root_cli("token", "create", "--name", "mine", "--user", "bob"))

    assert "user 'bob' was removed" in line
    assert token_rows(any_db) == []
    assert audit_actions(any_db) == before


def test_newcomers_and_active_users_still_get_tokens(root_cli: Cli, any_db: Database) -> None:
    mine = root_cli("token", "create", "--name", "mine", "--user", "nina")  # first sight
    give_role(any_db, "ada", Role.ADMIN)
    theirs = root_cli("token", "create", "--name", "ci", "--for-user", "ada", "--user", ROOT)

    assert (mine.code, theirs.code) == (0, 0), (mine.err, theirs.err)
    assert sorted(token_rows(any_db)) == [("ada", True), ("nina", True)]


def test_the_service_refuses_with_the_same_message(any_db: Database) -> None:
    give_role(any_db, ROOT, Role.SUPER_ADMIN)
    give_role(any_db, "bob", Role.OPERATOR)
    remove_user(any_db, "bob", actor=ROOT)

    with pytest.raises(UserNotFound, match="user 'bob' was removed"):
        create_token(any_db, actor=ROOT, name="ci", for_user="bob")
    assert token_rows(any_db) == []


@pytest.fixture
def api(any_db: Database, tmp_path: Path) -> Iterator[Api]:
    yield from running_api(any_db, tmp_path)


def test_a_removed_users_tokens_get_401_also_after_they_are_added_back(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Revoked with the removal (same transaction) and refused for a disabled user."""
    cli = runner(capsys, write_config(tmp_path / "api.toml", api.db.url))
    assert api.get("/workflows", role=Role.ADMIN).status_code == 200

    removed = cli("user", "remove", "ada", "--yes", "--user", ROOT)

    assert removed.code == 0, removed.err
    assert "1 token(s) revoked" in removed.out
    assert api.get("/workflows", role=Role.ADMIN).status_code == 401
    assert cli("user", "add", "ada", "--role", "ADMIN", "--user", ROOT).code == 0
    assert api.get("/workflows", role=Role.ADMIN).status_code == 401
    assert ("ada", True) not in token_rows(api.db)


def test_authentication_refuses_a_disabled_users_token_even_if_not_revoked(
    any_db: Database,
) -> None:
    """The second line of defence: a token row someone left live still does not work."""
    give_role(any_db, ROOT, Role.SUPER_ADMIN)
    give_role(any_db, "dora", Role.ADMIN)
    token = create_token(any_db, actor=ROOT, name="ci", for_user="dora").token
    with any_db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE \"user\" SET disabled = true WHERE username = 'dora'"))

    assert token_rows(any_db) == [("dora", True)]
    assert authenticate(any_db, token) is None


def _paused(
    module: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, threading.Event]:
    """Make ``module``'s next ``record_audit`` (the last write of its transaction) wait."""
    inside, release = threading.Event(), threading.Event()
    original = module.record_audit

    def paused(*args: Any, **kwargs: Any) -> None:
        inside.set()
        assert release.wait(30)
        original(*args, **kwargs)

    monkeypatch.setattr(module, "record_audit", paused)
    return inside, release


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    results: list[object] = []

    def run() -> None:
        try:
            results.append(call())
        except Exception as exc:
            results.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, results


@pytest.mark.parametrize("first", ["create", "remove"])
def test_a_removal_racing_a_token_creation_leaves_no_live_token(
    postgres_db: Database, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    """Whichever transaction reaches bob's row first, the other sees its result."""
    db = postgres_db
    give_role(db, ROOT, Role.SUPER_ADMIN)
    give_role(db, "bob", Role.ADMIN)
    creating = lambda: create_token(db, actor=ROOT, name="race", for_user="bob")  # noqa: E731
    removing = lambda: remove_user(db, "bob", actor=ROOT)  # noqa: E731
    early, late = (creating, removing) if first == "create" else (removing, creating)
    module = engine.services.tokens if first == "create" else engine.services.users
    inside, release = _paused(module, monkeypatch)

    first_thread, first_results = _in_thread(early)
    assert inside.wait(30)
    second_thread, second_results = _in_thread(late)
    second_thread.join(1.0)
    still_waiting = second_thread.is_alive()  # blocked on bob's row until the first commits
    release.set()
    first_thread.join(30)
    second_thread.join(30)

    assert still_waiting
    results = {"create": first_results, "remove": second_results}
    if first == "remove":
        results = {"create": second_results, "remove": first_results}
    [created], [removed] = results["create"], results["remove"]
    assert not isinstance(removed, Exception), removed
    if first == "create":
        assert not isinstance(created, Exception) and removed.revoked_tokens == 1  # type: ignore[attr-defined]
    else:
        assert isinstance(created, UserNotFound) and "was removed" in str(created)
    add_user(db, "bob", "ADMIN", actor=ROOT)  # back again: still no live token
    assert token_rows(db) in ([], [("bob", False)])
