"""``wfconsole`` without a command: open the terminal console."""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager, ExitStack
from typing import TYPE_CHECKING

from wfconsole.cli.context import current_user, opened_database, settings_for

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.db import Database


def background_services(settings: Settings, db: Database) -> list[AbstractContextManager[object]]:
    """Services that run beside the console for as long as it is open.

    With the local queue and ``queue.embedded_worker`` on, a consumer runs in threads of
    this process so the default install executes workflows with nothing else running.
    """
    if settings.uses_redis or not settings.queue.embedded_worker:
        return []
    from engine.workers.runtime import EmbeddedWorker, Queue

    return [EmbeddedWorker(Queue(settings, db=db))]


def _log_to_file(settings: Settings) -> None:
    """Worker and engine logs go to a file: on stderr they would tear the screen apart."""
    import logging

    from engine.config import data_dir
    from engine.security.private_files import ensure_private_file

    # 0600 before the handler appends to it: logs may carry execution ids, names, errors.
    path = ensure_private_file(data_dir() / "wfconsole.log")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.logging.level)


def open_console(args: argparse.Namespace) -> int:
    """Open the database, start the background services and run the console until it quits."""
    from engine.error_reporting import init_sentry
    from wfconsole.console.app import WfConsoleApp
    from wfconsole.console.engine_backend import EngineBackend

    settings = settings_for(args)
    with ExitStack() as stack:
        db = stack.enter_context(opened_database(args, settings))
        _log_to_file(settings)
        init_sentry(settings)
        for service in background_services(settings, db):
            stack.enter_context(service)
        app = WfConsoleApp(
            EngineBackend(db, settings),
            operator=current_user(args),
            console_settings=settings.console,
        )
        app.run()
    return app.return_code or 0
