"""What a command needs: settings and the database, opened the same way everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from engine.config import Settings, load_settings
from engine.db import Database, open_database

T = TypeVar("T")


def settings_for(args: argparse.Namespace) -> Settings:
    """Settings from --config / $WFCONSOLE_CONFIG / ./wfconsole.toml / defaults."""
    return load_settings(getattr(args, "config", None))


def database_for(args: argparse.Namespace, settings: Settings | None = None) -> Database:
    """The configured database (a SQLite one is created and migrated on first use)."""
    return open_database(settings or settings_for(args))


def with_database(
    args: argparse.Namespace,
    call: Callable[[Database], T],
    *,
    user_errors: tuple[type[Exception], ...] = (),
    prefix: str = "",
) -> T:
    """``call(db)`` on the configured database, closed again afterwards.

    Any of ``user_errors`` raised by ``call`` becomes a ``UserError`` reading
    ``prefix`` followed by the exception's message.
    """
    from wfconsole.cli import UserError

    db = database_for(args)
    try:
        return call(db)
    except user_errors as exc:
        raise UserError(f"{prefix}{exc}") from None
    finally:
        db.dispose()
