"""Every key binding, by screen, so the footer, the help screen and the tests agree.

k9s habits: ``/`` filter, ``?`` help, ``esc`` back, ``ctrl+d`` guarded delete, ``ctrl+r``
refresh, ``q`` / ``ctrl+q`` quit, ``ctrl+p`` command palette. The footer shows the short
description; the help screen adds the tooltip.

Every binding has an id (``dashboard.new``, ``fix.apply``, …); the ``[keys]`` table of the
config file maps ids to other keys (Textual's keymap), and the footer and the help screen show
the keys in force.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.binding import Binding

# Actions that change something on either side; hidden and refused in read-only mode.
MUTATING_ACTIONS = frozenset({"create", "delete", "retry", "apply_fix"})

APP: list[Binding] = [
    Binding(
        "q",
        "quit",
        "quit",
        tooltip="leave the dashboard (a sandbox it started stops)",
        id="app.quit",
    ),
    Binding("question_mark", "help", "help", key_display="?", tooltip="this list", id="app.help"),
    Binding(
        "p",
        "toggle_pause",
        "pause",
        tooltip="pause or resume polling both sides",
        id="app.pause",
    ),
    Binding(
        "ctrl+r",
        "refresh_now",
        "refresh",
        tooltip="poll both sides now, even paused",
        id="app.refresh",
    ),
    Binding(
        "i",
        "show_status",
        "status",
        show=False,
        tooltip="the header's status in full: each source, how fresh, and its error",
        id="app.status",
    ),
]

# Help and quit, first in every full screen's own bindings: the footer lists the focused
# widget's keys, then the screen's, then the app's, and an 80-column footer cuts the last ones.
# Same ids as the app's bindings, so a remapped key moves in both places.
ESSENTIAL: list[Binding] = [
    Binding("q", "app.quit", "quit", id="app.quit"),
    Binding("question_mark", "app.help", "help", key_display="?", id="app.help"),
]

MAIN: list[Binding] = [
    Binding(
        "enter",
        "open_diff",
        "open",
        show=False,
        tooltip="a peering's diff view; on a deployment, only its peerings",
        id="dashboard.open",
    ),
    # The table's "⏎ open" says it in the footer: an 80-column one has no room for both.
    Binding(
        "x",
        "open_diff",
        "diff",
        show=False,
        tooltip="route tables, inbound rules and network ACLs, expected vs actual (as ⏎)",
        id="dashboard.diff",
    ),
    Binding(
        "d",
        "open_detail",
        "detail",
        tooltip="both sides of the peering, path, raw JSON",
        id="dashboard.detail",
    ),
    Binding(
        "slash",
        "filter",
        "filter",
        key_display="/",
        tooltip="filter both tables by id, name, region, VPC, account, status or health",
        id="dashboard.filter",
    ),
    Binding(
        "a",
        "toggle_all",
        "all/one",
        tooltip="peerings of all deployments or the selected one",
        id="dashboard.all",
    ),
    Binding(
        "s",
        "cycle_sort",
        "sort",
        tooltip="sort peerings by deployment, health, status, age, id, account",
        id="dashboard.sort",
    ),
    Binding(
        "n",
        "create",
        "new",
        tooltip="create a peering for the selected deployment",
        id="dashboard.new",
    ),
    Binding(
        "ctrl+d",
        "delete",
        "delete",
        tooltip="guarded delete of the selected peering",
        id="dashboard.delete",
    ),
    Binding(
        "r",
        "retry",
        "retry",
        show=False,
        tooltip="run a failed peering's last step again on the platform (asks first)",
        id="dashboard.retry",
    ),
    Binding(
        "escape",
        "clear_filter",
        "clear filter",
        show=False,
        tooltip="and hide it",
        id="dashboard.clear_filter",
    ),
]

DETAIL: list[Binding] = [
    Binding("escape", "back", "back", tooltip="to the screen before", id="detail.back"),
    Binding(
        "x",
        "open_diff",
        "diff",
        tooltip="route tables and inbound rules, expected vs actual",
        id="detail.diff",
    ),
    Binding(
        "y",
        "toggle_json",
        "raw JSON",
        tooltip="show or hide both sides as JSON",
        id="detail.json",
    ),
    Binding(
        "c", "copy_id", "copy pcx", tooltip="copy the pcx id to the clipboard", id="detail.copy"
    ),
    Binding(
        "b",
        "console_url",
        "console URL",
        tooltip="show and copy the AWS console URL",
        id="detail.console",
    ),
    Binding(
        "ctrl+d", "delete", "delete", tooltip="guarded delete of this peering", id="detail.delete"
    ),
]

DIFF: list[Binding] = [
    Binding("escape", "back", "back", tooltip="to the screen before", id="diff.back"),
    Binding(
        "r",
        "rediff",
        "re-diff",
        tooltip="read this peering's routes, rules and network ACLs again now",
        id="diff.rediff",
    ),
    Binding(
        "ctrl+r", "rediff", "re-diff", show=False, tooltip="the same as r", id="diff.rediff_alt"
    ),
    Binding(
        "f",
        "fix_plan",
        "fix plan",
        tooltip="the ordered fix, each step as an aws ec2 command",
        id="diff.fix",
    ),
    Binding(
        "t",
        "open_path",
        "path",
        tooltip="hop by hop, the path from the deployment to the highlighted resource",
        id="diff.path",
    ),
    Binding(
        "d",
        "open_detail",
        "detail",
        tooltip="both sides of the peering, path, raw JSON",
        id="diff.detail",
    ),
]

PATH: list[Binding] = [
    Binding("escape", "back", "back", tooltip="to the diff view", id="path.back"),
    Binding("r", "recheck", "re-check", tooltip="walk the path again now", id="path.recheck"),
]

FIX_PLAN: list[Binding] = [
    Binding(
        "escape", "close", "close", tooltip="back to the diff (not while applying)", id="fix.close"
    ),
    Binding(
        "c",
        "copy_commands",
        "copy",
        tooltip="copy the plan as aws ec2 commands or as Terraform (asks which)",
        id="fix.copy",
    ),
    Binding(
        "r",
        "toggle_replace",
        "--replace",
        tooltip="also replace or delete routes that send the deployment CIDR elsewhere",
        id="fix.replace",
    ),
    Binding(
        "v",
        "toggle_revoke",
        "--revoke",
        tooltip="also revoke stale rules and rules open to 0.0.0.0/0",
        id="fix.revoke",
    ),
    Binding(
        "n",
        "toggle_nacl",
        "--nacl",
        tooltip="also add or replace network ACL entries (shared by the ACL's subnets)",
        id="fix.nacl",
    ),
    Binding(
        "a",
        "apply_fix",
        "apply",
        tooltip="apply the allowed actions (asks first), then diff again",
        id="fix.apply",
    ),
]

COPY_PLAN: list[Binding] = [
    Binding("a", "copy_aws", "aws ec2", tooltip="the plan as aws ec2 commands", id="copy.aws"),
    Binding(
        "t",
        "copy_terraform",
        "Terraform",
        tooltip="the plan as Terraform, with import blocks for what exists",
        id="copy.terraform",
    ),
    Binding("escape", "cancel", "cancel", tooltip="copy nothing", id="copy.cancel"),
]

CONFIRM: list[Binding] = [
    Binding("y", "confirm", "yes", id="confirm.yes"),
    Binding("n", "cancel", "no", id="confirm.no"),
    Binding("escape", "cancel", "no", show=False, id="confirm.escape"),
]

CREATE: list[Binding] = [
    Binding(
        "escape",
        "cancel",
        "cancel",
        tooltip="close the form (not while it runs)",
        id="create.cancel",
    ),
    Binding("ctrl+s", "submit", "create", tooltip="run the create workflow", id="create.submit"),
]

DELETE: list[Binding] = [
    Binding(
        "escape",
        "cancel",
        "cancel",
        tooltip="close the dialog (not while it runs)",
        id="delete.cancel",
    ),
]

HELP: list[Binding] = [
    Binding("escape", "close", "close", tooltip="back to where you were", id="help.close"),
    Binding(
        "question_mark",
        "close",
        "close",
        key_display="?",
        show=False,
        tooltip="the same",
        id="help.close_alt",
    ),
    Binding("q", "close", "close", show=False, tooltip="the same", id="help.close_q"),
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
    ("Path", PATH),
    ("Fix plan", FIX_PLAN),
    ("Copy the fix plan", COPY_PLAN),
    ("Confirmation", CONFIRM),
    ("Create form", CREATE),
    ("Delete dialog", DELETE),
    ("Help", HELP),
]


def all_bindings() -> list[Binding]:
    """Every binding of every screen, in the help screen's order."""
    return [binding for _, section in SECTIONS for binding in section]


