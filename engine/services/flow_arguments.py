"""The arguments of flow control, checked the same way for the CLI, the API and the console.

Durations (``--for``, ``spread:``) are ``engine.definitions.durations``'s; a bad value is a
``FlowControlError`` (a ValueError) whose message starts with the field it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from engine.definitions.durations import format_duration, parse_duration


class FlowControlError(ValueError):
    """A bad argument (duration, catch-up policy, limit): one line naming the field."""


@dataclass(frozen=True)
class CatchUp:
    """A parsed catch-up policy; ``spread`` only for ``spread:DURATION``."""

    policy: str
    spread: timedelta | None = None

    @property
    def text(self) -> str:
        return self.policy if self.spread is None else f"spread:{format_duration(self.spread)}"


def parse_catch_up(text: str) -> CatchUp:
    """``all`` | ``latest`` | ``skip`` | ``spread:DURATION``; FlowControlError otherwise."""
    value = text if isinstance(text, str) else ""
    if value in ("all", "latest", "skip"):
        return CatchUp(value)
    if value.startswith("spread:"):
        try:
            return CatchUp("spread", parse_duration(value.removeprefix("spread:")))
        except ValueError as exc:
            raise FlowControlError(f"catch-up: {exc}") from None
    raise FlowControlError(
        f"catch-up: {str(text)[:40]!r} is not all, latest, skip or spread:DURATION"
    )


def duration_argument(value: str | timedelta | None, field_name: str) -> timedelta | None:
    """A ``--for``-style argument as a timedelta (text is parsed; None stays None)."""
    if value is None or isinstance(value, timedelta):
        if value is not None and value <= timedelta(0):
            raise FlowControlError(f"{field_name}: must be at least 1s")
        return value
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise FlowControlError(f"{field_name}: {exc}") from None
