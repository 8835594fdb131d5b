"""Dolphie's refresh loop, written once for the live screens (executions, failures, dashboard).

A thread worker fetches; when it finishes (done or failed) the screen arms the next tick
with ``schedule``. A tick that falls while the screen is hidden (another section, a dialog
on top) queries nothing and is caught up by ``resume`` when the screen shows again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.screen import Screen
from textual.timer import Timer


class RefreshLoop:
    """The next refresh of one screen: at most one armed tick, skipped while hidden."""

    def __init__(self, screen: Screen[Any], refresh: Callable[[], None]) -> None:
        self.screen = screen
        self.refresh = refresh
        self.timer: Timer | None = None
        self.missed = False
        """A tick fell while the screen was hidden: refresh as soon as it shows."""

    def schedule(self, delay: float) -> None:
        """Arm the next tick ``delay`` seconds from now (replacing one already armed)."""
        if self.timer is not None:
            self.timer.stop()
        self.timer = self.screen.set_timer(delay, self._tick)

    def _tick(self) -> None:
        self.timer = None
        if not self.screen.is_active:
            self.missed = True
            return
        self.refresh()

    def resume(self) -> None:
        """The screen shows again: catch up at once if a tick was skipped."""
        if self.missed:
            self.missed = False
            self.refresh()

    def suspend(self) -> None:
        """The screen is hidden: the armed tick is dropped and caught up on resume."""
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
            self.missed = True
