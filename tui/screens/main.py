"""The dashboard: deployments on top, peerings below, both updated in place on every tick."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, cast

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Static

from peering_core.health import DeploymentView, PeeringView
from peering_core.printable import harmless
from peering_core.snapshot import Snapshot

from .. import bindings
from ..dashboard import Dashboard
from ..formatting import HEALTH_STYLE, PROBLEM_WIDTH, aws_status, health_mark, platform_status
from ..rows import FleetRows
from ..widgets.footer import Footer
from ..widgets.keyed_table import KeyedTable
from ..widgets.status_header import StatusHeader

TENANT_COLUMN = ("tenant", "TENANT")  # with the admin key

DEPLOYMENT_COLUMNS = [
    ("id", "ID"),
    ("name", "NAME"),
    ("region", "REGION"),
    ("status", "STATUS"),
    ("peerings", "PEERINGS"),
    ("health", "HEALTH"),
]

# The health mark and the pcx lead (and stay put when scrolling right), the long problem text
# comes last, so an 80-column terminal still shows both sides' status.
PEERING_COLUMNS = [
    ("mark", " "),
    ("pcx", "PCX"),
    ("deployment", "DEPLOYMENT"),
    ("platform", "PLATFORM"),
    ("aws", "AWS"),
    ("account", "ACCOUNT"),
    ("vpc", "REQUESTER VPC"),
    ("cidr", "CIDR"),
    ("age", "AGE"),
    ("expires", "EXPIRES"),
    ("health", "HEALTH"),
]


# On a narrow terminal the peerings table keeps the status mark, PCX, DEPLOYMENT, PLATFORM,
# AWS and HEALTH in view: these columns give way first, in this order...
GIVE_WAY = ("account", "vpc", "expires", "age", "cidr", "tenant")
# With [[accounts]] the ACCOUNT column names the account to go and fix: it gives way last.
GIVE_WAY_BY_ACCOUNT = ("vpc", "expires", "age", "cidr", "tenant", "account")
# ...then these are narrowed, as far as needed and no further than this (longer cells end
# with "…"); HEALTH takes what is left, at least its symbol and word, at most the problem's
# width.
NARROWED = {"deployment": 11, "aws": 12}
HEALTH_MIN = len("! warning…")
# Columns give way until HEALTH has this much room for the first problem's words.
HEALTH_ROOM = 24
PAD = 2  # the blank cell each side of a column


def fit_peering_columns(
    available: int, natural: Mapping[str, int], *, by_account: bool = False
) -> tuple[list[str], dict[str, int]]:
    """The peerings columns a table ``available`` cells wide hides, and the widths it gives
    (HEALTH always gets one, so drift appearing on a tick never widens the table);
    ``by_account`` (configured accounts) keeps ACCOUNT longest."""
    hidden: list[str] = []
    widths = dict(natural)

    def overflow(health: int = HEALTH_MIN) -> int:
        shown = sum(w + PAD for k, w in widths.items() if k != "health" and k not in hidden)
        return shown + health + PAD - available

    for column in GIVE_WAY_BY_ACCOUNT if by_account else GIVE_WAY:
        if overflow(HEALTH_ROOM) <= 0:
            break
        if column in widths:  # TENANT is there with the admin key only
            hidden.append(column)
    for column, floor in NARROWED.items():
        cut = min(max(overflow(), 0), max(widths[column] - floor, 0))
        widths[column] -= cut
    given = {k: widths[k] for k in NARROWED if widths[k] < natural[k]}
    given["health"] = max(HEALTH_MIN, min(PROBLEM_WIDTH, HEALTH_MIN - overflow()))
    return hidden, given


# The deployments table keeps NAME, STATUS and HEALTH in view: these give way first, in this
# order (the count is the peerings table's title when one deployment is shown).
DEPLOYMENT_GIVE_WAY = ("peerings", "id", "region", "tenant")


def fit_deployment_columns(available: int, natural: Mapping[str, int]) -> list[str]:
    """The deployments columns a table ``available`` cells wide hides."""
    hidden: list[str] = []
    for column in DEPLOYMENT_GIVE_WAY:
        if sum(w + PAD for k, w in natural.items() if k not in hidden) <= available:
            break
        if column in natural:  # TENANT is there with the admin key only
            hidden.append(column)
    return hidden


def _by_deployment(v: PeeringView) -> tuple[Any, ...]:
    return (v.deployment_name, v.region, v.peering_id)


def _by_health(v: PeeringView) -> tuple[Any, ...]:
    return (-v.health.rank, v.deployment_name, v.peering_id)


def _by_platform(v: PeeringView) -> tuple[Any, ...]:
    return (platform_status(v), v.deployment_name, v.peering_id)


def _by_aws(v: PeeringView) -> tuple[Any, ...]:
    return (aws_status(v), v.deployment_name, v.peering_id)


def _by_age(v: PeeringView) -> tuple[Any, ...]:
    # Newest first: the peering just made is the one being watched.
    stamp = v.created_at.timestamp() if v.created_at else 0.0
    return (-stamp, v.peering_id)


def _by_pcx(v: PeeringView) -> tuple[Any, ...]:
    return (v.peering_id,)


def _by_account(v: PeeringView) -> tuple[Any, ...]:
    return (v.account or v.requester_account, v.deployment_name, v.peering_id)


SORTS: list[tuple[str, Callable[[PeeringView], tuple[Any, ...]]]] = [
    ("deployment", _by_deployment),
    ("health", _by_health),
    ("platform", _by_platform),
    ("aws", _by_aws),
    ("age", _by_age),
    ("pcx", _by_pcx),
    ("account", _by_account),
]


class MainScreen(Screen[None]):
    """Deployments and peerings, filter, sort, and the doors to diff, detail, create, delete."""

    BINDINGS: ClassVar[list[BindingType]] = [*bindings.ESSENTIAL, *bindings.MAIN]

    def __init__(self) -> None:
        super().__init__()
        self.all_deployments = True
        self.filter_text = ""
        self.sort_index = 0
        self._peering_line: Text | None = None
        self._sorted_rows: FleetRows | None = None
        self._order: list[str] = []
        self._by_name: list[str] | None = None
        self._sorted_by: int | None = None
        self._titles_shown: dict[str | None, tuple[str, str | None]] = {}

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with Vertical(id="tables"):
            yield KeyedTable(DEPLOYMENT_COLUMNS, id_column="id", id="deployments")
            # Its columns fit the terminal (fit_peering_columns) on every resize and tick.
            yield KeyedTable(PEERING_COLUMNS, id_column="pcx", id="peerings", fixed_columns=2)
            # The filter takes the peering line's place while shown: the tables keep their size,
            # so showing it re-renders no table row.
            yield Static(id="peering-line")
            yield Input(
                placeholder="filter: id, name, region, VPC, status, health",
                id="filter",
                compact=True,
            )
        yield Footer()

    def show_tenant_column(self) -> None:
        """The admin key sees every tenant: a TENANT column after the deployment's name (in
        the peerings table after both statuses, which an 80-column terminal must show)."""
        for table, columns, after in (
            (self.deployments_table, DEPLOYMENT_COLUMNS, "name"),
            (self.peerings_table, PEERING_COLUMNS, "aws"),
        ):
            at = [key for key, _ in columns].index(after) + 1
            table.set_columns([*columns[:at], TENANT_COLUMN, *columns[at:]])
        self._sorted_rows = None
        self.show_snapshot()

    def on_mount(self) -> None:
        self._retitle(self.deployments_table, "deployments")
        self.watch(self.app, "snapshot", self.show_snapshot, init=True)
        self.peerings_table.focus()

    @property
    def deployments_table(self) -> KeyedTable:
        return self.query_one("#deployments", KeyedTable)

    @property
    def peerings_table(self) -> KeyedTable:
        return self.query_one("#peerings", KeyedTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    # --- rendering ----------------------------------------------------------------------

    def show_snapshot(self, snapshot: Snapshot | None = None) -> None:
        """Bring both tables to the app's current snapshot, in place."""
        rows = self.dashboard.rows
        if rows.snapshot is None:
            self._titles(0, 0)
            return
        if rows is not self._sorted_rows:
            self._sorted_rows, self._sorted_by, self._by_name = rows, None, None
        views = rows.views
        matching = set(rows.matching_peerings(self.filter_text))
        with_matches = {views[pcx].deployment_id for pcx in matching}
        dep_matching = set(rows.matching_deployments(self.filter_text))
        if self._by_name is None:
            self._by_name = sorted(
                rows.deployments, key=lambda d: (rows.deployments[d].deployment.name, d)
            )
        deployments = [d for d in self._by_name if d in with_matches or d in dep_matching]
        self.deployments_table.sync({d: rows.deployment_cells(d) for d in deployments})
        selected = self.selected_deployment_id()
        shown = [
            pcx
            for pcx in self._sorted(rows)
            if pcx in matching and (self.all_deployments or views[pcx].deployment_id == selected)
        ]
        self.peerings_table.sync({pcx: rows.peering_cells(pcx) for pcx in shown})
        self.fit_columns()
        self._titles(len(deployments), len(shown))
        self.show_peering_line()

    def on_resize(self) -> None:
        self.fit_columns()

    def fit_columns(self) -> None:
        """Fit both tables' columns to the terminal (a no-op when nothing changed)."""
        deployments = self.deployments_table
        room = deployments.scrollable_content_region.width
        if room > 0:
            hide = fit_deployment_columns(room, deployments.natural_widths())
            deployments.fit_columns(hidden=hide)
        table = self.peerings_table
        available = table.scrollable_content_region.width
        if available <= 0:
            return
        snapshot = self.dashboard.snapshot
        by_account = snapshot is not None and any(a.configured for a in snapshot.accounts)
        hidden, widths = fit_peering_columns(
            available, table.natural_widths(), by_account=by_account
        )
        table.fit_columns(hidden=hidden, widths=widths)

    def _sorted(self, rows: FleetRows) -> list[str]:
        """Every peering id in the current sort order, sorted once per tick and order: a
        filter keystroke then picks from the list in order instead of sorting again."""
        if self._sorted_by != self.sort_index:
            key = SORTS[self.sort_index][1]
            views = rows.views
            self._order = sorted(views, key=lambda pcx: key(views[pcx]))
            self._sorted_by = self.sort_index
        return self._order

    def show_peering_line(self) -> None:
        """Under the table, the highlighted peering's verdict in full: the HEALTH column is
        the widest and the first to scroll out of an 80-column terminal."""
        view = self.selected_peering()
        line = Text(no_wrap=True, overflow="ellipsis")
        if view is None:
            line.append("no peering selected", style="dim")
        else:
            line.append_text(health_mark(view.health))
            line.append(f" {view.peering_id} ", style="bold")
            snapshot = self.dashboard.snapshot
            if view.account and snapshot and any(a.configured for a in snapshot.accounts):
                # On an 80-column terminal ACCOUNT has given way: the line names it.
                line.append(f"{harmless(view.account)} · ", style="cyan")
            line.append(harmless(view.summary), style=HEALTH_STYLE[view.health])
            if len(view.problems) > 1:
                line.append(f" (+{len(view.problems) - 1} more: ⏎ diff, d detail)", style="dim")
        if line != self._peering_line:
            # One fixed-height line: no layout pass (which, with 5,000 rows, is what costs).
            self._peering_line = line
            self.query_one("#peering-line", Static).update(line, layout=False)

    def _titles(self, deployments: int, peerings: int) -> None:
        scope = "all deployments"
        if not self.all_deployments:
            selected = self.selected_deployment()
            scope = selected.deployment.name if selected else "no deployment"
        title = f"peerings · {scope} · {peerings}"
        subtitle = f"sort: {SORTS[self.sort_index][0]}"
        if self.filter_text:
            title += f" · filter “{self.filter_text}”"
        self._retitle(self.peerings_table, title, subtitle)
        self._retitle(self.deployments_table, f"deployments · {deployments}")

    def _retitle(self, table: KeyedTable, title: str, subtitle: str | None = None) -> None:
        # Setting a border title repaints the whole table, so a tick that changes nothing
        # sets nothing. Text, not markup: the title carries the operator's filter.
        shown = (title, subtitle)
        if self._titles_shown.get(table.id) == shown:
            return
        self._titles_shown[table.id] = shown
        table.border_title = Text(title)
        if subtitle is not None:
            table.border_subtitle = Text(subtitle)

    # --- selection ----------------------------------------------------------------------

    def selected_deployment_id(self) -> str | None:
        """The deployment under the deployments table's cursor."""
        return self.deployments_table.cursor_id

    def selected_deployment(self) -> DeploymentView | None:
        """The deployment under the cursor, as a view."""
        dep_id = self.selected_deployment_id()
        return None if dep_id is None else self.dashboard.rows.deployments.get(dep_id)

    def focused_deployment(self) -> DeploymentView | None:
        """The deployment the operator is looking at: the highlighted peering's when the
        peerings table has focus, else the deployments table's."""
        if self.focused is self.peerings_table:
            view = self.selected_peering()
            if view is not None:
                return self.dashboard.rows.deployments.get(view.deployment_id)
        return self.selected_deployment()

    def selected_peering(self) -> PeeringView | None:
        """The peering under the peerings table's cursor."""
        pcx = self.peerings_table.cursor_id
        return None if pcx is None else self.dashboard.rows.views.get(pcx)

    def go_to_deployment(self, deployment_id: str) -> None:
        """Select a deployment and show only its peerings."""
        if not self.deployments_table.move_to(deployment_id):
            self.clear_filter()
            self.deployments_table.move_to(deployment_id)
        self.all_deployments = False
        self.show_snapshot()
        self.peerings_table.focus()

    @on(KeyedTable.RowHighlighted, "#deployments")
    def _deployment_highlighted(self) -> None:
        if not self.all_deployments:
            self.show_snapshot()

    @on(KeyedTable.RowHighlighted, "#peerings")
    def _peering_highlighted(self) -> None:
        self.show_peering_line()

    @on(KeyedTable.RowSelected, "#peerings")
    def _peering_selected(self) -> None:
        self.action_open_diff()

    @on(KeyedTable.RowSelected, "#deployments")
    def _deployment_selected(self, event: KeyedTable.RowSelected) -> None:
        self.go_to_deployment(event.row_id)

    # --- filter -------------------------------------------------------------------------

    def action_filter(self) -> None:
        # Shown and focused at once (not on the next refresh), so keys typed right after the
        # slash land in the filter.
        """``/``: show the filter and type into it."""
        self._show_filter(True)
        self.set_focus(self.filter_input)

    def _show_filter(self, shown: bool) -> None:
        self.filter_input.display = shown
        self.query_one("#peering-line").display = not shown

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.show_snapshot()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        # The peering line comes back (the tables' titles name the filter); `/` edits it.
        self._show_filter(False)
        self.peerings_table.focus()

    def clear_filter(self) -> None:
        """Empty and hide the filter; both tables show everything again."""
        self.filter_input.value = ""
        self.filter_text = ""
        self._show_filter(False)
        self.show_snapshot()

    def action_clear_filter(self) -> None:
        """``esc``: clear the filter."""
        had_focus = self.filter_input.has_focus
        self.clear_filter()
        if had_focus:
            self.peerings_table.focus()

    # --- other keys ---------------------------------------------------------------------

    def action_toggle_all(self) -> None:
        """``a``: peerings of all deployments, or of the selected one."""
        self.all_deployments = not self.all_deployments
        self.show_snapshot()

    def action_cycle_sort(self) -> None:
        """``s``: the next sort order of the peerings."""
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.show_snapshot()
        self.notify(f"peerings sorted by {SORTS[self.sort_index][0]}", timeout=2)

    def action_open_diff(self) -> None:
        """``enter`` or ``x``: the highlighted peering's diff view."""
        view = self.selected_peering()
        if view is None:
            self.notify("no peering selected", severity="warning")
            return
        self.dashboard.open_diff(view.peering_id)

    def action_open_detail(self) -> None:
        """``d``: the highlighted peering's detail."""
        view = self.selected_peering()
        if view is None:
            self.notify("no peering selected", severity="warning")
            return
        self.dashboard.open_detail(view.peering_id)

    def action_create(self) -> None:
        """``n``: create a peering for the deployment of the focused row, in either table."""
        self.dashboard.open_create(self.focused_deployment())

    def action_delete(self) -> None:
        """``ctrl+d``: guarded delete of the highlighted peering."""
        self.dashboard.open_delete(self.selected_peering())

    def action_retry(self) -> None:
        """``r``: retry the highlighted peering, if it failed on the platform."""
        self.dashboard.open_retry(self.selected_peering())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Hidden from the footer in read-only mode; on_key refuses the key with a reason.
        return not (action in bindings.MUTATING_ACTIONS and self.dashboard.read_only)

    def on_key(self, event: events.Key) -> None:
        # With the binding hidden the key would do nothing at all; say why instead.
        if (
            event.key in bindings.mutating_keys(bindings.MAIN, self.dashboard.keymap)
            and self.dashboard.read_only
            and not isinstance(self.focused, Input)
        ):
            event.stop()
            event.prevent_default()
            self.dashboard.refuse_read_only()
