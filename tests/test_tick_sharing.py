"""A poll keeps the previous tick's objects wherever nothing changed.

Every tick parses and derives everything again; an unchanged fleet must still cost one
tick's objects in memory, not two. These tests read identities: what did not change is the
very same object as on the tick before, and what changed is new.
"""

from __future__ import annotations

import asyncio

from peering_core.aws import Ec2Gateway
from peering_core.drift import RouteState
from peering_core.models import PlatformStatus
from peering_core.poller import Fleet
from peering_core.sandbox.seed import wait_for_platform
from peering_core.sandbox.servers import Sandbox
from peering_core.snapshot import Snapshot


async def _settled_demo(sandbox: Sandbox) -> None:
    """The demo fleet, once the platform has accepted what it was accepting."""
    await sandbox.seed(demo=True)
    async with sandbox.client() as platform, asyncio.timeout(60):
        for record in await platform.all_peerings():
            if record.status is PlatformStatus.PENDING:
                await wait_for_platform(platform, record.deployment_id, record.peering_id)


def _by_id(snapshot: Snapshot) -> dict[str, dict[str, object]]:
    return {
        "views": {v.peering_id: v for v in snapshot.views},
        "deployment views": {d.deployment.id: d for d in snapshot.deployment_views},
        "diffs": dict(snapshot.diffs),
        "pcxs": {p.id: p for region in snapshot.pcxs.values() for p in region},
        "records": {r.peering_id: r for r in snapshot.records},
        "deployments": {d.id: d for d in snapshot.deployments},
        "vpcs": {v.deployment_id: v for v in snapshot.vpcs},
    }


def _new_objects(before: Snapshot, after: Snapshot) -> dict[str, set[str]]:
    """Per part, the ids whose object is not the one ``before`` had."""
    old, new = _by_id(before), _by_id(after)
    return {
        part: {key for key, obj in items.items() if old[part].get(key) is not obj}
        for part, items in new.items()
    }


async def test_an_unchanged_tick_is_made_of_the_previous_ticks_objects(sandbox):
    await _settled_demo(sandbox)
    async with sandbox.client() as platform, sandbox.customer_gateway() as ec2:
        fleet = Fleet(platform, ec2)
        first = await fleet.snapshot()
        second = await fleet.snapshot(first)
    assert first.views and first.diffs and first.records
    assert _new_objects(first, second) == {part: set() for part in _by_id(second)}


async def test_a_deleted_route_renews_only_that_peerings_diff_and_view(sandbox):
    await _settled_demo(sandbox)
    async with sandbox.client() as platform, sandbox.customer_gateway() as ec2:
        fleet = Fleet(platform, ec2)
        first = await fleet.snapshot()
        healthy = next(
            d for d in first.diffs.values() if d.routes and d.in_sync and d.peering_active
        )
        route = healthy.routes[0]
        await ec2.delete_route(healthy.region, route.route_table_id, route.destination)
        second = await fleet.snapshot(first)

    changed = _new_objects(first, second)
    assert changed["diffs"] == {healthy.peering_id}
    assert changed["views"] == {healthy.peering_id}
    # The deployment's row shows the worst health of its peerings: it changed too.
    assert changed["deployment views"] == {healthy.deployment_id}
    assert changed["pcxs"] == changed["records"] == changed["deployments"] == set()
    assert second.diffs[healthy.peering_id].routes[0].state is RouteState.MISSING


async def test_a_changed_platform_list_keeps_the_records_that_did_not_change(sandbox, platform):
    await sandbox.seed(demo=False)
    before = await platform.deployments()
    added = await platform.create_deployment("late-arrival", "us-east-1", "10.77.0.0/16")
    after = await platform.deployments()

    assert {d.id for d in after} == {d.id for d in before} | {added.id}
    old = {d.id: d for d in before}
    assert all(d is old[d.id] for d in after if d.id != added.id)


async def test_every_gateway_in_the_process_shares_one_loaded_ec2_model(sandbox):
    # The poll thread and the screens have gateways of their own; EC2's model is ~30 MB.
    async with sandbox.customer_gateway() as first, Ec2Gateway(sandbox.platform_aws) as second:
        await first.describe_vpcs("us-east-1")
        await second.describe_vpcs("us-east-1")
        loaders = {id(g._session.get_component("data_loader")) for g in (first, second)}
    assert len(loaders) == 1