BINDING_IDS = frozenset(b.id for b in all_bindings() if b.id)


def keys_of(binding: Binding, keymap: Mapping[str, str]) -> list[str]:
    """The keys ``binding`` answers to with ``keymap`` applied (its own without an entry)."""
    keys = keymap.get(binding.id or "", binding.key)
    return [key.strip() for key in keys.split(",") if key.strip()]


def mutating_keys(section: list[Binding], keymap: Mapping[str, str]) -> frozenset[str]:
    """The keys of ``section`` that change something (refused, with a reason, when
    read-only)."""
    return frozenset(
        key for b in section if b.action in MUTATING_ACTIONS for key in keys_of(b, keymap)
    )


def check_keymap(keymap: Mapping[str, object]) -> dict[str, str]:
    """A ``[keys]`` table from the config file, checked: every name a binding id, every value
    a non-empty key string. Raises ``ValueError`` naming the first bad entry."""
    checked: dict[str, str] = {}
    for binding_id, keys in keymap.items():
        if binding_id not in BINDING_IDS:
            raise ValueError(
                f"[keys] {binding_id!r} is not a binding id; the ids are "
                + ", ".join(sorted(BINDING_IDS))
            )
        if not isinstance(keys, str) or not keys.strip():
            raise ValueError(f'[keys] {binding_id}: give the key as a string, like "ctrl+n"')
        checked[binding_id] = keys.strip()
    return checked
