"""One path through a peering, hop by hop: ENI → security groups → subnet → network ACL →
route table → pcx → the deployment side, and back; the first hop that blocks with why and the
fix. The same walk as ``peering-tui path`` (:mod:`peering_core.path`); ``r`` walks it again.
"""

from __future__ import annotations

from typing import ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker

from peering_core.errors import PeeringError
from peering_core.path import PathReport, check_path

from .. import bindings
from ..dashboard import Dashboard
from ..drift_text import HOP_COLUMNS, hop_cells, path_title, path_why
from ..failures import describe_error, report_failed_worker
from ..widgets.footer import Footer
from ..widgets.row_table import DiffTable
from ..widgets.status_header import StatusHeader


class PathScreen(Screen[None]):
    """The hops of one path, as last walked."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.PATH)

    def __init__(self, report: PathReport, name: str) -> None:
        super().__init__()
        self.report = report
        self.target_name = name
        self.checking = False
        self.checks = 0

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with VerticalScroll(id="diff-body"):
            yield Static(id="path-title")
            yield DiffTable(HOP_COLUMNS, id="hops")
            yield Static(id="path-why")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#path-why").border_title = "why"
        self.query_one("#hops", DiffTable).focus()
        self.show()

    def show(self) -> None:
        title = path_title(self.report, self.target_name)
        if self.checking:
            title.append("  · walking…", style="bold")
        self.query_one("#path-title", Static).update(title)
        hops = self.query_one("#hops", DiffTable)
        hops.show({h.hop: hop_cells(h) for h in self.report.hops})
        hops.border_title = f"hops · {len(self.report.hops)}"
        self.query_one("#path-why", Static).update(path_why(self.report))

    def action_back(self) -> None:
        """``esc``: back to the diff view."""
        self.app.pop_screen()

    def action_recheck(self) -> None:
        """``r``: walk the path again now."""
        self.recheck()

    @work(exclusive=True, group="path", exit_on_error=False)
    async def recheck(self) -> None:
        session = self.dashboard.session
        if session is None:
            self.notify("not connected: nothing to walk", severity="warning")
            return
        report = self.report
        # One port is named; several are a client's default (the MQTT ports).
        target = f"{report.address}:{report.ports[0]}" if len(report.ports) == 1 else report.address
        self.checking = True
        self.show()
        try:
            self.report = await check_path(
                session.platform,
                await session.gateway_for(report.deployment_id, report.peering_id),
                report.deployment_id,
                report.peering_id,
                to=target if report.direction == "to" else None,
                from_=target if report.direction == "from" else None,
            )
            self.checks += 1
        except (PeeringError, OSError) as exc:
            self.notify(f"path check failed: {describe_error(exc)}", severity="error")
        finally:
            self.checking = False
            self.show()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failed_worker(self, event)
