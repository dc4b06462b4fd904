"""Read both sides back in full, to prove that a refused operation changed nothing."""

from __future__ import annotations

from typing import Any

from peering_core.aws import Ec2Gateway
from peering_core.platform_client import PlatformClient
from peering_core.sandbox.seed import SANDBOX_REGIONS


async def aws_state(ec2: Ec2Gateway, regions: tuple[str, ...] = SANDBOX_REGIONS) -> dict[str, Any]:
    """Every pcx (id, status), route (prefix-list routes too), inbound rule (from a CIDR or a
    prefix list) and network ACL entry one account can see."""
    state: dict[str, Any] = {}
    for region in regions:
        pcxs = await ec2.describe_peerings(region)
        tables = await ec2.describe_route_tables(region)
        groups = await ec2.describe_security_groups(region)
        rules = await ec2.describe_security_group_rules(region, [g.id for g in groups])
        acls = await ec2.describe_network_acls(region)
        state[region] = {
            "pcxs": sorted((p.id, p.status) for p in pcxs),
            "routes": sorted(
                (t.id, r.destination, r.target_id)
                for t in tables
                for r in (*t.routes, *t.prefix_list_routes)
            ),
            "rules": sorted(
                (r.group_id, r.protocol, r.from_port, r.to_port, r.cidr or r.prefix_list_id)
                for r in rules
                if not r.is_egress
            ),
            "acls": sorted(
                (a.id, e.egress, e.rule_number, e.allow, e.protocol, e.cidr, e.port_range())
                for a in acls
                for e in a.entries
            ),
        }
    return state


async def platform_state(client: PlatformClient) -> dict[str, Any]:
    """Every platform record and resource."""
    resources = []
    for deployment in await client.deployments():
        resources.extend((r.id, r.host) for r in await client.resources(deployment.id))
    return {
        "peerings": sorted(
            (p.peering_id, p.deployment_id, p.status.value) for p in await client.all_peerings()
        ),
        "resources": sorted(resources),
    }


async def whole_state(
    client: PlatformClient, customer: Ec2Gateway, platform_ec2: Ec2Gateway
) -> dict[str, Any]:
    return {
        "platform": await platform_state(client),
        "customer": await aws_state(customer),
        "platform_aws": await aws_state(platform_ec2),
    }
