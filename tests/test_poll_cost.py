"""One poll tick costs the same number of API calls for 2 peerings as for 200."""

from __future__ import annotations

import asyncio

import pytest

from peering_core.poller import Fleet, StatusPoller
from peering_core.sandbox.seed import CUSTOMER_ACCOUNT_ID, wait_for_platform


async def _peer_many(sandbox, platform, customer, deployment, count: int, offset: int) -> None:
    info = await platform.deployment_vpc(deployment.id)
    for i in range(offset, offset + count):
        cidr = f"172.{16 + i // 256}.{i % 256}.0/24"
        vpc_id = await customer.create_vpc("us-east-1", cidr, {"Name": f"fleet-{i}"})
        pcx = await customer.create_peering(
            "us-east-1", vpc_id=vpc_id, peer_vpc_id=info.vpc_id, peer_owner_id=info.account_id
        )
        # Half confirmed on the platform, half left as unconfirmed requests: both are rows.
        if i % 2 == 0:
            await platform.confirm_peering(deployment.id, pcx.id, CUSTOMER_ACCOUNT_ID, vpc_id)


async def _tick_calls(sandbox) -> tuple[int, int]:
    async with sandbox.client() as platform, sandbox.customer_gateway() as ec2:
        fleet = Fleet(platform, ec2)
        first = await fleet.snapshot()
        second = await fleet.snapshot(first)
        return first.calls, len(first.views), second.calls


@pytest.mark.heavy
async def test_a_poll_tick_costs_the_same_for_2_and_for_200_peerings(
    sandbox, estate, platform, customer
):
    dep = estate.deployments["factory-telemetry"]
    await _peer_many(sandbox, platform, customer, dep, 2, 0)
    calls_2, rows_2, steady_2 = await _tick_calls(sandbox)
    assert rows_2 == 2

    await _peer_many(sandbox, platform, customer, dep, 198, 2)
    async with asyncio.timeout(120):
        for record in await platform.peerings(dep.id):
            await wait_for_platform(platform, dep.id, record.peering_id)
    calls_200, rows_200, steady_200 = await _tick_calls(sandbox)
    assert rows_200 == 200
    assert calls_200 == calls_2
    assert steady_200 == steady_2
    # 4 platform GETs + 8 describes per region with deployments (3 regions in the sandbox):
    # peerings, subnets, route tables, groups, their rules, interfaces, network ACLs and
    # managed prefix lists; the first tick also asks the account who it is (once).
    assert calls_2 == 4 + 3 * 8 + 1
    assert steady_2 == 4 + 3 * 8


async def test_an_unchanged_platform_costs_304s(sandbox, estate):
    async with sandbox.client() as platform, sandbox.customer_gateway() as ec2:
        fleet = Fleet(platform, ec2)
        first = await fleet.snapshot()
        await fleet.snapshot(first)
        assert platform.not_modified == 4


async def test_drift_shows_in_the_health_of_a_running_peering(sandbox):
    await sandbox.seed(demo=True)
    async with sandbox.client() as platform, sandbox.customer_gateway() as ec2:
        snapshot = await Fleet(platform, ec2).snapshot()
    eu = next(v for v in snapshot.views if v.deployment_name == "eu-connected-cars" and v.confirmed)
    assert (eu.platform_status, eu.aws_status, eu.health.value) == ("running", "active", "error")
    assert any("has no route to 10.201.0.0/16" in p for p in eu.problems)
    assert any("does not allow" in p for p in eu.problems)
    healthy = next(v for v in snapshot.views if v.deployment_name == "factory-telemetry")
    assert healthy.health.value == "ok", healthy.problems


async def test_the_poller_polls_again_on_refresh_and_reports_each_source(sandbox, estate):
    async with sandbox.client() as platform, sandbox.customer_gateway() as ec2:
        poller = StatusPoller(Fleet(platform, ec2), interval=3600)
        seen = []
        async for snapshot in poller:
            seen.append(snapshot)
            if len(seen) == 2:
                break
            poller.refresh()  # without this the next tick would be an hour away
        assert set(seen[-1].sources) == {
            "platform",
            "aws:us-east-1",
            "aws:eu-west-1",
            "aws:ap-southeast-1",
        }
        assert seen[-1].ok


async def test_prefix_list_entries_are_read_once_per_list_version(sandbox, estate):
    """EC2 reads one list's entries per call: a tick reads those a route or rule refers to
    when their version is new, and nothing more while they stay the same."""
    from .network_builder import NetworkBuilder

    prod = estate.vpcs["prod-data"]
    async with NetworkBuilder(sandbox.customer_aws) as builder:
        listed = await builder.create_prefix_list("us-east-1", "brokers", ["10.200.0.0/16"])
        await builder.allow_through_prefix_list(
            "us-east-1", prod.security_groups["app"], listed, 1883
        )
        async with sandbox.client() as platform, sandbox.customer_gateway() as ec2:
            fleet = Fleet(platform, ec2)
            first = await fleet.snapshot()
            assert ec2.calls["GetManagedPrefixListEntries"] == 1
            second = await fleet.snapshot(first)
            assert ec2.calls["GetManagedPrefixListEntries"] == 1
            # The first tick also asked the account who it is; the platform's 304s cost as
            # much as its 200s.
            assert second.calls == first.calls - 2
            await builder.add_to_prefix_list("us-east-1", listed, 1, "10.201.0.0/16")
            await fleet.snapshot(second)
            assert ec2.calls["GetManagedPrefixListEntries"] == 2
