"""The one error type every action raises, so the executor can decide retry or fail."""

from __future__ import annotations

from typing import Any


class ActionError(Exception):
    """An action failed; `transient` says whether running it again may succeed."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        retry_after: float | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.retry_after = retry_after
        self.data: dict[str, Any] = dict(data) if data else {}

    def __repr__(self) -> str:
        return (
            f"ActionError({self.message!r}, transient={self.transient}, "
            f"retry_after={self.retry_after})"
        )
