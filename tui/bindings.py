"""Every key binding, by screen, so the footer, the help screen and the tests agree.

k9s habits: ``/`` filter, ``?`` help, ``esc`` back, ``ctrl+d`` guarded delete, ``ctrl+r``
refresh, ``q`` / ``ctrl+q`` quit, ``ctrl+p`` command palette. The footer shows the short
description; the help screen adds the tooltip.
"""

from __future__ import annotations

from textual.binding import Binding

# Actions that change something on either side; hidden and refused in read-only mode.
MUTATING_ACTIONS = frozenset({"create", "delete", "apply_fix"})
# The dashboard's and the detail screen's keys for them (the fix plan refuses its own).
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
        "open_diff",
        "open",
        show=False,
        tooltip="a peering's diff view; on a deployment, only its peerings",
    ),
    # The table's "⏎ open" says it in the footer: an 80-column one has no room for both.
    Binding(
        "x",
        "open_diff",
        "diff",
        show=False,
        tooltip="route tables and inbound rules, expected vs actual (as ⏎)",
    ),
    Binding("d", "open_detail", "detail", tooltip="both sides of the peering, path, raw JSON"),
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
    Binding("escape", "back", "back", tooltip="to the screen before"),
    Binding("x", "open_diff", "diff", tooltip="route tables and inbound rules, expected vs actual"),
    Binding("y", "toggle_json", "raw JSON", tooltip="show or hide both sides as JSON"),
    Binding("c", "copy_id", "copy pcx", tooltip="copy the pcx id to the clipboard"),
    Binding("b", "console_url", "console URL", tooltip="show and copy the AWS console URL"),
    Binding("ctrl+d", "delete", "delete", tooltip="guarded delete of this peering"),
]

DIFF: list[Binding] = [
    Binding("escape", "back", "back", tooltip="to the screen before"),
    Binding("r", "rediff", "re-diff", tooltip="read this peering's routes and rules again now"),
    Binding("ctrl+r", "rediff", "re-diff", show=False, tooltip="the same as r"),
    Binding(
        "f", "fix_plan", "fix plan", tooltip="the ordered fix, each step as an aws ec2 command"
    ),
    Binding("d", "open_detail", "detail", tooltip="both sides of the peering, path, raw JSON"),
]

FIX_PLAN: list[Binding] = [
    Binding("escape", "close", "close", tooltip="back to the diff (not while applying)"),
    Binding("c", "copy_commands", "copy", tooltip="copy the plan as aws ec2 commands"),
    Binding(
        "r",
        "toggle_replace",
        "--replace",
        tooltip="also replace or delete routes that send the deployment CIDR elsewhere",
    ),
    Binding(
        "v",
        "toggle_revoke",
        "--revoke",
        tooltip="also revoke stale rules and rules open to 0.0.0.0/0",
    ),
    Binding(
        "a", "apply_fix", "apply", tooltip="apply the allowed actions (asks first), then diff again"
    ),
]

CONFIRM: list[Binding] = [
    Binding("y", "confirm", "yes"),
    Binding("n", "cancel", "no"),
    Binding("escape", "cancel", "no", show=False),
]

CREATE: list[Binding] = [
    Binding("escape", "cancel", "cancel", tooltip="close the form (not while it runs)"),
    Binding("ctrl+s", "submit", "create", tooltip="run the create workflow"),
]

DELETE: list[Binding] = [
    Binding("escape", "cancel", "cancel", tooltip="close the dialog (not while it runs)"),
]

HELP: list[Binding] = [
    Binding("escape", "close", "close", tooltip="back to where you were"),
    Binding("question_mark", "close", "close", key_display="?", show=False, tooltip="the same"),
    Binding("q", "close", "close", show=False, tooltip="the same"),
]

# Keys that Textual itself provides, listed on the help screen too.
BUILT_IN: list[tuple[str, str]] = [
    ("ctrl+p", "command palette: go to deployment, diff, create, refresh, theme, read-only"),
    ("ctrl+q", "quit"),
    ("tab / shift+tab", "next / previous table or field"),
    ("↑ ↓ pgup pgdn", "move the cursor; ← → scroll a wide table"),
    ("space", "tick a route table, a security group or a fix flag"),
]

# What the help screen shows, in order.
SECTIONS: list[tuple[str, list[Binding]]] = [
    ("Everywhere", APP),
    ("Dashboard", MAIN),
    ("Peering detail", DETAIL),
    ("Diff view", DIFF),
    ("Fix plan", FIX_PLAN),
    ("Confirmation", CONFIRM),
    ("Create form", CREATE),
    ("Delete dialog", DELETE),
    ("Help", HELP),
]
