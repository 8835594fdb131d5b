"""``wfconsole worker [-w N]``: the same consumer as ``huey_consumer engine.queue.huey -w N``."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from wfconsole.commands import CommonOptions


def register(commands: Any, common: CommonOptions) -> None:
    """Add ``worker``."""
    worker = commands.add_parser("worker", help="run a queue consumer (headless worker)")
    worker.add_argument(
        "-w", "--workers", type=int, metavar="N", help="worker threads (default: queue.concurrency)"
    )
    common(worker)
    worker.set_defaults(handler=worker_command)


def worker_command(args: argparse.Namespace) -> int:
    """Run the consumer until stopped: SIGTERM lets running steps finish, SIGINT stops now."""
    from engine.db import open_database
    from engine.error_reporting import init_sentry
    from engine.workers.runtime import Queue
    from wfconsole.cli import UserError
    from wfconsole.commands.context import settings_for

    if args.workers is not None and args.workers < 1:
        raise UserError("--workers: must be at least 1")
    settings = settings_for(args)
    logging.basicConfig(
        level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    init_sentry(settings)
    db = open_database(settings)  # fails in one line on an un-migrated PostgreSQL
    queue = Queue(settings, db=db)
    queue.consumer(args.workers).run()
    return 0
