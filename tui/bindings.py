"""Every key binding, by screen, so the footer, the help screen and the tests agree.

k9s habits: ``/`` filter, ``?`` help, ``esc`` back, ``ctrl+d`` guarded delete, ``ctrl+r``
refresh, ``q`` / ``ctrl+q`` quit, ``ctrl+p`` command palette. The footer shows the short
description; the help screen adds the tooltip.
"""

from __future__ import annotations

from textual.binding import Binding

# Actions that change something on either side; hidden and refused in read-only mode.
MUTATING_ACTIONS = frozenset({"create", "delete"})
MUTATING_KEYS = frozenset({"n", "ctrl+d"})

APP: list[Binding] = [
    Binding("q", "quit", "quit", tooltip="leave the dashboard (a sandbox it started stops)"),
    Binding("question_mark", "help", "help", key_display="?", tooltip="this list"),
    Binding("p", "toggle_pause", "pause", tooltip="pause or resume polling both sides"),
    Binding("ctrl+r", "refresh_now", "refresh", tooltip="poll both sides now, even paused"),
]

MAIN: list[Binding] = [
    Binding(
        "enter",
        "open_detail",
        "open",
        show=False,
        tooltip="a peering's detail; on a deployment, only its peerings",
    ),
    Binding(
        "slash",
        "filter",
        "filter",
        key_display="/",
        tooltip="filter both tables by id, name, region, VPC, status or health",
    ),
    Binding(
        "a", "toggle_all", "all/one", tooltip="peerings of all deployments or the selected one"
    ),
    Binding(
        "s", "cycle_sort", "sort", tooltip="sort peerings by deployment, health, status, age, id"
    ),
    Binding("n", "create", "new", tooltip="create a peering for the selected deployment"),
    Binding("ctrl+d", "delete", "delete", tooltip="guarded delete of the selected peering"),
    Binding("escape", "clear_filter", "clear filter", show=False, tooltip="and hide it"),
]

DETAIL: list[Binding] = [
    Binding("escape", "back", "back", tooltip="to the dashboard"),
    Binding("y", "toggle_json", "raw JSON", tooltip="show or hide both sides as JSON"),
    Binding("c", "copy_id", "copy pcx", tooltip="copy the pcx id to the clipboard"),
    Binding("b", "console_url", "console URL", tooltip="show and copy the AWS console URL"),
    Binding("ctrl+d", "delete", "delete", tooltip="guarded delete of this peering"),
]

CREATE: list[Binding] = [
    Binding("escape", "cancel", "cancel", tooltip="close the form (not while it runs)"),
    Binding("ctrl+s", "submit", "create", tooltip="run the create workflow"),
]

DELETE: list[Binding] = [
    Binding("escape", "cancel", "cancel", tooltip="close the dialog (not while it runs)"),
]

HELP: list[Binding] = [
    Binding("escape", "close", "close"),
    Binding("question_mark", "close", "close", show=False),
    Binding("q", "close", "close", show=False),
]

# Keys that Textual itself provides, listed on the help screen too.
BUILT_IN: list[tuple[str, str]] = [
    ("ctrl+p", "command palette: go to deployment, create, refresh, theme, read-only"),
    ("ctrl+q", "quit"),
    ("tab / shift+tab", "next / previous table or field"),
    ("↑ ↓ pgup pgdn", "move the cursor; ← → scroll a wide table"),
    ("space", "tick a route table or security group in the create form"),
]

# What the help screen shows, in order.
SECTIONS: list[tuple[str, list[Binding]]] = [
    ("Everywhere", APP),
    ("Dashboard", MAIN),
    ("Peering detail", DETAIL),
    ("Create form", CREATE),
    ("Delete dialog", DELETE),
]
