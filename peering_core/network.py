"""Reading the customer's network for drift checks, and applying fix plans.

A region is read in eight describes (subnets, route tables, security groups, their rules,
network interfaces, peerings, network ACLs, managed prefix lists), each over every requester
VPC at once: unfiltered for the whole fleet (so the cost depends on pages, not on the number
of peerings), filtered by VPC for one. The entries of the prefix lists that routes and rules
refer to come on top, once per list version (the gateway keeps them; EC2 reads one list per
call).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from .accounts import AccountLink, Accounts
from .aws import Ec2Gateway
from .drift import FixAction, PeeringDiff, RegionEstate, diff_peering
from .errors import AwsError, DriftError, PlatformApiError, RuleViolation, UnknownPeering
from .models import AwsPeering, DeploymentVpc, Resource, unchanged
from .platform_client import PlatformClient
from .rules import check_peering_id


async def load_region(
    ec2: Ec2Gateway, region: str, vpc_ids: Sequence[str] | None = None
) -> RegionEstate:
    """The customer's network in ``region``: all of it, or only ``vpc_ids``."""
    subnets, tables, groups, interfaces, peerings, acls = await asyncio.gather(
        ec2.describe_subnets(region, vpc_ids),
        ec2.describe_route_tables(region, vpc_ids=vpc_ids),
        ec2.describe_security_groups(region, vpc_ids=vpc_ids),
        ec2.describe_network_interfaces(region, vpc_ids),
        ec2.describe_peerings(region),
        ec2.describe_network_acls(region, vpc_ids),
    )
    if vpc_ids is None:
        rules = await ec2.describe_security_group_rules(region)
    else:
        rules = await ec2.describe_security_group_rules(region, [g.id for g in groups])
    estate = RegionEstate(
        region=region,
        subnets=tuple(subnets),
        route_tables=tuple(tables),
        security_groups=tuple(groups),
        rules=tuple(rules),
        interfaces=tuple(interfaces),
        peerings=tuple(peerings),
        network_acls=tuple(acls),
    )
    return await with_prefix_lists(ec2, estate)


async def with_prefix_lists(
    ec2: Ec2Gateway, estate: RegionEstate, *, only_referenced: bool = False
) -> RegionEstate:
    """``estate`` with its region's prefix lists, the entries of those its routes and rules
    refer to resolved; ``only_referenced`` describes just those (none: no call)."""
    referenced = estate.referenced_prefix_lists()
    if only_referenced and not referenced:
        return estate
    lists = await ec2.describe_prefix_lists(
        estate.region, sorted(referenced) if only_referenced else None, with_entries=referenced
    )
    return estate.model_copy(update={"prefix_lists": tuple(lists)})


def live_cidrs(
    peerings: Iterable[AwsPeering], vpcs: Sequence[DeploymentVpc]
) -> dict[str, set[str]]:
    """For each requester VPC, the deployment CIDRs it has an active peering with."""
    cidr_of = {v.vpc_id: v.cidr for v in vpcs}
    live: dict[str, set[str]] = {}
    for pcx in peerings:
        cidr = cidr_of.get(pcx.accepter.vpc_id)
        if cidr is not None and pcx.status == "active":
            live.setdefault(pcx.requester.vpc_id, set()).add(cidr)
    return live


def diff_region(
    estate: RegionEstate,
    vpcs: Sequence[DeploymentVpc],
    resources: Sequence[Resource],
    *,
    peering_ids: Iterable[str] | None = None,
    previous: Mapping[str, PeeringDiff] | None = None,
) -> dict[str, PeeringDiff]:
    """Diffs for every pcx of the region toward a deployment VPC (or only ``peering_ids``);
    where a diff equals ``previous``'s, that object is kept."""
    by_vpc = {v.vpc_id: v for v in vpcs}
    wanted = set(peering_ids) if peering_ids is not None else None
    by_deployment: dict[str, list[Resource]] = {}
    for resource in resources:
        by_deployment.setdefault(resource.deployment_id, []).append(resource)
    live = live_cidrs(estate.peerings, vpcs)
    diffs: dict[str, PeeringDiff] = {}
    for pcx in estate.peerings:
        info = by_vpc.get(pcx.accepter.vpc_id)
        if info is None or (wanted is not None and pcx.id not in wanted):
            continue
        diff = diff_peering(
            pcx,
            deployment_id=info.deployment_id,
            deployment_cidr=info.cidr,
            estate=estate,
            resources=by_deployment.get(info.deployment_id, ()),
            live_cidrs=live,
        )
        diffs[pcx.id] = unchanged(previous or {}, pcx.id, diff)
    return diffs


async def find_peering(
    platform: PlatformClient, ec2: Ec2Gateway, deployment_id: str, peering_id: str
) -> tuple[DeploymentVpc, AwsPeering]:
    """The deployment's VPC info and the pcx asked about, which must be visible to this AWS
    account and peer with that VPC (else :class:`UnknownPeering`: bad input, exit 2)."""
    try:
        check_peering_id(peering_id, "PCX")
    except RuleViolation as exc:
        raise UnknownPeering(exc.code, exc.message) from None
    try:
        info = await platform.deployment_vpc(deployment_id)
    except PlatformApiError as exc:
        if exc.status == 404:
            raise UnknownPeering(exc.code, exc.message) from None
        raise DriftError(exc.message) from None
    pcx = await ec2.describe_peering(info.region, peering_id)
    if pcx is None:
        raise UnknownPeering(
            "PEERING_NOT_FOUND",
            f"PCX {peering_id} is not visible to this AWS account in {info.region}",
        )
    if pcx.accepter.vpc_id != info.vpc_id:
        raise UnknownPeering(
            "PEERING_WRONG_DEPLOYMENT",
            f"PCX {peering_id} peers with {pcx.accepter.vpc_id}, not with deployment "
            f"{deployment_id} ({info.vpc_id})",
        )
    return info, pcx


