"""Bearer tokens for the REST API: create (plaintext shown once), list, revoke, authenticate.

A token is ``wfc_`` plus 32 random bytes (256 bits) in URL-safe base64. Only its SHA-256
is stored: for a random secret of that size a fast hash cannot be reversed or
brute-forced, so a slow password KDF (bcrypt, argon2) would only add latency to every
request. ``authenticate`` looks the hash up through a unique index instead of comparing
secrets in Python, so there is no byte-by-byte comparison whose timing could leak the
token (timing could at most reveal a prefix of a *hash*, which is worthless).

Who may do what: anyone may create, list and revoke their *own* tokens — a token acts
with its owner's current role, so it never grants more than the owner already has.
Tokens of other users need ``Permission.MANAGE`` (SUPER_ADMIN). Every change is audited.

A token belongs to an active user: none is created for a removed user or for a name that
was never a user (``create_token`` refuses, writing nothing). Removing a user revokes
their tokens in the same transaction (engine/services/users.py), and ``authenticate``
refuses the token of a disabled user in any case.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.access.api_tokens import ApiToken
from engine.access.audit import ensure_user, record_audit
from engine.access.roles import Permission, allows, require
from engine.db import Database, session_scope
from engine.models import User, utcnow
from engine.services.users import UserNotFound

TOKEN_MARK = "wfc_"  # noqa: S105  (a marker, not a secret)
PREFIX_LENGTH = 12
"""How much of the plaintext is kept for display (the mark plus 8 random characters)."""
MAX_NAME = 200
LAST_USED_PRECISION = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token, not on every request."""


class TokenNotFound(LookupError):
    """No token has that id."""

    def __init__(self, token_id: int) -> None:
        super().__init__(f"no API token with id {token_id}")


@dataclass(frozen=True)
class TokenInfo:
    """One token as lists show it (never the secret)."""

    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewToken:
    """A freshly created token: ``token`` is the plaintext, shown this once."""

    info: TokenInfo
    token: str


@dataclass(frozen=True)
class Identity:
    """Who a valid token acts for, with their role as stored now."""

    username: str
    role: str
    token_id: int


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _info(token: ApiToken, username: str) -> TokenInfo:
    assert token.id is not None
    return TokenInfo(
        token.id,
        username,
        token.name,
        token.prefix,
        token.created_at,
        token.last_used_at,
        token.revoked_at,
    )


def _token_owner(session: Session, username: str) -> User:
    """The owner's row, locked until commit; UserNotFound unless it exists and is active.

    The lock orders this against ``remove_user`` (which locks the same row): a removal
    that came first is seen here, one that comes later waits and revokes this token.
    """
    owner = session.exec(select(User).where(User.username == username).with_for_update()).first()
    if owner is None:
        raise UserNotFound(
            username,
            f"no user named {username!r} (add them first: "
            f"wfconsole user add {username} --role ROLE)",
        )
    if owner.disabled:
        raise UserNotFound(
            username,
            f"user {username!r} was removed (wfconsole user add {username} --role ROLE "
            "restores them, without their old tokens)",
        )
    return owner


def create_token(db: Database, *, actor: str, name: str, for_user: str | None = None) -> NewToken:
    """A new token for ``for_user`` (default: the actor); the plaintext is returned once.

    The owner must be an active user: a removed user (or, with ``for_user``, a name that
    was never a user) raises ``UserNotFound`` and nothing is written. Only the actor's
    own name is created on first sight, as everywhere else.
    """
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"name: give 1 to {MAX_NAME} characters")
    owner_name = for_user or actor
    plaintext = TOKEN_MARK + secrets.token_urlsafe(32)
    with session_scope(db) as session:
        acting = ensure_user(session, actor)  # a newcomer may make their own token
        if owner_name != actor:
            require(acting.role, Permission.MANAGE)
        owner = _token_owner(session, owner_name)
        token = ApiToken(
            user_id=owner.id,
            name=name,
            token_hash=hash_token(plaintext),
            prefix=plaintext[:PREFIX_LENGTH],
        )
        session.add(token)
        session.flush()
        record_audit(
            session,
            actor=actor,
            action="token.create",
            target_type="api_token",
            target_id=str(token.id),
            details={"user": owner_name, "name": name, "prefix": token.prefix},
        )
        return NewToken(_info(token, owner_name), plaintext)


def list_tokens(db: Database, *, actor: str, include_revoked: bool = True) -> list[TokenInfo]:
    """The actor's tokens; every user's for a SUPER_ADMIN. Oldest first."""
    with session_scope(db) as session:
        acting = ensure_user(session, actor)
        query = select(ApiToken, User.username).join(User, col(User.id) == col(ApiToken.user_id))
        if not allows(acting.role, Permission.MANAGE):
            query = query.where(ApiToken.user_id == acting.id)
        if not include_revoked:
            query = query.where(col(ApiToken.revoked_at).is_(None))
        rows = session.exec(query.order_by(col(ApiToken.id))).all()
        return [_info(token, username) for token, username in rows]


def _owned_token(session: Session, token_id: int, actor: str) -> tuple[ApiToken, str]:
    found = session.exec(
        select(ApiToken, User.username)
        .join(User, col(User.id) == col(ApiToken.user_id))
        .where(ApiToken.id == token_id)
        .with_for_update()
    ).first()
    if found is None:
        raise TokenNotFound(token_id)
    token, owner = found
    if owner != actor:
        require(ensure_user(session, actor).role, Permission.MANAGE)
    return token, owner


def revoke_token(db: Database, token_id: int, *, actor: str) -> bool:
    """Revoke a token at once; False when it was already revoked."""
    with session_scope(db) as session:
        token, owner = _owned_token(session, token_id, actor)
        if token.revoked_at is not None:
            return False
        token.revoked_at = utcnow()
        session.add(token)
        record_audit(
            session,
            actor=actor,
            action="token.revoke",
            target_type="api_token",
            target_id=str(token_id),
            details={"user": owner, "name": token.name, "prefix": token.prefix},
        )
    return True


def authenticate(db: Database, token: str) -> Identity | None:
    """The identity behind a live token of an enabled user, or None."""
    if not token.startswith(TOKEN_MARK) or len(token) > 200:
        return None
    tokens, users = ApiToken.__table__, User.__table__  # type: ignore[attr-defined]
    now = utcnow()
    with db.engine.begin() as conn:
        row = conn.execute(
            sa.select(tokens.c.id, tokens.c.last_used_at, users.c.username, users.c.role)
            .join(users, users.c.id == tokens.c.user_id)
            .where(
                tokens.c.token_hash == hash_token(token),
                tokens.c.revoked_at.is_(None),
                sa.not_(users.c.disabled),
            )
        ).first()
        if row is None:
            return None
        last = row.last_used_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=now.tzinfo)
        if last is None or now - last >= LAST_USED_PRECISION:
            conn.execute(sa.update(tokens).where(tokens.c.id == row.id).values(last_used_at=now))
    return Identity(row.username, row.role, row.id)
