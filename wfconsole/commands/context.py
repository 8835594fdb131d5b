"""What a command needs: settings and the database, opened the same way everywhere."""

from __future__ import annotations

import argparse

from engine.config import Settings, load_settings
from engine.db import Database, open_database


def settings_for(args: argparse.Namespace) -> Settings:
    """Settings from --config / $WFCONSOLE_CONFIG / ./wfconsole.toml / defaults."""
    return load_settings(getattr(args, "config", None))


def database_for(args: argparse.Namespace, settings: Settings | None = None) -> Database:
    """The configured database (a SQLite one is created and migrated on first use)."""
    return open_database(settings or settings_for(args))
