"""The executions filter typed after ``/``.

``status:FAILED workflow:invoice trigger:webhook since:24h until:2024-05-01 error:timeout``;
bare words are part of a workflow name. ``workflow:NAME`` matches names containing NAME
(any case), ``workflow:=NAME`` exactly that name. ``since``/``until`` take an age (``30m``,
``1h``, ``24h``, ``7d``, ``2w``) or a UTC date or time (``2024-05-01``,
``2024-05-01T12:30``); ages are measured from each refresh, so ``since:1h`` moves along.

``where:EXPR`` is a payload search (``engine.services.payload_search``: ``trigger.order =
o2 and result.ok != true``). EXPR may hold spaces and quotes, so it takes everything after
``where:`` to the end of the text: put it last (``status:FAILED where:trigger.id = 7``). It
is checked when the filter is applied; a malformed one is refused with the engine's
message and changes nothing.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.statuses import ExecutionStatus

if TYPE_CHECKING:
    from engine.services.payload_search import Where

STATUSES = tuple(status.value for status in ExecutionStatus)
TRIGGERS = ("manual", "event", "schedule", "webhook")
_AGE = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_KEYS = ("status", "workflow", "trigger", "since", "until", "error")
_WHERE = re.compile(r"(?:^|(?<=\s))where:", re.IGNORECASE)


class FilterSyntaxError(ValueError):
    """The filter text cannot be understood; the message says which part."""


@dataclass(frozen=True)
class ExecutionFilter:
    """Which executions the list shows; ``None`` fields do not filter."""

    status: str | None = None
    workflow: str | None = None
    workflow_exact: bool = False
    trigger: str | None = None
    since: str | None = None
    until: str | None = None
    error: str | None = None
    where: str | None = None
    """A payload search expression (the text after ``where:``), already checked."""

    @property
    def is_empty(self) -> bool:
        """True when every execution is shown."""
        return all(
            getattr(self, f.name) is None for f in fields(self) if f.name != "workflow_exact"
        )

    def to_query(self) -> str:
        """The filter as text that ``parse_filter`` reads back."""
        parts = []
        if self.status is not None:
            parts.append(f"status:{self.status}")
        if self.workflow is not None:
            exact = "=" if self.workflow_exact else ""
            parts.append(f"workflow:{shlex.quote(exact + self.workflow)}")
        for key in ("trigger", "since", "until", "error"):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key}:{shlex.quote(value)}")
        if self.where is not None:
            parts.append(f"where:{self.where}")  # last: it runs to the end of the text
        return " ".join(parts)

    def query_args(self, now: datetime) -> dict[str, Any]:
        """Keyword arguments for ``list_executions``, ages measured back from ``now``."""
        exact = self.workflow if self.workflow_exact else None
        return {
            "status": self.status,
            "workflow": exact,
            "workflow_contains": None if self.workflow_exact else self.workflow,
            "trigger_type": self.trigger,
            "since": None if self.since is None else resolve_time(self.since, now),
            "until": None if self.until is None else resolve_time(self.until, now),
            "error_contains": self.error,
            "where": None if self.where is None else _parse_where(self.where),
        }


def resolve_time(spec: str, now: datetime) -> datetime:
    """``30m``/``24h``/``7d``/``2w`` before ``now``, or a UTC date/time like ``2024-05-01``."""
    age = _AGE.fullmatch(spec.strip().lower())
    if age is not None:
        return now - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
    try:
        moment = datetime.fromisoformat(spec.strip())
    except ValueError:
        raise FilterSyntaxError(
            f"time: {spec!r} is neither an age (30m, 24h, 7d) nor a date (2024-05-01)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_filter(text: str) -> ExecutionFilter:
    """Parse ``key:value`` words (see the module docstring); other words name the workflow."""
    text, where = _split_where(text)
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise FilterSyntaxError(f"filter: {exc}") from None
    found: dict[str, Any] = {}
    loose: list[str] = []
    for word in words:
        key, sep, value = word.partition(":")
        key = key.lower()
        if not sep or key not in _KEYS:
            loose.append(word)
            continue
        if key in found:
            raise FilterSyntaxError(f"{key}: give it once")
        found[key] = _value(key, value)
    if loose:
        if "workflow" in found:
            raise FilterSyntaxError("filter: give the workflow once (workflow:NAME or NAME)")
        found["workflow"] = " ".join(loose)
    workflow = found.pop("workflow", None)
    exact = workflow is not None and workflow.startswith("=")
    if exact:
        workflow = workflow[1:] or None
    if found.get("since") and found.get("until"):
        now = datetime.now(UTC)
        if resolve_time(found["since"], now) >= resolve_time(found["until"], now):
            raise FilterSyntaxError("since: must be earlier than until")
    return ExecutionFilter(workflow=workflow or None, workflow_exact=exact and bool(workflow),
                           where=where, **found)  # fmt: skip


def _split_where(text: str) -> tuple[str, str | None]:
    """The text before ``where:`` and the checked expression after it (None: no search)."""
    found = _WHERE.search(text)
    if found is None:
        return text, None
    expression = text[found.end() :].strip()
    if not expression:
        return text[: found.start()], None
    _parse_where(expression)  # refuse a malformed expression now, not at every refresh
    return text[: found.start()], expression


def _parse_where(expression: str) -> Where:
    """The engine's reading of ``expression``; its ``WhereError`` becomes a filter error."""
    from engine.services.payload_search import WhereError, parse_where  # only when searching

    try:
        return parse_where(expression)
    except WhereError as exc:
        raise FilterSyntaxError(f"where: {exc}") from None


def _value(key: str, value: str) -> str | None:
    """One key's value, checked; an empty value means "no filter" for that key."""
    if not value:
        return None
    if key == "status":
        status = value.upper()
        if status not in STATUSES:
            raise FilterSyntaxError(
                f"status: unknown status {value!r} (one of {', '.join(STATUSES)})"
            )
        return status
    if key == "trigger":
        trigger = value.lower()
        if trigger == "hook":
            trigger = "webhook"
        if trigger not in TRIGGERS:
            raise FilterSyntaxError(
                f"trigger: unknown trigger {value!r} (one of {', '.join(TRIGGERS)})"
            )
        return trigger
    if key in ("since", "until"):
        resolve_time(value, datetime.now(UTC))  # refuse a bad time now, not at every refresh
    return value


def list_arguments(shown: ExecutionFilter, now: datetime) -> dict[str, Any]:
    """``list_executions`` keywords for a filter: status and workflow always, others when set."""
    args = shown.query_args(now)
    return {k: v for k, v in args.items() if v is not None or k in ("status", "workflow")}
