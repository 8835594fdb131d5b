"""Trigger data is data: it never becomes a ``${VAR}`` expansion or a decrypted ``enc:v1:``.

The attack (issue 12, finding 1): an unauthenticated sender posts to an unsigned hook whose
actions put trigger values into credential headers, addresses and chat URLs. The body spells
``${SMTP_PASS}`` and carries an ``enc:v1:`` value a VIEWER copied from ``GET /api/workflows``.
Secret references are resolved only from the definition's own text, so everything the sender
wrote must arrive exactly as written, and no canary (from the environment, or the plaintext
of a stored secret) may appear in any request, error, listing, log or API answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.actions.errors import ActionError
from engine.actions.registry import run_action
from engine.actions.secret_references import render_fields
from engine.actions.step_context import StepContext
from engine.config import CONFIG_ENV, Settings
from engine.definitions.actions import WebhookAction
from engine.security.crypto import Vault, generate_key
from tests.chaos.processes import running_serve
from tests.consumers import deployment, running_consumer, wait_until
from tests.http_sink import HttpSink, Reply

ENV_CANARY = f"envcanary{uuid.uuid4().hex}"
TOKEN_CANARY = f"tokencanary{uuid.uuid4().hex}"
URL_CANARY = f"urlcanary{uuid.uuid4().hex}"
STORED_CANARY = f"storedcanary{uuid.uuid4().hex}"
CANARIES = (ENV_CANARY, TOKEN_CANARY, URL_CANARY, STORED_CANARY)


def cli(config: Path, *args: str) -> str:
    """Run ``wfconsole`` as a user types it; return stdout (fails the test on an error)."""
    result = subprocess.run(
        [sys.executable, "-m", "wfconsole.cli", *args, "--config", str(config), "--user", "root"],
        capture_output=True,
        text=True,
        env={**os.environ, CONFIG_ENV: str(config)},
        timeout=60,
    )
    assert result.returncode == 0, f"wfconsole {' '.join(args)}: {result.stderr}"
    return result.stdout


def leaked(text: str) -> list[str]:
    return [canary for canary in CANARIES if canary in text]


def victim(sink: HttpSink) -> dict[str, Any]:
    """A workflow holding a stored secret (a literal credential header, sealed on save)."""
    return {
        "name": "victim",
        "triggers": [{"type": "manual"}],
        "actions": [
            {
                "type": "webhook",
                "method": "POST",
                "url": sink.url("/legit"),
                "headers": {"X-Api-Key": STORED_CANARY},
                "body": {},
            }
        ],
    }


def attack_target(sink: HttpSink) -> dict[str, Any]:
    """An unsigned hook whose actions put trigger data where secrets may be referenced."""
    return {
        "name": "attack-target",
        "triggers": [{"type": "webhook", "path": "open-hook"}],
        "actions": [
            {
                "type": "webhook",
                "method": "POST",
                "url": sink.url("/out"),
                "headers": {
                    "X-Api-Key": "{{ trigger.key }}",
                    "Authorization": "Bearer {{ trigger.token }}",
                },
                "body": {"email": "{{ trigger.email }}"},
                "continue_on_error": True,
            },
            {
                "type": "email",
                "to": ["{{ trigger.email }}"],
                "subject": "hi",
                "body": "hi",
                "continue_on_error": True,
            },
            {"type": "slack", "webhook_url": "{{ trigger.hook }}", "text": "hi"},
        ],
    }


@pytest.mark.postgres
@pytest.mark.redis
def test_trigger_data_spelling_secret_references_stays_literal_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENCRYPTION_KEY", generate_key())
    monkeypatch.setenv("SMTP_PASS", ENV_CANARY)
    monkeypatch.setenv("WF_TOKEN", TOKEN_CANARY)
    with HttpSink() as sink, deployment("postgres", tmp_path) as dep:
        monkeypatch.setenv("WF_LEAK_URL", sink.url(f"/leak/{URL_CANARY}"))
        with dep.config_path.open("a", encoding="utf-8") as config:
            # SMTP is configured (so the email step reaches its addresses) but unreachable.
            config.write('\n[smtp]\nhost = "127.0.0.1"\nport = 9\n')
            config.write('from_address = "wf@example.com"\n')
        for document in (victim(sink), attack_target(sink)):
            path = tmp_path / f"{document['name']}.json"
            path.write_text(json.dumps(document), encoding="utf-8")
            cli(dep.config_path, "workflow", "import", str(path))
        cli(dep.config_path, "user", "add", "vera", "--role", "VIEWER")
        token = json.loads(
            cli(dep.config_path, "token", "create", "--name", "v", "--for-user", "vera", "--json")
        )["token"]
        viewer = {"Authorization": f"Bearer {token}"}

        with (
            running_serve(dep, tmp_path / "serve.log") as serve,
            running_consumer(dep, tmp_path / "consumer.log") as consumer,
        ):
            shown = httpx.get(f"{serve.url}/api/workflows/victim", headers=viewer, timeout=10)
            assert shown.status_code == 200
            sealed = shown.json()["definition"]["actions"][0]["headers"]["X-Api-Key"]
            assert sealed.startswith("enc:v1:"), sealed
            attack = {"key": sealed, "email": "${SMTP_PASS}", "token": "${WF_TOKEN}",
                      "hook": "${WF_LEAK_URL}"}  # fmt: skip
            accepted = httpx.post(f"{serve.url}/hooks/open-hook", json=attack, timeout=10)
            assert accepted.status_code == 202, accepted.text
            (execution_id,) = accepted.json()["executions"]

            def final() -> dict[str, Any] | None:
                answer = httpx.get(
                    f"{serve.url}/api/executions/{execution_id}", headers=viewer, timeout=10
                ).json()
                return answer if answer["status"] in ("SUCCESS", "FAILED") else None

            assert wait_until(lambda: final() is not None, 30), consumer.log_tail()
            execution = final()
            listing = httpx.get(f"{serve.url}/api/executions", headers=viewer, timeout=10).text
        listed = cli(dep.config_path, "executions", "list", "--json")

    # The sender's text arrived exactly as written: nothing was expanded or decrypted.
    (sent,) = [request for request in sink.requests if request.path == "/out"]
    assert sent.headers["x-api-key"] == sealed
    assert sent.headers["authorization"] == "Bearer ${WF_TOKEN}"
    assert json.loads(sent.body) == {"email": "${SMTP_PASS}"}
    assert [r.path for r in sink.requests] == ["/out"], "the chat URL was resolved from data"
    assert execution is not None
    email_step = execution["steps"][1]
    assert email_step["status"] == "FAILED"
    assert "${SMTP_PASS}" in email_step["error"]
    # No canary anywhere an outsider or a VIEWER can look.
    everything = [
        *(f"{r.path} {r.headers} {r.body!r}" for r in sink.requests),
        json.dumps(execution),
        listing,
        listed,
        (tmp_path / "serve.log").read_text(encoding="utf-8", errors="replace"),
        (tmp_path / "consumer.log").read_text(encoding="utf-8", errors="replace"),
    ]
    assert [leaked(text) for text in everything] == [[] for _ in everything]


# The same rule for every action type, at the one place fields are rendered.


@pytest.fixture
def vault() -> Vault:
    return Vault(generate_key())


CONTEXT = {
    "trigger": {"secret_ref": "${SMTP_PASS}", "embedded": "x ${SMTP_PASS} y"},
}


@pytest.mark.parametrize(
    ("kind", "fields", "where"),
    [
        ("webhook", {"headers": {"X-Api-Key": "{{ trigger.secret_ref }}"}},
         ("headers", "X-Api-Key")),
        ("webhook", {"headers": {"Authorization": "Bearer {{ trigger.embedded }}"}},
         ("headers", "Authorization")),
        ("email", {"to": ["{{ trigger.secret_ref }}"]}, ("to", 0)),
        ("email", {"to": "{{ trigger.secret_ref }}"}, ("to",)),
        ("email", {"cc": ["{{ trigger.secret_ref }}"]}, ("cc", 0)),
        ("sms", {"to": "{{ trigger.secret_ref }}"}, ("to",)),
        ("slack", {"webhook_url": "{{ trigger.secret_ref }}"}, ("webhook_url",)),
        ("teams", {"webhook_url": "{{ trigger.secret_ref }}"}, ("webhook_url",)),
    ],
)  # fmt: skip
def test_rendered_data_is_never_expanded(
    kind: str, fields: dict[str, Any], where: tuple[Any, ...], vault: Vault,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SMTP_PASS", ENV_CANARY)
    rendered: Any = render_fields(kind, fields, CONTEXT, vault=vault)
    for key in where:
        rendered = rendered[key]
    assert ENV_CANARY not in str(rendered)
    assert "${SMTP_PASS}" in str(rendered)


@pytest.mark.parametrize("kind", ["webhook", "slack", "email"])
def test_encrypted_value_in_data_is_never_decrypted(kind: str, vault: Vault) -> None:
    sealed = vault.encrypt(STORED_CANARY)
    by_kind: dict[str, dict[str, Any]] = {
        "webhook": {"headers": {"X-Api-Key": "{{ trigger.key }}"}},
        "slack": {"webhook_url": "{{ trigger.key }}"},
        "email": {"to": ["{{ trigger.key }}"]},
    }
    rendered = render_fields(kind, by_kind[kind], {"trigger": {"key": sealed}}, vault=vault)
    assert STORED_CANARY not in json.dumps(rendered)
    assert sealed in json.dumps(rendered)


def test_the_definitions_own_references_are_still_resolved(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "tok-123")
    fields = {
        "headers": {
            "Authorization": "Bearer ${API_TOKEN} for {{ trigger.who }}",
            "X-Api-Key": vault.encrypt("stored-1"),
            "X-Trace": "${API_TOKEN}",  # not a credential header: sent as written
        }
    }
    rendered = render_fields("webhook", fields, {"trigger": {"who": "${API_TOKEN}"}}, vault=vault)
    assert rendered["headers"] == {
        "Authorization": "Bearer tok-123 for ${API_TOKEN}",
        "X-Api-Key": "stored-1",
        "X-Trace": "${API_TOKEN}",
    }


def test_a_secret_value_that_looks_like_a_template_is_not_rendered(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODD_TOKEN", "a{{ trigger.x }}b")
    rendered = render_fields(
        "webhook", {"headers": {"X-Api-Key": "${ODD_TOKEN}"}}, {"trigger": {"x": 1}}, vault=vault
    )
    assert rendered["headers"]["X-Api-Key"] == "a{{ trigger.x }}b"


def test_a_missing_reference_names_the_field(vault: Vault) -> None:
    with pytest.raises(ActionError, match=r"^to\[1\]: environment variable NOT_SET_ANYWHERE"):
        render_fields("email", {"to": ["a@example.com", "${NOT_SET_ANYWHERE}"]}, {}, vault=vault)


# A peer that echoes the request back, in another spelling (found by the attack review).


@pytest.mark.parametrize(
    ("suffix", "echo"),
    [
        ("\u0001", lambda sent: json.dumps({"x-api-key": sent})),
        ('"', lambda sent: json.dumps({"x-api-key": sent})),
        ("\\", lambda sent: json.dumps({"x-api-key": sent})),
        ("/a", lambda sent: json.dumps({"x-api-key": sent}).replace("/", "\\/")),
        ("é", lambda sent: json.dumps({"x-api-key": sent}, ensure_ascii=True)),
    ],
)
def test_a_resolved_secret_echoed_in_another_spelling_is_masked(
    suffix: str, echo: Any, vault: Vault, monkeypatch: pytest.MonkeyPatch, sqlite_db: Any
) -> None:
    monkeypatch.setenv("RV_CANARY", ENV_CANARY)
    spec = WebhookAction.model_validate({
        "type": "webhook", "method": "POST", "url": "http://127.0.0.1/x",
        "headers": {"X-Api-Key": "${RV_CANARY}{{ trigger.tenant }}"}, "body": {},
    })  # fmt: skip
    with HttpSink() as sink:
        sent_value = ENV_CANARY + suffix
        sink.reply(Reply(status=200, body=echo(sent_value).encode()))
        spec = spec.model_copy(update={"url": sink.url("/x")})
        settings = Settings.model_validate({"security": {"allow_private_targets": True}})
        ctx = StepContext("exec-1", 0, time.monotonic() + 10, settings, sqlite_db)
        try:
            output = run_action(spec, {"trigger": {"tenant": suffix}}, ctx)
            shown = json.dumps(output.data) + output.summary
        except ActionError as exc:  # a header the client refuses to send: the error shows
            shown = exc.message + json.dumps(exc.data)
    assert ENV_CANARY not in shown
    assert ENV_CANARY not in shown.encode().decode("unicode_escape", "ignore")
