"""The platform's store keeps one contract on both backends: a SQLite file (one process) and
PostgreSQL (replicas). Each test runs once per backend, on a real database; two ``Store``
objects on one database stand for two replicas.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from peering_core.models import (
    Deployment,
    PlatformPeering,
    PlatformSide,
    PlatformStatus,
    Tenant,
)
from peering_core.platform.store import (
    MIGRATIONS,
    DeploymentRow,
    PeeringExistsError,
    Store,
    TenantExistsError,
)

STAMP = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
async def replicas(store_location: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database, opened at the same moment (as two replicas starting)."""
    first, second = Store(store_location), Store(store_location)
    await asyncio.gather(first.open(), second.open())
    yield first, second
    await asyncio.gather(first.close(), second.close())


def deployment(dep_id: str, tenant: str = "default") -> DeploymentRow:
    return DeploymentRow(
        Deployment(
            id=dep_id,
            name=f"dep-{dep_id}",
            region="us-east-1",
            status="running",
            version="5.8.6",
            create_at=STAMP,
            tenant_id=tenant,
        ),
        "10.200.0.0/16",
        f"vpc-{dep_id}",
        ("rtb-0a",),
    )


def peering(pcx: str, dep_id: str, tenant: str = "default") -> PlatformPeering:
    return PlatformPeering(
        peering_id=pcx,
        deployment_id=dep_id,
        account_id="210987654321",
        vpc_id="vpc-0b",
        cidr="172.20.0.0/16",
        cidrs=("172.20.0.0/16",),
        region="us-east-1",
        status=PlatformStatus.PENDING,
        create_at=STAMP,
        update_at=STAMP,
        tenant_id=tenant,
    )


async def test_two_replicas_starting_at_once_on_an_empty_database_share_one_schema(
    replicas: tuple[Store, Store], store_location: str
) -> None:
    first, second = replicas
    assert first.store_id and first.store_id == second.store_id
    assert [t.name for t in await second.tenants()] == ["default"]
    again = Store(store_location)  # a third start finds nothing to do
    await again.open()
    try:
        assert again.store_id == first.store_id
        rows = await again._db.fetch("SELECT count(*) AS n FROM tenants")
        assert int(rows[0]["n"]) == 1
    finally:
        await again.close()
    assert len(MIGRATIONS) == 2


async def test_a_write_on_one_replica_moves_its_tenants_generation_for_both_and_no_other(
    replicas: tuple[Store, Store],
) -> None:
    first, second = replicas
    await first.add_tenant(Tenant(id="tacme", name="acme", create_at=STAMP))
    before = {t: await second.generation_of(t) for t in ("tacme", "default", None)}

    await first.add_deployment(deployment("d1", "tacme"))

    after = {t: await second.generation_of(t) for t in ("tacme", "default", None)}
    assert after["tacme"] == before["tacme"] + 1
    assert after[None] == before[None] + 1
    assert after["default"] == before["default"]
    assert [row.deployment.id for row in await second.deployments("tacme")] == ["d1"]


async def test_one_pcx_recorded_twice_is_refused_and_one_tenant_name_twice_too(
    replicas: tuple[Store, Store],
) -> None:
    first, second = replicas
    await first.add_deployment(deployment("d1"))
    await first.add_peering(peering("pcx-0a", "d1"))
    generation = await first.generation_of(None)

    with pytest.raises(PeeringExistsError):
        await second.add_peering(peering("pcx-0a", "d1"))
    await first.add_tenant(Tenant(id="t1", name="acme", create_at=STAMP))
    with pytest.raises(TenantExistsError):
        await second.add_tenant(Tenant(id="t2", name="acme", create_at=STAMP))

    assert [p.peering_id for p in await second.peerings()] == ["pcx-0a"]
    assert await first.generation_of(None) == generation + 1  # the tenant only


async def test_a_transaction_that_raises_leaves_nothing_behind(
    replicas: tuple[Store, Store],
) -> None:
    first, second = replicas
    await first.add_deployment(deployment("d1"))
    generation = await second.generation_of(None)

    with pytest.raises(RuntimeError):
        async with first.transaction() as tx:
            row = await tx.deployment("d1", lock=True)
            assert row is not None
            await tx.add_peering(peering("pcx-0a", "d1"))
            raise RuntimeError("a check failed after the insert")

    assert await second.peerings() == []
    assert await second.generation_of(None) == generation


