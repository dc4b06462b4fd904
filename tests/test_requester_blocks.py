"""A requester VPC with several IPv4 blocks: the platform records, checks and routes each.

EC2 lists every block of the requester VPC on the pcx (``CidrBlockSet``); moto lists only the
first, so the sandbox's platform reads the others from the VPC itself (see the README). Either
way the record keeps ``cidr`` (the first block, as before) and adds ``cidrs``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import httpx

from peering_core.aws import Ec2Gateway
from peering_core.models import DeploymentVpc
from peering_core.platform_client import PlatformClient
from peering_core.sandbox.seed import (
    CUSTOMER_ACCOUNT_ID,
    EstateBuilder,
    build_customer_vpc,
    wait_for_platform,
)
from peering_core.sandbox.servers import Sandbox

REGION = "us-east-1"
API = "/api/v1"


async def deployment(platform: PlatformClient, name: str, cidr: str) -> DeploymentVpc:
    made = await platform.create_deployment(name, REGION, cidr)
    return await platform.deployment_vpc(made.id)


async def requester(customer: EstateBuilder, name: str, *blocks: str) -> str:
    vpc = await build_customer_vpc(customer, name, REGION, blocks[0])
    for block in blocks[1:]:
        await customer.associate_vpc_cidr(REGION, vpc.vpc_id, block)
    return vpc.vpc_id


async def request(customer: EstateBuilder, vpc_id: str, info: DeploymentVpc) -> str:
    pcx = await customer.create_peering(
        REGION, vpc_id=vpc_id, peer_vpc_id=info.vpc_id, peer_owner_id=info.account_id
    )
    return pcx.id


async def confirm(api: httpx.AsyncClient, info: DeploymentVpc, pcx: str, vpc: str) -> Any:
    return await api.post(
        f"{API}/deployments/{info.deployment_id}/peerings",
        json={"peeringId": pcx, "accountId": CUSTOMER_ACCOUNT_ID, "vpcId": vpc},
    )


async def routes_via(platform_ec2: Ec2Gateway, info: DeploymentVpc, pcx: str) -> list[str]:
    tables = await platform_ec2.describe_route_tables(REGION, route_table_ids=info.route_table_ids)
    return sorted(r.destination for t in tables for r in t.routes if r.target_id == pcx)


async def test_every_block_of_the_requester_vpc_is_recorded_and_routed_and_removed_with_it(
    sandbox: Sandbox,
    api: httpx.AsyncClient,
    platform: PlatformClient,
    customer: EstateBuilder,
    platform_ec2: Ec2Gateway,
) -> None:
    info = await deployment(platform, "factory-telemetry", "10.200.0.0/16")
    vpc = await requester(customer, "prod-data", "172.20.0.0/16", "172.21.0.0/16")
    pcx = await request(customer, vpc, info)

    confirmed = await confirm(api, info, pcx, vpc)
    assert confirmed.status_code == 202, confirmed.text
    assert confirmed.json()["cidr"] == "172.20.0.0/16"
    assert confirmed.json()["cidrs"] == ["172.20.0.0/16", "172.21.0.0/16"]
    async with asyncio.timeout(15):
        record = await wait_for_platform(platform, info.deployment_id, pcx)
    assert record.status.value == "running", record.reason
    tables = len(info.route_table_ids)
    assert await routes_via(platform_ec2, info, pcx) == sorted(
        ["172.20.0.0/16", "172.21.0.0/16"] * tables
    )

    # A resource in the second block holds the peering, as one in the first does.
    db = (
        await api.post(
            f"{API}/deployments/{info.deployment_id}/resources",
            json={"name": "warehouse", "type": "postgresql", "host": "172.21.0.10", "port": 5432},
        )
    ).json()
    held = await api.delete(f"{API}/deployments/{info.deployment_id}/peerings/{pcx}")
    assert held.status_code == 409 and held.json()["code"] == "PEERING_IN_USE"
    assert "172.21.0.0/16" in held.json()["message"]
    await api.delete(f"{API}/deployments/{info.deployment_id}/resources/{db['resourceID']}")
    assert (
        await api.delete(f"{API}/deployments/{info.deployment_id}/peerings/{pcx}")
    ).status_code == 202
    async with asyncio.timeout(15):
        while await platform.all_peerings():
            await asyncio.sleep(0.05)
    assert await routes_via(platform_ec2, info, pcx) == []


async def test_a_reserved_or_overlapping_further_block_is_refused_and_nothing_is_recorded(
    sandbox: Sandbox,
    api: httpx.AsyncClient,
    platform: PlatformClient,
    customer: EstateBuilder,
    platform_ec2: Ec2Gateway,
) -> None:
    info = await deployment(platform, "factory-telemetry", "10.200.0.0/16")
    first = await requester(customer, "prod-data", "172.20.0.0/16", "172.22.0.0/16")
    first_pcx = await request(customer, first, info)
    assert (await confirm(api, info, first_pcx, first)).status_code == 202

    reserved = await requester(customer, "carrier", "172.30.0.0/16", "100.64.0.0/16")
    overlapping = await requester(customer, "analytics", "172.24.0.0/16", "172.22.0.0/20")
    for vpc, code, named in (
        (reserved, "CIDR_RESERVED", "100.64.0.0/16"),
        (overlapping, "CIDR_OVERLAP", "172.22.0.0/20"),
    ):
        pcx = await request(customer, vpc, info)
        refused = await confirm(api, info, pcx, vpc)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == code and named in refused.json()["message"]
        assert await routes_via(platform_ec2, info, pcx) == []
    rows = sqlite3.connect(sandbox.platform.db_path).execute("SELECT peering_id FROM peerings")
    assert [r[0] for r in rows] == [first_pcx]
