"""The diff view's pure pieces: state marks, table cells, the verdict, the fix plan as text and
as a script to hand on.

Pure functions over the core's :class:`~peering_core.drift.PeeringDiff` and
:class:`~peering_core.drift.FixPlan`, tested without a terminal. Every state carries a symbol as
well as a colour (``✓`` ok, ``✗`` needs a change, ``!`` worth a look), as the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.table import Table
from rich.text import Text

from peering_core.drift import (
    AclDiff,
    AclState,
    FixAction,
    FixPlan,
    PeeringDiff,
    RouteDiff,
    RouteState,
    RuleDiff,
    RuleState,
    state_health,
)
from peering_core.models import Resource
from peering_core.network import AppliedAction
from peering_core.path import HopState, PathHop, PathReport

from .formatting import HEALTH_STYLE, clock_time

OK_STYLE, DRIFT_STYLE, NOTE_STYLE = "green", "bold red", "yellow"

# Each row's mark is its severity's (peering_core.drift.state_health): the same symbol and
# colour as the tables' HEALTH, the status line, `ls` and `peering-tui diff`.
STATE_MARK: dict[RouteState | RuleState | AclState, tuple[str, str]] = {
    state: (state_health(state).symbol, HEALTH_STYLE[state_health(state)])
    for state in (*RouteState, *RuleState, *AclState)
}

ROUTE_COLUMNS = [
    ("state", "STATE"),
    ("table", "ROUTE TABLE"),
    ("destination", "DESTINATION"),
    ("expected", "EXPECTED"),
    ("actual", "ACTUAL"),
]
RULE_COLUMNS = [
    ("state", "STATE"),
    ("group", "SECURITY GROUP"),
    ("cidr", "FROM"),
    ("port", "PORT"),
    ("expected", "EXPECTED"),
    ("actual", "ACTUAL"),
]

ACL_COLUMNS = [
    ("state", "STATE"),
    ("acl", "NETWORK ACL"),
    ("direction", "WAY"),
    ("ports", "PORTS"),
    ("rule", "RULE"),
    ("for", "FOR"),
]
RESOURCE_COLUMNS = [
    ("state", "PATH"),
    ("resource", "RESOURCE"),
    ("address", "ADDRESS"),
    ("detail", "FIRST HOP THAT BLOCKS"),
]

# The fix plan's flags, in order, and the key that ticks each.
FLAGS = ("replace", "revoke", "nacl")
FLAG_KEY = {"replace": "r", "revoke": "v", "nacl": "n"}

# What a flag lets ``fix`` do, in the operator's words (the CLI's --replace, --revoke, --nacl).
FLAG_MEANS = {
    "replace": "replace routes that go elsewhere, delete the ones that shadow the peering",
    "revoke": "revoke stale rules and rules open to 0.0.0.0/0",
    "nacl": "add or replace network ACL entries (an ACL serves every subnet associated with it)",
}


@dataclass(frozen=True)
class DiffReading:
    """A diff and where it came from: the poller's last tick or a re-diff of this peering."""

    diff: PeeringDiff
    at: datetime
    source: str  # "last poll" or "re-diffed"


def state_text(state: RouteState | RuleState | AclState) -> Text:
    """``✗ missing``: symbol and word, coloured."""
    mark, style = STATE_MARK[state]
    return Text(f"{mark} {state.value}", style=style)


def _target(target: str | None, peering_id: str, none: str) -> str:
    # The header names the pcx; repeating its 21 characters twice per row would push the
    # state out of an 80-column terminal.
    if target is None:
        return none
    return "this pcx" if target == peering_id else target


def route_cells(row: RouteDiff, peering_id: str) -> list[str | Text]:
    """One route row in :data:`ROUTE_COLUMNS` order."""
    return [
        state_text(row.state),
        row.route_table_id,
        row.destination,
        _target(row.expected, peering_id, "(no route)"),
        _target(row.actual, peering_id, "(no route)"),
    ]


def port_text(port: int | None) -> str:
    """``all`` for all traffic, else the port."""
    return "all" if port is None else str(port)


def rule_cells(row: RuleDiff, deployment_cidr: str) -> list[str | Text]:
    """One inbound-rule row in :data:`RULE_COLUMNS` order: expected and actual said short
    (the CIDR and port have their own columns; the reasons below say the rest)."""
    if row.state is RuleState.STALE:
        expected = "(no rule)"
    elif row.state is RuleState.TOO_BROAD:
        expected = f"only {deployment_cidr}"
    else:
        expected = "allow"
    actual = ", ".join(row.rule_ids) if row.rule_ids else "(not allowed)"
    return [
        state_text(row.state),
        row.security_group_id or "(no group)",
        row.cidr,
        port_text(row.port),
        expected,
        actual,
    ]


def acl_cells(row: AclDiff) -> list[str | Text]:
    """One network ACL row in :data:`ACL_COLUMNS` order."""
    way = "out" if row.direction == "outbound" else "in"
    rule = "*" if row.rule == "*" else f"#{row.rule}"
    return [state_text(row.state), row.network_acl_id, way, row.ports, rule, row.purpose]


