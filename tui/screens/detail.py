"""One peering up close: both sides, problems, what changed while watching, the path, raw JSON."""

from __future__ import annotations

import json
from typing import ClassVar, cast

from rich.syntax import Syntax
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from peering_core.durations import countdown
from peering_core.health import (
    PeeringView,
    deployment_side_words,
    peering_json,
    retrying_words,
)
from peering_core.snapshot import Snapshot

from .. import bindings
from ..dashboard import Dashboard
from ..formatting import HEALTH_STYLE, HEALTH_SYMBOL, clock_time, console_url
from ..history import StatusChange
from ..path_text import path_picture
from ..widgets.footer import Footer
from ..widgets.status_header import StatusHeader


def _pairs(rows: list[tuple[str, str | None]]) -> Text:
    text = Text()
    width = max(len(k) for k, _ in rows)
    for index, (key, value) in enumerate(rows):
        if index:
            text.append("\n")
        text.append(f"{key:<{width}}  ", style="dim")
        text.append(value if value else "-")
    return text


def platform_side(view: PeeringView) -> Text:
    """The platform's record, or why there is none."""
    record = view.platform
    if record is None:
        return Text(
            "no record: the pcx was never confirmed on the platform\n"
            "(step 4 of the dance; `n` on this deployment confirms it)",
            style="yellow",
        )
    return _pairs(
        [
            ("status", record.status.value),
            ("reason", record.reason),
            ("deployment", f"{view.deployment_name} ({record.deployment_id})"),
            ("region", record.region),
            (
                "account",
                f"{record.account_id} ({view.account})" if view.account else record.account_id,
            ),
            ("vpc", record.vpc_id),
            ("cidr", record.cidr),
            ("created", record.create_at.isoformat(timespec="seconds")),
            ("updated", record.update_at.isoformat(timespec="seconds")),
            ("retrying", retrying_words(record) if record.retrying else None),
            (
                "its side",
                deployment_side_words(record.platform_side) if record.platform_side else None,
            ),
        ]
    )


def aws_side(view: PeeringView, now_text: str) -> Text:
    """The pcx as EC2 describes it, or why it is not there."""
    pcx = view.aws
    if pcx is None:
        return Text("not visible on AWS (deleted, or its region could not be read)", style="red")
    rows: list[tuple[str, str | None]] = [
        ("status", pcx.status + (f" — {pcx.status_message}" if pcx.status_message else "")),
        ("account", f"{view.account} ({pcx.requester.owner_id})" if view.account else None),
        ("requester", f"{pcx.requester.owner_id} / {pcx.requester.vpc_id}"),
        ("req. cidr", ", ".join(pcx.requester.cidrs) or pcx.requester.cidr),
        ("accepter", f"{pcx.accepter.owner_id} / {pcx.accepter.vpc_id}"),
        ("acc. cidr", ", ".join(pcx.accepter.cidrs) or pcx.accepter.cidr),
        ("region", pcx.accepter.region or view.region),
        ("name", pcx.tags.get("Name")),
    ]
    if view.expires_at is not None:
        rows.append(("expires", f"{view.expires_at.isoformat(timespec='minutes')} ({now_text})"))
    return _pairs(rows)


def history_text(changes: tuple[StatusChange, ...]) -> Text:
    """``12:00:01  platform pending   AWS active`` per change, oldest first."""
    if not changes:
        return Text("nothing seen yet", style="dim")
    text = Text()
    for index, change in enumerate(changes):
        if index:
            text.append("\n")
        text.append(clock_time(change.at), style="dim")
        text.append(f"  platform {change.platform_status or 'unconfirmed':<11}")
        text.append(f"  AWS {change.aws_status or '-'}")
    return text


