"""The console's record list on Textual's Line API: one line per record, keyed by its id.

``DataTable`` lays every visible cell out through Rich again after each change (0.1 to
0.25 ms a cell, ~300 cells a screen). ``RecordTable`` draws a row into one strip of
segments and keeps it, checked against the very cell objects it was drawn from: a
refresh that hands back the same cells (``execution_columns.cells`` caches them) draws
only the rows that changed, and only rows on screen are ever drawn. Column widths are
set by the screen or measured as rows arrive. The header stays on the first line; the
cursor is a whole row; strings are shown literally, never read as markup.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from wfconsole.console.widgets.table_cells import row_segments
from wfconsole.console.widgets.table_rows import Row, RowDoesNotExist, TableRows

__all__ = ["RecordTable", "RowDoesNotExist"]

ROW_CACHE_SIZE = 2048
"""Rows kept drawn: a few screens' worth, each in every look it had (stripe, cursor)."""
K = TypeVar("K")
V = TypeVar("V")
HEADER_KEY = "\x00header"
"""The header's key in the drawing caches (no record id holds a NUL)."""


class RecordTable(TableRows, ScrollView, can_focus=True):
    """A row-cursor list of records: ``enter`` opens, ``home``/``end`` jump rows."""

    HELP_GROUP: ClassVar[str] = "List"
    ALLOW_SELECT = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("enter", "select_cursor", "Open"),
        Binding("ctrl+home", "scroll_top", "Top", show=False),
        Binding("ctrl+end", "scroll_bottom", "Bottom", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "record-table--header",
        "record-table--cursor",
        "record-table--even-row",
        "record-table--odd-row",
    }
    DEFAULT_CSS = """
    RecordTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .record-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .record-table--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .record-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .record-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .record-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .record-table--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .record-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    class RowHighlighted(Message):
        """The cursor is on another row (also sent when a first row arrives)."""

        def __init__(self, table: RecordTable, cursor_row: int, row_key: str) -> None:
            self.table = table
            self.cursor_row = cursor_row
            self.row_key = row_key
            super().__init__()

        @property
        def control(self) -> RecordTable:
            """The table the cursor moved in."""
            return self.table

        def can_replace(self, message: Message) -> bool:
            """A newer move of the same cursor makes this one moot (key repeat)."""
            return isinstance(message, RecordTable.RowHighlighted) and message.table is self.table

    class RowSelected(Message):
        """``enter`` (or a click on the cursor row) chose a row."""

        def __init__(self, table: RecordTable, cursor_row: int, row_key: str) -> None:
            self.table = table
            self.cursor_row = cursor_row
            self.row_key = row_key
            super().__init__()

        @property
        def control(self) -> RecordTable:
            """The table the row was chosen in."""
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._cursor = 0
        self._scroll_pending = False
        self._drawn: LRUCache[str, tuple[Row, tuple[int, ...], list[Segment]]]
        self._drawn = LRUCache(ROW_CACHE_SIZE)
        self._lines: LRUCache[tuple[str, Style], tuple[list[Segment], tuple[int, int], Strip]]
        self._lines = LRUCache(ROW_CACHE_SIZE)
        self._size_stale = False
        self.rows_drawn = 0
        """How many times a row (or the header) was drawn from its cells: cache misses."""

    def clear(self, columns: bool = False) -> None:
        """Remove every row (and column); the cursor goes back to the first row.

        What was drawn stays cached: rows that come back with the same cells and column
        widths are not drawn again.
        """
        self._cursor = 0
        super().clear(columns)
        self.scroll_to(0, 0, animate=False)

    @property
    def cursor_row(self) -> int:
        """The index of the row under the cursor (0 when the table is empty)."""
        return self._cursor

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        return self._keys[self._cursor] if self._keys else None

    # --- the cursor ----------------------------------------------------------------------

    def move_cursor(self, *, row: int, animate: bool = False, scroll: bool = True) -> None:
        """Put the cursor on row ``row`` (clamped to the rows there are)."""
        del animate  # rows jump; there is nothing to animate
        target = max(0, min(row, len(self._keys) - 1))
        if target != self._cursor:
            self._refresh_index(self._cursor)
            self._cursor = target
            self._refresh_index(target)
            self._highlight()
        if scroll:
            self._scroll_cursor_into_view()

    def action_cursor_up(self) -> None:
        """One row up."""
        self.move_cursor(row=self._cursor - 1)

    def action_cursor_down(self) -> None:
        """One row down."""
        self.move_cursor(row=self._cursor + 1)

    def action_page_up(self) -> None:
        """A screenful up; the cursor keeps its place on the screen."""
        self._page(-self._rows_shown())

    def action_page_down(self) -> None:
        """A screenful down; the cursor keeps its place on the screen."""
        self._page(self._rows_shown())

    def action_scroll_top(self) -> None:
        """The first row."""
        self.move_cursor(row=0)

    def action_scroll_bottom(self) -> None:
        """The last row."""
        self.move_cursor(row=len(self._keys) - 1)

    def action_select_cursor(self) -> None:
        """Tell the screen the row under the cursor was chosen."""
        if self._keys:
            self.post_message(self.RowSelected(self, self._cursor, self._keys[self._cursor]))

    def on_click(self, event: events.Click) -> None:
        """A click moves the cursor to the row; a click on the cursor row chooses it."""
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        index = round(self.scroll_y) + offset.y - 1
        if not 0 <= index < len(self._keys):
            return
        event.stop()
        if index == self._cursor:
            self.action_select_cursor()
        else:
            self.move_cursor(row=index)

    def on_resize(self, _event: events.Resize) -> None:
        """Scroll the cursor into view once the table has a height to scroll in."""
        if self._scroll_pending:
            self._scroll_cursor_into_view()

    def _page(self, rows: int) -> None:
        self._sync_size()
        shown_at = self._cursor - round(self.scroll_y)
        self.move_cursor(row=self._cursor + rows, scroll=False)
        self.scroll_to(y=self._cursor - shown_at, animate=False)
        self._scroll_cursor_into_view()

    def _rows_shown(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_cursor_into_view(self) -> None:
        self._sync_size()
        shown = self.scrollable_content_region.height - 1  # the header takes a line
        if shown < 1:
            self._scroll_pending = True  # not laid out yet: on_resize does it
            return
        self._scroll_pending = False
        top = round(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + shown:
            self.scroll_to(y=self._cursor - shown + 1, animate=False)

    def _highlight(self) -> None:
        if self._keys:
            self.post_message(self.RowHighlighted(self, self._cursor, self._keys[self._cursor]))

    # --- drawing -------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        """A theme or CSS change restyles every row: forget the styled strips."""
        lines = getattr(self, "_lines", None)  # may run before __init__ is done
        if lines is not None:
            lines.clear()
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the widget: the header, or the row scrolled to it."""
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            style = self.get_component_rich_style("record-table--header")
            segments = self._header_segments()
            return self._line(HEADER_KEY, segments, style, Style.null(), width, scroll_x)
        index = scroll_y + y - 1
        if not 0 <= index < len(self._keys):
            return Strip.blank(width, self.rich_style)
        style, post = self._row_styles(index)
        segments = self._row_segments(index)
        return self._line(self._keys[index], segments, style, post, width, scroll_x)

    def _row_styles(self, index: int) -> tuple[Style, Style]:
        """The base and overriding styles of row ``index``: its stripe, and the cursor."""
        stripe = "record-table--odd-row" if index % 2 else "record-table--even-row"
        style = self.get_component_rich_style(stripe)
        if index != self._cursor:
            return style, Style.null()
        cursor = self.get_component_rich_style("record-table--cursor")
        return style + cursor, Style(color=cursor.color)

    def _line(
        self, key: str, segments: list[Segment], style: Style, post: Style, width: int, x: int
    ) -> Strip:
        """A drawn row in its look (stripe or cursor), cut to the view: cached."""
        look = style + post
        cached = self._lines.get((key, look))
        if cached is not None and cached[0] is segments and cached[1] == (width, x):
            return cached[2]
        styled = Segment.apply_style(segments, style=style, post_style=post)
        strip = Strip(styled, self.table_width)
        if x:
            strip = strip.crop(x)
        strip = strip.adjust_cell_length(width, style).simplify()
        _store(self._lines, (key, look), (segments, (width, x), strip))
        return strip

    def _row_segments(self, index: int) -> list[Segment]:
        key = self._keys[index]
        return self._drawn_segments(key, self._cells[key])

    def _header_segments(self) -> list[Segment]:
        return self._drawn_segments(HEADER_KEY, tuple(column.label for column in self._columns))

    def _drawn_segments(self, key: str, cells: Row) -> list[Segment]:
        """The row's cells drawn at the column widths: from the cache when they still fit."""
        drawn = self._drawn.get(key)
        if drawn is not None and drawn[1] == self._widths and _same_cells(drawn[0], cells):
            return drawn[2]
        self.rows_drawn += 1
        segments = row_segments(cells, self._widths, self.app.console)
        _store(self._drawn, key, (cells, self._widths, segments))
        return segments

    # --- hearing of changes -------------------------------------------------------------

    def _on_rows_changed(self) -> None:
        self._cursor = max(0, min(self._cursor, len(self._keys) - 1))
        if not self._size_stale:  # once per batch: a refill adds a hundred rows in a row
            self._size_stale = True
            self.refresh()
            self.call_next(self._sync_size)

    def _sync_size(self) -> None:
        """Tell the scroll bars (and the layout) the table's size after a batch of changes."""
        if self._size_stale:
            self._size_stale = False
            self.virtual_size = Size(self.table_width, len(self._keys) + 1)
            self.refresh()  # a paint may have come between the batch's first change and now

    def get_content_width(self, container: Size, viewport: Size) -> int:
        """The width of every column."""
        return self.table_width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """The header and every row."""
        return len(self._keys) + 1

    def _on_row_changed(self, index: int) -> None:
        self._refresh_index(index)

    def _on_first_row(self) -> None:
        self._highlight()

    def _refresh_index(self, index: int) -> None:
        line = index + 1 - round(self.scroll_y)
        if line >= 1:
            self.refresh(Region(0, line, self.size.width, 1))


def _store(cache: LRUCache[K, V], key: K, value: V) -> None:
    """Put ``value`` in ``cache``: ``LRUCache.set`` keeps an old value under the same key."""
    cache.discard(key)
    cache[key] = value


def _same_cells(drawn: Row, cells: Row) -> bool:
    """True when both rows hold the very same cell objects (so the drawing still fits)."""
    return len(drawn) == len(cells) and all(a is b for a, b in zip(drawn, cells, strict=True))
