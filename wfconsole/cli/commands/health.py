"""``wfconsole health [--json]``: the same document as ``GET /health``; exit 1 when unhealthy."""

from __future__ import annotations

import argparse
import json
from typing import Any

from wfconsole.cli.command_table import Command, Row, arg
from wfconsole.cli.context import opened_database, settings_for
from wfconsole.cli.plain import plain_reader


def health_command(args: argparse.Namespace) -> int:
    """Print the checks; the exit status says whether everything answered. The plain read
    answers when it can (``wfconsole.cli.plain``: the local queue, no read replica)."""
    with plain_reader(args, local_queue=True) as plain:
        if plain is not None:
            from engine.plain_reads.health import database_check, health_document
            from engine.plain_reads.local_queue import local_queue_depth

            reader, target = plain
            database, workflows = database_check(reader)
            document = health_document(
                database, workflows, lambda: local_queue_depth(target.queue_path, target.queue_name)
            )
            return _report(args, document)
    from engine.http.health import health_document as full_document
    from engine.queue.depth import queue_depth

    settings = settings_for(args)
    # A database that is down is reported, not raised.
    with opened_database(args, settings, migrate=False) as db:
        document = full_document(db, lambda: queue_depth(settings))
    return _report(args, document)


def _report(args: argparse.Namespace, document: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        _print_checks(document)
    return 0 if document["status"] == "healthy" else 1


def _print_checks(document: dict[str, Any]) -> None:
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


COMMANDS: tuple[Row, ...] = (
    Command(
        ("health",), health_command, "check the database and the queue",
        (arg("--json", action="store_true", help="print the /health document"),),
        description="Checks the database (the primary; a read replica, when configured, "
        "only degrades), the queue and the workflow counts. Exit status 1 when unhealthy.",
    ),
)  # fmt: skip
