"""``wfconsole serve``: the webhook receiver and health endpoint on uvicorn.

With the local queue and ``queue.embedded_worker`` on (the default), a consumer runs in
threads of this process too, as in the console, so accepted webhooks run with nothing
else started; it stops, letting running steps finish, when the server stops.

``--workers N`` (N > 1) runs N HTTP processes on one listening socket (uvicorn's
supervisor): each builds its own receiver from the same configuration (``http_worker_app``),
so one process per core serves requests. The embedded worker, when there is one, stays in
the supervising process.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType
from typing import Any

from wfconsole.cli.command_table import Command, Row, arg
from wfconsole.cli.commands.console import background_services
from wfconsole.cli.context import opened_database, settings_for
from wfconsole.cli.errors import UserError
from wfconsole.cli.paging import positive


def build_receiver(settings: Any, db: Any) -> Any:
    """The receiver over the configured queue, with limits in Redis when there is one."""
    from engine.http.app import Receiver
    from engine.http.limits import Limits, MemoryLimits, RedisLimits
    from engine.workers.runtime import Queue

    queue = Queue(settings, db=db)
    limits: Limits = MemoryLimits()
    if settings.uses_redis:
        limits = RedisLimits(queue.huey.storage.conn, prefix=f"wfconsole:{settings.queue.name}")
    return Receiver(settings, db, queue, limits, queue_probe=queue.huey.pending_count)


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM ends the process through ``finally`` blocks (the embedded worker's stop).

    uvicorn shuts down on SIGTERM and then raises it again for the handler it found: the
    default one would end the process on the spot.
    """

    def leave(_signum: int, _frame: FrameType | None) -> None:
        sys.exit(0)  # a requested stop: exit status 0, as uvicorn's own

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def http_worker_app() -> Any:
    """The app of one ``serve --workers N`` process (uvicorn calls it in each child).

    The child inherits the environment, where ``serve`` named the configuration file it
    read; the database was migrated (or found migrated) by ``serve`` before any child
    started.
    """
    from engine.config import load_settings
    from engine.db import open_database
    from engine.error_reporting import init_sentry
    from engine.http.app import create_app

    settings = load_settings()
    init_sentry(settings)
    db = open_database(settings, migrate=False)
    return create_app(build_receiver(settings, db))


def serve_command(args: argparse.Namespace) -> int:
    """Run uvicorn (and the embedded worker, when the queue is local) until stopped."""
    import uvicorn

    from engine.config import CONFIG_ENV, find_config_file
    from engine.error_reporting import init_sentry
    from engine.http.app import create_app

    settings = settings_for(args)
    workers = getattr(args, "workers", None) or 1
    if workers > 1 and not settings.uses_redis:
        # Rate limits and the replay store live in the process without Redis: a signature
        # accepted by one process could be replayed to another.
        raise UserError("--workers above 1 needs Redis (queue.redis_url): the processes "
                        "share rate limits and the replay store there")  # fmt: skip
    init_sentry(settings)
    server_options: dict[str, Any] = {
        "host": args.host or settings.http.host,
        "port": args.port or settings.http.port,
        "log_level": settings.logging.level.lower(),
        # uvicorn would believe X-Forwarded-For from any loopback peer; the app decides
        # by http.trusted_proxies instead (engine/http/clients.py).
        "proxy_headers": False,
        "server_header": False,
    }
    with ExitStack() as stack:
        db = stack.enter_context(opened_database(args, settings))
        stack.enter_context(_sigterm_unwinds())
        for service in background_services(settings, db):
            stack.enter_context(service)
        if workers == 1:
            uvicorn.run(create_app(build_receiver(settings, db)), **server_options)
            return 0
        config_file = find_config_file(getattr(args, "config", None))
        if config_file is not None:  # the children read the same file
            os.environ[CONFIG_ENV] = str(config_file.resolve())
        uvicorn.run(f"{__name__}:http_worker_app", factory=True, workers=workers, **server_options)
    return 0


COMMANDS: tuple[Row, ...] = (
    Command(
        ("serve",), serve_command,
        "HTTP: webhook receiver (POST /hooks/PATH), /health, /metrics, REST API (/api)",
        (arg("--host", help="address to listen on (default: http.host)"),
         arg("--port", type=int, help="port to listen on (default: http.port)"),
         arg("--workers", type=positive, default=1,
             help="HTTP processes sharing the port, e.g. one per core (default: 1)")),
        description="Serve webhooks and health over HTTP (uvicorn). --workers N runs N "
        "processes on one port; on several hosts, run one per host behind a load balancer. "
        "With Redis configured they share rate limits and replay checks. "
        "With the local queue it also runs the embedded worker (queue.embedded_worker).",
    ),
)  # fmt: skip
