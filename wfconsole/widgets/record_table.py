"""A row-cursor DataTable for record lists: ``enter`` opens, ``home``/``end`` jump rows.

DataTable keys its cell cache on a counter that every ``add_row``, ``clear`` and
``update_cell`` bumps, so after a live refresh or a page load every visible cell goes
through Rich's layout again (about 0.1 ms each, ~300 cells a screen). ``RecordTable``
keeps a second cache keyed on the cell *object* (plus everything that changes how it
looks), so a cell whose value did not change is not laid out again; its mouse metadata
(row and column index) is refreshed when the row moved.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.widgets import DataTable

SegmentLines = list[list[Segment]]
STABLE_CACHE_SIZE = 8192


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
        self._stable_cells: LRUCache[tuple[Any, ...], tuple[object, int, SegmentLines]] = LRUCache(
            STABLE_CACHE_SIZE
        )

    def notify_style_update(self) -> None:
        """A theme or CSS change restyles every cell: forget the stable renders too."""
        stable = getattr(self, "_stable_cells", None)  # may run before __init__ is done
        if stable is not None:
            stable.clear()
        super().notify_style_update()

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        if row_index < 0 or column_index < 0:  # the header and row labels: stock path
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cell = self._data[row_key][column_key]
        key = (
            row_key, column_key, base_style, width, cursor, hover, self.show_cursor,
            self._show_hover_cursor, self._pseudo_class_state, self.rows[row_key].height,
        )  # fmt: skip
        cached = self._stable_cells.get(key)
        if cached is not None and cached[0] is cell:
            _, rendered_at, lines = cached
            if rendered_at == row_index:
                return lines
            meta = Style.from_meta({"row": row_index, "column": column_index})
            return [list(Segment.apply_style(line, post_style=meta)) for line in lines]
        lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._stable_cells[key] = (cell, row_index, lines)
        return lines
