"""A running ``serve`` app with one API token per role, for the REST API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select

from engine.access.audit import ensure_user
from engine.config import Settings
from engine.db import Database, session_scope
from engine.models import AuditLog, Role
from engine.services.tokens import create_token
from tests.test_http_hooks import Server

ROOT = "root"  # the first user of a database is its SUPER_ADMIN
PEOPLE = {Role.VIEWER: "vera", Role.OPERATOR: "otto", Role.ADMIN: "ada", Role.SUPER_ADMIN: ROOT}


def set_role(db: Database, username: str, role: Role) -> None:
    """Give ``username`` (created if new) ``role``."""
    with session_scope(db) as session:
        user = ensure_user(session, username)
        user.role = role.value
        session.add(user)


class Api:
    """httpx against ``/api`` of a live server, as one of the role tokens."""

    def __init__(self, server: Server, db: Database, tokens: dict[Role, str]) -> None:
        self.server, self.db, self.tokens = server, db, tokens

    def call(
        self, method: str, path: str, role: Role | None = Role.SUPER_ADMIN, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return httpx.request(
            method, f"{self.server.base}/api{path}", headers=headers, timeout=20, **kwargs
        )

    def get(self, path: str, role: Role | None = Role.VIEWER, **kwargs: Any) -> httpx.Response:
        return self.call("GET", path, role, **kwargs)

    def post(self, path: str, role: Role | None = Role.ADMIN, **kwargs: Any) -> httpx.Response:
        return self.call("POST", path, role, **kwargs)

    def audit(self, action: str) -> list[AuditLog]:
        """Audit rows of one action, oldest first."""
        with session_scope(self.db) as session:
            query = select(AuditLog).where(AuditLog.action == action).order_by(col(AuditLog.id))
            return list(session.exec(query).all())


def running_api(db: Database, tmp_path: Path) -> Iterator[Api]:
    """Start the server over ``db`` with a token for each role; yields the client."""
    set_role(db, ROOT, Role.SUPER_ADMIN)
    tokens = {}
    for role, person in PEOPLE.items():
        if person != ROOT:
            set_role(db, person, role)
        tokens[role] = create_token(db, actor=ROOT, name=f"{person}-test", for_user=person).token
    settings = Settings.model_validate(
        {"database": {"url": db.url}, "queue": {"path": str(tmp_path / "queue.db")}}
    )
    with Server(settings, db) as server:
        yield Api(server, db, tokens)
