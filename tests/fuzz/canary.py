"""Canaries that change if hostile input ever makes the engine run code.

- ``no_code_runs()``: an audit hook (PEP 578) records every compile, exec, process
  start, file open and socket connect while the block runs; the block fails if any
  happened. Python cannot run new code from text without ``compile``/``exec`` events.
- ``Canary``: a value planted in a context that records any attribute access, call,
  item access or iteration: evaluating or substituting data may compare it or turn it
  into text, never reach into it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_WATCHED = (
    "exec",
    "compile",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "subprocess.Popen",
    "open",
    "socket.connect",
    "ctypes.dlopen",
    "pickle.find_class",
)
_recording: list[list[str]] = []
_recording_thread: list[int] = []
_hook_lock = threading.Lock()
_hook_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    recording = _recording and threading.get_ident() == _recording_thread[-1]
    if recording and event.startswith(_WATCHED):
        _recording[-1].append(f"{event}{args!r:.200}")


def _install_hook() -> None:
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)  # cannot be removed; idle unless a block records
            _hook_installed = True


@contextmanager
def no_code_runs() -> Iterator[list[str]]:
    """Fail if the block compiles or executes code, starts a process, opens a file or
    connects a socket (in this thread); yields the list of what was recorded."""
    _install_hook()
    events: list[str] = []
    _recording.append(events)
    _recording_thread.append(threading.get_ident())
    try:
        yield events
    finally:
        _recording.pop()
        _recording_thread.pop()
    assert events == [], f"hostile input ran code: {events[:5]}"


class Canary:
    """A planted value that records anything done to it beyond comparing or printing."""

    def __init__(self) -> None:
        object.__setattr__(self, "touched", [])

    def __getattribute__(self, name: str) -> Any:
        # __class__ is what isinstance() reads; "touched" is our own record.
        if name not in ("__class__", "touched", "__dict__"):
            object.__getattribute__(self, "touched").append(f"attribute {name}")
        return object.__getattribute__(self, name)

    def __getattr__(self, name: str) -> Any:
        self.touched.append(f"missing attribute {name}")
        raise AttributeError(name)

    def __getitem__(self, key: Any) -> Any:
        self.touched.append(f"item {key!r:.60}")
        raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        self.touched.append("iterated")
        return iter(())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.touched.append("called")

    def __str__(self) -> str:
        return "<canary>"

    __repr__ = __str__
