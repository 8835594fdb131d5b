"""Cells of a ``RecordTable`` as segments: literal text, cut or padded to the column width.

Rendering a cell here is one ``Text.render`` and a little padding, without Rich's layout
machinery (``Padding``, ``Styled``, ``render_lines``), so a row of a dozen cells costs
tens of microseconds. The segments carry only the cell's own styles; the row's look
(zebra stripe, cursor) is applied over them when the row is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from wfconsole.console.widgets.safe_text import is_clean, safe_text

CELL_PADDING = 1
"""Blank columns on each side of every cell."""
Cell = Text | str


def cell_text(value: Cell) -> Text:
    """``value`` as a one-line ``Text`` that cannot act: strings are never read as markup.

    A ``Text`` holding a control character or a line break (one not made by
    ``safe_text``) is shown with those made visible, keeping its base style.
    """
    if isinstance(value, str):
        return safe_text(value)
    if is_clean(value.plain):
        return value
    return safe_text(value.plain, style=value.style, justify=value.justify)


def cell_segments(value: Cell, width: int, console: Console) -> list[Segment]:
    """One cell, padded on both sides, exactly ``width + 2 * CELL_PADDING`` cells wide.

    Longer text ends in an ellipsis; ``justify="right"`` and ``"center"`` are honoured.
    """
    text = cell_text(value)
    length = text.cell_len
    if length > width:
        text = text.copy()
        text.truncate(width, overflow="ellipsis")
        length = text.cell_len
    gap = width - length
    left = gap if text.justify == "right" else gap // 2 if text.justify == "center" else 0
    segments = [Segment(" " * (CELL_PADDING + left))]
    if text.spans or not text.style:
        segments.extend(text.render(console, end=""))
    else:  # Text.render leaves the base style to the caller when there are no spans
        style = console.get_style(text.style, default=Style.null())
        segments.append(Segment(text.plain, style))
    segments.append(Segment(" " * (CELL_PADDING + gap - left)))
    return segments


def row_segments(cells: Sequence[Cell], widths: Sequence[int], console: Console) -> list[Segment]:
    """A whole row: each cell at its column's width (missing cells are blank)."""
    segments: list[Segment] = []
    for index, width in enumerate(widths):
        value = cells[index] if index < len(cells) else ""
        segments.extend(cell_segments(value, width, console))
    return segments


def text_width(value: Cell) -> int:
    """How many terminal cells ``value`` takes when shown (for auto-width columns)."""
    return cell_text(value).cell_len