class PeeringDetailScreen(Screen[None]):
    """Everything about one peering; follows the live snapshot while open."""

    BINDINGS: ClassVar[list[BindingType]] = [*bindings.ESSENTIAL, *bindings.DETAIL]

    def __init__(self, peering_id: str) -> None:
        super().__init__()
        self.peering_id = peering_id
        self.view: PeeringView | None = None
        self.show_json = False

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with VerticalScroll(id="detail"):
            yield Static(id="title")
            # What is wrong comes first: on an 80x24 terminal it is all that fits.
            yield Static(id="problems", classes="section")
            with Horizontal(id="sides"):
                yield Static(id="platform-side", classes="side")
                yield Static(id="aws-side", classes="side")
            yield Static(id="path", classes="section")
            yield Static(id="history", classes="section")
            yield Static(id="raw", classes="section")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#platform-side").border_title = "platform"
        self.query_one("#aws-side").border_title = "AWS"
        self.query_one("#problems").border_title = "problems"
        self.query_one("#path").border_title = "path"
        self.query_one("#history").border_title = "seen while watching"
        self.query_one("#raw").border_title = "raw JSON (y hides)"
        self.watch(self.app, "snapshot", self.show_snapshot, init=True)
        self.query_one("#detail").focus()

    def show_snapshot(self, snapshot: Snapshot | None = None) -> None:
        """Re-render from the app's current snapshot; keep the last view if the pcx left."""
        snapshot = self.dashboard.snapshot
        current = snapshot.view(self.peering_id) if snapshot else None
        gone = current is None and self.view is not None
        if current is not None:
            self.view = current
        view = self.view
        if view is None:
            self.query_one("#title", Static).update(f"{self.peering_id}: not in the snapshot")
            return
        now = self.dashboard.now()
        title = Text()
        title.append(f"{HEALTH_SYMBOL[view.health]} ", style=HEALTH_STYLE[view.health])
        title.append(view.peering_id, style="bold")
        title.append(f"  {view.deployment_name} · {view.region}")
        if gone:
            title.append("  — gone from both sides since the last tick", style="bold red")
        self.query_one("#title", Static).update(title)
        self.query_one("#platform-side", Static).update(platform_side(view))
        self.query_one("#aws-side", Static).update(aws_side(view, countdown(view.expires_at, now)))
        problems = Text(style=HEALTH_STYLE[view.health])
        for index, problem in enumerate(view.problems or ("healthy",)):
            if index:
                problems.append("\n")
            problems.append(f"{HEALTH_SYMBOL[view.health]} {problem}")
        self.query_one("#problems", Static).update(problems)
        deployment_vpc = (
            next((v for v in snapshot.vpcs if v.deployment_id == view.deployment_id), None)
            if snapshot
            else None
        )
        diff = snapshot.diffs.get(self.peering_id) if snapshot else None
        read_at = snapshot.taken_at if snapshot else None
        self.query_one("#path", Static).update(path_picture(view, deployment_vpc, diff, read_at))
        self.query_one("#history", Static).update(
            history_text(self.dashboard.history.changes(self.peering_id))
        )
        raw = self.query_one("#raw", Static)
        raw.display = self.show_json
        if self.show_json:
            raw.update(Syntax(self.raw_json(), "json", word_wrap=True, theme="ansi_dark"))

    def raw_json(self) -> str:
        """Both sides and the verdict as JSON, in the platform API's camelCase throughout."""
        assert self.view is not None
        return json.dumps(peering_json(self.view), indent=2, sort_keys=True, ensure_ascii=False)

    def action_back(self) -> None:
        """``esc``: back to the screen before."""
        self.app.pop_screen()

    def action_open_diff(self) -> None:
        """``x``: this peering's diff view."""
        self.dashboard.open_diff(self.peering_id)

    def action_toggle_json(self) -> None:
        """``y``: show or hide the raw JSON."""
        self.show_json = not self.show_json
        self.show_snapshot()
        if self.show_json:
            self.query_one("#raw").scroll_visible()

    def action_copy_id(self) -> None:
        """``c``: copy the pcx id."""
        self.app.copy_to_clipboard(self.peering_id)
        self.notify(f"copied {self.peering_id}", timeout=3)

    def action_console_url(self) -> None:
        """``b``: show and copy the AWS console URL of the pcx."""
        region = self.view.region if self.view else ""
        url = console_url(region, self.peering_id)
        self.app.copy_to_clipboard(url)
        self.notify(f"{url}\n(copied)", title="AWS console", timeout=10)

    def action_delete(self) -> None:
        """``ctrl+d``: guarded delete of this peering."""
        self.dashboard.open_delete(self.view)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Hidden from the footer in read-only mode; on_key refuses the key with a reason.
        return not (action in bindings.MUTATING_ACTIONS and self.dashboard.read_only)

    def on_key(self, event: events.Key) -> None:
        mutating = bindings.mutating_keys(bindings.DETAIL, self.dashboard.keymap)
        if event.key in mutating and self.dashboard.read_only:
            event.stop()
            event.prevent_default()
            self.dashboard.refuse_read_only()