async def diff_one(
    platform: PlatformClient, ec2: Ec2Gateway, deployment_id: str, peering_id: str
) -> PeeringDiff:
    """The diff of one peering, read with filtered (cheap) calls."""
    info, pcx = await find_peering(platform, ec2, deployment_id, peering_id)
    try:
        vpcs = await platform.deployment_vpcs()
        resources = await platform.resources(deployment_id)
    except PlatformApiError as exc:
        raise DriftError(exc.message) from None
    estate = await load_region(ec2, info.region, [pcx.requester.vpc_id])
    return diff_region(estate, vpcs, resources, peering_ids=[peering_id])[peering_id]


async def diff_all(
    platform: PlatformClient, ec2: Ec2Gateway | Accounts
) -> tuple[list[PeeringDiff], Mapping[str, str]]:
    """Diffs of every peering of every deployment, in every account; also returns what
    failed: by region (``staging/us-east-1`` for a configured account), with the fix."""
    accounts = ec2 if isinstance(ec2, Accounts) else Accounts.single(ec2)
    vpcs, resources, _ = await asyncio.gather(
        platform.deployment_vpcs(), platform.all_resources(), accounts.identify()
    )
    regions = sorted({v.region for v in vpcs})
    failed: dict[str, str] = {}
    diffs: dict[str, PeeringDiff] = {}

    async def one(link: AccountLink, region: str) -> None:
        where = f"{link.name}/{region}" if link.account.configured else region
        try:
            if link.error is not None:
                raise link.error
            estate = await load_region(link.ec2, region)
        except AwsError as exc:
            fix = link.account.fix(exc)
            failed[where] = str(exc) + (f"; fix: {fix}" if fix else "")
            return
        mine = [
            p.id
            for p in estate.peerings
            if link.account_id is None or p.requester.owner_id == link.account_id
        ]
        diffs.update(diff_region(estate, vpcs, resources, peering_ids=mine))

    await asyncio.gather(
        *(one(x, r) for x in accounts.links for r in regions if x.account.reads(r))
    )
    found = sorted(diffs.values(), key=lambda d: (d.region, d.deployment_id, d.peering_id))
    return found, failed


class AppliedAction(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: FixAction
    ok: bool
    error: str | None = None


ActionCallback = Callable[[AppliedAction], Awaitable[None] | None]


async def apply_fix(
    ec2: Ec2Gateway,
    actions: Sequence[FixAction],
    *,
    on_action: ActionCallback | None = None,
) -> list[AppliedAction]:
    """Apply ``actions`` in order; an action whose change is already there counts as done."""
    applied: list[AppliedAction] = []
    for action in actions:
        try:
            await _apply(ec2, action)
            result = AppliedAction(action=action, ok=True)
        except AwsError as exc:
            result = AppliedAction(action=action, ok=False, error=str(exc))
        applied.append(result)
        if on_action is not None:
            maybe = on_action(result)
            if maybe is not None:
                await maybe
    return applied


# A fix re-run after a partial apply finds some of its changes made; those count as done.
_ALREADY_DONE = frozenset(
    {
        "RouteAlreadyExists",
        "InvalidRoute.NotFound",
        "InvalidPermission.Duplicate",
        "InvalidPermission.NotFound",
        "InvalidSecurityGroupRuleId.NotFound",
    }
)


async def _apply(ec2: Ec2Gateway, action: FixAction) -> None:
    region = action.region
    try:
        if action.kind == "create_route":
            assert action.route_table_id and action.destination and action.peering_id
            await ec2.create_route(
                region, action.route_table_id, action.destination, action.peering_id
            )
        elif action.kind == "replace_route":
            assert action.route_table_id and action.destination and action.peering_id
            await ec2.replace_route(
                region, action.route_table_id, action.destination, action.peering_id
            )
        elif action.kind == "delete_route":
            assert action.route_table_id and action.destination
            await ec2.delete_route(region, action.route_table_id, action.destination)
        elif action.kind == "create_acl_entry":
            assert action.network_acl_id
            await ec2.create_network_acl_entry(region, action.network_acl_id, action.acl_entry())
        elif action.kind == "replace_acl_entry":
            assert action.network_acl_id
            await ec2.replace_network_acl_entry(region, action.network_acl_id, action.acl_entry())
        elif action.kind == "authorize_ingress":
            assert action.group_id and action.cidr
            await ec2.authorize_ingress(
                region,
                action.group_id,
                cidr=action.cidr,
                port=action.port,
                description=action.description or "peering-tui",
            )
        else:
            assert action.group_id
            await ec2.revoke_ingress(region, action.group_id, action.rule_ids)
    except AwsError as exc:
        if exc.code not in _ALREADY_DONE:
            raise
