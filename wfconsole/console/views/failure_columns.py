"""The failure-cluster table's columns: which show at a screen width, and each row's cells."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text

from engine.services.failures import FailureCluster
from wfconsole.console.views.display import number, short_time
from wfconsole.console.widgets.safe_text import safe_text

Column = tuple[str, str, int]  # key, label, width
WIDE = 110
"""From this width on, the first sighting and the long transient/permanent words show."""
WORKFLOW_MIN, WORKFLOW_MAX, SIGNATURE_MIN = 10, 24, 16
KIND_STYLES = {True: "yellow", False: "red"}
SHORT_TIME_WIDTH = 14  # "MM-DD HH:MM:SS"


def columns(screen_width: int) -> list[Column]:
    """(key, label, width) of every column at ``screen_width``, left to right."""
    wide = screen_width >= WIDE
    fixed: list[Column] = [
        ("action", "action", 12 if wide else 11),
        ("count", "count", 6 if wide else 5),
        *([("first", "first seen", 14)] if wide else []),
        ("last", "last seen", 14 if wide else 11),
        ("kind", "kind", 9 if wide else 5),
    ]
    chrome = 2 * (len(fixed) + 2) + 1  # cell padding of every column, and the scrollbar
    free = screen_width - sum(width for _, _, width in fixed) - chrome
    workflow = max(WORKFLOW_MIN, min(WORKFLOW_MAX, free * 2 // 5))
    signature = max(SIGNATURE_MIN, free - workflow)
    action, *rest = fixed
    return [("workflow", "workflow", workflow), action, ("signature", "error", signature), *rest]


def seen_text(value: datetime, width: int) -> Text:
    """A sighting in UTC, without seconds in a narrow column."""
    if width >= SHORT_TIME_WIDTH:
        return short_time(value)
    return Text(value.astimezone(UTC).strftime("%m-%d %H:%M"))


def kind_text(transient: bool, width: int) -> Text:
    """``transient``/``permanent``, shortened to ``trans``/``perm`` in a narrow column."""
    word = "transient" if transient else "permanent"
    if width < len(word):
        word = "trans" if transient else "perm"
    return Text(word, style=KIND_STYLES[transient])


def cells(cluster: FailureCluster, layout: list[Column]) -> tuple[Text, ...]:
    """One cluster's cells in the order of ``layout``; data strings are shown literally."""
    values: dict[str, Text] = {}
    for key, _, width in layout:
        if key == "workflow":
            values[key] = safe_text(cluster.workflow, max_length=width)
        elif key == "action":
            values[key] = safe_text(cluster.action_type, max_length=width)
        elif key == "signature":
            values[key] = safe_text(cluster.signature or "(no message)", max_length=width)
        elif key == "count":
            values[key] = number(cluster.count)
        elif key == "first":
            values[key] = seen_text(cluster.first_seen, width)
        elif key == "last":
            values[key] = seen_text(cluster.last_seen, width)
        else:
            values[key] = kind_text(cluster.transient, width)
    return tuple(values[key] for key, _, _ in layout)
