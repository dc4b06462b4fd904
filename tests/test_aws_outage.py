"""The platform rides out an AWS outage: the link between the platform and moto is cut (its
port refuses connections, as an unreachable endpoint does) during an acceptance and during a
delete. The work waits in ``pending``/``deleting`` showing why, and finishes once AWS is back;
a confirmation during the outage answers 503 and records nothing; a platform started during the
outage serves reads and says it is degraded.

The outage lasts a few seconds in ``make test`` and three minutes in ``make test-all``
(marked ``slow``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from peering_core.errors import PlatformApiError
from peering_core.models import PlatformPeering, PlatformStatus
from peering_core.sandbox.seed import wait_for_platform
from peering_core.sandbox.servers import MotoServer, PlatformServer

from .aws_link import AwsLink
from .test_platform_api import API, REGION, World, linked_world, wait_until_gone

# Retries every second at most, so the work resumes soon after AWS is back.
WORK = {"retry_base": 0.2, "retry_cap": 1.0, "lease_seconds": 5.0, "claim_seconds": 0.2}
OUTAGES = [3.0, pytest.param(180.0, marks=pytest.mark.slow, id="3min")]


@pytest.fixture
async def outage_world(
    moto_server: MotoServer, tmp_path: Path
) -> AsyncIterator[tuple[World, AwsLink]]:
    async with linked_world(
        moto_server, tmp_path / "platform.sqlite3", accept_delay=1.0, work=WORK
    ) as world:
        yield world


async def health(world: World) -> dict[str, Any]:
    response = await world.api.get("/healthz")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def failing_attempts(world: World, pcx: str, count: int) -> PlatformPeering:
    """Wait until the peering's work has failed ``count`` times (wrap in a timeout)."""
    dep = world.dep("factory-telemetry")
    while True:
        record = await world.client.peering(dep, pcx)
        if record.attempts >= count:
            return record
        await asyncio.sleep(0.1)


async def healthy_again(world: World) -> None:
    while (await health(world))["status"] != "ok":
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("outage", OUTAGES)
async def test_an_acceptance_during_an_aws_outage_waits_and_finishes_when_aws_is_back(
    outage_world: tuple[World, AwsLink], outage: float
) -> None:
    world, link = outage_world
    dep = world.dep("factory-telemetry")
    pcx = await world.request_peering("prod-data", "factory-telemetry")
    await world.build(vpcs=["analytics"])
    late = await world.request_peering("analytics", "factory-telemetry")
    assert (await world.confirm("factory-telemetry", pcx, "prod-data")).status_code == 202

    await link.cut()  # before the acceptance starts (accept_delay=1)
    started = time.monotonic()
    async with asyncio.timeout(30):
        retrying = await failing_attempts(world, pcx, 2)
    assert retrying.status is PlatformStatus.PENDING and retrying.reason is None
    assert retrying.last_error is not None and "Error" in retrying.last_error
    assert retrying.next_attempt_at is not None
    status, why = await world.client.health_status()
    assert status == "degraded" and why is not None and "AWS" in why

    # A confirmation while AWS is unreachable: 503 with Retry-After, nothing recorded.
    before = await world.snapshot()
    refused = await world.confirm("factory-telemetry", late, "analytics")
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "AWS_UNAVAILABLE"
    assert int(refused.headers["retry-after"]) >= 1
    after = await world.snapshot()
    assert [p["peeringId"] for p in after.api_peerings] == [pcx]
    assert after.deployment_routes == before.deployment_routes

    await asyncio.sleep(max(0.0, outage - (time.monotonic() - started)))
    assert (await world.client.peering(dep, pcx)).status is PlatformStatus.PENDING
    await link.restore()

    async with asyncio.timeout(30):
        record = await wait_for_platform(world.client, dep, pcx)
        await healthy_again(world)
    assert record.status is PlatformStatus.RUNNING, record.reason
    assert (record.last_error, record.attempts, record.next_attempt_at) == (None, 0, None)
    assert await world.pcx_status(pcx) == "active"
    table_ids = world.deployments["factory-telemetry"].route_table_ids
    assert sorted(await world.routes_via(pcx)) == sorted((t, "172.20.0.0/16") for t in table_ids)


