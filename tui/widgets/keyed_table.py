"""A DataTable whose rows are keyed by our own ids and updated in place.

Every tick re-renders every row, but only cells whose content changed are touched
(``update_cell``), rows are added or removed only when the set of ids changes, and the cursor
stays on the same id, so an operator's place in the table survives the refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

Cell = str | Text


class KeyedTable(DataTable[Cell]):
    """Rows keyed by id; :meth:`sync` makes the table show exactly ``rows``."""

    # DataTable hides its enter binding; here enter opens the row, so the footer says so.
    BINDINGS = [Binding("enter", "select_cursor", "open", key_display="⏎")]

    def __init__(
        self,
        columns: Sequence[tuple[str, str]],
        *,
        id_column: str,
        id: str | None = None,
        fixed_columns: int = 0,
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, fixed_columns=fixed_columns)
        self.id_column = id_column
        self._column_spec = list(columns)
        self._shown: dict[str, tuple[Cell, ...]] = {}
        self.cells_updated = 0
        self.rows_added = 0

    def on_mount(self) -> None:
        for key, label in self._column_spec:
            self.add_column(label, key=key)

    @property
    def ids(self) -> list[str]:
        """Row ids in display order."""
        return [str(row.key.value) for row in self.ordered_rows]

    @property
    def cursor_id(self) -> str | None:
        """The id of the row under the cursor, if any."""
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return str(key.value)

    def move_to(self, row_id: str) -> bool:
        """Put the cursor on ``row_id``; False when that row is not shown."""
        try:
            index = self.get_row_index(row_id)
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index)
        return True

    def sync(
        self,
        rows: Mapping[str, Sequence[Cell]],
        order: Callable[[str], Any] | None = None,
    ) -> None:
        """Show exactly ``rows`` (id → cells in column order), sorted by ``order(id)``."""
        keep = self.cursor_id
        columns = [key for key, _ in self._column_spec]
        for row_id in [r for r in self._shown if r not in rows]:
            self.remove_row(row_id)
            del self._shown[row_id]
        for row_id, cells in rows.items():
            cells = tuple(cells)
            old = self._shown.get(row_id)
            if old is None:
                self.add_row(*cells, key=row_id)
                self.rows_added += 1
            elif old != cells:
                for column, before, after in zip(columns, old, cells, strict=True):
                    if before != after:
                        self.update_cell(row_id, column, after, update_width=True)
                        self.cells_updated += 1
            self._shown[row_id] = cells
        if order is not None and self.row_count > 1:
            self.sort(self.id_column, key=lambda value: order(str(value)))
        if keep is not None and keep in rows and self.cursor_id != keep:
            # Rows above the cursor came or went, or the sort moved it: follow the id, and
            # scroll only if it left the view.
            self.move_cursor(row=self.get_row_index(keep), scroll=True)
