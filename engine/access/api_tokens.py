"""The ``api_token`` table: bearer tokens for the REST API, stored as SHA-256 hashes.

A token is 32 random bytes (256 bits): no one can guess it or brute-force its hash, so
a fast hash is enough and a slow password KDF would only add latency to every request.
Lookup is by hash (an index probe), so no plaintext comparison ever happens.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.models import BigIntId, utcnow


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    __table_args__ = (
        sa.UniqueConstraint("token_hash", name="uq_api_token_hash"),
        sa.Index("idx_api_token_user", "user_id"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigIntId, primary_key=True))
    user_id: str = Field(
        sa_column=sa.Column(
            sa.String(36), sa.ForeignKey("user.id", ondelete="CASCADE"), nullable=False
        )
    )
    name: str = Field(max_length=200)
    token_hash: str = Field(max_length=64)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
