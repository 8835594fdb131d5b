"""API tokens: created once in plaintext, stored hashed, listed, revoked; the CLI; 401s."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.access.roles import PermissionDenied
from engine.db import Database
from engine.models import Role
from engine.services.tokens import (
    TokenNotFound,
    authenticate,
    create_token,
    list_tokens,
    revoke_token,
)
from tests.api_client import ROOT, Api, running_api, set_role
from tests.cli.runner import Cli, runner, write_config


@pytest.fixture
def api(any_db: Database, tmp_path: Path) -> Iterator[Api]:
    yield from running_api(any_db, tmp_path)


def test_a_token_authenticates_as_its_owner_with_the_owners_current_role(
    any_db: Database,
) -> None:
    set_role(any_db, ROOT, Role.SUPER_ADMIN)
    created = create_token(any_db, actor="olga", name="ci")
    assert created.token.startswith("wfc_") and len(created.token) > 40
    identity = authenticate(any_db, created.token)
    assert identity is not None and (identity.username, identity.role) == ("olga", "VIEWER")
    set_role(any_db, "olga", Role.OPERATOR)
    assert authenticate(any_db, created.token).role == "OPERATOR"  # type: ignore[union-attr]
    assert authenticate(any_db, created.token + "x") is None
    assert authenticate(any_db, "") is None


def test_only_the_sha256_of_a_token_is_stored(any_db: Database) -> None:
    created = create_token(any_db, actor=ROOT, name="ci")
    with any_db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM api_token"))]
    (row,) = rows
    assert row["token_hash"] == hashlib.sha256(created.token.encode()).hexdigest()
    assert row["prefix"] == created.token[:12]
    assert all(created.token not in str(value) for value in row.values())


def test_revoked_tokens_and_disabled_users_do_not_authenticate(any_db: Database) -> None:
    one = create_token(any_db, actor=ROOT, name="one")
    set_role(any_db, "dora", Role.VIEWER)
    two = create_token(any_db, actor=ROOT, name="two", for_user="dora")
    assert revoke_token(any_db, one.info.id, actor=ROOT) is True
    assert revoke_token(any_db, one.info.id, actor=ROOT) is False
    assert authenticate(any_db, one.token) is None
    with any_db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE \"user\" SET disabled = true WHERE username = 'dora'"))
    assert authenticate(any_db, two.token) is None


def test_other_users_tokens_need_super_admin(any_db: Database) -> None:
    root_token = create_token(any_db, actor=ROOT, name="root")
    own = create_token(any_db, actor="vic", name="mine")  # anyone may make their own
    with pytest.raises(PermissionDenied, match="needs SUPER_ADMIN"):
        create_token(any_db, actor="vic", name="x", for_user=ROOT)
    with pytest.raises(PermissionDenied):
        revoke_token(any_db, root_token.info.id, actor="vic")
    with pytest.raises(TokenNotFound):
        revoke_token(any_db, 999_999, actor=ROOT)
    assert [t.name for t in list_tokens(any_db, actor="vic")] == ["mine"]
    assert [t.name for t in list_tokens(any_db, actor=ROOT)] == ["root", "mine"]
    assert revoke_token(any_db, own.info.id, actor=ROOT)


def test_token_changes_are_audited_without_the_secret(any_db: Database) -> None:
    set_role(any_db, ROOT, Role.SUPER_ADMIN)
    set_role(any_db, "otto", Role.VIEWER)
    created = create_token(any_db, actor=ROOT, name="ci", for_user="otto")
    revoke_token(any_db, created.info.id, actor=ROOT)
    with any_db.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT actor, action, details FROM audit_log WHERE target_type = 'api_token'")
        ).all()
    assert [(r.actor, r.action) for r in rows] == [(ROOT, "token.create"), (ROOT, "token.revoke")]
    assert all(created.token not in str(r.details) for r in rows)


def test_cli_creates_lists_and_revokes_tokens(
    any_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli: Cli = runner(capsys, write_config(tmp_path / "c.toml", any_db.url))
    set_role(any_db, ROOT, Role.SUPER_ADMIN)
    set_role(any_db, "otto", Role.VIEWER)  # --for-user names an existing, active user
    made = cli("token", "create", "--name", "deploy", "--for-user", "otto", "--user", ROOT)
    assert made.code == 0, made.err
    token = made.out.strip()
    assert token.startswith("wfc_") and "shown once" in made.err
    assert authenticate(any_db, token).username == "otto"  # type: ignore[union-attr]
    listing = cli("token", "list", "--json", "--user", ROOT)
    (entry,) = json.loads(listing.out)
    assert (entry["user"], entry["name"], entry["prefix"]) == ("otto", "deploy", token[:12])
    assert token not in listing.out
    refused = cli("token", "revoke", str(entry["id"]), "--user", "mallory")
    assert refused.code == 1 and "needs SUPER_ADMIN" in refused.err
    assert cli("token", "revoke", str(entry["id"]), "--user", ROOT).code == 0
    assert authenticate(any_db, token) is None


def test_missing_invalid_and_revoked_tokens_get_401_with_a_bearer_challenge(api: Api) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer wfc_nope"}):
        answer = api.get("/workflows", role=None, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert set(answer.json()) == {"error", "field"}
    (token,) = [t for t in list_tokens(api.db, actor=ROOT) if t.username == "vera"]
    assert api.get("/workflows").status_code == 200
    revoke_token(api.db, token.id, actor=ROOT)
    answer = api.get("/workflows")
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