def acl_key(index: int, row: AclDiff) -> str:
    """A row key unique within one diff."""
    return f"{index}:{row.network_acl_id}:{row.direction}:{row.ports}:{row.state.value}"


HOP_MARK = {
    HopState.OK: ("✓", OK_STYLE),
    HopState.BLOCKED: ("✗", DRIFT_STYLE),
    HopState.UNKNOWN: ("?", NOTE_STYLE),
}
HOP_COLUMNS = [("state", "STATE"), ("hop", "HOP"), ("id", "ID"), ("detail", "DETAIL")]


def path_verdict(report: PathReport) -> Text:
    """``✓ reachable`` or ``✗ blocked at network-acl``."""
    if report.reachable:
        return Text("✓ reachable", style=OK_STYLE)
    return Text(f"✗ {report.verdict()}", style=DRIFT_STYLE)


def resource_cells(resource: Resource, report: PathReport) -> list[str | Text]:
    """One resource row in :data:`RESOURCE_COLUMNS` order: its path's verdict."""
    first = report.blocked_at
    return [
        path_verdict(report),
        resource.name,
        f"{resource.host}:{resource.port}",
        first.detail if first else "every hop lets it through",
    ]


def hop_cells(hop: PathHop) -> list[str | Text]:
    mark, style = HOP_MARK[hop.state]
    return [Text(f"{mark} {hop.state.value}", style=style), hop.hop, hop.id or "-", hop.detail]


def path_title(report: PathReport, name: str) -> Text:
    """The path screen's header: which way, which ports, the verdict."""
    ports = ",".join(str(p) for p in report.ports)
    text = Text()
    if report.direction == "to":
        text.append(f"deployment {report.deployment_id} ({report.deployment_cidr}) → ")
        text.append(f"{name} {report.address}", style="bold")
    else:
        text.append(f"{report.address}", style="bold")
        text.append(f" → deployment {report.deployment_id} ({report.deployment_cidr})")
    text.append(f" tcp/{ports}\nvia {report.peering_id} · {report.region}  ")
    text.append_text(path_verdict(report))
    return text


def path_why(report: PathReport) -> Text:
    """The first blocked hop's why and fix, then the notes."""
    first = report.blocked_at
    text = Text()
    if first is None:
        text.append("✓ every hop lets the traffic through", style=OK_STYLE)
    else:
        mark, style = HOP_MARK[first.state]
        text.append(f"{mark} {first.hop}: ", style=style)
        text.append(first.detail)
        for step in first.fix:
            text.append(f"\n  {step}", style="bold")
    for note in report.notes:
        text.append(f"\nnote: {note}", style="dim")
    return text


def route_key(index: int, row: RouteDiff) -> str:
    """A row key unique within one diff."""
    return f"{index}:{row.route_table_id}:{row.destination}:{row.state.value}"


def rule_key(index: int, row: RuleDiff) -> str:
    """A row key unique within one diff."""
    return f"{index}:{row.security_group_id}:{row.cidr}:{row.port}:{row.state.value}"


def verdict(diff: PeeringDiff) -> Text:
    """``✗ error: 2 stop traffic``, ``! warning: 1 needs attention``, ``✓ ok: in sync`` —
    the peering's health words (:meth:`PeeringDiff.verdict`), in its colour."""
    return Text(diff.verdict(), style=HEALTH_STYLE[diff.health])


def diff_title(
    diff: PeeringDiff | None,
    peering_id: str,
    deployment: str,
    region: str,
    reading: DiffReading | None,
) -> Text:
    """The diff view's header: the pcx and its deployment, the VPC → deployment CIDR path, the
    verdict, and how fresh the diff is."""
    text = Text()
    text.append(peering_id, style="bold")
    text.append(f"  {deployment}")
    if diff is not None:
        text.append(f" ({diff.deployment_id})")
    text.append(f" · {region}")
    if diff is None or reading is None:
        return text
    text.append(f"\n{diff.vpc_id} → {diff.deployment_cidr}  ")
    text.append_text(verdict(diff))
    if not diff.peering_active:
        text.append("  (pcx not active: nothing may route via it)", style="dim")
    text.append(f"\n{reading.source} at {clock_time(reading.at)}", style="dim")
    return text


def reasons_text(diff: PeeringDiff) -> Text:
    """Why: what stops traffic first, then what needs attention, then the core's notes."""
    text = Text()
    lines: list[tuple[str, str, str]] = [
        (level.symbol, HEALTH_STYLE[level], reason) for level, reason in diff.problems()
    ]
    for note in diff.notes:
        lines.append(("·", "dim", f"note: {note}"))
    if not lines:
        return Text(
            "✓ every route and inbound rule is as the peering needs, and every network ACL "
            "lets its traffic through",
            style=OK_STYLE,
        )
    for index, (mark, style, line) in enumerate(lines):
        if index:
            text.append("\n")
        text.append(f"{mark} ", style=style)
        text.append(line)
    return text


# --- the fix plan ---------------------------------------------------------------------------

RESULT_MARK = {True: ("✓", OK_STYLE), False: ("✗", DRIFT_STYLE)}