async def test_due_work_is_claimed_by_exactly_one_replica_and_taken_over_when_its_lease_ends(
    replicas: tuple[Store, Store],
) -> None:
    first, second = replicas
    await first.add_deployment(deployment("d1"))
    pcxs = [f"pcx-{i:02x}" for i in range(20)]
    for pcx in pcxs:
        await first.add_peering(peering(pcx, "d1"), due_at=0.0)
    now = time.time()

    mine, theirs = await asyncio.gather(
        first.claim("r1", at=now, lease_seconds=30, limit=15),
        second.claim("r2", at=now, lease_seconds=30, limit=15),
    )

    ids_1, ids_2 = {c.peering.peering_id for c in mine}, {c.peering.peering_id for c in theirs}
    assert not any(c.expired for c in (*mine, *theirs))  # nobody held them before
    assert not ids_1 & ids_2
    assert ids_1 | ids_2 == set(pcxs)
    assert await second.claim("r2", at=now, lease_seconds=30, limit=20) == []
    held = sorted(ids_1)[0]
    assert not await second.renew(held, "r2", now + 30)  # not its lease
    assert not await second.set_peering_status(held, PlatformStatus.RUNNING, owner="r2")

    # r1 dies: its leases run out, and r2 takes every one of its peerings over.
    later = now + 31
    taken = await second.claim("r2", at=later, lease_seconds=30, limit=20)
    assert {c.peering.peering_id for c in taken} == ids_1 | ids_2
    assert all(c.expired for c in taken)  # every lease had run out, none was given back
    assert not await first.renew(held, "r1", later + 30)
    assert await second.set_peering_status(
        held, PlatformStatus.RUNNING, owner="r2", expect=PlatformStatus.PENDING
    )


async def test_a_new_confirmation_waits_the_accept_delay_and_a_failed_attempt_is_shown(
    replicas: tuple[Store, Store],
) -> None:
    first, second = replicas
    await first.add_deployment(deployment("d1"))
    now = time.time()
    await first.add_peering(peering("pcx-0a", "d1"), due_at=now)

    assert await first.claim("r1", at=now + 1, lease_seconds=30, limit=5, accept_delay=5) == []
    assert len(await first.claim("r1", at=now + 6, lease_seconds=30, limit=5, accept_delay=5)) == 1
    generation = await second.generation_of("default")

    retry_at = now + 60
    assert await first.retry_later(
        "pcx-0a",
        "r1",
        status=PlatformStatus.PENDING,
        error="describe_vpc_peering_connections: EndpointConnectionError: ...",
        due_at=retry_at,
    )

    seen = await second.peering("pcx-0a")
    assert seen is not None and seen.retrying
    assert (seen.attempts, seen.last_error) == (
        1,
        "describe_vpc_peering_connections: EndpointConnectionError: ...",
    )
    assert seen.next_attempt_at == datetime.fromtimestamp(retry_at, UTC).replace(microsecond=0)
    assert await second.generation_of("default") == generation + 1
    # The lease is given up, the attempt counted: nothing is due before retry_at.
    assert await second.claim("r2", at=now + 59, lease_seconds=30, limit=5) == []
    (again,) = await second.claim("r2", at=retry_at, lease_seconds=30, limit=5, accept_delay=5)
    assert again.peering.attempts == 1
    assert not again.expired  # r1 gave its lease back with the failed attempt


async def test_the_reconcilers_view_moves_the_etag_only_when_it_changes(
    replicas: tuple[Store, Store],
) -> None:
    first, second = replicas
    await first.add_deployment(deployment("d1"))
    await first.add_peering(peering("pcx-0a", "d1"), due_at=0.0)
    now = time.time()
    await first.claim("r1", at=now, lease_seconds=30, limit=1)
    await first.set_peering_status(
        "pcx-0a", PlatformStatus.RUNNING, owner="r1", due_at=now, platform_side=PlatformSide()
    )
    generation = await second.generation_of("default")

    for _ in range(3):  # three checks that find everything in place
        assert len(await first.claim("r1", at=now, lease_seconds=30, limit=1)) == 1
        assert not await first.set_platform_side("pcx-0a", "r1", PlatformSide(pcx_state=None))
        await first.release("pcx-0a", "r1", status=PlatformStatus.RUNNING, due_at=now)
    assert await second.generation_of("default") == generation

    await first.claim("r1", at=now, lease_seconds=30, limit=1)
    repaired = PlatformSide(pcx_state="active", routes="repaired", routes_repaired=1)
    assert await first.set_platform_side("pcx-0a", "r1", repaired)
    assert await second.generation_of("default") == generation + 1
    seen = await second.peering("pcx-0a")
    assert seen is not None and seen.platform_side == repaired


async def test_peerings_are_counted_by_tenant_and_state_for_the_metrics(
    replicas: tuple[Store, Store],
) -> None:
    first, second = replicas
    await first.add_tenant(Tenant(id="t1", name="acme", create_at=STAMP))
    await first.add_tenant(Tenant(id="t2", name="globex", create_at=STAMP))
    await first.add_deployment(deployment("d1", "t1"))
    for pcx in ("pcx-01", "pcx-02", "pcx-03"):
        await first.add_peering(peering(pcx, "d1", "t1"))
    assert await first.set_peering_status("pcx-03", PlatformStatus.FAILED, "gone on AWS")

    counts = sorted(await second.peering_counts(), key=repr)
    assert counts == sorted(
        [
            ("default", "default", None, 0),
            ("t1", "acme", "failed", 1),
            ("t1", "acme", "pending", 2),
            ("t2", "globex", None, 0),
        ],
        key=repr,
    )
