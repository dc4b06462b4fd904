"""What the create form offers: the deployment's side, and every customer VPC of its region
with its verdict, route tables and security groups.

The verdicts come from the rules the create workflow applies (:func:`check_peer_vpc`, the
serving route tables, the default group, the live pcx to resume), so the form never allows
what ``plan_create`` refuses. Loading reads each kind of thing once per region, batched over
all VPCs, and both sides at once — every customer account concurrently, each VPC labelled with
its account; an account that cannot be read is named with why, and the others still offered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from .accounts import AccountLink, Accounts
from .aws import Ec2Gateway
from .create import check_peer_vpc, default_security_groups, live_pcx, preflight
from .drift import serving_route_tables
from .errors import AwsError, Refused, RuleViolation
from .models import (
    AwsPeering,
    Deployment,
    DeploymentVpc,
    PlatformPeering,
    RouteTable,
    SecurityGroup,
    Vpc,
)
from .platform_client import PlatformClient


class VpcChoice(BaseModel):
    """One customer VPC the operator may peer, and why not when it may not."""

    model_config = ConfigDict(frozen=True)

    vpc: Vpc
    # The [[accounts]] entry the VPC is in ("" with the standard chain alone).
    account: str = ""
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
    # Account name -> why its VPCs could not be read (with the fix).
    failed_accounts: dict[str, str] = {}

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
    except RuleViolation as exc:
        return exc.message
    return None


async def platform_refusal(
    platform: PlatformClient, deployment: Deployment, vpc: Vpc
) -> str | None:
    """Why the platform's pre-flight check refuses ``vpc`` as the peer, or ``None``."""
    try:
        await preflight(platform, deployment, vpc)
    except Refused as exc:
        return exc.message.removesuffix("; nothing was created")
    return None


def _resumable(pcxs: Sequence[AwsPeering], vpc_id: str, accepter_vpc: str) -> str | None:
    """The live pcx of ``vpc_id`` toward the deployment that a create would resume."""
    pcx = live_pcx([p for p in pcxs if p.requester.vpc_id == vpc_id], accepter_vpc)
    return pcx.id if pcx else None


async def load_create_choices(
    platform: PlatformClient, ec2: Ec2Gateway | Accounts, deployment_id: str
) -> CreateChoices:
    """Read both sides for the create form (reads only, each side's reads at once, every
    customer account concurrently)."""
    accounts = ec2 if isinstance(ec2, Accounts) else Accounts.single(ec2)
    deployment, info, records = await asyncio.gather(
        platform.deployment(deployment_id),
        platform.deployment_vpc(deployment_id),
        platform.peerings(deployment_id),
    )
    links = [x for x in accounts.links if x.account.reads(deployment.region)]
    if len(links) == 1 and not links[0].account.configured:
        vpcs = await _account_choices(links[0], platform, deployment, info, records, named=False)
        return CreateChoices(deployment=deployment, deployment_vpc=info, vpcs=tuple(vpcs))
    found = await asyncio.gather(
        *(_account_choices(x, platform, deployment, info, records, named=True) for x in links),
        return_exceptions=True,
    )
    choices: list[VpcChoice] = []
    failed: dict[str, str] = {}
    for link, answer in zip(links, found, strict=True):
        if isinstance(answer, AwsError):
            fix = link.account.fix(answer)
            failed[link.name] = str(answer) + (f"; fix: {fix}" if fix else "")
        elif isinstance(answer, BaseException):
            raise answer
        else:
            choices.extend(answer)
    return CreateChoices(
        deployment=deployment,
        deployment_vpc=info,
        vpcs=tuple(choices),
        failed_accounts=failed,
    )


async def _account_choices(
    link: AccountLink,
    platform: PlatformClient,
    deployment: Deployment,
    info: DeploymentVpc,
    records: Sequence[PlatformPeering],
    *,
    named: bool,
) -> list[VpcChoice]:
    """One account's VPCs of the deployment's region, each with its verdict."""
    ec2, region = link.ec2, info.region
    all_vpcs, pcxs = await asyncio.gather(
        ec2.describe_vpcs(region),
        ec2.describe_peerings(region, accepter_vpc_ids=[info.vpc_id]),
    )
    vpcs = [v for v in all_vpcs if v.id != info.vpc_id]
    ids = [v.id for v in vpcs]
    tables, subnets, groups = (
        await asyncio.gather(
            ec2.describe_route_tables(region, vpc_ids=ids),
            ec2.describe_subnets(region, ids),
            ec2.describe_security_groups(region, vpc_ids=ids),
        )
        if ids
        else ([], [], [])
    )
    local = {v.id: vpc_refusal(v, info, records) for v in vpcs}
    # What only the platform knows (its own route tables), asked for every VPC the local rules
    # let through, at once: the form never offers a VPC the platform would fail.
    asked = [v for v in vpcs if local[v.id] is None]
    verdicts = await asyncio.gather(*(platform_refusal(platform, deployment, v) for v in asked))
    refusals = local | {v.id: verdict for v, verdict in zip(asked, verdicts, strict=True)}
    choices = []
    for vpc in sorted(vpcs, key=lambda v: (v.name or "~", v.id)):
        mine = [t for t in tables if t.vpc_id == vpc.id]
        my_subnets = [s.id for s in subnets if s.vpc_id == vpc.id]
        my_groups = [g for g in groups if g.vpc_id == vpc.id]
        choices.append(
            VpcChoice(
                vpc=vpc,
                account=link.name if named else "",
                refusal=refusals[vpc.id],
                peered_by=_resumable(pcxs, vpc.id, info.vpc_id),
                route_tables=tuple(sorted(mine, key=lambda t: t.id)),
                default_route_tables=tuple(serving_route_tables(mine, my_subnets)),
                security_groups=tuple(sorted(my_groups, key=lambda g: (g.name != "default", g.id))),
                default_security_groups=default_security_groups(my_groups),
            )
        )
    return choices
