"""Encrypted secrets as a user meets them: ``wfconsole workflow import/export``,
``wfconsole secrets status|rotate``, one-line errors for a wrong key, and the webhook
receiver verifying signatures with a secret stored encrypted."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from engine.config import Settings
from engine.db import Database, connect_database
from engine.http.signature import sign
from engine.security.crypto import generate_key, is_encrypted
from tests.cli.runner import Cli, Outcome, runner
from tests.test_http_hooks import Server
from tests.test_secrets_storage import HOOK_SECRET, PLAINTEXTS, raw_definitions, secret_document

OLD, NEW = generate_key(), generate_key()


@pytest.fixture
def config(any_db: Database, tmp_path: Path) -> Path:
    path = tmp_path / "wfconsole.toml"
    path.write_text(f"[database]\nurl = {json.dumps(any_db.url)}\n", encoding="utf-8")
    return path


@pytest.fixture
def cli(config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``wfconsole ARGS`` with ``ENCRYPTION_KEY`` as the test sets it (OLD to begin with)."""
    monkeypatch.setenv("ENCRYPTION_KEY", OLD)
    return runner(capsys, config)


def one_line_error(outcome: Outcome) -> str:
    assert outcome.code == 1 and outcome.out == ""
    [line] = outcome.err_lines
    assert line.startswith("wfconsole: error: ") and "Traceback" not in outcome.err
    return line


def imported(cli: Cli, tmp_path: Path, document: dict[str, Any]) -> Outcome:
    path = tmp_path / f"{document['name']}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return cli("workflow", "import", str(path))


def test_export_shows_only_encrypted_values_and_imports_back_unchanged(
    cli: Cli, tmp_path: Path
) -> None:
    assert imported(cli, tmp_path, secret_document()).code == 0

    exported = cli("workflow", "export", "secretive")

    assert exported.code == 0 and not [p for p in PLAINTEXTS if p in exported.out]
    document = json.loads(exported.out)
    assert is_encrypted(document["triggers"][0]["secret"])
    again = imported(cli, tmp_path, document)
    assert (again.code, again.out.strip()) == (0, "secretive: unchanged (version 1)")


def test_rotation_with_two_keys_then_dropping_the_old_key_still_works(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, any_db: Database
) -> None:
    imported(cli, tmp_path, secret_document())
    monkeypatch.setenv("ENCRYPTION_KEY", f"{NEW},{OLD}")

    rotated = cli("secrets", "rotate")

    assert rotated.code == 0, rotated.err
    assert rotated.out.startswith("rotated 6 secret(s) to the newest key")
    monkeypatch.setenv("ENCRYPTION_KEY", NEW)
    status = cli("secrets", "status")
    assert status.code == 0 and "status      ok" in status.out
    assert "encrypted   6 in 2 definition(s)" in status.out
    assert not [p for p in PLAINTEXTS if p in raw_definitions(any_db)]


def test_a_wrong_key_is_one_line_naming_encryption_key(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, any_db: Database
) -> None:
    imported(cli, tmp_path, secret_document())
    before = raw_definitions(any_db)
    monkeypatch.setenv("ENCRYPTION_KEY", NEW)

    status = cli("secrets", "status")
    rotate = cli("secrets", "rotate")
    export = cli("workflow", "export", "secretive")

    assert status.code == 1 and "6 cannot be decrypted with ENCRYPTION_KEY" in status.out
    line = one_line_error(rotate)
    assert "cannot be decrypted with any key in ENCRYPTION_KEY" in line
    assert "nothing was changed" in line
    assert raw_definitions(any_db) == before
    assert json.loads(export.out)["name"] == "secretive"  # export needs no key: never plaintext
    reimport = imported(cli, tmp_path, json.loads(export.out))
    assert "triggers[0].secret" in one_line_error(reimport)


def test_a_malformed_key_is_one_line(cli: Cli, tmp_path: Path, monkeypatch: Any) -> None:
    imported(cli, tmp_path, secret_document())
    monkeypatch.setenv("ENCRYPTION_KEY", "correct horse battery staple")

    line = one_line_error(cli("secrets", "rotate"))

    assert "ENCRYPTION_KEY: key 1 is not a Fernet key" in line
    assert "horse" not in line


def test_postgres_without_a_key_refuses_a_literal_secret_in_one_line(
    postgres_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pg.toml"
    config.write_text(f"[database]\nurl = {json.dumps(postgres_db.url)}\n", encoding="utf-8")

    line = one_line_error(imported(runner(capsys, config), tmp_path, secret_document()))

    assert "triggers[0].secret: ENCRYPTION_KEY is not set" in line


def test_the_receiver_verifies_signatures_with_an_encrypted_secret(
    cli: Cli, tmp_path: Path, any_db: Database
) -> None:
    imported(cli, tmp_path, secret_document())
    assert HOOK_SECRET not in raw_definitions(any_db)
    settings = Settings.model_validate(
        {
            "database": {"url": any_db.url},
            "queue": {"path": str(tmp_path / "queue.db")},
            "security": {"encryption_key": OLD},
        }
    )
    db = connect_database(settings)
    body = b'{"paid": true}'
    now = int(time.time())
    try:
        with Server(settings, db) as server:
            good = server.post(
                "secretive/in", body, **{"X-Wf-Signature": sign(HOOK_SECRET, now, body)}
            )
            token = json.loads(cli("workflow", "export", "secretive").out)["triggers"][0]["secret"]
            forged = server.post("secretive/in", body, **{"X-Wf-Signature": sign(token, now, body)})
    finally:
        db.dispose()

    assert good.status_code == 202, good.text
    assert forged.status_code == 401
