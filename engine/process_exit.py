"""Ending a process without the interpreter's last garbage collections.

At exit CPython clears every module and then collects cyclic garbage across the whole
heap (SQLAlchemy, pydantic, Huey, Textual: hundreds of thousands of objects). The work is
done by then and the memory goes back to the system anyway, yet those collections cost
CPU and wall time: the plain read commands 5-20 ms (bench/startup.py's median 76-85 →
67-68 ms), ``wfconsole secrets status`` 820-860 → 610 ms, ``wfconsole destinations``
440-580 → 360-385 ms, a consumer's graceful stop 0.4-0.5 s of CPU → 0.06 s.

``gc.freeze()`` (public since Python 3.7) moves every tracked object to the permanent
generation, which collections skip. Registered with ``atexit``, it takes nothing from the
other exit handlers (logging still flushes, Sentry still sends), and module teardown and
reference counting still close what they close. Only an object that nothing but a
reference cycle keeps alive is no longer finalized at exit: a SQLite connection Huey
keeps for a thread, say, is left to the operating system to close, as it already was for
a worker's, so its ``-wal`` and ``-shm`` files can stay beside the database. That is the
state a ``kill -9`` leaves, which SQLite, PostgreSQL and Redis recover from and the chaos
suite exercises; nothing committed depends on a finalizer.
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def skip_final_collections() -> None:
    """Make this process's exit skip the final garbage collections (idempotent)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
