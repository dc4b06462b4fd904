"""The diff view of one peering: its route tables, inbound rules and network ACLs, expected vs
actual, a state per row, why each drifted row drifted, the path verdict of each of the
deployment's resources in the VPC, and the doors to the fix plan and the hop-by-hop path.

It starts from the poller's last diff of the peering (every tick carries one per pcx) and
follows newer ticks; ``r`` re-reads just this peering with the core's ``diff_one``. The
resources' paths are walked with the core's ``check_resource_paths`` when the view opens and
on ``r``. Nothing here decides what is drift or reachable: :mod:`peering_core` does.
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
from peering_core.health import deployment_side_words
from peering_core.models import Resource
from peering_core.network import diff_one
from peering_core.path import PathReport, check_resource_paths
from peering_core.snapshot import Snapshot

from .. import bindings
from ..dashboard import Dashboard
from ..drift_text import (
    ACL_COLUMNS,
    RESOURCE_COLUMNS,
    ROUTE_COLUMNS,
    RULE_COLUMNS,
    DiffReading,
    acl_cells,
    acl_key,
    diff_title,
    reasons_text,
    resource_cells,
    route_cells,
    route_key,
    rule_cells,
    rule_key,
)
from ..failures import describe_error, report_failed_worker
from ..widgets.footer import Footer
from ..widgets.row_table import DiffTable
from ..widgets.status_header import StatusHeader
from .fix import FixPlanModal
from .path import PathScreen

LAST_POLL = "last poll"
REDIFFED = "re-diffed"

__all__ = ["DiffTable", "PeeringDiffScreen"]


class PeeringDiffScreen(Screen[None]):
    """Routes, inbound rules and network ACLs of one peering, expected vs actual."""

    BINDINGS: ClassVar[list[BindingType]] = [*bindings.ESSENTIAL, *bindings.DIFF]

    def __init__(self, peering_id: str, deployment_id: str | None = None) -> None:
        super().__init__()
        self.peering_id = peering_id
        self.deployment_id = deployment_id
        self.reading: DiffReading | None = None
        self.error: str | None = None
        self.diffing = False
        self.rediffs = 0
        # Each resource's path, by resource id; None until walked.
        self.paths: dict[str, tuple[Resource, PathReport]] | None = None
        self.paths_error: str | None = None

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with VerticalScroll(id="diff-body"):
            yield Static(id="diff-title")
            yield DiffTable(ROUTE_COLUMNS, id="routes")
            yield DiffTable(RULE_COLUMNS, id="rules")
            yield DiffTable(ACL_COLUMNS, id="acls")
            yield DiffTable(RESOURCE_COLUMNS, id="resources")
            yield Static(id="reasons")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#reasons").border_title = "why"
        self.watch(self.app, "snapshot", self.follow_snapshot, init=True)
        self.routes_table.focus()
        if self.reading is None and self.dashboard.session is not None:
            # The last tick had no diff of this pcx (a region it could not read, say): ask now.
            self.rediff()
        elif self.dashboard.session is not None:
            self.walk_paths()

    @property
    def routes_table(self) -> DiffTable:
        return self.query_one("#routes", DiffTable)

    @property
    def rules_table(self) -> DiffTable:
        return self.query_one("#rules", DiffTable)

    @property
    def acls_table(self) -> DiffTable:
        return self.query_one("#acls", DiffTable)

    @property
    def resources_table(self) -> DiffTable:
        return self.query_one("#resources", DiffTable)

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
        side = view.platform.platform_side if view and view.platform else None
        if side is not None:
            # The deployment's side, as the platform last checked it, beside the customer's.
            title.append(f"\ndeployment side: {deployment_side_words(side)}", style="dim")
        if self.diffing:
            title.append("  · re-diffing…", style="bold")
        if self.error:
            title.append(f"\n✗ {self.error}", style="bold red")
        elif diff is None and not self.diffing:
            title.append("\nno diff of this peering yet (r diffs it now)", style="yellow")
        self.query_one("#diff-title", Static).update(title)
        routes, rules, acls = self.routes_table, self.rules_table, self.acls_table
        self.show_paths()
        if diff is None:
            routes.show({})
            rules.show({})
            acls.show({})
            acls.display = False
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
        acls.show({acl_key(i, row): acl_cells(row) for i, row in enumerate(diff.network_acls)})
        # A diff read without ACLs (none known) has nothing to show there.
        acls.display = bool(diff.network_acls)
        routes.border_title = f"route tables · {len(diff.routes)} row(s)"
        rules.border_title = f"inbound rules · {len(diff.rules)} row(s)"
        acls.border_title = f"network ACLs · {len(diff.network_acls)} row(s)"
        self.query_one("#reasons", Static).update(reasons_text(diff))

    def show_paths(self) -> None:
        """Each resource's path verdict (hidden until walked, or when not connected)."""
        table = self.resources_table
        table.display = self.paths is not None or self.paths_error is not None
        if self.paths_error is not None:
            table.border_title = f"resources · ✗ {self.paths_error}"
            table.show({})
            return
        paths = self.paths or {}
        table.show({rid: resource_cells(r, report) for rid, (r, report) in paths.items()})
        table.border_title = (
            f"resources · {len(paths)} in the VPC · t: the hop-by-hop path"
            if paths
            else "resources · none of the deployment's is in this VPC"
        )

    @work(exclusive=True, group="paths", exit_on_error=False)
    async def walk_paths(self) -> None:
        """Walk the path from the deployment to each of its resources in the VPC."""
        session = self.dashboard.session
        deployment_id = self.deployment_id or (
            self.reading.diff.deployment_id if self.reading else None
        )
        if session is None or deployment_id is None:
            return
        try:
            ec2 = await session.gateway_for(deployment_id, self.peering_id)
            found = await check_resource_paths(
                session.platform, ec2, deployment_id, self.peering_id
            )
        except (PeeringError, OSError) as exc:
            self.paths_error = f"paths not walked: {describe_error(exc)}"
        else:
            self.paths = {r.id: (r, report) for r, report in found}
            self.paths_error = None
        self.show_paths()

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
            ec2 = await session.gateway_for(deployment_id, self.peering_id)
            diff = await diff_one(session.platform, ec2, deployment_id, self.peering_id)
        except (PeeringError, OSError) as exc:
            self.error = f"re-diff failed: {describe_error(exc)}"
            self.notify(self.error, severity="error")
        else:
            self.rediffs += 1
            self.adopt(DiffReading(diff, self.dashboard.now(), REDIFFED))
            self.walk_paths()
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

    def action_open_path(self) -> None:
        """``t``: the hop-by-hop path to the highlighted resource."""
        if self.paths is None and self.paths_error is None and self.dashboard.session:
            self.notify("the resources' paths are being walked; a moment", severity="warning")
            return
        if not self.paths:
            self.notify(
                "no resource of this deployment to walk to here; from a shell: "
                f"peering-tui path DEPLOYMENT {self.peering_id} --to IP:PORT (or --from IP)",
                severity="warning",
            )
            return
        key = self.resources_table.highlighted_key()
        resource, report = self.paths.get(key or "", next(iter(self.paths.values())))
        self.app.push_screen(PathScreen(report, resource.name))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failed_worker(self, event)
