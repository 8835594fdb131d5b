"""The sms action: the real twilio client against a fake Twilio API on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from engine.actions.errors import ActionError
from engine.actions.secret_references import render_fields
from engine.actions.sms_action import run_sms
from engine.actions.step_context import StepContext
from engine.config import Settings
from engine.db import Database
from tests.actions.smtp_peer import free_port
from tests.actions.twilio_peer import ACCOUNT_SID, PHONE_NUMBER, FakeTwilio, fake_twilio

TOKEN = "s3cret-twilio-token"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with fake_twilio(TOKEN) as fake:
        yield fake


def ctx_for(db: Database, base_url: str, budget: float = 10.0, **overrides: Any) -> StepContext:
    twilio: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": TOKEN,
        "phone_number": PHONE_NUMBER,
        "api_base_url": base_url,
    }
    twilio.update(overrides)
    settings = Settings.model_validate(
        {"twilio": twilio, "security": {"allowed_hosts": ["127.0.0.1"]}}
    )
    return StepContext("exec-5", 1, time.monotonic() + budget, settings, db)


def sms(to: str = "+15550100", body: str = "Invoice 7 is due") -> dict[str, Any]:
    return {"to": to, "body": body}


def test_message_is_created_and_its_sid_kept(sqlite_db: Database, twilio: FakeTwilio) -> None:
    output = run_sms(sms(), ctx_for(sqlite_db, twilio.base_url))
    [created] = twilio.created
    assert (created["to"], created["from"], created["body"]) == (
        "+15550100",
        PHONE_NUMBER,
        "Invoice 7 is due",
    )
    assert output.data == {
        "sid": created["sid"],
        "status": "queued",
        "to": "+15550100",
        "segments": "1",
    }
    assert output.summary == f"SMS {created['sid']} queued"


def test_env_reference_number_is_resolved(
    sqlite_db: Database, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ON_CALL_PHONE", "+15550199")
    fields = render_fields("sms", sms(to="${ON_CALL_PHONE}"), {}, vault=sqlite_db.vault)
    run_sms(fields, ctx_for(sqlite_db, twilio.base_url))
    assert twilio.created[0]["to"] == "+15550199"


def test_unsubscribed_recipient_fails_permanently(sqlite_db: Database, twilio: FakeTwilio) -> None:
    twilio.mode = "unsubscribed"
    with pytest.raises(ActionError, match="unsubscribed") as caught:
        run_sms(sms(), ctx_for(sqlite_db, twilio.base_url))
    assert not caught.value.transient
    assert caught.value.data == {"status_code": 400, "twilio_code": 21610}


@pytest.mark.parametrize(("mode", "status"), [("rate_limited", 429), ("server_error", 500)])
def test_rate_limit_and_server_error_are_transient(
    sqlite_db: Database, twilio: FakeTwilio, mode: str, status: int
) -> None:
    twilio.mode = mode
    with pytest.raises(ActionError, match=f"HTTP {status}") as caught:
        run_sms(sms(), ctx_for(sqlite_db, twilio.base_url))
    assert caught.value.transient
    assert twilio.requests == 1


def test_wrong_token_fails_permanently(sqlite_db: Database, twilio: FakeTwilio) -> None:
    with pytest.raises(ActionError, match="Twilio error 20003") as caught:
        run_sms(sms(), ctx_for(sqlite_db, twilio.base_url, auth_token="wrong"))
    assert not caught.value.transient
    assert twilio.created == []


def test_no_answer_is_outcome_unknown_and_not_sent_again(
    sqlite_db: Database, twilio: FakeTwilio
) -> None:
    twilio.mode = "hang"
    started = time.monotonic()
    with pytest.raises(ActionError, match="outcome unknown") as caught:
        run_sms(sms(), ctx_for(sqlite_db, twilio.base_url, budget=0.8))
    assert time.monotonic() - started < 1.5
    assert not caught.value.transient
    assert caught.value.data["outcome"] == "unknown"
    assert twilio.requests == 1


def test_dropped_connection_after_sending_is_outcome_unknown(
    sqlite_db: Database, twilio: FakeTwilio
) -> None:
    twilio.mode = "drop"
    with pytest.raises(ActionError, match="outcome unknown") as caught:
        run_sms(sms(), ctx_for(sqlite_db, twilio.base_url))
    assert not caught.value.transient
    assert twilio.requests == 1


def test_unreachable_api_is_transient(sqlite_db: Database) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ActionError, match="could not send to Twilio") as caught:
        run_sms(sms(), ctx_for(sqlite_db, base_url))
    assert caught.value.transient


def test_private_api_url_is_refused_unless_allowed(sqlite_db: Database, twilio: FakeTwilio) -> None:
    ctx = ctx_for(sqlite_db, twilio.base_url)
    strict = ctx.settings.model_copy(update={"security": Settings().security})
    with pytest.raises(ActionError, match="refused outbound call") as caught:
        run_sms(sms(), StepContext("exec-5", 1, ctx.deadline, strict, sqlite_db))
    assert not caught.value.transient
    assert twilio.requests == 0


def test_unconfigured_twilio_fails_permanently(sqlite_db: Database) -> None:
    ctx = StepContext("exec-5", 1, time.monotonic() + 5, Settings(), sqlite_db)
    with pytest.raises(ActionError, match="sms is not configured") as caught:
        run_sms(sms(), ctx)
    assert not caught.value.transient
