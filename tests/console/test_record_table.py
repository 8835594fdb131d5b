"""RecordTable: the cursor, keys, scrolling, widths, literal text and drawing only what shows."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from wfconsole.console.widgets.record_table import RecordTable, RowDoesNotExist

HEIGHT = 10  # the table's lines: a header and nine rows


class TableApp(App[None]):
    """One table filling a small screen; remembers the table's messages."""

    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[tuple[int, str]] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield RecordTable(id="t")

    def on_record_table_row_highlighted(self, event: RecordTable.RowHighlighted) -> None:
        self.highlighted.append((event.cursor_row, event.row_key))

    def on_record_table_row_selected(self, event: RecordTable.RowSelected) -> None:
        self.selected.append(event.row_key)


def fill(table: RecordTable, count: int, *, width: int = 12) -> None:
    """Columns ``name`` and ``n``; rows ``r0`` … keyed the same."""
    table.add_column("name", key="name", width=width)
    table.add_column("n", key="n", width=5)
    for i in range(count):
        table.add_row(Text(f"r{i}"), Text(str(i), justify="right"), key=f"r{i}")


def lines(app: TableApp) -> list[str]:
    """The table's lines as text, header first."""
    table = app.query_one(RecordTable)
    return [table.render_line(y).text for y in range(table.size.height)]


async def started(pilot: Pilot[None], rows: int) -> RecordTable:
    table = pilot.app.query_one(RecordTable)
    table.styles.height = HEIGHT
    fill(table, rows)
    table.focus()
    await pilot.pause()
    return table


async def test_keys_move_the_cursor_and_tell_the_screen() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = await started(pilot, 30)
        await pilot.press("down", "down", "up")
        assert (table.cursor_row, table.cursor_key) == (1, "r1")
        await pilot.press("end")
        assert table.cursor_key == "r29"
        await pilot.press("home", "enter")
        await pilot.pause()
        assert table.cursor_key == "r0"
        assert app.highlighted[0] == (0, "r0")  # the first row arrived
        assert app.highlighted[-1] == (0, "r0")
        assert (29, "r29") in app.highlighted
        assert app.selected == ["r0"]


async def test_cursor_stays_in_bounds() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = await started(pilot, 3)
        table.move_cursor(row=99)
        assert table.cursor_key == "r2"
        table.move_cursor(row=-5)
        assert table.cursor_key == "r0"
        table.clear()
        assert (table.cursor_row, table.cursor_key, table.row_count) == (0, None, 0)
        await pilot.press("down", "enter")
        assert app.selected == []


async def test_end_scrolls_the_last_row_into_view_under_the_header() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = await started(pilot, 50)
        await pilot.press("end")
        await pilot.pause()
        shown = lines(app)
        assert shown[0].split() == ["name", "n"]
        assert shown[-1].split() == ["r49", "49"]
        assert shown[1].split() == ["r41", "41"]
        await pilot.press("pageup")
        await pilot.pause()
        assert table.cursor_key == "r40"
        assert lines(app)[1].split() == ["r32", "32"]


async def test_page_down_keeps_the_cursor_on_its_line() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = await started(pilot, 50)
        await pilot.press("down", "down", "pagedown")
        await pilot.pause()
        assert table.cursor_key == "r11"
        assert lines(app)[3].split() == ["r11", "11"]


async def test_click_moves_the_cursor_and_a_second_click_opens() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = await started(pilot, 5)
        await pilot.click(RecordTable, offset=(2, 3))  # line 3: the third row
        assert table.cursor_key == "r2"
        assert app.selected == []
        await pilot.click(RecordTable, offset=(2, 3))
        await pilot.pause()
        assert app.selected == ["r2"]


async def test_a_changed_cell_is_drawn_afresh_and_only_its_row() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = await started(pilot, 5)
        drawn = table.rows_drawn
        table.update_cell("r3", "name", Text("● marked"))
        await pilot.pause()
        assert lines(app)[4].split() == ["●", "marked", "3"]
        assert table.rows_drawn == drawn + 1


