"""What the create form offers: the deployment's side, and every customer VPC of its region
with its verdict, route tables and security groups.

The verdicts come from the core's rules (``rules.check_peer_cidr``) and defaults from the
workflow (``serving_route_tables``), so the form never allows what ``plan_create`` refuses.
Loading reads each kind of thing once per region, batched over all VPCs.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from peering_core import rules
from peering_core.aws import Ec2Gateway
from peering_core.drift import serving_route_tables
from peering_core.models import (
    AwsPeering,
    Deployment,
    DeploymentVpc,
    PlatformPeering,
    RouteTable,
    SecurityGroup,
    Vpc,
)
from peering_core.platform.client import PlatformClient
from peering_core.views import LIVE_AWS_STATES
from peering_core.workflow import check_peer_vpc


class VpcChoice(BaseModel):
    """One customer VPC the operator may peer, and why not when it may not."""

    model_config = ConfigDict(frozen=True)

    vpc: Vpc
    refusal: str | None = None
    peered_by: str | None = None
    route_tables: tuple[RouteTable, ...] = ()
    default_route_tables: tuple[str, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    default_security_groups: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        """Whether the platform would accept this VPC as the peer."""
        return self.refusal is None


class CreateChoices(BaseModel):
    """Everything the create form shows before the operator picks."""

    model_config = ConfigDict(frozen=True)

    deployment: Deployment
    deployment_vpc: DeploymentVpc
    vpcs: tuple[VpcChoice, ...]

    def choice(self, vpc_id: str) -> VpcChoice | None:
        """The choice for ``vpc_id``, if offered."""
        return next((c for c in self.vpcs if c.vpc.id == vpc_id), None)

    def route_conflict(self, table: RouteTable, peered_by: str | None) -> str | None:
        """Where ``table`` already sends the deployment CIDR, unless it is our own pcx."""
        route = table.route_to(self.deployment_vpc.cidr)
        if route is None or route.target_id == peered_by:
            return None
        return route.target_id


def vpc_refusal(
    vpc: Vpc, deployment_vpc: DeploymentVpc, records: Sequence[PlatformPeering]
) -> str | None:
    """Why the platform would refuse ``vpc`` as the peer, or ``None`` (the workflow's rule)."""
    try:
        check_peer_vpc(vpc, deployment_vpc, records)
    except rules.RuleViolation as exc:
        return exc.message
    return None


def _live_peering(pcxs: Sequence[AwsPeering], vpc_id: str) -> str | None:
    live = [p.id for p in pcxs if p.requester.vpc_id == vpc_id and p.status in LIVE_AWS_STATES]
    return sorted(live)[0] if live else None


async def load_create_choices(
    platform: PlatformClient, ec2: Ec2Gateway, deployment_id: str
) -> CreateChoices:
    """Read both sides for the create form (reads only)."""
    deployment = await platform.deployment(deployment_id)
    info = await platform.deployment_vpc(deployment_id)
    records = await platform.peerings(deployment_id)
    region = deployment.region
    vpcs = [v for v in await ec2.describe_vpcs(region) if v.id != info.vpc_id]
    ids = [v.id for v in vpcs]
    tables = await ec2.describe_route_tables(region, vpc_ids=ids) if ids else []
    subnets = await ec2.describe_subnets(region, ids) if ids else []
    groups = await ec2.describe_security_groups(region, vpc_ids=ids) if ids else []
    pcxs = await ec2.describe_peerings(region, accepter_vpc_ids=[info.vpc_id])
    choices = []
    for vpc in sorted(vpcs, key=lambda v: (v.name or "~", v.id)):
        mine = [t for t in tables if t.vpc_id == vpc.id]
        my_subnets = [s.id for s in subnets if s.vpc_id == vpc.id]
        my_groups = [g for g in groups if g.vpc_id == vpc.id]
        choices.append(
            VpcChoice(
                vpc=vpc,
                refusal=vpc_refusal(vpc, info, records),
                peered_by=_live_peering(pcxs, vpc.id),
                route_tables=tuple(sorted(mine, key=lambda t: t.id)),
                default_route_tables=tuple(serving_route_tables(mine, my_subnets)),
                security_groups=tuple(sorted(my_groups, key=lambda g: (g.name != "default", g.id))),
                # The workflow's default: the VPC's default security group.
                default_security_groups=tuple(g.id for g in my_groups if g.name == "default")[:1],
            )
        )
    return CreateChoices(deployment=deployment, deployment_vpc=info, vpcs=tuple(choices))


def parse_ports(text: str) -> tuple[int, ...]:
    """``all`` (or empty) → ``()`` meaning all traffic; else comma/space separated TCP ports.

    Raises ``ValueError`` with a message for the form.
    """
    words = [w for w in text.replace(",", " ").split() if w]
    if not words or (len(words) == 1 and words[0].lower() == "all"):
        return ()
    ports: set[int] = set()
    for word in words:
        if word.lower() == "all":
            raise ValueError("'all' cannot be mixed with port numbers")
        if not word.isdigit():
            raise ValueError(f"{word!r} is not a port number")
        port = int(word)
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is not in 1-65535")
        ports.add(port)
    return tuple(sorted(ports))
