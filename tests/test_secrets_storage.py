"""Secrets at rest: literal secrets in definitions are stored encrypted (``enc:v1:``),
on SQLite and PostgreSQL, and read back only through the deployment's keys."""

from __future__ import annotations

import dataclasses
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.db import Database, open_database
from engine.definitions.schema import DefinitionError
from engine.security.crypto import KEY_FILE_NAME, SecretKeyError, Vault, generate_key, is_encrypted
from engine.security.env_references import MissingSecret, resolve
from engine.security.secret_fields import MASK
from engine.services.secrets import rotate_secrets, secrets_status
from engine.services.workflow_versions import diff_versions, roll_back
from engine.services.workflows import export_documents, save_document
from tests.conftest import settings_for_url

HOOK_SECRET = "hook-canary-7f3a9c"
TOKEN = "Bearer api-canary-51d2e8"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/slack-canary-0b4c"
PLAINTEXTS = (HOOK_SECRET, TOKEN, SLACK_URL, "api-canary", "slack-canary", "hook-canary")
KEY = generate_key()
TASK = {"type": "create_task", "title": "check"}


def secret_document(name: str = "secretive", **changes: Any) -> dict[str, Any]:
    """A workflow with every kind of secret-bearing field, as a user writes it."""
    document: dict[str, Any] = {
        "name": name,
        "enabled": True,
        "triggers": [{"type": "webhook", "path": f"{name}/in", "secret": HOOK_SECRET}],
        "actions": [
            {
                "type": "webhook",
                "url": "https://erp.example.com/hook",
                "headers": {
                    "Authorization": TOKEN,
                    "X-Api-Key": "${ERP_KEY}",
                    "X-Request-Source": "wfconsole",
                },
            },
            {"type": "slack", "text": "hi", "webhook_url": SLACK_URL},
            {"type": "teams", "text": "hi", "webhook_url": "${TEAMS_URL}"},
        ],
    }
    document.update(changes)
    return document


@pytest.fixture
def keyed_db(any_db: Database) -> Database:
    """The test database (SQLite and PostgreSQL) with ENCRYPTION_KEY configured."""
    return dataclasses.replace(any_db, vault=Vault(KEY))


