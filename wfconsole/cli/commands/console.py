"""``wfconsole`` without a command: open the terminal console."""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from wfconsole.cli.context import current_user, opened_database, settings_for

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.db import Database
    from wfconsole.console.engine_backend import EngineBackend
    from wfconsole.console.launch import Lifetime


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
    """Run the console: it paints at once while the database opens beside it; the
    background services start once the first page is on screen.

    On the local default read plainly (``wfconsole.console.plain_first_page``) the first
    page and the header's health come from the driver alone, and the settings are
    validated, the engine imported and the database opened after they are on screen."""
    from engine.plain_reads.target import plain_target
    from wfconsole.console.launch import run_console
    from wfconsole.console.plain_first_page import PlainFirstPage

    target = plain_target(getattr(args, "config", None))
    early = PlainFirstPage.open(target)
    settings: Settings | None = None if early is not None else settings_for(args)

    def full_settings() -> Settings:
        return settings if settings is not None else settings_for(args)

    def open_backend(lifetime: Lifetime) -> EngineBackend:
        from wfconsole.console.engine_backend import EngineBackend

        loaded = full_settings()
        db = lifetime.keep(opened_database(args, loaded))
        _log_to_file(loaded)
        return EngineBackend(db, loaded)

    def start_services(backend: EngineBackend, lifetime: Lifetime) -> None:
        from engine.error_reporting import init_sentry

        init_sentry(backend.settings)
        for service in background_services(backend.settings, backend.db):
            lifetime.keep(service)

    console_settings = early.target.console if early is not None else full_settings().console
    return run_console(
        open_backend, start_services, operator=current_user(args),
        console_settings=console_settings, early=early,
    )  # fmt: skip
