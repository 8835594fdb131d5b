"""The audit log and the people behind it."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, func, select

from engine.models import AuditLog, Role, User


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
