"""``wfconsole db upgrade``: apply migrations."""

from __future__ import annotations

import argparse
from typing import Any

from wfconsole.commands import CommonOptions


def register(commands: Any, common: CommonOptions) -> None:
    """Add the ``db`` group."""
    db_parser = commands.add_parser("db", help="database schema")
    sub = db_parser.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = sub.add_parser("upgrade", help="apply migrations to the configured database")
    common(upgrade)
    upgrade.set_defaults(handler=upgrade_command)


def upgrade_command(args: argparse.Namespace) -> int:
    """Migrate the configured database to the newest revision."""
    from engine.db import connect_database, current_revision, head_revision, upgrade
    from wfconsole.commands.context import settings_for

    db = connect_database(settings_for(args))
    try:
        before, head = current_revision(db), head_revision()
        if before == head:
            print(f"{db.display_url}: already at revision {head}")
            return 0
        upgrade(db)
        print(f"{db.display_url}: upgraded from {before or 'an empty database'} to {head}")
        return 0
    finally:
        db.dispose()
