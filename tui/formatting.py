"""Plain-text pieces of the dashboard: health marks, statuses, clock times, the path picture.

Pure functions over core models, so they are tested without a terminal. Health always carries
a symbol as well as a colour, so the dashboard still reads right under ``NO_COLOR``.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from peering_core.health import Health, PeeringView
from peering_core.models import DeploymentVpc

HEALTH_SYMBOL: dict[Health, str] = {Health.OK: "✓", Health.WARNING: "!", Health.ERROR: "✗"}
HEALTH_STYLE: dict[Health, str] = {
    Health.OK: "green",
    Health.WARNING: "yellow",
    Health.ERROR: "bold red",
}

# Problems can be long (the platform's failure reason); the table shows the start, the detail
# screen the rest.
PROBLEM_WIDTH = 72

CONSOLE_URL = (
    "https://console.aws.amazon.com/vpcconsole/home?region={region}"
    "#PeeringConnectionDetails:VpcPeeringConnectionId={pcx}"
)


def health_mark(health: Health) -> Text:
    """The health symbol alone, coloured."""
    return Text(HEALTH_SYMBOL[health], style=HEALTH_STYLE[health])


def health_text(health: Health, detail: str | None = None, width: int | None = None) -> Text:
    """``✗ error: first problem`` — symbol, word and optionally why, coloured by health."""
    words = health.value if not detail else f"{health.value}: {detail}"
    if width is not None and len(words) > width:
        words = words[: width - 1] + "…"
    return Text(f"{HEALTH_SYMBOL[health]} {words}", style=HEALTH_STYLE[health])


def peering_health(view: PeeringView) -> Text:
    """The peerings table's health cell: verdict and the first problem."""
    return health_text(view.health, view.problems[0] if view.problems else None, PROBLEM_WIDTH)


def clock_time(when: datetime | None) -> str:
    """``HH:MM:SS`` in the timestamp's own zone (UTC from the core)."""
    return when.strftime("%H:%M:%S") if when else "-"


def console_url(region: str, peering_id: str) -> str:
    """The AWS console page of a peering connection."""
    return CONSOLE_URL.format(region=region, pcx=peering_id)


def platform_status(view: PeeringView) -> str:
    """The platform status, or ``unconfirmed`` when the platform has no record."""
    return view.platform_status or "unconfirmed"


def aws_status(view: PeeringView) -> str:
    """The pcx status, or ``not on AWS`` when EC2 does not show it."""
    return view.aws_status or "not on AWS"


def path_picture(view: PeeringView, deployment_vpc: DeploymentVpc | None) -> str:
    """The network path as a small vertical picture: deployment VPC, the pcx, the requester
    VPC, and what the requester side routes and lets in (from the intent tagged on the pcx)."""
    dep_vpc = deployment_vpc.vpc_id if deployment_vpc else "vpc-?"
    dep_cidr = deployment_vpc.cidr if deployment_vpc else "?"
    dep_account = deployment_vpc.account_id if deployment_vpc else "?"
    intent = view.intent
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
    ]
    if intent is None:
        lines.append("    (no intent tags on the pcx: routes and rules unknown)")
        return "\n".join(lines)
    ports = "all traffic" if intent.all_traffic else "ports " + ", ".join(map(str, intent.ports))
    # One id per line: a line of ids would not fit an 80-column terminal.
    lines.append(f"    routes {dep_cidr} via the pcx in:")
    lines.extend(f"      {table}" for table in intent.route_tables or ("(no route table)",))
    lines.append(f"    allows {dep_cidr} in ({ports}) on:")
    lines.extend(f"      {group}" for group in intent.security_groups or ("(no security group)",))
    return "\n".join(lines)


def arn_principal(arn: str) -> str:
    """The readable part of an ARN: ``operator`` of ``…:assumed-role/operator/session``."""
    resource = arn.split(":", 5)[-1]
    parts = resource.split("/")
    if parts[0] == "assumed-role" and len(parts) > 1:
        return parts[1]
    return parts[-1]