async def test_rows_given_back_with_the_same_cells_are_not_drawn_again() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = await started(pilot, 5)
        rows = [(key, table.get_row(key)) for key in ("r0", "r1", "r2", "r3", "r4")]
        drawn = table.rows_drawn
        table.clear()
        table.add_row(Text("new"), Text("9"), key="new")
        for key, cells in rows:
            table.add_row(*cells, key=key)
        await pilot.pause()
        assert [line.split()[0] for line in lines(app)[1:7]] == [
            "new", "r0", "r1", "r2", "r3", "r4"
        ]  # fmt: skip
        assert table.rows_drawn == drawn + 1  # only the new row


async def test_ten_thousand_rows_draw_only_the_visible_lines() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        drawn = app.query_one(RecordTable).rows_drawn  # the empty table's header
        table = await started(pilot, 10_000)
        assert table.rows_drawn - drawn <= HEIGHT  # nine rows and the header
        drawn = table.rows_drawn
        await pilot.press("end")
        await pilot.pause()
        assert lines(app)[-1].split() == ["r9999", "9999"]
        assert table.rows_drawn - drawn <= HEIGHT - 1
        assert table.get_row_index("r5000") == 5000


async def test_new_widths_cut_the_cells_again() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = await started(pilot, 0)
        table.add_row(Text("invoice-alert-nightly"), Text("1"), key="a")
        await pilot.pause()
        assert lines(app)[1].split()[0] == "invoice-ale…"
        table.clear(columns=True)
        fill(table, 0, width=22)
        table.add_row(Text("invoice-alert-nightly"), Text("1"), key="a")
        await pilot.pause()
        assert lines(app)[1].split()[0] == "invoice-alert-nightly"


async def test_an_auto_width_column_fits_its_widest_cell() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(RecordTable)
        table.add_column("by", key="by")
        table.add_column("n", key="n", width=3)
        table.add_row(Text("ops"), Text("1"), key="a")
        table.add_row(Text("release-bot"), Text("2"), key="b")
        await pilot.pause()
        assert lines(app)[2].startswith(" release-bot  2   ")
        table.update_cell("b", "by", Text("me"))
        await pilot.pause()
        assert lines(app)[1].startswith(" ops  1   ")  # "ops" is now the widest: 3 cells


async def test_markup_and_escapes_show_literally() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(RecordTable)
        table.add_column("name", key="name", width=40)
        table.add_row("[@click=app.quit]x[/] [red]r[/red]", key="s")
        table.add_row(Text("\x1b[2Jwipe\nnext"), key="t")
        await pilot.pause()
        shown = lines(app)
        assert shown[1].strip() == "[@click=app.quit]x[/] [red]r[/red]"
        assert shown[2].strip() == "␛[2Jwipe␊next"
        assert table.get_cell("s", "name").spans == []
        await pilot.click(RecordTable, offset=(5, 1))
        await pilot.click(RecordTable, offset=(5, 1))
        assert app.is_running


async def test_a_theme_change_redraws_the_rows() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = await started(pilot, 3)
        before = table.render_line(2)
        app.theme = "textual-light"
        await pilot.pause()
        after = table.render_line(2)
        assert after.text == before.text
        assert list(after) != list(before)  # the stripe takes the new theme's colours


async def test_unknown_rows_raise() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = await started(pilot, 1)
        with pytest.raises(RowDoesNotExist):
            table.get_row_index("nope")
        with pytest.raises(RowDoesNotExist):
            table.get_row("nope")


async def test_cells_keep_their_own_styles() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(RecordTable)
        table.add_column("status", key="status", width=10)
        table.add_row(Text("ok"), key="a")
        table.add_row(Text("FAILED", style="bold red"), key="b")
        table.add_row(Text.assemble("x ", ("y", "green")), key="c")
        await pilot.pause()
        failed = next(s for s in table.render_line(2) if s.text == "FAILED")
        assert failed.style is not None and failed.style.bold
        assert failed.style.color is not None and failed.style.color.name == "red"
        green = next(s for s in table.render_line(3) if s.text == "y")
        assert green.style is not None and green.style.color is not None
        assert green.style.color.name == "green"
