"""Refresh benchmark: one poll of a whole fleet (platform + AWS statuses + drift summary).

Side by side in one run, on the same moto server and platform:
- peering-tui: ``Fleet.snapshot()`` — batched, paginated, parsed into views with drift;
- the floor: the same raw API calls with aiobotocore/httpx, in parallel, no processing;
- by hand: what an operator scripts — sequential boto3, one ``DescribeVpcPeeringConnections``
  per pcx and one ``DescribeRouteTables`` per requester VPC (timed on a sample, scaled up);
- the aws CLI: one ``aws ec2 describe-vpc-peering-connections`` process per pcx (sample of 50).

The fleet is written straight into moto's backends (seconds instead of the half hour that
30,000 API calls would take); every read the benchmark times goes over HTTP.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
from aiobotocore.session import get_session

from peering_core.poller import Fleet
from peering_core.sandbox import CUSTOMER_ACCOUNT_ID, PLATFORM_ACCOUNT_ID, Sandbox

from . import text_table

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1", "us-west-2")
PLATFORM_GETS = ("/api/v1/deployments", "/api/v1/vpcs", "/api/v1/peerings", "/api/v1/resources")
DESCRIBES = (
    ("describe_vpc_peering_connections", "VpcPeeringConnections"),
    ("describe_subnets", "Subnets"),
    ("describe_route_tables", "RouteTables"),
    ("describe_security_groups", "SecurityGroups"),
    ("describe_security_group_rules", "SecurityGroupRules"),
    ("describe_network_interfaces", "NetworkInterfaces"),
)


def _octets(value: int) -> str:
    return ".".join(str((value >> s) & 0xFF) for s in (24, 16, 8, 0))


@dataclass
class SeededFleet:
    deployments: int
    peerings: int
    pcx_ids: list[str] = field(default_factory=list)
    requester_vpcs: list[tuple[str, str]] = field(default_factory=list)  # (region, vpc)
    seconds: float = 0.0


def seed_fleet(sandbox: Sandbox, deployments: int, per_deployment: int) -> SeededFleet:
    """Deployments (platform VPC + route table, platform records) and, per peering, a customer
    VPC with a subnet on the main table, an active pcx, its route and an inbound rule."""
    from moto.ec2.models import ec2_backends

    began = time.perf_counter()
    fleet = SeededFleet(deployments, deployments * per_deployment)
    # Made days ago, as a real fleet's are: the AGE column reads "3d" on every tick.
    now = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0).isoformat()
    deployment_rows: list[tuple[Any, ...]] = []
    peering_rows: list[tuple[Any, ...]] = []
    for d in range(deployments):
        region = REGIONS[d % len(REGIONS)]
        platform = ec2_backends[PLATFORM_ACCOUNT_ID][region]
        customer = ec2_backends[CUSTOMER_ACCOUNT_ID][region]
        dep_cidr = f"{_octets(0x0A000000 + 256 * d)}/24"  # 10.0.0.0/9 in /24s
        dep_vpc = platform.create_vpc(dep_cidr)
        dep_rtb = platform.create_route_table(dep_vpc.id)
        dep_id = f"b{d:07x}"
        deployment_rows.append(
            (dep_id, f"bench-{d}", "dedicated", region, "running", "5.8.6", "bench", dep_cidr,
             dep_vpc.id, f'["{dep_rtb.id}"]', now)
        )  # fmt: skip
        for p in range(per_deployment):
            i = d * per_deployment + p
            cidr = f"{_octets(0x0A800000 + 256 * i)}/24"  # 10.128.0.0/9 in /24s
            vpc = customer.create_vpc(cidr)
            customer.create_subnet(vpc.id, cidr)
            pcx = customer.create_vpc_peering_connection(vpc, dep_vpc)
            pcx._status.accept()
            main = _main_route_table(customer, vpc.id)
            customer.create_route(main.id, dep_cidr, vpc_peering_connection_id=pcx.id)
            platform.create_route(dep_rtb.id, cidr, vpc_peering_connection_id=pcx.id)
            group = next(g for g in customer.groups[vpc.id].values() if g.name == "default")
            customer.authorize_security_group_ingress(
                group.id, "-1", None, None, [{"CidrIp": dep_cidr}]
            )
            fleet.pcx_ids.append(pcx.id)
            fleet.requester_vpcs.append((region, vpc.id))
            peering_rows.append(
                (pcx.id, dep_id, CUSTOMER_ACCOUNT_ID, vpc.id, cidr, region, "running", None,
                 now, now)
            )  # fmt: skip
    db = sqlite3.connect(str(sandbox.platform.db_path), isolation_level=None)
    try:
        db.execute("BEGIN")
        db.executemany("INSERT INTO deployments VALUES (?,?,?,?,?,?,?,?,?,?,?)", deployment_rows)
        db.executemany("INSERT INTO peerings VALUES (?,?,?,?,?,?,?,?,?,?)", peering_rows)
        db.execute("COMMIT")
    finally:
        db.close()
    fleet.seconds = round(time.perf_counter() - began, 2)
    return fleet


def _main_route_table(backend: Any, vpc_id: str) -> Any:
    """The VPC's main route table: moto made it last, with the VPC (a scan of every table
    per VPC would make seeding quadratic in the fleet)."""
    newest = next(reversed(backend.route_tables.values()))
    if newest.vpc_id == vpc_id:
        return newest
    return next(t for t in backend.route_tables.values() if t.vpc_id == vpc_id)


async def time_peering_tui(sandbox: Sandbox, runs: int) -> dict[str, Any]:
    """Cold ticks (fresh clients: full bodies) and warm ticks (ETags: 304s)."""
    cold: list[float] = []
    warm: list[float] = []
    calls: list[int] = []
    rows = 0
    async with sandbox.customer_gateway() as ec2:
        # Open the region clients first (botocore loads the EC2 model once per client), as the
        # floor below does; the dashboard keeps them open across ticks.
        for region in REGIONS:
            await ec2._client("ec2", region)
        for _ in range(runs):
            async with sandbox.client() as platform:
                fleet = Fleet(platform, ec2)
                t0 = time.perf_counter()
                snapshot = await fleet.snapshot()
                cold.append(time.perf_counter() - t0)
                calls.append(snapshot.calls)
                rows = len(snapshot.views)
                t0 = time.perf_counter()
                await fleet.snapshot(snapshot)
                warm.append(time.perf_counter() - t0)
    return {
        "cold_s": round(statistics.median(cold), 3),
        "warm_s": round(statistics.median(warm), 3),
        "calls": calls[0],
        "rows": rows,
    }


async def time_floor(sandbox: Sandbox, runs: int) -> dict[str, Any]:
    """The same data with raw clients: every call in parallel, responses left unparsed."""
    creds = sandbox.customer_aws.client_kwargs()
    auth = httpx.BasicAuth(sandbox.key, sandbox.secret.get_secret_value())
    samples: list[float] = []
    calls = 0
    session = get_session()
    for _ in range(runs):
        count = 0
        async with httpx.AsyncClient(base_url=sandbox.platform_url, auth=auth, timeout=120) as http:
            clients = {}
            for region in REGIONS:
                clients[region] = await session.create_client(
                    "ec2", region_name=region, **creds
                ).__aenter__()
            try:
                t0 = time.perf_counter()

                async def get(path: str) -> None:
                    nonlocal count
                    count += 1
                    (await http.get(path)).raise_for_status()

                async def describe(client: Any, operation: str) -> None:
                    nonlocal count
                    async for _page in client.get_paginator(operation).paginate():
                        count += 1

                await asyncio.gather(
                    *(get(p) for p in PLATFORM_GETS),
                    *(describe(clients[r], op) for r in REGIONS for op, _key in DESCRIBES),
                )
                samples.append(time.perf_counter() - t0)
            finally:
                for client in clients.values():
                    await client.__aexit__(None, None, None)
        calls = count
    return {"s": round(statistics.median(samples), 3), "calls": calls}


def time_by_hand(sandbox: Sandbox, fleet: SeededFleet, sample: int) -> dict[str, Any]:
    """Sequential boto3, per pcx and per VPC, on ``sample`` peerings; scaled to the fleet."""
    creds = sandbox.customer_aws.client_kwargs()
    clients = {r: boto3.client("ec2", region_name=r, **creds) for r in REGIONS}
    n = min(sample, len(fleet.pcx_ids))
    t0 = time.perf_counter()
    for pcx, (region, vpc) in zip(fleet.pcx_ids[:n], fleet.requester_vpcs[:n], strict=True):
        clients[region].describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])
        clients[region].describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    per_peering = (time.perf_counter() - t0) / max(n, 1)
    return {
        "sample": n,
        "per_peering_s": round(per_peering, 4),
        "s": round(per_peering * fleet.peerings, 2),
        "calls": 2 * fleet.peerings,
    }


def time_aws_cli(sandbox: Sandbox, fleet: SeededFleet, sample: int) -> dict[str, Any]:
    """One aws CLI process per pcx on ``sample`` peerings; scaled to the fleet."""
    env = os.environ | sandbox.environment()
    n = min(sample, len(fleet.pcx_ids))
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    t0 = time.perf_counter()
    for pcx, (region, _vpc) in zip(fleet.pcx_ids[:n], fleet.requester_vpcs[:n], strict=True):
        subprocess.run(
            [aws, "ec2", "describe-vpc-peering-connections", "--vpc-peering-connection-ids", pcx,
             "--region", region, "--output", "json"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
    per_peering = (time.perf_counter() - t0) / max(n, 1)
    return {
        "sample": n,
        "per_peering_s": round(per_peering, 4),
        "s": round(per_peering * fleet.peerings, 2),
        "calls": fleet.peerings,
    }


def run_refresh(
    deployments: int, per_deployment: int, *, runs: int = 3, hand_sample: int = 200,
    cli_sample: int = 50,
) -> dict[str, Any]:  # fmt: skip
    began = time.perf_counter()
    sandbox = Sandbox.start(accept_delay=0, requests_per_minute=0)
    try:
        fleet = seed_fleet(sandbox, deployments, per_deployment)
        ours = asyncio.run(time_peering_tui(sandbox, runs))
        floor = asyncio.run(time_floor(sandbox, runs))
        # A sample of 0 skips an approach (the stress run times only peering-tui and the floor).
        hand = time_by_hand(sandbox, fleet, hand_sample) if hand_sample else None
        cli = time_aws_cli(sandbox, fleet, cli_sample) if cli_sample else None
    finally:
        sandbox.stop()
    return {
        "benchmark": "fleet.refresh",
        "deployments": deployments,
        "peerings": fleet.peerings,
        "regions": len(REGIONS),
        "seed_s": fleet.seconds,
        "peering_tui": ours,
        "floor": floor,
        "by_hand_boto3": hand,
        "aws_cli": cli,
        "ratio_ours_over_floor": round(ours["cold_s"] / floor["s"], 2),
        "ratio_by_hand_over_ours": round(hand["s"] / ours["cold_s"], 1) if hand else None,
        "ratio_aws_cli_over_ours": round(cli["s"] / ours["cold_s"], 1) if cli else None,
        "wall_s": round(time.perf_counter() - began, 2),
    }


def refresh_table(r: dict[str, Any]) -> str:
    ours, floor, hand, cli = r["peering_tui"], r["floor"], r["by_hand_boto3"], r["aws_cli"]
    rows = [
        ("approach", "time", "API calls", "vs peering-tui"),
        ("peering-tui refresh (cold: full bodies)", f"{ours['cold_s']:.2f} s",
         str(ours["calls"]), "1.0x"),
        ("peering-tui refresh (warm: 304s)", f"{ours['warm_s']:.2f} s", str(ours["calls"]), ""),
        ("floor: same raw calls, no processing", f"{floor['s']:.2f} s", str(floor["calls"]),
         f"ours = {r['ratio_ours_over_floor']}x floor"),
    ]  # fmt: skip
    if hand:
        rows.append((f"by hand: sequential boto3 (sample {hand['sample']})", f"{hand['s']:.1f} s",
                     str(hand["calls"]), f"{r['ratio_by_hand_over_ours']}x slower"))  # fmt: skip
    if cli:
        rows.append((f"aws CLI per pcx (sample {cli['sample']})", f"{cli['s']:.1f} s",
                     str(cli["calls"]), f"{r['ratio_aws_cli_over_ours']}x slower"))  # fmt: skip
    return text_table(
        f"refresh of {r['peerings']:,} peerings ({r['deployments']:,} deployments, "
        f"{r['regions']} regions; seeded in {r['seed_s']} s)",
        rows,
        f"(rows in the dashboard's table: {ours['rows']:,}; wall time {r['wall_s']} s)",
    )
