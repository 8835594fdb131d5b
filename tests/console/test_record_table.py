"""RecordTable's stable cell cache never shows a stale cell."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from wfconsole.widgets.record_table import RecordTable


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield RecordTable(id="t")


def _shown(app: TableApp) -> str:
    table = app.query_one(RecordTable)
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


async def test_changed_moved_and_restyled_cells_are_drawn_afresh() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(RecordTable)
        table.add_column("name", key="name", width=20)
        for name in ("alpha", "beta"):
            table.add_row(Text(name), key=name)
        await pilot.pause()
        assert "alpha" in _shown(app)
        table.update_cell("alpha", "name", Text("gamma"))
        await pilot.pause()
        shown = _shown(app)
        assert "gamma" in shown and "alpha" not in shown
        beta = table.get_cell("beta", "name")
        table.clear()
        table.add_row(Text("new"), key="new")
        table.add_row(beta, key="beta")  # the same cell object, one row lower
        await pilot.pause()
        lines = _shown(app).splitlines()
        assert [i for i, line in enumerate(lines) if "beta" in line] == [2]
        app.theme = "textual-light"
        await pilot.pause()
        assert "beta" in _shown(app)
