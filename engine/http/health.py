"""The ``GET /health`` document (``wfconsole health --json`` prints the same, in full).

Over HTTP the error texts of checks that are down — database and queue errors name hosts,
ports and users — go only to a request with a valid API token (``DetailGate``); everyone
else gets ``public_health``: the same shape, each check's status, the workflow counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from engine.db import Database
from engine.plain_reads.health import database_check, first_line, workflow_counts
from engine.plain_reads.health import health_document as plain_health_document
from engine.plain_reads.reader import Reader


def _workflow_counts(engine: sa.Engine) -> dict[str, int]:
    with Reader.of_engine(engine) as reader:
        return workflow_counts(reader)


def _ping(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def _database_checks(db: Database) -> tuple[dict[str, Any], dict[str, int] | None]:
    """The ``database`` check and the workflow counts (None when no database answered).

    Only the primary decides ``database``: every write goes there. A configured replica
    gets a ``replica`` sub-check of its own; when it is down the engine is degraded, not
    unhealthy, and the counts come from the primary instead.
    """
    if not db.has_replica:
        try:
            with Reader.of_engine(db.read_engine) as reader:
                return database_check(reader)
        except Exception as exc:  # no connection: down, the detail says why
            return {"status": "down", "error": first_line(exc)}, None
    database: dict[str, Any] = {"status": "up"}
    try:
        _ping(db.engine)
    except Exception as exc:  # any failure means down; the detail says which
        database = {"status": "down", "error": f"primary: {first_line(exc)}"}
    counts: dict[str, int] | None = None
    try:
        counts = _workflow_counts(db.read_engine)
        database["replica"] = {"status": "up"}
    except Exception as exc:  # the replica is down or lost: reads go elsewhere
        database["replica"] = {"status": "degraded", "error": f"replica: {first_line(exc)}"}
        if database["status"] == "up":
            try:
                counts = _workflow_counts(db.engine)
            except Exception as primary_exc:  # answered the ping, then failed
                database.update(status="down", error=f"primary: {first_line(primary_exc)}")
    return database, counts


def health_document(db: Database, queue_probe: Callable[[], object]) -> dict[str, Any]:
    """``{"status", "timestamp", "checks": {"database", "queue", "workflows"}}``; never raises.

    With a read replica configured, ``checks.database.replica`` says whether it answers;
    a replica that does not leaves the status healthy (see ``_database_checks``).
    """
    database, workflows = _database_checks(db)
    return plain_health_document(database, workflows, queue_probe)


def public_health(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without the ``error`` texts of its checks (statuses and counts stay)."""

    def without_errors(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: without_errors(v) for k, v in value.items() if k != "error"}
        return value

    return {**document, "checks": without_errors(document["checks"])}


class DetailGate:
    """Whether a ``/health`` request may read the error details: it carries
    ``Authorization: Bearer <token>`` with a valid API token (any role).

    Tokens are checked in the database, which may be what is down: then a token this
    process found valid within the last ``remember`` seconds still counts (a monitor that
    polls with its token keeps seeing why). A token found invalid is forgotten at once.
    """

    MAX_REMEMBERED = 1000

    def __init__(self, remember: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.remember, self.clock = remember, clock
        self._lock = threading.Lock()
        self._verified: dict[str, float] = {}

    def allows(self, db: Database, authorization: str | None) -> bool:
        """True when ``authorization`` holds a valid token (blocking: a database query)."""
        from engine.services.tokens import authenticate, hash_token

        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        digest = hash_token(token)
        try:
            identity = authenticate(db, token)
        except Exception:  # the database does not answer: what do we remember?
            with self._lock:
                seen = self._verified.get(digest)
            return seen is not None and self.clock() - seen < self.remember
        with self._lock:
            if identity is None:
                self._verified.pop(digest, None)
                return False
            if len(self._verified) >= self.MAX_REMEMBERED:
                self._verified.clear()
            self._verified[digest] = self.clock()
        return True
