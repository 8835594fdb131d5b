"""``wfconsole db upgrade``: apply migrations."""

from __future__ import annotations

import argparse

from wfconsole.cli.command_table import Command, Group, Row
from wfconsole.cli.context import opened_database


def upgrade_command(args: argparse.Namespace) -> int:
    """Migrate the configured database to the newest revision."""
    from engine.db import current_revision, head_revision, upgrade

    with opened_database(args, migrate=False) as db:
        before, head = current_revision(db), head_revision()
        if before == head:
            print(f"{db.display_url}: already at revision {head}")
            return 0
        upgrade(db)
        print(f"{db.display_url}: upgraded from {before or 'an empty database'} to {head}")
        return 0


COMMANDS: tuple[Row, ...] = (
    Group("db", "database schema"),
    Command(("db", "upgrade"), upgrade_command, "apply migrations to the configured database"),
)
