"""The executions filter typed after ``/``: ``status:FAILED workflow:name`` or a bare name."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from engine.models import ExecutionStatus

STATUSES = tuple(status.value for status in ExecutionStatus)


class FilterSyntaxError(ValueError):
    """The filter text cannot be understood; the message says which part."""


@dataclass(frozen=True)
class ExecutionFilter:
    """Which executions the list shows; ``None`` fields do not filter."""

    status: str | None = None
    workflow: str | None = None

    @property
    def is_empty(self) -> bool:
        """True when every execution is shown."""
        return self.status is None and self.workflow is None

    def to_query(self) -> str:
        """The filter as text that ``parse_filter`` reads back."""
        parts = []
        if self.status is not None:
            parts.append(f"status:{self.status}")
        if self.workflow is not None:
            parts.append(f"workflow:{shlex.quote(self.workflow)}")
        return " ".join(parts)


def parse_filter(text: str) -> ExecutionFilter:
    """Parse ``status:S workflow:NAME``; words without a key are the workflow name."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise FilterSyntaxError(f"filter: {exc}") from None
    status: str | None = None
    workflow: str | None = None
    loose: list[str] = []
    for word in words:
        key, sep, value = word.partition(":")
        key = key.lower()
        if sep and key == "status":
            status = value.upper()
            if status not in STATUSES:
                raise FilterSyntaxError(
                    f"status: unknown status {value!r} (one of {', '.join(STATUSES)})"
                )
        elif sep and key == "workflow":
            workflow = value or None
        else:
            loose.append(word)
    if loose:
        if workflow is not None:
            raise FilterSyntaxError("filter: give the workflow once (workflow:NAME or NAME)")
        workflow = " ".join(loose)
    return ExecutionFilter(status=status, workflow=workflow)
