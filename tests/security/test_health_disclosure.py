"""``GET /health`` tells everyone whether ``serve`` is up, and only token holders why not.

The error of a check that is down is a driver message: for PostgreSQL it names the host,
the port, the database and the user. An unauthenticated ``/health`` used to return it
verbatim. Here the database user and password are canaries: a real ``wfconsole serve``
runs on PostgreSQL as that user, then the user loses its login. No answer to a request
without a valid API token — ``/health``, ``/metrics``, a webhook, the API — carries a
canary; the same ``/health`` with a token says exactly what is wrong (the token was
checked while the database answered, and is remembered for a few minutes for this).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from engine.db import connect_database
from engine.models import Role
from engine.services.tokens import create_token
from engine.services.workflows import save_document
from tests.api_client import set_role
from tests.chaos.processes import ServeProcess, running_serve
from tests.conftest import settings_for_url
from tests.consumers import Deployment, wait_until
from tests.pg import admin_url, fresh_postgres_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
HOOK = {"name": "orders", "triggers": [{"type": "webhook", "path": "orders"}],
        "actions": [{"type": "create_task", "title": "t"}]}  # fmt: skip


class Canary:
    """A PostgreSQL login role with canary name and password, allowed into one database."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:12]
        self.user, self.password = f"wf_canary_user_{tag}", f"canary-password-{tag}"

    def admin(self, database: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
        url = make_url(admin_url())
        if database is not None:
            url = url.set(database=database)
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)

    def create(self, database: str) -> None:
        role = sql.Identifier(self.user)
        with self.admin() as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                role, sql.Literal(self.password)))  # fmt: skip
        with self.admin(database) as admin:
            for grant in ("GRANT ALL ON SCHEMA public TO {}",
                          "GRANT ALL ON ALL TABLES IN SCHEMA public TO {}",
                          "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {}"):  # fmt: skip
                admin.execute(sql.SQL(grant).format(role))

    def lock_out(self) -> None:
        """No new login, and its open connections end: what a revoked account looks like."""
        with self.admin() as admin:
            admin.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(self.user)))
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (self.user,),
            )

    def drop(self) -> None:
        with self.admin() as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(self.user)))

    def url(self, database_url: str) -> str:
        return (
            make_url(database_url)
            .set(username=self.user, password=self.password)
            .render_as_string(hide_password=False)
        )

    def found_in(self, text: str) -> bool:
        return self.user in text or self.password in text


@pytest.fixture
def canary() -> Iterator[Canary]:
    canary = Canary()
    yield canary
    canary.drop()


@pytest.fixture
def served(
    canary: Canary, postgres_template: str, tmp_path: Path
) -> Iterator[tuple[ServeProcess, str, str]]:
    """``serve`` on PostgreSQL as the canary user, and two valid API tokens."""
    with fresh_postgres_url("wf_canary", template=postgres_template, wait_for_drop=True) as url:
        canary.create(make_url(url).database or "")
        db = connect_database(settings_for_url(url))  # the admin's own connection
        try:
            save_document(db, HOOK, actor="tester")
            set_role(db, "root", Role.SUPER_ADMIN)
            tokens = [create_token(db, actor="root", name=n).token for n in ("monitor", "spare")]
            sections: dict[str, dict[str, Any]] = {
                "database": {"url": canary.url(url)},
                "queue": {"path": str(tmp_path / "queue.db"), "embedded_worker": False},
                "logging": {"level": "WARNING"},
            }
            deployed = Deployment("postgres", db, sections, tmp_path / "wfconsole.toml")
            with running_serve(deployed, tmp_path / "serve.log") as serve:
                yield serve, tokens[0], tokens[1]
        finally:
            db.dispose()


def _health(serve: ServeProcess, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{serve.url}/health", headers=headers, timeout=30)


def _outsider_answers(serve: ServeProcess, never_shown: str) -> list[httpx.Response]:
    """Everything someone without a (checkable) token can ask."""
    bogus = {"Authorization": "Bearer wfc_" + "x" * 43}
    return [
        _health(serve),
        _health(serve, "wfc_" + "y" * 43),
        _health(serve, never_shown),  # valid, but the database cannot say so now
        httpx.get(f"{serve.url}/health", headers={"Authorization": "Basic cm9vdDpyb290"}),
        httpx.get(f"{serve.url}/metrics", timeout=30),
        httpx.post(f"{serve.url}/hooks/orders", json={"n": 1}, timeout=30),
        httpx.get(f"{serve.url}/api/workflows", timeout=30),
        httpx.get(f"{serve.url}/api/workflows", headers=bogus, timeout=30),
        httpx.get(f"{serve.url}/api/openapi.json", timeout=30),
        httpx.get(f"{serve.url}/nothing-here", timeout=30),
    ]


def test_an_outage_is_public_and_its_details_are_for_token_holders(
    served: tuple[ServeProcess, str, str], canary: Canary
) -> None:
    serve, token, never_shown = served
    up = _health(serve)
    assert up.status_code == 200, up.text
    assert up.json()["checks"]["database"] == {"status": "up"}
    assert _health(serve, token).status_code == 200  # the token checked while it could be

    canary.lock_out()
    detailed: list[httpx.Response] = []

    def down_with_the_canarys_name() -> bool:
        detailed[:] = [_health(serve, token)]
        error = detailed[0].json()["checks"]["database"].get("error", "")
        return detailed[0].status_code == 503 and canary.user in error

    assert wait_until(down_with_the_canarys_name, 60, 0.5), detailed[0].text

    answers = _outsider_answers(serve, never_shown)
    leaks = [(a.request.url.path, a.status_code, a.text[:300]) for a in answers
             if canary.found_in(a.text) or canary.found_in(str(a.headers))]  # fmt: skip
    assert leaks == []
    public = answers[0]
    assert public.status_code == 503
    document = public.json()
    assert set(document) == {"status", "timestamp", "checks"}
    assert document["status"] == "unhealthy"
    assert document["checks"] == {
        "database": {"status": "down"}, "queue": {"status": "up"}, "workflows": None,
    }  # fmt: skip
    for answer in answers[1:4]:  # a token that cannot be checked now shows nothing more
        assert answer.json()["checks"] == document["checks"]
