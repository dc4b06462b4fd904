"""Plain-text pieces of the dashboard: health marks, statuses, clock times, the path picture.

Pure functions over core models, so they are tested without a terminal. Health always carries
a symbol as well as a colour, so the dashboard still reads right under ``NO_COLOR``.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from peering_core.health import Health, PeeringView

HEALTH_SYMBOL: dict[Health, str] = {health: health.symbol for health in Health}
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


def arn_principal(arn: str) -> str:
    """The readable part of an ARN: ``operator`` of ``…:assumed-role/operator/session``."""
    resource = arn.split(":", 5)[-1]
    parts = resource.split("/")
    if parts[0] == "assumed-role" and len(parts) > 1:
        return parts[1]
    return parts[-1]
