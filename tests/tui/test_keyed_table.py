"""The dashboard's table widget on its own: rows by id, repaints only when something changed,
the cursor following its id, keys and clicks."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult

from tui.widgets.keyed_table import KeyedTable

COLUMNS = [("id", "ID"), ("name", "NAME"), ("state", "STATE")]


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[str | None] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id_column="id", id="table")

    @property
    def table(self) -> KeyedTable:
        return self.query_one(KeyedTable)

    @on(KeyedTable.RowHighlighted)
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self.highlighted.append(event.row_id)

    @on(KeyedTable.RowSelected)
    def _selected(self, event: KeyedTable.RowSelected) -> None:
        self.selected.append(event.row_id)


def rows(n: int, state: str = "ok") -> dict[str, tuple[str | Text, ...]]:
    return {f"r{i:05d}": (f"r{i:05d}", f"name-{i}", Text(state, style="green")) for i in range(n)}


async def test_a_sync_that_changes_nothing_repaints_nothing_and_a_change_touches_its_row():
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.table
        fleet = rows(50)
        table.sync(fleet, order=str)
        await pilot.pause()
        assert table.ids == sorted(fleet) and table.rows_added == 50
        counts = (table.repaints, table.cells_updated, table.rows_added)

        table.sync(dict(fleet), order=str)  # the same tuples
        table.sync(rows(50), order=str)  # equal tuples, new objects
        assert (table.repaints, table.cells_updated, table.rows_added) == counts

        changed = dict(fleet) | {"r00007": ("r00007", "name-7", Text("broken", style="red"))}
        table.sync(changed, order=str)
        assert table.cells_updated == counts[1] + 1
        assert table.repaints == counts[0] + 1  # STATE grew wider: every line moves
        assert str(table.get_cell("r00007", "state")) == "broken"


async def test_the_cursor_follows_its_row_through_sorting_and_filtering():
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.table
        fleet = rows(20)
        table.sync(fleet, order=str)
        assert table.move_to("r00012")
        table.sync(fleet, order=lambda r: -int(r[1:]))  # reversed: r00012 is now 8th
        assert table.cursor_id == "r00012" and table.cursor_row == 7
        table.sync(dict(reversed(fleet.items())))  # no order: the mapping's own
        assert table.ids == sorted(fleet, reverse=True) and table.cursor_id == "r00012"
        table.sync({r: c for r, c in fleet.items() if r != "r00012"}, order=str)
        assert table.cursor_id is not None and table.row_count == 19  # the row at its place
        table.sync({}, order=str)
        assert table.cursor_id is None and table.row_count == 0
        await pilot.pause()
        assert app.highlighted[-1] is None


async def test_keys_move_the_cursor_and_enter_selects():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.sync(rows(200), order=str)
        table.focus()
        await pilot.press("down", "down")
        assert table.cursor_id == "r00002"
        await pilot.press("end")
        assert table.cursor_id == "r00199"
        assert table.scroll_y == table.max_scroll_y  # the last row is on screen
        await pilot.press("home", "pagedown")
        assert 0 < table.cursor_row < 200
        await pilot.press("enter")
        assert app.selected == [table.cursor_id]


async def test_a_click_highlights_a_row_and_a_second_click_opens_it():
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.table
        table.sync(rows(10), order=str)
        await pilot.pause()
        await pilot.click(KeyedTable, offset=(2, 3))  # header on line 0, rows from line 1
        assert table.cursor_id == "r00002" and app.selected == []
        await pilot.click(KeyedTable, offset=(2, 3))
        assert app.selected == ["r00002"]


async def test_five_thousand_rows_filter_down_and_back_without_measuring_again():
    app = TableApp()
    async with app.run_test(size=(60, 20)):
        table = app.table
        fleet = rows(5000)
        table.sync(fleet, order=str)
        few = {r: c for r, c in fleet.items() if r.endswith("42")}
        table.sync(few, order=str)
        assert table.ids == sorted(few)
        measured = dict(table._measured)
        table.sync(fleet, order=str)
        assert table.row_count == 5000
        # The rows came back as the same tuples: their widths were remembered, not re-measured.
        assert all(table._measured[r] is measured[r] for r in measured)
