"""The audit log and the people behind it: who they are, what their role lets them do."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session, func, select

from engine.access.roles import Permission, require
from engine.db import Database, session_scope
from engine.models import AuditLog, Role, User

log = logging.getLogger(__name__)


def ensure_user(session: Session, username: str) -> User:
    """The user row for ``username``, created on first sight.

    The very first user of a database becomes SUPER_ADMIN (whoever set it up owns it);
    later newcomers start as VIEWER until an administrator raises them.
    """
    user = session.exec(select(User).where(User.username == username)).first()
    if user is not None:
        return user
    has_users = session.exec(select(func.count()).select_from(User)).one() > 0
    user = User(username=username, role=(Role.VIEWER if has_users else Role.SUPER_ADMIN).value)
    session.add(user)
    session.flush()
    return user


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write one audit row in the caller's transaction (so it lands with the change)."""
    session.add(
        AuditLog(
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details,
        )
    )


def authorize(session: Session, actor: str, permission: Permission) -> None:
    """Raise ``PermissionDenied`` unless ``actor``'s stored role holds ``permission``.

    Checked in the caller's transaction, so the change it guards sees the same role.
    """
    require(ensure_user(session, actor).role, permission)


def require_permission(db: Database, actor: str, permission: Permission) -> None:
    """``authorize`` in a transaction of its own, for a job that writes through several."""
    with session_scope(db) as session:
        authorize(session, actor, permission)


def audit_change(
    db: Database,
    *,
    actor: str,
    action: str,
    target_type: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Write one audit row in a transaction of its own (for jobs that change no rows
    themselves, or change them in many transactions)."""
    with session_scope(db) as session:
        record_audit(session, actor=actor, action=action, target_type=target_type, details=details)


def record_outcome(
    db: Database,
    *,
    actor: str,
    action: str,
    target_type: str,
    details: dict[str, Any],
    failure: BaseException | None,
) -> None:
    """``audit_change`` for a job that may have failed partway (``failure``): its row
    is still written, and if even that fails, the job's own error is the one raised."""
    try:
        audit_change(db, actor=actor, action=action, target_type=target_type, details=details)
    except Exception:
        if failure is None:
            raise
        log.warning("%s: the audit row of the failed job could not be written", action,
                    exc_info=True)  # fmt: skip
