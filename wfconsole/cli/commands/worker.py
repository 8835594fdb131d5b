"""``wfconsole worker [-w N]``: the same consumer as ``huey_consumer engine.queue.huey -w N``."""

from __future__ import annotations

import argparse
import logging

from wfconsole.cli.command_table import Command, Row, arg
from wfconsole.cli.context import opened_database, settings_for
from wfconsole.cli.errors import UserError


def worker_command(args: argparse.Namespace) -> int:
    """Run the consumer until stopped: SIGTERM lets running steps finish, SIGINT stops now."""
    from engine.error_reporting import init_sentry
    from engine.workers.runtime import Queue

    if args.workers is not None and args.workers < 1:
        raise UserError("--workers: must be at least 1")
    settings = settings_for(args)
    logging.basicConfig(
        level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    init_sentry(settings)
    # Opening fails in one line on an un-migrated PostgreSQL.
    with opened_database(args, settings) as db:
        Queue(settings, db=db).consumer(args.workers).run()
    return 0


COMMANDS: tuple[Row, ...] = (
    Command(
        ("worker",), worker_command, "run a queue consumer (headless worker)",
        (arg("-w", "--workers", type=int, metavar="N",
             help="worker threads (default: queue.concurrency)"),),
    ),
)  # fmt: skip
