"""Ending a process without the interpreter's last garbage collections.

At exit CPython clears every module and then collects cyclic garbage across the whole
heap (SQLAlchemy, pydantic, Huey, Textual: hundreds of thousands of objects). The work is
done by then and the memory goes back to the system anyway, yet those collections cost
CPU and wall time: the plain read commands 5-20 ms (bench/startup.py's median 76-85 →
67-68 ms), ``wfconsole secrets status`` 644-659 → 533-588 ms, ``wfconsole destinations``
372-394 → 314-323 ms, a consumer's graceful stop 0.4-0.5 s of CPU → 0.06 s.

``gc.freeze()`` (public since Python 3.7) moves every tracked object to the permanent
generation, which collections skip. Registered with ``atexit``, it takes nothing from the
other exit handlers (logging still flushes, Sentry still sends), and module teardown and
reference counting still close what they close. Only an object that nothing but a
reference cycle keeps alive is no longer finalized at exit. What must be closed then is
closed explicitly instead: ``close_at_exit`` (the local queue file's connection, so its
``-wal`` and ``-shm`` files go with it, as they went when the collector closed it).
"""

from __future__ import annotations

import atexit
import gc
import logging
import weakref
from typing import Protocol


class _Closable(Protocol):
    def close(self) -> object: ...


log = logging.getLogger("wfconsole.exit")
_registered = False
_to_close: weakref.WeakSet[_Closable] = weakref.WeakSet()


def skip_final_collections() -> None:
    """Make this process's exit skip the final garbage collections (idempotent)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True


def close_at_exit(resource: _Closable) -> None:
    """Close ``resource`` at exit if it is still alive then.

    Held by a weak reference: it may be collected and closed long before, as usual."""
    _to_close.add(resource)


@atexit.register
def _close_remaining() -> None:
    for resource in list(_to_close):
        try:
            resource.close()
        except Exception as exc:  # the process ends anyway; say so and close the others
            log.warning("could not close %s at exit: %s", type(resource).__name__, exc)
