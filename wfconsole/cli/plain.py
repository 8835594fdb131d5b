"""The plain read of a command: the database driver alone, when the settings allow it.

A read command asks ``plain_reader`` first. It yields a reader (``engine.plain_reads``)
when the configuration is simple enough to read without validating it and the database
is there at this version's schema; otherwise None, and the command goes the full way
(settings validated, SQLAlchemy, migrations) with the same output. Either way the
command's rows come from the same queries.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.plain_reads.reader import Reader
    from engine.plain_reads.target import PlainTarget


@contextmanager
def plain_reader(
    args: argparse.Namespace, *, local_queue: bool = False
) -> Iterator[tuple[Reader, PlainTarget] | None]:
    """The reader and its target for the ``with`` block, or None (go the full way).

    ``local_queue``: the command also counts the queue, which the plain read does only
    for the local (SQLite) queue.
    """
    from engine.plain_reads.target import open_reader, plain_target

    target = plain_target(getattr(args, "config", None))
    if target is None or (local_queue and target.redis_url):
        yield None
        return
    reader = open_reader(target)
    if reader is None:
        yield None
        return
    try:
        yield reader, target
    finally:
        reader.connection.close()
