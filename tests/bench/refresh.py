"""Refresh benchmark: one poll of a whole fleet (platform + AWS statuses + drift summary).

Side by side in one run, on the same moto server and platform (a process of their own, see
:mod:`tests.bench.fleet`):
- peering-tui: ``Fleet.snapshot()`` — batched, paginated, parsed into views with drift;
- the floor: the same raw API calls with aiobotocore/httpx, in parallel, no processing;
- by hand: what an operator scripts — sequential boto3, one ``DescribeVpcPeeringConnections``
  per pcx and one ``DescribeRouteTables`` per requester VPC (timed on a sample, scaled up);
- the aws CLI: one ``aws ec2 describe-vpc-peering-connections`` process per pcx (sample of 50);
- beside them, ``peering-tui path`` for one pcx as a whole process (start-up included), the
  check an operator runs instead of a refresh when one path does not work.

Loopback moto answers a call in milliseconds; AWS does not. The first three are timed again
through delay lines (:mod:`tests.aws_link`) that add a network round trip to every request,
to both moto and the platform, at a few round-trip times.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import boto3
import httpx
from aiobotocore.session import get_session

from peering_core.poller import Fleet

from . import text_table
from .fleet import REGIONS, FleetServer, links

PLATFORM_GETS = ("/api/v1/deployments", "/api/v1/vpcs", "/api/v1/peerings", "/api/v1/resources")
DESCRIBES = (
    ("describe_vpc_peering_connections", "VpcPeeringConnections"),
    ("describe_subnets", "Subnets"),
    ("describe_route_tables", "RouteTables"),
    ("describe_security_groups", "SecurityGroups"),
    ("describe_security_group_rules", "SecurityGroupRules"),
    ("describe_network_interfaces", "NetworkInterfaces"),
    ("describe_network_acls", "NetworkAcls"),
    ("describe_managed_prefix_lists", "PrefixLists"),
)
# Round trips added to every request in the second table (ms). In-region EC2 Describe calls
# take tens of milliseconds or more; loopback moto answers a filtered one in about 4 ms.
RTTS_MS = (10, 25, 50)


async def time_peering_tui(
    server: FleetServer, runs: int, platform_url: str, aws_url: str
) -> dict[str, Any]:
    """Cold ticks (fresh clients: full bodies) and warm ticks (ETags: 304s)."""
    cold: list[float] = []
    warm: list[float] = []
    calls: list[int] = []
    rows = 0
    async with server.accounts(aws_url) as accounts:
        # Open the region clients and ask who each account is first (botocore loads the EC2
        # model once per client), as the floor below does; the dashboard keeps them open.
        await accounts.identify()
        for link in accounts.links:
            for region in REGIONS:
                await link.ec2._client("ec2", region)
        for _ in range(runs):
            async with server.client(platform_url) as platform:
                fleet = Fleet(platform, accounts)
                t0 = time.perf_counter()
                snapshot = await fleet.snapshot()
                cold.append(time.perf_counter() - t0)
                assert snapshot.ok, snapshot.failing
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


async def time_floor(
    server: FleetServer, runs: int, platform_url: str, aws_url: str
) -> dict[str, Any]:
    """The same data with raw clients: every call in parallel, responses left unparsed."""
    creds = server.customer_aws.model_copy(update={"endpoint_url": aws_url}).client_kwargs()
    auth = httpx.BasicAuth(server.key, server.secret.get_secret_value())
    samples: list[float] = []
    calls = 0
    session = get_session()
    for _ in range(runs):
        count = 0
        async with httpx.AsyncClient(base_url=platform_url, auth=auth, timeout=120) as http:
            clients = {}
            for region in REGIONS:
                clients[region] = await session.create_client(
                    "ec2", region_name=region, **creds
                ).__aenter__()
            for client in clients.values():
                for operation, _key in DESCRIBES:
                    client.get_paginator(operation)  # botocore loads the paginator model once
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


def time_by_hand(server: FleetServer, sample: int, aws_url: str) -> dict[str, Any]:
    """Sequential boto3, per pcx and per VPC, on ``sample`` peerings; scaled to the fleet."""
    creds = server.customer_aws.model_copy(update={"endpoint_url": aws_url}).client_kwargs()
    clients = {r: boto3.client("ec2", region_name=r, **creds) for r in REGIONS}
    fleet = server.fleet
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


def time_aws_cli(server: FleetServer, sample: int) -> dict[str, Any]:
    """One aws CLI process per pcx on ``sample`` peerings; scaled to the fleet."""
    env = os.environ | server.environment()
    fleet = server.fleet
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


def time_path(server: FleetServer, runs: int, platform_url: str, aws_url: str) -> dict[str, Any]:
    """``peering-tui path DEPLOYMENT PCX --from IP`` as a whole process, ``runs`` times."""
    fleet = server.fleet
    env = (
        os.environ
        | server.environment()
        | {
            "PEERING_PLATFORM_URL": platform_url,
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_DEFAULT_REGION": fleet.requester_vpcs[0][0],
            "PEERING_CONFIG": "/nonexistent/peering-tui.toml",
        }
    )
    command = [
        os.path.join(os.path.dirname(sys.executable), "peering-tui"), "path",
        fleet.deployment_ids[0], fleet.pcx_ids[0], "--from", fleet.client_ip, "--json",
    ]  # fmt: skip
    samples: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - t0)
        if done.returncode not in (0, 2):
            raise RuntimeError(f"peering-tui path failed: {done.stdout}{done.stderr}")
    report = json.loads(done.stdout)
    return {
        "s": round(statistics.median(samples), 3),
        "max_s": round(max(samples), 3),
        "runs": runs,
        "reachable": report["reachable"],
        "hops": len(report["hops"]),
    }


def _at_rtt(server: FleetServer, rtt_ms: float, hand_sample: int, path_runs: int) -> dict[str, Any]:
    """peering-tui, the floor and the script, each request paying ``rtt_ms`` of round trip."""
    with links(server, rtt_ms) as (platform_url, aws_url):
        ours = asyncio.run(time_peering_tui(server, 1, platform_url, aws_url))
        floor = asyncio.run(time_floor(server, 1, platform_url, aws_url))
        hand = time_by_hand(server, hand_sample, aws_url)
        path = time_path(server, path_runs, platform_url, aws_url)
    return {
        "rtt_ms": rtt_ms,
        "path_s": path["s"],
        "peering_tui_s": ours["cold_s"],
        "floor_s": floor["s"],
        "by_hand_s": hand["s"],
        "by_hand_sample": hand["sample"],
        "by_hand_per_call_ms": round(hand["per_peering_s"] * 1000 / 2, 2),
        "ratio_ours_over_floor": round(ours["cold_s"] / floor["s"], 2),
        "ratio_by_hand_over_ours": round(hand["s"] / ours["cold_s"], 1),
    }


def run_refresh(
    deployments: int, per_deployment: int, *, runs: int = 3, hand_sample: int = 200,
    cli_sample: int = 50, rtts_ms: Sequence[float] = RTTS_MS, rtt_hand_sample: int = 100,
    path_runs: int = 5,
) -> dict[str, Any]:  # fmt: skip
    """``path_runs``: whole ``peering-tui path`` processes timed on loopback (at most 3 through
    each delay line)."""
    began = time.perf_counter()
    with FleetServer.start(deployments, per_deployment) as server:
        direct = server.platform_url, server.moto_url
        ours = asyncio.run(time_peering_tui(server, runs, *direct))
        floor = asyncio.run(time_floor(server, runs, *direct))
        # A sample of 0 skips an approach (the stress run times only peering-tui and the floor).
        hand = time_by_hand(server, hand_sample, server.moto_url) if hand_sample else None
        cli = time_aws_cli(server, cli_sample) if cli_sample else None
        path = time_path(server, path_runs if hand_sample else 3, *direct)
        wan = [_at_rtt(server, rtt, rtt_hand_sample, min(path_runs, 3)) for rtt in rtts_ms]
    # The same fleet with every other peering in a second account (staging, by its role).
    with FleetServer.start(deployments, per_deployment, accounts=2) as two:
        two_accounts = asyncio.run(time_peering_tui(two, runs, two.platform_url, two.moto_url))
    if hand:
        # What a delay line really added per request: its nominal delay plus the event
        # loop's timer slack (about a millisecond per chunk), read off the script's calls.
        for w in wan:
            w["paid_ms"] = round(w["by_hand_per_call_ms"] - hand["per_peering_s"] * 500, 1)
    fleet = server.fleet
    return {
        "benchmark": "fleet.refresh",
        "deployments": deployments,
        "peerings": fleet.peerings,
        "regions": len(REGIONS),
        "seed_s": fleet.seconds,
        "servers": "moto and the platform in a process of their own",
        "peering_tui": ours,
        "peering_tui_two_accounts": two_accounts,
        "floor": floor,
        "by_hand_boto3": hand,
        "aws_cli": cli,
        "path": path,
        "ratio_ours_over_floor": round(ours["cold_s"] / floor["s"], 2),
        "ratio_by_hand_over_ours": round(hand["s"] / ours["cold_s"], 1) if hand else None,
        "ratio_aws_cli_over_ours": round(cli["s"] / ours["cold_s"], 1) if cli else None,
        "with_round_trips": wan,
        "wall_s": round(time.perf_counter() - began, 2),
    }


def refresh_table(r: dict[str, Any]) -> str:
    ours, floor, hand, cli = r["peering_tui"], r["floor"], r["by_hand_boto3"], r["aws_cli"]
    two = r["peering_tui_two_accounts"]
    path = r["path"]
    rows = [
        ("approach", "time", "API calls", "vs peering-tui"),
        ("peering-tui refresh (cold: full bodies)", f"{ours['cold_s']:.2f} s",
         str(ours["calls"]), "1.0x"),
        ("peering-tui refresh (warm: 304s)", f"{ours['warm_s']:.2f} s", str(ours["calls"]), ""),
        ("peering-tui refresh, two accounts (half the peerings each; cold)",
         f"{two['cold_s']:.2f} s", str(two["calls"]), f"warm {two['warm_s']:.2f} s"),
        ("floor: same raw calls, no processing", f"{floor['s']:.2f} s", str(floor["calls"]),
         f"ours = {r['ratio_ours_over_floor']}x floor"),
    ]  # fmt: skip
    if hand:
        rows.append((f"by hand: sequential boto3 (sample {hand['sample']})", f"{hand['s']:.1f} s",
                     str(hand["calls"]), f"{r['ratio_by_hand_over_ours']}x slower"))  # fmt: skip
    if cli:
        rows.append((f"aws CLI per pcx (sample {cli['sample']})", f"{cli['s']:.1f} s",
                     str(cli["calls"]), f"{r['ratio_aws_cli_over_ours']}x slower"))  # fmt: skip
    verdict = "reachable" if path["reachable"] else "blocked"
    rows.append((f"peering-tui path, one pcx, whole process (median of {path['runs']})",
                 f"{path['s']:.2f} s", "a handful",
                 f"max {path['max_s']:.2f} s; {path['hops']} hops, {verdict}"))  # fmt: skip
    tables = [
        text_table(
            f"refresh of {r['peerings']:,} peerings ({r['deployments']:,} deployments, "
            f"{r['regions']} regions; seeded in {r['seed_s']} s), loopback",
            rows,
            f"(rows in the dashboard's table: {ours['rows']:,}; wall time {r['wall_s']} s)",
        )
    ]
    if r["with_round_trips"]:
        wan_rows = [("round trip per request", "peering-tui", "floor", "by hand", "by hand / ours",
                     "path")]  # fmt: skip
        wan_rows += [
            (f"{w['rtt_ms']:g} ms" + (f" (paid {w['paid_ms']:g} ms)" if "paid_ms" in w else ""),
             f"{w['peering_tui_s']:.2f} s", f"{w['floor_s']:.2f} s",
             f"{w['by_hand_s']:.1f} s (sample {w['by_hand_sample']})",
             f"{w['ratio_by_hand_over_ours']}x", f"{w['path_s']:.2f} s")
            for w in r["with_round_trips"]
        ]  # fmt: skip
        tables.append(
            text_table(
                "the same refresh through delay lines to moto and the platform",
                wan_rows,
                "(each request pays the round trip once; the script's calls are sequential)",
            )
        )
    return "\n\n".join(tables)
