"""The people who may use wfconsole and their roles: list, add, change a role, remove.

Everything here needs ``Permission.MANAGE`` (SUPER_ADMIN) and every change is audited
in its own transaction. A database always keeps at least one active SUPER_ADMIN: the
last one can be neither demoted nor removed, otherwise nobody could manage users again
without SQL.

Removing a user disables the row rather than deleting it: their API tokens are revoked
in the same transaction (and stay listed as revoked), their role drops to VIEWER, the
audit log keeps naming them, and should the same name turn up again (``$USER`` on the
console) it holds no more than any newcomer. No token can be created for a removed user
(engine/services/tokens.py refuses), so ``add_user`` with that name restores them with a
new role and without any token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from engine.access.api_tokens import ApiToken
from engine.access.audit import authorize, record_audit
from engine.access.roles import Permission
from engine.db import Database, session_scope
from engine.models import Role, User, table_of, utcnow

MAX_USERNAME = 128
ALLOWED_ROLES = ", ".join(role.value for role in Role)


class UserNotFound(LookupError):
    """No active user has that name (``message`` says more, e.g. that they were removed)."""

    def __init__(self, username: str, message: str | None = None) -> None:
        super().__init__(message or f"no user named {username!r}")
        self.username = username


class UserConflict(Exception):
    """The change would break a rule: the name is taken, or the last SUPER_ADMIN goes."""


@dataclass(frozen=True)
class UserInfo:
    """One active user as lists show them."""

    username: str
    role: str
    created_at: datetime
    active_tokens: int


@dataclass(frozen=True)
class RoleChange:
    """What ``set_role`` did; ``previous == role`` when there was nothing to change."""

    username: str
    previous: str
    role: str


@dataclass(frozen=True)
class RemovedUser:
    """Who was removed, the role they held and the tokens revoked with them."""

    username: str
    role: str
    revoked_tokens: int


def parse_role(text: str) -> Role:
    """The role named by ``text`` (any case), or ValueError naming the allowed ones."""
    try:
        return Role(text.strip().upper())
    except ValueError:
        raise ValueError(f"role: unknown role {text!r} (allowed: {ALLOWED_ROLES})") from None


def check_username(text: str) -> str:
    """A usable user name (what ``$USER`` or ``--user`` would give), or ValueError."""
    name = text.strip()
    if not name or len(name) > MAX_USERNAME:
        raise ValueError(f"name: give 1 to {MAX_USERNAME} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise ValueError("name: no spaces or control characters")
    return name


def _lock_super_admins(session: Session) -> list[str]:
    """Ids of the active SUPER_ADMINs, locked for the rest of the transaction.

    Every change here takes these locks first, in id order, so two SUPER_ADMINs demoting
    each other at once queue on PostgreSQL instead of both seeing a colleague and leaving
    nobody (SQLite's BEGIN IMMEDIATE already runs writers one at a time).
    """
    query = (
        select(User.id)
        .where(User.role == Role.SUPER_ADMIN.value, col(User.disabled).is_(False))
        .order_by(col(User.id))
        .with_for_update()
    )
    return list(session.exec(query).all())


def _active_user(session: Session, username: str) -> User:
    """The active user's row, locked until commit (a token created for them meanwhile
    either commits first, and is revoked by ``remove_user``, or waits and sees the change)."""
    user = session.exec(
        select(User)
        .where(User.username == username, col(User.disabled).is_(False))
        .with_for_update()
    ).first()
    if user is None:
        raise UserNotFound(username)
    return user


def _keep_a_super_admin(user: User, super_admins: list[str], doing: str) -> None:
    if user.role == Role.SUPER_ADMIN.value and super_admins == [user.id]:
        raise UserConflict(
            f"cannot {doing} {user.username!r}: the last SUPER_ADMIN "
            "(make another user SUPER_ADMIN first)"
        )


def list_users(db: Database, *, actor: str) -> list[UserInfo]:
    """Every active user with their role and count of live API tokens, by name."""
    live_tokens = (
        select(ApiToken.user_id, func.count().label("live"))
        .where(col(ApiToken.revoked_at).is_(None))
        .group_by(col(ApiToken.user_id))
        .subquery()
    )
    query = (
        select(User, live_tokens.c.live)
        .outerjoin(live_tokens, live_tokens.c.user_id == col(User.id))
        .where(col(User.disabled).is_(False))
        .order_by(col(User.username))
    )
    with session_scope(db) as session:
        authorize(session, actor, Permission.MANAGE)
        rows = session.exec(query).all()
        return [UserInfo(u.username, u.role, u.created_at, live or 0) for u, live in rows]


def add_user(db: Database, username: str, role: str, *, actor: str) -> UserInfo:
    """Create ``username`` with ``role``, or restore a removed user under that name."""
    username, new_role = check_username(username), parse_role(role)
    with session_scope(db) as session:
        _lock_super_admins(session)
        authorize(session, actor, Permission.MANAGE)
        user = session.exec(select(User).where(User.username == username)).first()
        if user is not None and not user.disabled:
            raise UserConflict(
                f"user {username!r} already exists ({user.role}); use `user set-role`"
            )
        restored = user is not None
        if user is None:
            user = User(username=username)
        user.role, user.disabled = new_role.value, False
        session.add(user)
        session.flush()
        record_audit(
            session,
            actor=actor,
            action="user.add",
            target_type="user",
            target_id=user.id,
            details={"user": username, "role": new_role.value, "restored": restored},
        )
        return UserInfo(user.username, user.role, user.created_at, 0)


def set_role(db: Database, username: str, role: str, *, actor: str) -> RoleChange:
    """Give ``username`` a new role; audited only when it changed."""
    new_role = parse_role(role)
    with session_scope(db) as session:
        super_admins = _lock_super_admins(session)
        authorize(session, actor, Permission.MANAGE)
        user = _active_user(session, username)
        previous = user.role
        if previous == new_role.value:
            return RoleChange(username, previous, previous)
        _keep_a_super_admin(user, super_admins, "demote")
        user.role = new_role.value
        session.add(user)
        record_audit(
            session,
            actor=actor,
            action="user.set_role",
            target_type="user",
            target_id=user.id,
            details={"user": username, "role": new_role.value, "previous": previous},
        )
        return RoleChange(username, previous, new_role.value)


def remove_user(db: Database, username: str, *, actor: str) -> RemovedUser:
    """Disable ``username``, drop them to VIEWER and revoke their live API tokens."""
    tokens = table_of(ApiToken)
    with session_scope(db) as session:
        super_admins = _lock_super_admins(session)
        authorize(session, actor, Permission.MANAGE)
        user = _active_user(session, username)
        _keep_a_super_admin(user, super_admins, "remove")
        previous = user.role
        revoked = session.connection().execute(
            sa.update(tokens)
            .where(tokens.c.user_id == user.id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        user.role, user.disabled = Role.VIEWER.value, True
        session.add(user)
        record_audit(
            session,
            actor=actor,
            action="user.remove",
            target_type="user",
            target_id=user.id,
            details={"user": username, "role": previous, "revoked_tokens": revoked.rowcount},
        )
        return RemovedUser(username, previous, revoked.rowcount)
