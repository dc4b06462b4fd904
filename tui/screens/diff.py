"""The diff view of one peering: its route tables and inbound rules, expected vs actual, a state
per row, why each drifted row drifted, and the door to the fix plan.

It starts from the poller's last diff of the peering (every tick carries one per pcx) and
follows newer ticks; ``r`` re-reads just this peering with the core's ``diff_one``. Nothing
here decides what is drift: :mod:`peering_core.drift` does.
"""

from __future__ import annotations

from typing import ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker

from peering_core.errors import PeeringError
from peering_core.network import diff_one
from peering_core.snapshot import Snapshot

from .. import bindings
from ..dashboard import Dashboard
from ..drift_text import (
    ROUTE_COLUMNS,
    RULE_COLUMNS,
    DiffReading,
    diff_title,
    reasons_text,
    route_cells,
    route_key,
    rule_cells,
    rule_key,
)
from ..failures import describe_error, report_failed_worker
from ..widgets.status_header import StatusHeader
from .fix import FixPlanModal

LAST_POLL = "last poll"
REDIFFED = "re-diffed"

DiffCell = str | Text


class DiffTable(DataTable[DiffCell]):
    """A few rows of one diff, replaced whole when the diff changes (they are few)."""

    def __init__(self, columns: list[tuple[str, str]], *, id: str) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, fixed_columns=2)
        self._column_spec = columns
        self._shown: dict[str, list[DiffCell]] | None = None

    def on_mount(self) -> None:
        for key, label in self._column_spec:
            self.add_column(label, key=key)

    def show(self, rows: dict[str, list[DiffCell]]) -> None:
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

    def plain_rows(self) -> list[list[str]]:
        """Every row's cells as plain text (for tests and screen readers)."""
        return [[str(cell) for cell in self.get_row_at(i)] for i in range(self.row_count)]


class PeeringDiffScreen(Screen[None]):
    """Routes and inbound rules of one peering, expected vs actual."""

    BINDINGS: ClassVar[list[BindingType]] = [*bindings.ESSENTIAL, *bindings.DIFF]

    def __init__(self, peering_id: str, deployment_id: str | None = None) -> None:
        super().__init__()
        self.peering_id = peering_id
        self.deployment_id = deployment_id
        self.reading: DiffReading | None = None
        self.error: str | None = None
        self.diffing = False
        self.rediffs = 0

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with VerticalScroll(id="diff-body"):
            yield Static(id="diff-title")
            yield DiffTable(ROUTE_COLUMNS, id="routes")
            yield DiffTable(RULE_COLUMNS, id="rules")
            yield Static(id="reasons")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#reasons").border_title = "why"
        self.watch(self.app, "snapshot", self.follow_snapshot, init=True)
        self.routes_table.focus()
        if self.reading is None and self.dashboard.session is not None:
            # The last tick had no diff of this pcx (a region it could not read, say): ask now.
            self.rediff()

    @property
    def routes_table(self) -> DiffTable:
        return self.query_one("#routes", DiffTable)

    @property
    def rules_table(self) -> DiffTable:
        return self.query_one("#rules", DiffTable)

    # --- the diff -----------------------------------------------------------------------

    def follow_snapshot(self, snapshot: Snapshot | None = None) -> None:
        """Take the poller's diff when it is newer than the one shown."""
        snapshot = self.dashboard.snapshot
        if snapshot is not None:
            view = snapshot.view(self.peering_id)
            if view is not None and self.deployment_id is None:
                self.deployment_id = view.deployment_id
            diff = snapshot.diffs.get(self.peering_id)
            if diff is not None and (self.reading is None or snapshot.taken_at > self.reading.at):
                self.reading = DiffReading(diff, snapshot.taken_at, LAST_POLL)
                self.error = None
        self.show()

    def adopt(self, reading: DiffReading | None) -> None:
        """Show ``reading`` (from a re-diff or the fix plan) unless a newer one is shown."""
        if reading is None:
            return
        if self.reading is None or reading.at >= self.reading.at:
            self.reading = reading
            self.error = None
        self.show()

    def show(self) -> None:
        """Render the header, both tables and the reasons from :attr:`reading`."""
        snapshot = self.dashboard.snapshot
        view = snapshot.view(self.peering_id) if snapshot else None
        diff = self.reading.diff if self.reading else None
        deployment = view.deployment_name if view else (self.deployment_id or "?")
        region = view.region if view else (diff.region if diff else "?")
        title = diff_title(diff, self.peering_id, deployment, region, self.reading)
        if self.diffing:
            title.append("  · re-diffing…", style="bold")
        if self.error:
            title.append(f"\n✗ {self.error}", style="bold red")
        elif diff is None and not self.diffing:
            title.append("\nno diff of this peering yet (r diffs it now)", style="yellow")
        self.query_one("#diff-title", Static).update(title)
        routes, rules = self.routes_table, self.rules_table
        if diff is None:
            routes.show({})
            rules.show({})
            self.query_one("#reasons", Static).update("")
            return
        routes.show(
            {
                route_key(i, row): route_cells(row, diff.peering_id)
                for i, row in enumerate(diff.routes)
            }
        )
        rules.show(
            {
                rule_key(i, row): rule_cells(row, diff.deployment_cidr)
                for i, row in enumerate(diff.rules)
            }
        )
        routes.border_title = f"route tables · {len(diff.routes)} row(s)"
        rules.border_title = f"inbound rules · {len(diff.rules)} row(s)"
        self.query_one("#reasons", Static).update(reasons_text(diff))

    @work(exclusive=True, group="rediff", exit_on_error=False)
    async def rediff(self) -> None:
        """Diff this one peering now with filtered (cheap) reads."""
        session = self.dashboard.session
        if session is None:
            self.notify("not connected: nothing to re-diff", severity="warning")
            return
        deployment_id = self.deployment_id or (
            self.reading.diff.deployment_id if self.reading else None
        )
        if deployment_id is None:
            self.error = "the peering's deployment is not known yet"
            self.show()
            return
        self.diffing = True
        self.show()
        try:
            diff = await diff_one(session.platform, session.ec2, deployment_id, self.peering_id)
        except (PeeringError, OSError) as exc:
            self.error = f"re-diff failed: {describe_error(exc)}"
            self.notify(self.error, severity="error")
        else:
            self.rediffs += 1
            self.adopt(DiffReading(diff, self.dashboard.now(), REDIFFED))
        finally:
            self.diffing = False
            self.show()

    # --- keys ---------------------------------------------------------------------------

    def action_back(self) -> None:
        """``esc``: back to the screen before."""
        self.app.pop_screen()

    def action_rediff(self) -> None:
        """``r`` / ``ctrl+r``: diff this peering again now."""
        self.rediff()

    def action_fix_plan(self) -> None:
        """``f``: the fix plan of the diff shown."""
        if self.reading is None:
            self.notify("no diff yet: r diffs this peering", severity="warning")
            return
        snapshot = self.dashboard.snapshot
        view = snapshot.view(self.peering_id) if snapshot else None
        name = view.deployment_name if view else self.reading.diff.deployment_id
        self.app.push_screen(FixPlanModal(self.reading, deployment_name=name), self.adopt)

    def action_open_detail(self) -> None:
        """``d``: the peering's detail."""
        self.dashboard.open_detail(self.peering_id)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failed_worker(self, event)
