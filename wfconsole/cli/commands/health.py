"""``wfconsole health [--json]``: the same document as ``GET /health``; exit 1 when unhealthy."""

from __future__ import annotations

import argparse
import json
from typing import Any

from wfconsole.commands import CommonOptions


def register(commands: Any, common: CommonOptions) -> None:
    """Add ``health``."""
    health = commands.add_parser(
        "health",
        help="check the database and the queue",
        description="Checks the database (the primary; a read replica, when configured, "
        "only degrades), the queue and the workflow counts. Exit status 1 when unhealthy.",
    )
    health.add_argument("--json", action="store_true", help="print the /health document")
    common(health)
    health.set_defaults(handler=health_command)


def health_command(args: argparse.Namespace) -> int:
    """Print the checks; the exit status says whether everything answered."""
    from engine.db import connect_database
    from engine.http.health import health_document
    from engine.workers.runtime import Queue
    from wfconsole.commands.context import settings_for

    settings = settings_for(args)
    db = connect_database(settings)  # a database that is down is reported, not raised
    try:
        document = health_document(db, Queue(settings, db=db).huey.pending_count)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        checks = document["checks"]
        shown = [("database", checks["database"]), ("queue", checks["queue"])]
        if "replica" in checks["database"]:
            shown.insert(1, ("replica", checks["database"]["replica"]))
        for name, check in shown:
            detail = f" ({check['error']})" if "error" in check else ""
            print(f"{name:<10} {check['status']}{detail}")
        workflows = checks["workflows"]
        if workflows is not None:
            print(
                f"workflows  {workflows['total']} total, {workflows['enabled']} enabled, "
                f"{workflows['executing']} executing"
            )
        print(f"status     {document['status']}")
    return 0 if document["status"] == "healthy" else 1
