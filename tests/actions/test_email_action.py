"""The email action against a real aiosmtpd server on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.actions.email_action import run_email
from engine.actions.errors import ActionError
from engine.actions.secret_references import render_fields
from engine.actions.step_context import ActionOutput, StepContext
from engine.config import Settings
from engine.db import Database
from tests.actions.smtp_peer import USER, Certificate, SmtpPeer, make_certificate, smtp_server

PASSWORD = "s3cret-smtp-pass"


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return make_certificate(tmp_path / "tls")


@pytest.fixture
def peer(certificate: Certificate) -> Iterator[SmtpPeer]:
    """A STARTTLS server that accepts USER / PASSWORD."""
    with smtp_server(certificate, password=PASSWORD) as server:
        yield server


def send(
    db: Database, peer: SmtpPeer, certificate: Certificate | None, **fields: Any
) -> ActionOutput:
    # As the executor does: templates filled, references resolved from the definition.
    rendered = render_fields("email", _fields(fields), {}, vault=db.vault)
    return run_email(rendered, _ctx(db, peer, certificate))


def _fields(overrides: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {"to": ["ops@example.com"], "subject": "Invoice 7", "body": "Hi"}
    fields.update(overrides)
    return fields


def _ctx(db: Database, peer: SmtpPeer, certificate: Certificate | None, **smtp: Any) -> StepContext:
    config: dict[str, Any] = {
        "host": peer.host,
        "port": peer.port,
        "user": USER,
        "password": PASSWORD,
        "from_address": "Workflows <wf@example.com>",
        "ca_file": str(certificate.cert_file) if certificate else "",
    }
    config.update(smtp)
    settings = Settings.model_validate({"smtp": config})
    return StepContext("exec-9", 2, time.monotonic() + 10, settings, db)


def test_plain_message_reaches_the_server(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate
) -> None:
    output = send(sqlite_db, peer, certificate, body="Invoice 7 is due")
    [got] = peer.received
    assert (got.mail_from, got.rcpt_tos) == ("wf@example.com", ["ops@example.com"])
    assert got.message["Subject"] == "Invoice 7"
    assert got.message["From"] == "Workflows <wf@example.com>"
    assert got.message.get_content_type() == "text/plain"
    assert got.message.get_content().strip() == "Invoice 7 is due"
    assert output.data == {
        "message_id": "<wf.exec-9.2@example.com>",
        "accepted": ["ops@example.com"],
        "refused": {},
    }


def test_message_id_comes_from_the_idempotency_key(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate
) -> None:
    send(sqlite_db, peer, certificate)
    send(sqlite_db, peer, certificate)
    ids = [r.message["Message-ID"] for r in peer.received]
    assert ids == ["<wf.exec-9.2@example.com>"] * 2


def test_html_makes_a_multipart_alternative(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate
) -> None:
    send(sqlite_db, peer, certificate, body="plain words", html="<p>rich <b>words</b></p>")
    message = peer.received[0].message
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content().strip() for part in message.iter_parts()}
    assert parts == {"text/plain": "plain words", "text/html": "<p>rich <b>words</b></p>"}


def test_cc_is_a_header_and_bcc_only_in_the_envelope(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate
) -> None:
    output = send(
        sqlite_db,
        peer,
        certificate,
        to=["a@example.com", "b@example.com"],
        cc=["c@example.com"],
        bcc=["hidden@example.com"],
    )
    [got] = peer.received
    everyone = ["a@example.com", "b@example.com", "c@example.com", "hidden@example.com"]
    assert got.rcpt_tos == everyone
    assert got.message["To"] == "a@example.com, b@example.com"
    assert got.message["Cc"] == "c@example.com"
    assert "Bcc" not in got.message
    assert b"hidden@" not in got.message.as_bytes()
    assert output.data["accepted"] == everyone


def test_env_reference_addresses_are_resolved(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINANCE_TEAM", "cfo@example.com, ap@example.com")
    send(sqlite_db, peer, certificate, to=["${FINANCE_TEAM}"])
    assert peer.received[0].rcpt_tos == ["cfo@example.com", "ap@example.com"]


def test_missing_env_reference_fails_permanently(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate
) -> None:
    with pytest.raises(ActionError, match=r"to\[0\]: environment variable NOBODY_SET") as caught:
        send(sqlite_db, peer, certificate, to=["${NOBODY_SET}"])
    assert not caught.value.transient
    assert peer.received == []


def test_one_refused_recipient_is_reported_and_the_rest_get_it(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate
) -> None:
    peer.rcpt_replies["gone"] = "550 5.1.1 no such user"
    output = send(sqlite_db, peer, certificate, to=["ops@example.com", "gone@example.com"])
    assert peer.received[0].rcpt_tos == ["ops@example.com"]
    assert output.data["refused"] == {"gone@example.com": "550 5.1.1 no such user"}
    assert output.summary == "email sent to 1 recipient(s), 1 refused"


def test_login_uses_the_configured_user(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate
) -> None:
    send(sqlite_db, peer, certificate)
    assert peer.logins == [USER]


def test_wrong_password_fails_permanently(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate
) -> None:
    with pytest.raises(ActionError, match="SMTP login failed: 535") as caught:
        run_email(_fields({}), _ctx(sqlite_db, peer, certificate, password="wrong"))
    assert not caught.value.transient
    assert peer.received == []


def test_temporary_refusal_is_transient_with_the_smtp_code(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate
) -> None:
    peer.data_reply = "452 4.3.1 insufficient storage"
    with pytest.raises(ActionError, match=r"452 4\.3\.1") as caught:
        send(sqlite_db, peer, certificate)
    assert (caught.value.transient, caught.value.data) == (True, {"smtp_code": 452})


def test_final_refusal_is_permanent_with_the_smtp_code(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate
) -> None:
    peer.data_reply = "554 5.7.1 rejected"
    with pytest.raises(ActionError, match=r"554 5\.7\.1") as caught:
        send(sqlite_db, peer, certificate)
    assert (caught.value.transient, caught.value.data) == (False, {"smtp_code": 554})


def test_untrusted_certificate_fails_permanently(sqlite_db: Database, peer: SmtpPeer) -> None:
    with pytest.raises(ActionError, match="TLS certificate rejected") as caught:
        send(sqlite_db, peer, None)
    assert not caught.value.transient
    assert peer.received == []


def test_verification_can_be_switched_off_for_test_servers(
    sqlite_db: Database, peer: SmtpPeer
) -> None:
    run_email(_fields({}), _ctx(sqlite_db, peer, None, verify_tls=False))
    assert len(peer.received) == 1


def test_implicit_tls_when_secure(sqlite_db: Database, certificate: Certificate) -> None:
    with smtp_server(certificate, implicit_tls=True, password=PASSWORD) as server:
        run_email(_fields({}), _ctx(sqlite_db, server, certificate, secure=True))
    assert server.logins == [USER]
    assert len(server.received) == 1


def test_login_is_never_sent_without_tls(sqlite_db: Database) -> None:
    with (
        smtp_server(None, password=PASSWORD) as server,
        pytest.raises(ActionError, match="does not offer STARTTLS") as caught,
    ):
        run_email(_fields({}), _ctx(sqlite_db, server, None))
    assert not caught.value.transient
    assert server.received == []


def test_without_login_a_plain_server_is_fine(sqlite_db: Database) -> None:
    with smtp_server(None) as server:
        run_email(_fields({}), _ctx(sqlite_db, server, None, user=""))
    assert len(server.received) == 1


def test_header_injection_in_the_subject_fails_permanently(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate
) -> None:
    with pytest.raises(ActionError, match="invalid email header") as caught:
        send(sqlite_db, peer, certificate, subject="Hi\r\nBcc: victim@example.com")
    assert not caught.value.transient
    assert peer.received == []


def test_unconfigured_host_fails_permanently(sqlite_db: Database) -> None:
    ctx = StepContext("exec-9", 2, time.monotonic() + 10, Settings(), sqlite_db)
    with pytest.raises(ActionError, match=r"set smtp\.host") as caught:
        run_email(_fields({}), ctx)
    assert not caught.value.transient


def test_non_ascii_address_goes_out_with_smtputf8(
    sqlite_db: Database, peer: SmtpPeer, certificate: Certificate
) -> None:
    send(sqlite_db, peer, certificate, to=["zoë@example.com"], subject="Grüße")
    [got] = peer.received
    assert got.rcpt_tos == ["zoë@example.com"]
    assert (got.message["To"], got.message["Subject"]) == ("zoë@example.com", "Grüße")