def plan_table(
    plan: FixPlan,
    *,
    replace: bool,
    revoke: bool,
    nacl: bool = False,
    results: Mapping[int, AppliedAction] | None = None,
    running: int | None = None,
) -> Table | Text:
    """Every action of the plan in order, numbered when the flags allow it and marked held back
    when they do not, each with its reason and exact ``aws ec2`` command (wrapped under the
    reason, not under the number); while applying, each with ``…`` (running), ``✓`` or ``✗``
    and the error."""
    if not plan.actions:
        return Text("nothing to do: every route and inbound rule is in sync", style=OK_STYLE)
    allowed = plan.allowed(replace=replace, revoke=revoke, nacl=nacl)
    results = results or {}
    table = Table.grid(padding=(0, 1, 0, 0))
    table.add_column(no_wrap=True)
    # Fold, never cut: a command on screen must be the whole command (--ip-permissions is one
    # long word).
    table.add_column(ratio=1, overflow="fold")
    number = 0
    for index, action in enumerate(plan.actions):
        body = Text()
        result = results.get(index)
        if action in allowed:
            number += 1
            if result is not None:
                mark, style = RESULT_MARK[result.ok]
            elif index == running:
                mark, style = "…", "bold"
            else:
                mark, style = "·", ""
            body.append(action.reason)
            body.append(f"\n{action.aws_cli()}", style="bold")
            if result is not None and result.error:
                body.append(f"\n✗ {result.error}", style=DRIFT_STYLE)
            table.add_row(Text(f"{mark} {number}.", style=style or "bold"), body)
        else:
            body.append(f"held back, needs --{action.needs}: ", style="yellow")
            body.append(action.reason, style="dim")
            body.append(f"\n{action.aws_cli()}", style="dim")
            table.add_row(Text("-", style="yellow"), body)
    return table


def plan_counts(
    plan: FixPlan, *, replace: bool, revoke: bool, nacl: bool = False
) -> tuple[int, dict[str, int]]:
    """How many actions the flags allow, and how many each flag holds back."""
    held: dict[str, int] = dict.fromkeys(FLAGS, 0)
    for action in plan.held_back(replace=replace, revoke=revoke, nacl=nacl):
        if action.needs is not None:
            held[action.needs] += 1
    return len(plan.allowed(replace=replace, revoke=revoke, nacl=nacl)), held


def plan_script(
    plan: FixPlan,
    diff: PeeringDiff,
    deployment: str,
    *,
    replace: bool,
    revoke: bool,
    nacl: bool = False,
) -> str:
    """The plan as a shell script to hand to someone with write access: each allowed command
    under its reason, held-back commands commented out with the flag they need."""
    allowed = plan.allowed(replace=replace, revoke=revoke, nacl=nacl)
    lines = [
        f"# peering-tui fix plan for {diff.peering_id} ({deployment}, {diff.region}): "
        f"{len(allowed)} action(s)"
    ]
    number = 0
    for action in plan.actions:
        if action in allowed:
            number += 1
            lines += [f"# {number}. {action.reason}", action.aws_cli()]
        else:
            lines += [
                f"# held back, needs --{action.needs}: {action.reason}",
                f"# {action.aws_cli()}",
            ]
    return "\n".join(lines) + "\n"


def applied_text(applied: Sequence[AppliedAction]) -> Text:
    """What the last apply did, one command per line with ✓ or ✗ (and the error)."""
    text = Text()
    for index, result in enumerate(applied):
        mark, style = RESULT_MARK[result.ok]
        if index:
            text.append("\n")
        text.append(f"{mark} ", style=style)
        text.append(result.action.aws_cli())
        if result.error:
            text.append(f"\n   {result.error}", style=DRIFT_STYLE)
    return text


def after_fix_text(diff: PeeringDiff, plan: FixPlan, failed: int, held: dict[str, int]) -> Text:
    """The verdict after an apply and its re-diff, and what to do next if anything is left
    (``plan`` and ``held`` are the new diff's)."""
    text = Text("re-diffed: ")
    text.append_text(verdict(diff))
    if failed:
        text.append(f"\n✗ {failed} action(s) failed (see above)", style=DRIFT_STYLE)
    waiting = [flag for flag, count in held.items() if count]
    if waiting and not diff.in_sync:
        what = ", ".join(f"{held[f]} need --{f} ({FLAG_KEY[f]} ticks it)" for f in waiting)
        text.append(f"\n! held back: {what}; then apply again", style=NOTE_STYLE)
    elif not diff.in_sync and plan.actions:
        text.append("\n! still drifting: apply again, or read the reasons", style=NOTE_STYLE)
    elif not diff.in_sync:
        text.append("\n! nothing a fix can change: read the reasons", style=NOTE_STYLE)
    return text


def confirm_lines(actions: Sequence[FixAction], peering_id: str, region: str) -> Text:
    """The confirmation's body: the commands that will run."""
    text = Text(f"These {len(actions)} change(s) will be made in your AWS account ({region}):")
    for number, action in enumerate(actions, 1):
        text.append(f"\n{number}. ", style="bold")
        text.append(action.aws_cli())
    text.append(f"\n\nThen {peering_id} is diffed again.", style="dim")
    return text
