"""The detail screen's path box: both VPCs and the pcx, what AWS showed at the last read, and,
labelled apart, what the peering was made for. Plain text, tested without a terminal."""

from __future__ import annotations

from datetime import datetime

from peering_core.drift import PeeringDiff, RouteDiff, RouteState
from peering_core.health import PeeringView
from peering_core.intent import PeeringIntent
from peering_core.models import DeploymentVpc

from .drift_text import STATE_MARK
from .formatting import aws_status, clock_time, platform_status


def path_picture(
    view: PeeringView,
    deployment_vpc: DeploymentVpc | None,
    diff: PeeringDiff | None = None,
    read_at: datetime | None = None,
) -> str:
    """The network path as a small vertical picture: deployment VPC, the pcx, the requester
    VPC; then what AWS showed at the last read (``diff``: each needed route and inbound rule
    with its state), and apart from it, labelled, what the peering was made for (the intent
    tagged on the pcx). Facts and intentions never share a line."""
    dep_vpc = deployment_vpc.vpc_id if deployment_vpc else "vpc-?"
    dep_cidr = deployment_vpc.cidr if deployment_vpc else "?"
    dep_account = deployment_vpc.account_id if deployment_vpc else "?"
    lines = [
        f"  deployment {view.deployment_name} ({view.region})",
        f"  ┌ {dep_vpc}  {dep_cidr}",
        f"  │ platform account {dep_account}",
        "  │",
        f"  ◆ {view.peering_id}",
        f"  │ platform {platform_status(view)} · AWS {aws_status(view)}",
        "  │",
        f"  └ {view.requester_vpc or 'vpc-?'}  {view.requester_cidr or '?'}",
        f"    requester account {view.requester_account or '?'}",
        "",
    ]
    lines.extend(_found_on_aws(diff, dep_cidr, read_at))
    lines.append("")
    lines.extend(_made_for(view.intent, dep_cidr))
    return "\n".join(lines)


def _found_on_aws(diff: PeeringDiff | None, cidr: str, read_at: datetime | None) -> list[str]:
    when = f" at {clock_time(read_at)}" if read_at else ""
    if diff is None:
        return [f"  on AWS{when}: routes and rules not read (the region was not read)"]
    if not diff.peering_active:
        return [f"  on AWS{when}: the pcx is not active, so nothing routes through it"]
    lines = [f"  on AWS{when} (what the diff view checks):"]
    routes = [r for r in diff.routes if r.expected == diff.peering_id]
    rules = [r for r in diff.rules if r.cidr == cidr]
    # One id per line: a line of ids would not fit an 80-column terminal.
    lines.append(f"    routes to {cidr}:" if routes else f"    no route table to check for {cidr}")
    for row in routes:
        lines.append(f"      {STATE_MARK[row.state][0]} {row.route_table_id}: {_route_fact(row)}")
    lines.append(f"    inbound from {cidr}:" if rules else "    no inbound rule to check")
    for rule in rules:
        port = "all traffic" if rule.port is None else f"tcp/{rule.port}"
        lines.append(
            f"      {STATE_MARK[rule.state][0]} {rule.security_group_id} {port}: {rule.actual}"
        )
    return lines


def _route_fact(row: RouteDiff) -> str:
    if row.actual is None:
        return "no route"
    return f"via {row.actual}" + ("" if row.state is RouteState.OK else f" ({row.state.value})")


def _made_for(intent: PeeringIntent | None, cidr: str) -> list[str]:
    if intent is None:
        return ["  made for: no intent tags on the pcx (made outside peering-tui)"]
    ports = "all traffic" if intent.all_traffic else "ports " + ", ".join(map(str, intent.ports))
    lines = ["  made for (the intent tagged on the pcx, not what AWS shows):"]
    lines.append(f"    route {cidr} via the pcx in:")
    lines.extend(f"      {table}" for table in intent.route_tables or ("(no route table)",))
    lines.append(f"    allow {cidr} in ({ports}) on:")
    lines.extend(f"      {group}" for group in intent.security_groups or ("(no security group)",))
    return lines
