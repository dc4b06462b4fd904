"""What a peering was made for, recorded as tags on its pcx.

The create workflow writes the intent before anything else changes, so a re-run, the delete
workflow and the drift check all know which route tables, security groups and ports belong
to the peering, even when the operator's terminal is gone.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

PREFIX = "peering-tui:"
TAG_DEPLOYMENT = PREFIX + "deployment"
TAG_ROUTE_TABLES = PREFIX + "route-tables"
TAG_SECURITY_GROUPS = PREFIX + "security-groups"
TAG_PORTS = PREFIX + "ports"
TAG_REQUESTED_AT = PREFIX + "requested-at"
# One request's own mark: which pcx a request made, when its answer was lost.
TAG_REQUEST_TOKEN = PREFIX + "request-token"

# A pcx waiting for acceptance expires after this long on AWS.
PENDING_LIFETIME_DAYS = 7


class PeeringIntent(BaseModel):
    """The customer-side changes a peering needs. ``ports`` empty means all traffic."""

    model_config = ConfigDict(frozen=True)

    deployment_id: str
    route_tables: tuple[str, ...]
    security_groups: tuple[str, ...]
    ports: tuple[int, ...] = ()
    requested_at: datetime | None = None

    @property
    def all_traffic(self) -> bool:
        return not self.ports

    def rule_ports(self) -> tuple[int | None, ...]:
        """Each inbound rule's port; ``None`` stands for one all-traffic rule."""
        return (None,) if self.all_traffic else self.ports

    def to_tags(self) -> dict[str, str]:
        stamp = self.requested_at or datetime.now(UTC)
        return {
            TAG_DEPLOYMENT: self.deployment_id,
            TAG_ROUTE_TABLES: ",".join(self.route_tables),
            TAG_SECURITY_GROUPS: ",".join(self.security_groups),
            TAG_PORTS: ",".join(str(p) for p in self.ports) if self.ports else "all",
            TAG_REQUESTED_AT: stamp.replace(microsecond=0).isoformat(),
        }

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> PeeringIntent | None:
        """The intent recorded on a pcx, or ``None`` for a pcx made by other tools."""
        deployment = tags.get(TAG_DEPLOYMENT)
        if not deployment or TAG_ROUTE_TABLES not in tags:
            return None

        def split(value: str) -> tuple[str, ...]:
            return tuple(v for v in value.split(",") if v)

        raw_ports = tags.get(TAG_PORTS, "all")
        try:
            ports = () if raw_ports == "all" else tuple(int(p) for p in split(raw_ports))
            stamp = tags.get(TAG_REQUESTED_AT)
            requested = datetime.fromisoformat(stamp) if stamp else None
        except ValueError:
            return None
        return cls(
            deployment_id=deployment,
            route_tables=split(tags[TAG_ROUTE_TABLES]),
            security_groups=split(tags.get(TAG_SECURITY_GROUPS, "")),
            ports=ports,
            requested_at=requested,
        )


def request_token() -> str:
    """A new token for one pcx request (tagged :data:`TAG_REQUEST_TOKEN`)."""
    return secrets.token_hex(8)


def rule_description(peering_id: str) -> str:
    """The description on every inbound rule the tool adds, so it can find them again."""
    return f"peering-tui {peering_id}"
