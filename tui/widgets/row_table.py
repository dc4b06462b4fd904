"""A small table of rows replaced whole when they change: the diff view's routes, rules, ACLs
and resources, and the path screen's hops."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

Cell = str | Text


class DiffTable(DataTable[Cell]):
    """A few rows, replaced whole when they change (they are few)."""

    def __init__(self, columns: list[tuple[str, str]], *, id: str) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, fixed_columns=2)
        self._column_spec = columns
        self._shown: dict[str, list[Cell]] | None = None

    def on_mount(self) -> None:
        for key, label in self._column_spec:
            self.add_column(label, key=key)

    def show(self, rows: dict[str, list[Cell]]) -> None:
        """Show exactly ``rows`` (key → cells), keeping the cursor's row number."""
        if rows == self._shown:
            return  # an unchanged tick leaves the cursor and the scroll alone
        self._shown = dict(rows)
        row = self.cursor_row
        self.clear()
        for key, cells in rows.items():
            self.add_row(*cells, key=key)
        if self.row_count:
            self.move_cursor(row=min(row, self.row_count - 1), scroll=False)

    def highlighted_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    def plain_rows(self) -> list[list[str]]:
        """Every row's cells as plain text (for tests and screen readers)."""
        return [[str(cell) for cell in self.get_row_at(i)] for i in range(self.row_count)]
