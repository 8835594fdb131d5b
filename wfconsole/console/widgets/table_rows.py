"""What a ``RecordTable`` holds: columns, and rows of cells keyed by record id.

Kept apart from the drawing so the data side reads on its own; the table subclasses
``TableRows`` and hears of every change through the three ``_on_…`` hooks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from wfconsole.console.widgets.safe_text import safe_text
from wfconsole.console.widgets.table_cells import CELL_PADDING, Cell, text_width

Row = tuple[Text, ...]


class RowDoesNotExist(KeyError):
    """No row has that key."""


@dataclass
class Column:
    """One column: its key, header label and width (``None``: as wide as its cells)."""

    key: str
    label: Text
    width: int | None
    measured: int = 0
    """The widest cell or label of an auto-width column."""

    @property
    def shown_width(self) -> int:
        """The width its cells are cut or padded to."""
        return self.measured if self.width is None else self.width


class TableRows:
    """Columns and keyed rows; column widths follow the data as it changes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._columns: list[Column] = []
        self._widths: tuple[int, ...] = ()
        self._keys: list[str] = []
        self._cells: dict[str, Row] = {}
        self._positions: dict[str, int] = {}
        self._auto_columns = False

    def _on_rows_changed(self) -> None:
        """Rows or columns were added or removed, or a column's width changed."""

    def _on_row_changed(self, index: int) -> None:
        """The cells of the row at ``index`` changed."""

    def _on_first_row(self) -> None:
        """The table had no rows and now has one."""

    # --- changing ------------------------------------------------------------------------

    def add_column(self, label: str | Text, *, key: str, width: int | None = None) -> None:
        """Add a column on the right; ``width=None`` fits it to its widest cell."""
        column = Column(key, Text(label) if isinstance(label, str) else label, width)
        self._columns.append(column)
        if width is None:
            self._measure(column, len(self._columns) - 1)
        self._rows_changed()

    def add_row(self, *cells: Cell, key: str) -> None:
        """Add a row at the bottom, identified by ``key`` (a record id)."""
        if key in self._cells:
            raise ValueError(f"row key {key!r} is already in the table")
        row = self._cells[key] = as_row(cells)
        self._positions[key] = len(self._keys)
        self._keys.append(key)
        if self._auto_columns:
            for index, column in enumerate(self._columns):
                if column.width is None and index < len(row):
                    column.measured = max(column.measured, text_width(row[index]))
        self._rows_changed()
        if len(self._keys) == 1:
            self._on_first_row()

    def update_row(self, key: str, cells: Sequence[Cell]) -> None:
        """Show new cells for the row ``key``."""
        self._cells[self._existing(key)] = as_row(cells)
        if not self._remeasure():
            self._on_row_changed(self._positions[key])

    def update_cell(self, key: str, column_key: str, value: Cell) -> None:
        """Show ``value`` in one cell of the row ``key``."""
        cells: list[Cell] = list(self._cells[self._existing(key)])
        index = self.column_keys.index(column_key)
        cells.extend("" for _ in range(index + 1 - len(cells)))
        cells[index] = value
        self.update_row(key, cells)

    def clear(self, columns: bool = False) -> None:
        """Remove every row (and, with ``columns``, every column)."""
        self._keys, self._cells, self._positions = [], {}, {}
        if columns:
            self._columns = []
        if not self._remeasure():
            self._rows_changed()

    # --- reading -------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """How many rows the table holds."""
        return len(self._keys)

    @property
    def column_keys(self) -> list[str]:
        """The column keys, left to right."""
        return [column.key for column in self._columns]

    @property
    def table_width(self) -> int:
        """The width of every column with its padding."""
        return sum(self._widths) + 2 * CELL_PADDING * len(self._widths)

    def get_row_index(self, key: str) -> int:
        """The index of the row ``key``."""
        try:
            return self._positions[key]
        except KeyError:
            raise RowDoesNotExist(key) from None

    def get_row(self, key: str) -> Row:
        """The cells of the row ``key``."""
        return self._cells[self._existing(key)]

    def get_row_at(self, index: int) -> Row:
        """The cells of the row at ``index``."""
        return self._cells[self._keys[index]]

    def get_cell(self, key: str, column_key: str) -> Text:
        """One cell of the row ``key``."""
        cells = self.get_row(key)
        index = self.column_keys.index(column_key)
        return cells[index] if index < len(cells) else Text()

    def get_column(self, column_key: str) -> Iterable[Text]:
        """The cells of one column, top to bottom."""
        index = self.column_keys.index(column_key)
        for key in self._keys:
            cells = self._cells[key]
            yield cells[index] if index < len(cells) else Text()

    # --- bookkeeping ---------------------------------------------------------------------

    def _existing(self, key: str) -> str:
        if key not in self._cells:
            raise RowDoesNotExist(key)
        return key

    def _measure(self, column: Column, index: int) -> None:
        cells = (row[index] for row in self._cells.values() if index < len(row))
        column.measured = max(column.label.cell_len, max(map(text_width, cells), default=0))

    def _remeasure(self) -> bool:
        """Fit auto-width columns again (a cell may have shrunk); True if any."""
        auto = [(i, column) for i, column in enumerate(self._columns) if column.width is None]
        for index, column in auto:
            self._measure(column, index)
        if auto:
            self._rows_changed()
        return bool(auto)

    def _rows_changed(self) -> None:
        self._auto_columns = any(column.width is None for column in self._columns)
        widths = tuple(column.shown_width for column in self._columns)
        if widths != self._widths:
            self._widths = widths
        self._on_rows_changed()


def as_row(cells: Sequence[Cell]) -> Row:
    """Cells as ``Text``; a plain string becomes literal text, never markup."""
    return tuple(cell if isinstance(cell, Text) else safe_text(cell) for cell in cells)
