"""What a command needs: its settings, its operator and the database, opened one way.

Engine modules are imported when a command first asks for them, so ``wfconsole --help``
and small commands start without loading SQLAlchemy.
"""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from wfconsole.cli.errors import UserError

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.db import Database


def settings_for(args: argparse.Namespace) -> Settings:
    """Settings from --config / $WFCONSOLE_CONFIG / ./wfconsole.toml / defaults."""
    from engine.config import load_settings

    return load_settings(getattr(args, "config", None))


def current_user(args: argparse.Namespace) -> str:
    """The operator: --user, else the OS user."""
    if getattr(args, "user", None):
        return str(args.user)
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextmanager
def opened_database(
    args: argparse.Namespace,
    settings: Settings | None = None,
    *,
    migrate: bool = True,
    user_errors: tuple[type[Exception], ...] = (),
    prefix: str = "",
) -> Iterator[Database]:
    """The configured database for the ``with`` block, closed again after it.

    With ``migrate`` a SQLite database is created and migrated on first use and an
    un-migrated PostgreSQL one is refused in one line; without, the database is taken as
    it is (``health`` reports one that is down, ``restore`` may fill an empty one). Any
    of ``user_errors`` raised in the block becomes a ``UserError`` reading ``prefix``
    followed by the exception's message.
    """
    from engine.db import connect_database, open_database

    settings = settings or settings_for(args)
    db = open_database(settings) if migrate else connect_database(settings)
    try:
        yield db
    except user_errors as exc:
        raise UserError(f"{prefix}{exc}") from None
    finally:
        db.dispose()
