"""A row-cursor DataTable for record lists: ``enter`` opens, ``home``/``end`` jump rows."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding
from textual.widgets import DataTable


class RecordTable(DataTable[Any]):
    """The list widget of the console's screens (one row per record, keyed by its id)."""

    HELP_GROUP: ClassVar[str] = "List"
    BINDINGS = [
        Binding("enter", "select_cursor", "Open"),
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
