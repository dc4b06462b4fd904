"""A table of rows keyed by our own ids, cheap at fleet scale (Textual's Line API).

Textual's ``DataTable`` keeps row positions in a map it rebuilds on every ``remove_row``
(so filtering 5,000 rows down costs 5,000²) and re-measures a whole column whenever a cell
narrows. This table keeps the rows in a dict and their display order in a list:

- :meth:`sync` makes the table show exactly the rows it is given: rows whose cells are the
  same object (or compare equal) are left alone, only changed rows are repainted, and a sync
  that changes nothing repaints nothing;
- only the lines on screen are rendered, each row's strip is cached until the row, its
  style (cursor, zebra) or the column widths change;
- column widths come from per-row cell widths measured once per change.

The cursor follows its row's id through re-sorting, filtering and refreshes, so an
operator's place in the table survives every tick.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | Text
Row = tuple[Cell, ...]

PADDING = 1  # blank cells either side of a column's content


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


class KeyedTable(ScrollView, can_focus=True):
    """Rows keyed by id; :meth:`sync` makes the table show exactly ``rows``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "open", key_display="⏎"),
        Binding("up", "cursor_up", "up", show=False),
        Binding("down", "cursor_down", "down", show=False),
        Binding("pageup", "page_up", "page up", show=False),
        Binding("pagedown", "page_down", "page down", show=False),
        Binding("home", "cursor_home", "first row", show=False),
        Binding("end", "cursor_end", "last row", show=False),
        Binding("left", "scroll_left", "scroll left", show=False),
        Binding("right", "scroll_right", "scroll right", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keyed-table--header",
        "keyed-table--cursor",
        "keyed-table--even-row",
        "keyed-table--odd-row",
    }

    # The look of Textual's DataTable, which this table replaces.
    DEFAULT_CSS = """
    KeyedTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .keyed-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .keyed-table--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .keyed-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .keyed-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .keyed-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .keyed-table--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .keyed-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    class RowMessage(Message):
        """A row of a table, by id."""

        def __init__(self, table: KeyedTable, row_id: str | None) -> None:
            super().__init__()
            self.table = table
            self.row_id = row_id

        @property
        def control(self) -> KeyedTable:
            return self.table

    class RowHighlighted(RowMessage):
        """The cursor is on another row (or on none: ``row_id`` is ``None``)."""

    class RowSelected(RowMessage):
        """``enter`` (or a click on the highlighted row) on a row."""

        row_id: str

        def __init__(self, table: KeyedTable, row_id: str) -> None:
            super().__init__(table, row_id)

    def __init__(
        self,
        columns: Sequence[tuple[str, str]],
        *,
        id_column: str,
        id: str | None = None,
        fixed_columns: int = 0,
        min_widths: Mapping[str, int] | None = None,
    ) -> None:
        """``min_widths``: columns kept at least this wide (column key → cells), so a cell
        growing up to it does not widen the table (which means a layout and a full repaint)."""
        super().__init__(id=id)
        self.id_column = id_column
        self.fixed_columns = fixed_columns
        self._min_widths = dict(min_widths or {})
        self._set_columns(columns)
        self._rows: dict[str, Row] = {}
        self._cell_widths: dict[str, tuple[int, ...]] = {}
        self._measured: dict[str, tuple[Row, tuple[int, ...]]] = {}
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._versions: dict[str, int] = {}
        self._strips: dict[tuple[str, int, str], Strip] = {}
        self._cursor = 0
        self._highlighted: str | None = None
        self.cells_updated = 0
        self.rows_added = 0
        self.repaints = 0  # whole-table refreshes; row refreshes are counted in cells_updated

    def _set_columns(self, columns: Sequence[tuple[str, str]]) -> None:
        self.column_keys = [key for key, _ in columns]
        self.labels = [label for _, label in columns]
        self._floor = [max(cell_len(label), self._min_widths.get(key, 0)) for key, label in columns]
        self._natural = list(self._floor)
        self._widths = list(self._floor)
        # Set by the screen for the terminal's width: columns not shown, and columns whose
        # width is given (cells longer than it end with "…").
        self._hidden: frozenset[int] = frozenset()
        self._given: dict[int, int] = {}

    def set_columns(self, columns: Sequence[tuple[str, str]]) -> None:
        """Show other columns: the rows go (the next :meth:`sync` brings rows built for them)."""
        self._set_columns(columns)
        self._rows.clear()
        self._cell_widths.clear()
        self._measured.clear()
        self._order = []
        self._index = {}
        self._strips.clear()
        self._resize()
        self.repaints += 1
        self.refresh()

    # --- what the table shows ----------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def ids(self) -> list[str]:
        """Row ids in display order."""
        return list(self._order)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def cursor_id(self) -> str | None:
        """The id of the row under the cursor, if any."""
        return self._order[self._cursor] if self._order else None

    @property
    def column_widths(self) -> list[int]:
        """Each shown column's width on screen, padding included."""
        return [w + 2 * PADDING for i, w in enumerate(self._widths) if i not in self._hidden]

    @property
    def shown_columns(self) -> list[str]:
        """The keys of the columns on screen (not hidden by :meth:`fit_columns`)."""
        return [k for i, k in enumerate(self.column_keys) if i not in self._hidden]

    def natural_widths(self) -> dict[str, int]:
        """Each column's width as its rows would have it (label and cells, no given width)."""
        return dict(zip(self.column_keys, self._natural, strict=True))

    def fit_columns(
        self, *, hidden: Sequence[str] = (), widths: Mapping[str, int] | None = None
    ) -> None:
        """Show every column but ``hidden``; ``widths`` gives some columns a width of their own
        (longer cells end with "…"). A narrow terminal calls this on every resize."""
        hide = frozenset(self.column_keys.index(key) for key in hidden)
        given = {self.column_keys.index(key): w for key, w in (widths or {}).items()}
        if hide == self._hidden and given == self._given:
            return
        self._hidden, self._given = hide, given
        self._apply_widths()
        self._strips.clear()
        self._resize()
        self.repaints += 1
        self.refresh()

    def get_cell(self, row_id: str, column: str) -> Cell:
        """The cell shown in ``row_id``'s ``column``."""
        return self._rows[row_id][self.column_keys.index(column)]

    def move_to(self, row_id: str) -> bool:
        """Put the cursor on ``row_id``; False when that row is not shown."""
        index = self._index.get(row_id)
        if index is None:
            return False
        self._move(index)
        return True

    def sync(
        self,
        rows: Mapping[str, Sequence[Cell]],
        order: Callable[[str], Any] | None = None,
    ) -> None:
        """Show exactly ``rows`` (id → cells in column order), sorted by ``order(id)``; without
        ``order``, in the mapping's own order (a caller that keeps its ids sorted saves a sort
        per call)."""
        keep = self.cursor_id
        changed: list[str] = []
        removed = [row_id for row_id in self._rows if row_id not in rows]
        for row_id in removed:
            del self._rows[row_id], self._cell_widths[row_id]
        for row_id, given in rows.items():
            cells = given if isinstance(given, tuple) else tuple(given)
            old = self._rows.get(row_id)
            if old is cells:
                continue
            if old is None:
                self.rows_added += 1
            elif old == cells:
                self._rows[row_id] = cells
                continue
            else:
                self.cells_updated += sum(1 for a, b in zip(old, cells, strict=True) if a != b)
                changed.append(row_id)
            self._rows[row_id] = cells
            self._cell_widths[row_id] = self._widths_of(row_id, cells)
            self._versions[row_id] = self._versions.get(row_id, 0) + 1
        added = len(self._rows) != len(self._order) or bool(removed)
        new_order = sorted(rows, key=order) if order is not None else list(rows)
        reordered = added or new_order != self._order
        if reordered:
            self._order = new_order
            self._index = {row_id: i for i, row_id in enumerate(new_order)}
        widths_changed = self._measure() if (changed or reordered) else False
        if reordered or widths_changed:
            self._strips.clear()
            self._resize()
            self.repaints += 1
            # A table as tall as its rows (height: auto) needs a layout when their number
            # changes; one that fills its space does not, and skips that cost.
            height = self.styles.height
            self.refresh(layout=added and height is not None and height.is_auto)
        else:
            for row_id in changed:
                self._refresh_row(self._index[row_id])
        # The cursor stays on its id; if that row went, on the row now at its place.
        index = self._index.get(keep, self._cursor) if keep is not None else self._cursor
        self._move(index, force=reordered)

    def _widths_of(self, row_id: str, cells: Row) -> tuple[int, ...]:
        """The cells' widths, remembered by id: a row the filter hid and brings back (the
        same tuple) is not measured again."""
        known = self._measured.get(row_id)
        if known is not None and known[0] is cells:
            return known[1]
        widths = tuple(cell_len(_plain(c)) for c in cells)
        if len(self._measured) > 2 * len(self._rows) + 1000:
            self._measured = {r: self._measured[r] for r in self._rows if r in self._measured}
        self._measured[row_id] = (cells, widths)
        return widths

    def _measure(self) -> bool:
        """Column widths from every shown row's cell widths; True when they changed."""
        widths = self._floor
        if self._cell_widths:
            # Transposed: one tuple per column, all rows' widths in it.
            columns = zip(*self._cell_widths.values(), strict=True)
            widths = [max(floor, max(cells)) for floor, cells in zip(widths, columns, strict=True)]
        self._natural = list(widths)
        return self._apply_widths()

    def _apply_widths(self) -> bool:
        """The widths on screen: the natural ones, given widths and hidden columns applied;
        True when they changed."""
        widths = list(self._natural)
        for index, width in self._given.items():
            widths[index] = width
        for index in self._hidden:
            widths[index] = 0
        if widths == self._widths:
            return False
        self._widths = widths
        return True

    def _resize(self) -> None:
        width = sum(w + 2 * PADDING for i, w in enumerate(self._widths) if i not in self._hidden)
        self.virtual_size = Size(width, len(self._order) + 1)

    # --- cursor -------------------------------------------------------------------------

    def _move(self, index: int, *, force: bool = False) -> None:
        before = self._cursor
        self._cursor = max(0, min(index, len(self._order) - 1))
        if self._cursor != before:
            self._refresh_row(before)
            self._refresh_row(self._cursor)
        if before != self._cursor or force:
            self._scroll_to_cursor()
        row_id = self.cursor_id
        if row_id != self._highlighted:
            self._highlighted = row_id
            self.post_message(self.RowHighlighted(self, row_id))

    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)  # the header takes a line

    def _scroll_to_cursor(self) -> None:
        top = int(self.scroll_y)
        visible = self._visible_rows()
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False, immediate=True)

    def _refresh_row(self, index: int) -> None:
        line = index - int(self.scroll_y) + 1
        if 1 <= line < self.scrollable_content_region.height + 1:
            self.refresh_line(index + 1)

    def action_cursor_up(self) -> None:
        self._move(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self._move(self._cursor + 1)

    def action_page_up(self) -> None:
        self._move(self._cursor - self._visible_rows())

    def action_page_down(self) -> None:
        self._move(self._cursor + self._visible_rows())

    def action_cursor_home(self) -> None:
        self._move(0)

    def action_cursor_end(self) -> None:
        self._move(len(self._order) - 1)

    def action_select_cursor(self) -> None:
        row_id = self.cursor_id
        if row_id is not None:
            self.post_message(self.RowSelected(self, row_id))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return  # the border, the scrollbars or the header
        line = offset.y
        index = int(self.scroll_y) + line - 1
        if index >= len(self._order):
            return
        if index == self._cursor:
            self.action_select_cursor()
        else:
            self._move(index)

    # --- rendering ----------------------------------------------------------------------

    def on_focus(self) -> None:
        self._restyle()

    def on_blur(self) -> None:
        self._restyle()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._restyle()

    def _restyle(self) -> None:
        self._strips.clear()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            style = self.get_component_rich_style("keyed-table--header")
            strip = self._strip("", 0, "header", style, self.labels)
        else:
            index = int(self.scroll_y) + y - 1
            if index >= len(self._order):
                return Strip.blank(width, self.rich_style)
            row_id = self._order[index]
            kind = "cursor" if index == self._cursor else ("odd" if index % 2 else "even")
            style = self.get_component_rich_style(
                "keyed-table--cursor" if kind == "cursor" else f"keyed-table--{kind}-row"
            )
            strip = self._strip(row_id, self._versions.get(row_id, 0), kind, style,
                                self._rows[row_id])  # fmt: skip
        fixed = sum(
            w + 2 * PADDING
            for i, w in enumerate(self._widths[: self.fixed_columns])
            if i not in self._hidden
        )
        scroll_x = int(self.scroll_x)
        if fixed:
            strip = Strip.join(
                [strip.crop(0, fixed), strip.crop(fixed + scroll_x, scroll_x + width)]
            )
        else:
            strip = strip.crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, style).crop(0, width)

    def _strip(
        self, row_id: str, version: int, kind: str, style: Style, cells: Sequence[Cell]
    ) -> Strip:
        key = (row_id, version, kind)
        cached = self._strips.get(key)
        if cached is not None:
            return cached
        base = self.rich_style + style
        console = self.app.console
        segments: list[Segment] = []
        pad = Segment(" " * PADDING, base)
        for index, (cell, width) in enumerate(zip(cells, self._widths, strict=True)):
            if index in self._hidden:
                continue
            text = cell.copy() if isinstance(cell, Text) else Text(cell)
            text.truncate(width, overflow="ellipsis", pad=True)
            segments.append(pad)
            # Text.render applies the spans; the text's own style goes under them here.
            own = console.get_style(text.style) if isinstance(text.style, str) else text.style
            segments.extend(Segment.apply_style(text.render(console, end=""), base + own))
            segments.append(pad)
        strip = Strip(segments).simplify()
        if len(self._strips) > 4 * (self.size.height + 2):
            self._strips.clear()  # the cache holds about what is on screen
        self._strips[key] = strip
        return strip
