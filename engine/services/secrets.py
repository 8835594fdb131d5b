"""Stored secrets as a whole: how many there are, whether they decrypt, key rotation.

Secrets live inside definitions (``workflow`` rows and every ``workflow_version``), see
engine/security/secret_fields.py. Rotation re-encrypts each one under the newest key of
ENCRYPTION_KEY and encrypts any plaintext left from before encryption existed, in one
transaction: if any value cannot be decrypted, nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from engine.access.audit import record_audit
from engine.access.roles import Permission
from engine.db import Database, session_scope
from engine.models import Workflow, WorkflowVersion
from engine.security.crypto import KeyConfigError, SecretKeyError, Vault, is_encrypted
from engine.security.secret_fields import is_literal, map_secrets, secret_slots
from engine.services.workflow_admin import authorize
from engine.workflow_cache.cache import mark_changed

BATCH_SIZE = 200


@dataclass
class SecretsReport:
    """What a scan or a rotation found (counts over workflows and all their versions)."""

    encrypted: int = 0
    """Encrypted values found (rotated ones, for a rotation)."""
    plaintext: int = 0
    """Literal secrets stored in clear (saved before encryption; encrypted by a rotation)."""
    unreadable: list[str] = field(default_factory=list)
    """Where values no configured key decrypts are: ``workflow NAME vN triggers[0].secret``."""
    rows: int = 0
    """Definitions (current and versions) that hold at least one secret."""


def _documents(session: Session) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(label, row, document) for every workflow and version, read in batches by key."""
    names: dict[str, str] = {}
    last = ""
    while True:
        workflows = session.exec(
            select(Workflow).where(Workflow.id > last).order_by(col(Workflow.id)).limit(BATCH_SIZE)
        ).all()
        if not workflows:
            break
        for workflow in workflows:
            names[workflow.id] = workflow.name
            document = {"triggers": workflow.triggers, "actions": workflow.actions}
            yield f"workflow {workflow.name!r}", workflow, document
        last = workflows[-1].id
    last_id = 0
    while True:
        versions = session.exec(
            select(WorkflowVersion)
            .where(col(WorkflowVersion.id) > last_id)
            .order_by(col(WorkflowVersion.id))
            .limit(BATCH_SIZE)
        ).all()
        if not versions:
            break
        for row in versions:
            label = f"workflow {names.get(row.workflow_id, row.workflow_id)!r} v{row.version}"
            yield label, row, row.definition
        last_id = versions[-1].id or last_id


def _scan(document: dict[str, Any], vault: Vault, label: str, report: SecretsReport) -> bool:
    found = False
    for path, holder, key in secret_slots(document):
        value = holder[key]
        if is_encrypted(value):
            found = True
            report.encrypted += 1
            try:
                vault.decrypt(value)
            except KeyConfigError:
                raise
            except SecretKeyError:
                report.unreadable.append(f"{label} {path}")
        elif is_literal(value):
            found = True
            report.plaintext += 1
    report.rows += found
    return found


def secrets_status(db: Database) -> SecretsReport:
    """Count stored secrets and check that every encrypted one decrypts."""
    report = SecretsReport()
    with db.read_session() as session:
        for label, _row, document in _documents(session):
            _scan(document, db.vault, label, report)
    return report


def _renewed(vault: Vault, value: str) -> str:
    if is_encrypted(value):
        return vault.rotate(value)
    return vault.encrypt(value) if is_literal(value) else value


def rotate_secrets(db: Database, *, actor: str) -> SecretsReport:
    """Re-encrypt every stored secret under the newest key; encrypt leftover plaintext.

    Needs ``Permission.MANAGE``. Raises SecretKeyError naming the first value no key
    decrypts (and how many there are); nothing is changed then.
    """
    vault = db.vault
    with session_scope(db) as session:
        authorize(session, actor, Permission.MANAGE)
        report = SecretsReport()
        for label, row, document in _documents(session):
            if not _scan(document, vault, label, report) or report.unreadable:
                continue
            renewed = map_secrets(document, lambda _path, value: _renewed(vault, value))
            if isinstance(row, Workflow):
                row.triggers, row.actions = renewed["triggers"], renewed["actions"]
            else:
                row.definition = renewed
            session.add(row)
            session.flush()
        if report.unreadable:
            raise SecretKeyError(
                f"{len(report.unreadable)} stored secret(s) cannot be decrypted with any key in "
                f"ENCRYPTION_KEY (first: {report.unreadable[0]}); nothing was changed"
            )
        mark_changed(session)  # cached webhook secrets hold the old tokens
        record_audit(
            session,
            actor=actor,
            action="secrets.rotate",
            target_type="secrets",
            details={"rotated": report.encrypted, "encrypted": report.plaintext},
        )
    return report