def raw_definitions(db: Database) -> str:
    """Every stored definition, as the database holds the JSON text."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT CAST(triggers AS TEXT) || CAST(actions AS TEXT) FROM workflow "
                "UNION ALL SELECT CAST(definition AS TEXT) FROM workflow_version"
            )
        ).scalars()
        return "\n".join(rows)


def stored(db: Database, name: str = "secretive") -> dict[str, Any]:
    [document] = export_documents(db, name)
    return document


def test_literal_secrets_are_stored_encrypted_and_references_as_written(
    keyed_db: Database,
) -> None:
    save_document(keyed_db, secret_document(), actor="t")

    text = raw_definitions(keyed_db)
    assert not [p for p in PLAINTEXTS if p in text]
    assert text.count("enc:v1:") == 6  # three secrets, in the workflow and in version 1
    document = stored(keyed_db)
    hook, slack = document["triggers"][0], document["actions"][1]
    headers = document["actions"][0]["headers"]
    assert is_encrypted(hook["secret"]) and is_encrypted(slack["webhook_url"])
    assert is_encrypted(headers["Authorization"])
    assert headers["X-Api-Key"] == "${ERP_KEY}"
    assert headers["X-Request-Source"] == "wfconsole"
    assert document["actions"][2]["webhook_url"] == "${TEAMS_URL}"


def test_encrypted_values_resolve_to_the_plaintext_with_the_key(keyed_db: Database) -> None:
    save_document(keyed_db, secret_document(), actor="t")
    document = stored(keyed_db)

    assert resolve(document["triggers"][0]["secret"], vault=keyed_db.vault) == HOOK_SECRET
    assert resolve(document["actions"][1]["webhook_url"], vault=keyed_db.vault) == SLACK_URL


def test_saving_the_same_secrets_again_changes_nothing(keyed_db: Database) -> None:
    save_document(keyed_db, secret_document(), actor="t")
    before = stored(keyed_db)

    again = save_document(keyed_db, secret_document(), actor="t")
    exported = save_document(keyed_db, before, actor="t")

    assert (again.outcome, exported.outcome) == ("unchanged", "unchanged")
    assert stored(keyed_db) == before


@pytest.fixture
def other_db(tmp_path: Path) -> Iterator[Database]:
    """A second, empty SQLite database (another deployment)."""
    db = open_database(settings_for_url(f"sqlite:///{tmp_path / 'other.db'}"))
    yield db
    db.dispose()


def test_export_then_import_elsewhere_keeps_the_secrets(
    keyed_db: Database, other_db: Database
) -> None:
    save_document(keyed_db, secret_document(), actor="t")
    exported = json.loads(json.dumps(stored(keyed_db)))
    other = dataclasses.replace(other_db, vault=Vault(KEY))

    result = save_document(other, exported, actor="t")

    assert result.outcome == "created"
    assert stored(other) == exported
    assert not [p for p in PLAINTEXTS if p in raw_definitions(other)]


def test_importing_a_value_encrypted_under_another_key_is_refused_by_path(
    keyed_db: Database, other_db: Database
) -> None:
    save_document(keyed_db, secret_document(), actor="t")
    other = dataclasses.replace(other_db, vault=Vault(generate_key()))

    with pytest.raises(DefinitionError) as refused:
        save_document(other, stored(keyed_db), actor="t")

    assert "triggers[0].secret" in str(refused.value)
    assert "ENCRYPTION_KEY" in str(refused.value)
    assert export_documents(other) == []


def test_a_wrong_key_fails_loudly_without_the_value(keyed_db: Database) -> None:
    save_document(keyed_db, secret_document(), actor="t")
    token = stored(keyed_db)["triggers"][0]["secret"]

    with pytest.raises(MissingSecret) as failed:
        resolve(token, vault=Vault(generate_key()))

    assert "ENCRYPTION_KEY" in str(failed.value)
    assert token not in str(failed.value) and HOOK_SECRET not in str(failed.value)


def test_sqlite_generates_a_private_key_file_on_first_need(
    sqlite_db: Database, isolated_environment: Path
) -> None:
    key_file = isolated_environment / "wfconsole" / KEY_FILE_NAME
    harmless = secret_document(triggers=[{"type": "manual"}], actions=[TASK])
    save_document(sqlite_db, harmless, actor="t")  # no literal secret: no key yet
    assert not key_file.exists()

    save_document(sqlite_db, secret_document(), actor="t")

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token = stored(sqlite_db)["triggers"][0]["secret"]
    assert Vault(key_file.read_text().strip()).decrypt(token) == HOOK_SECRET


def test_postgres_without_a_key_refuses_a_literal_secret_but_takes_references(
    postgres_db: Database,
) -> None:
    with pytest.raises(DefinitionError) as refused:
        save_document(postgres_db, secret_document(), actor="t")
    assert "ENCRYPTION_KEY is not set" in str(refused.value)
    assert "triggers[0].secret" in str(refused.value)

    references = secret_document(
        triggers=[{"type": "webhook", "path": "in", "secret": "${HOOK_SECRET}"}], actions=[TASK]
    )
    assert save_document(postgres_db, references, actor="t").outcome == "created"


def test_version_diffs_show_that_a_secret_changed_but_never_the_secret(
    keyed_db: Database,
) -> None:
    save_document(keyed_db, secret_document(), actor="t")
    changed = secret_document()
    changed["triggers"][0]["secret"] = "hook-canary-rotated"
    save_document(keyed_db, changed, actor="t")

    diff = "\n".join(diff_versions(keyed_db, "secretive", 1).lines)

    assert '-      "secret": "enc:v1:<encrypted #' in diff
    assert '+      "secret": "enc:v1:<encrypted #' in diff
    assert "hook-canary" not in diff and "gAAAA" not in diff
    assert "Authorization" not in diff  # unchanged secrets are no change


def test_rolling_back_restores_the_old_secret(keyed_db: Database) -> None:
    save_document(keyed_db, secret_document(), actor="t")
    changed = secret_document()
    changed["triggers"][0]["secret"] = "hook-canary-rotated"
    save_document(keyed_db, changed, actor="t")

    roll_back(keyed_db, "secretive", 1, actor="t")

    token = stored(keyed_db)["triggers"][0]["secret"]
    assert keyed_db.vault.decrypt(token) == HOOK_SECRET


def test_rotation_moves_every_secret_to_the_newest_key(keyed_db: Database) -> None:
    save_document(keyed_db, secret_document(), actor="t")
    newest = generate_key()
    rotating = dataclasses.replace(keyed_db, vault=Vault(f"{newest},{KEY}"))

    report = rotate_secrets(rotating, actor="t")

    assert (report.encrypted, report.rows) == (6, 2)
    only_new = dataclasses.replace(keyed_db, vault=Vault(newest))
    status = secrets_status(only_new)
    assert (status.encrypted, status.unreadable) == (6, [])
    assert resolve(stored(only_new)["actions"][1]["webhook_url"], vault=only_new.vault) == (
        SLACK_URL
    )


def test_rotation_changes_nothing_when_a_value_cannot_be_decrypted(
    keyed_db: Database,
) -> None:
    save_document(keyed_db, secret_document(), actor="t")
    before = raw_definitions(keyed_db)
    strangers = dataclasses.replace(keyed_db, vault=Vault(f"{generate_key()},{generate_key()}"))

    with pytest.raises(SecretKeyError, match="nothing was changed"):
        rotate_secrets(strangers, actor="t")

    assert raw_definitions(keyed_db) == before


def test_dry_run_masks_literal_secrets(keyed_db: Database) -> None:
    from engine.definitions.schema import validate_definition
    from engine.execution.dry_run import dry_run

    result = dry_run(validate_definition(secret_document()), {})

    webhook, slack = result.actions[0], result.actions[1]
    assert webhook.request is not None
    assert webhook.request.headers["Authorization"] == MASK
    assert webhook.request.headers["X-Api-Key"] == "${ERP_KEY}"
    assert slack.fields["webhook_url"] == MASK


def test_header_values_expand_embedded_references_and_decrypt(
    keyed_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.security.env_references import expand

    monkeypatch.setenv("ERP_TOKEN", "t0ken")
    token = keyed_db.vault.encrypt(TOKEN)

    assert expand("Bearer ${ERP_TOKEN}") == "Bearer t0ken"
    assert expand(token, vault=keyed_db.vault) == TOKEN
    with pytest.raises(MissingSecret, match="NOT_SET_ANYWHERE"):
        expand("Bearer ${NOT_SET_ANYWHERE}")


def test_fragments_cover_the_token_and_the_url_path() -> None:
    from engine.security.secret_fields import fragments

    assert "api-canary-51d2e8" in fragments(TOKEN)
    pieces = fragments(SLACK_URL)
    assert "slack-canary-0b4c" in pieces and "/services/T000/B000/slack-canary-0b4c" in pieces
    assert "hooks.slack.com" not in pieces  # the host is not the secret