@pytest.mark.parametrize("outage", OUTAGES)
async def test_a_delete_during_an_aws_outage_waits_and_leaves_nothing_on_aws_when_it_is_back(
    outage_world: tuple[World, AwsLink], outage: float
) -> None:
    world, link = outage_world
    dep = world.dep("factory-telemetry")
    pcx = await world.confirm_and_wait("prod-data", "factory-telemetry")
    assert await world.routes_via(pcx)

    await link.cut()
    started = time.monotonic()
    deleting = await world.api.delete(f"{API}/deployments/{dep}/peerings/{pcx}")
    assert deleting.status_code == 202 and deleting.json()["status"] == "deleting"
    async with asyncio.timeout(30):
        retrying = await failing_attempts(world, pcx, 2)
    assert retrying.status is PlatformStatus.DELETING
    assert retrying.retrying and retrying.next_attempt_at is not None
    await asyncio.sleep(max(0.0, outage - (time.monotonic() - started)))
    assert (await world.client.peering(dep, pcx)).status is PlatformStatus.DELETING
    await link.restore()

    async with asyncio.timeout(30):
        await wait_until_gone(world.client, dep, pcx)
    assert await world.api_peerings() == []
    assert await world.routes_via(pcx) == []
    assert await world.pcx_status(pcx) == "deleted"


async def test_a_platform_started_while_aws_is_unreachable_serves_reads_and_says_why(
    outage_world: tuple[World, AwsLink], tmp_path: Path
) -> None:
    world, link = outage_world
    pcx = await world.confirm_and_wait("prod-data", "factory-telemetry")
    await link.cut()

    second = PlatformServer(
        aws=world.sandbox.platform.aws.model_copy(update={"endpoint_url": link.url}),
        db_path=world.sandbox.platform.db_path,
        key="second",
        secret=SecretStr("second-secret"),
        work=WORK,
    )
    await asyncio.to_thread(second.start)
    try:
        async with httpx.AsyncClient(
            base_url=second.url, auth=("second", "second-secret"), timeout=30
        ) as api:
            health = (await api.get("/healthz")).json()
            assert health["status"] == "degraded" and "AWS" in health["reason"]
            listed = await api.get(f"{API}/peerings")
            assert listed.status_code == 200
            assert [(p["peeringId"], p["status"]) for p in listed.json()] == [(pcx, "running")]
            vpc = (await api.get(f"{API}/deployments/{world.dep('factory-telemetry')}/vpc")).json()
            # The account id was learned by the first start, and kept in the store.
            assert vpc["accountId"] == world.deployments["factory-telemetry"].account_id

            await link.restore()
            async with asyncio.timeout(30):
                while (await api.get("/healthz")).json()["status"] != "ok":
                    await asyncio.sleep(0.1)
    finally:
        await asyncio.to_thread(second.stop)


async def test_the_reconciler_restores_a_missing_route_and_fails_a_peering_whose_pcx_was_deleted(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    async with linked_world(
        moto_server, tmp_path / "platform.sqlite3", work={**WORK, "reconcile_seconds": 0.3}
    ) as (world, _):
        dep = world.dep("factory-telemetry")
        pcx = await world.confirm_and_wait("prod-data", "factory-telemetry")
        table = world.deployments["factory-telemetry"].route_table_ids[0]

        await world.platform_ec2.delete_route(REGION, table, "172.20.0.0/16")  # behind its back

        async with asyncio.timeout(15):
            while True:
                record = await world.client.peering(dep, pcx)
                side = record.platform_side
                if side is not None and side.routes_repaired:
                    break
                await asyncio.sleep(0.1)
        assert (side.pcx_state, side.routes, side.routes_repaired) == ("active", "repaired", 1)
        assert (table, "172.20.0.0/16") in await world.routes_via(pcx)
        assert record.status is PlatformStatus.RUNNING

        await world.customer.delete_peering(REGION, pcx)  # behind the platform's back

        async with asyncio.timeout(15):
            while (record := await world.client.peering(dep, pcx)).status is not (
                PlatformStatus.FAILED
            ):
                await asyncio.sleep(0.1)
        assert record.reason == (
            f"pcx {pcx} is deleted on AWS: it was deleted or rejected outside the platform"
        )
        # The client: a retry of anything but a failed peering is refused; of this one, the
        # acceptance runs again and meets the same answer.
        with pytest.raises(PlatformApiError) as refused:
            await world.client.retry_peering(dep, "pcx-0123456789abcdef0")
        assert (refused.value.status, refused.value.code) == (404, "PEERING_NOT_FOUND")
        retried = await world.client.retry_peering(dep, pcx)
        assert retried.status is PlatformStatus.PENDING and retried.reason is None
        async with asyncio.timeout(15):
            again = await wait_for_platform(world.client, dep, pcx)
        assert (
            again.status is PlatformStatus.FAILED
            and again.reason == f"peering {pcx} is deleted on AWS"
        )

        # The failed peering can be deleted: its routes (blackholes on AWS) go with it.
        deleted = await world.api.delete(f"{API}/deployments/{dep}/peerings/{pcx}")
        assert deleted.status_code == 202
        async with asyncio.timeout(15):
            await wait_until_gone(world.client, dep, pcx)
        assert await world.routes_via(pcx) == []
