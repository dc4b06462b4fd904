"""Two replicas of ``peering-tui platform serve`` on one PostgreSQL database, as an operator
runs them behind a load balancer: real processes, started at once on an empty database.

- one pcx confirmed on both replicas at the same moment is recorded once;
- a write on one replica is the other's next ``If-None-Match`` poll's new body;
- a replica SIGKILLed while it holds a peering's acceptance has it finished by the other
  within the lease time: the pcx active, each route made once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr

from peering_core.aws import AwsAccess
from peering_core.models import PlatformStatus
from peering_core.platform.ec2 import PlatformEc2
from peering_core.platform_client import PlatformClient
from peering_core.sandbox.seed import (
    CUSTOMER_ACCOUNT_ID,
    EstateBuilder,
    build_customer_vpc,
    wait_for_platform,
)
from peering_core.sandbox.servers import MotoServer, free_port

from .aws_link import AwsLink
from .platform_process import platform_process, serve_environment

REGION = "us-east-1"
KEY, SECRET = "replica-test", "replica-test-secret"
LEASE = 3.0


@contextlib.asynccontextmanager
async def replica(
    name: str, database: str, aws_endpoint: str, tmp_path: Path, *extra: str
) -> AsyncIterator[tuple[Any, str]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["--port", str(port), "--database-url", database, "--lease-seconds", str(LEASE)]
    args += ["--audit-log", str(tmp_path / f"{name}-audit.jsonl"), *extra]
    async with platform_process(
        args,
        env=serve_environment(aws_endpoint, KEY, SECRET),
        log=tmp_path / f"{name}.log",
        url=url,
    ) as process:
        yield process, url


async def stored(database: str, sql: str, *params: Any) -> list[Any]:
    conn = await asyncpg.connect(database)
    try:
        return list(await conn.fetch(sql, *params))
    finally:
        await conn.close()


async def test_two_replicas_on_one_postgres_share_records_etags_and_work(
    moto_server: MotoServer, new_database: Callable[[], str], tmp_path: Path
) -> None:
    moto_server.reset()
    database = new_database()
    platform_aws = AwsAccess(
        access_key_id="sandbox-platform",
        secret_access_key=SecretStr("sandbox-platform"),
        endpoint_url=moto_server.url,
    )
    async with PlatformEc2(platform_aws) as sts:
        customer_aws = await sts.assume_role(
            f"arn:aws:iam::{CUSTOMER_ACCOUNT_ID}:role/operator", "replicas"
        )
    async with (
        AwsLink(moto_server.url) as link_a,
        EstateBuilder(customer_aws) as customer,
        EstateBuilder(platform_aws) as platform_ec2,
        contextlib.AsyncExitStack() as stack,
    ):
        # Both start at once on the empty database: one applies the schema, the other waits.
        # A accepts a confirmation after 1 s, B after 4 s: until then only A takes it.
        (a_process, a_url), (_, b_url) = await asyncio.gather(
            stack.enter_async_context(
                replica("a", database, link_a.url, tmp_path, "--accept-delay", "1")
            ),
            stack.enter_async_context(
                replica("b", database, moto_server.url, tmp_path, "--accept-delay", "4")
            ),
        )
        a = await stack.enter_async_context(PlatformClient(a_url, KEY, SECRET, max_attempts=2))
        b = await stack.enter_async_context(PlatformClient(b_url, KEY, SECRET, max_attempts=2))
        b_http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=b_url, auth=(KEY, SECRET), timeout=30)
        )
        deployment = await a.create_deployment("factory-telemetry", REGION, "10.200.0.0/16")
        info = await b.deployment_vpc(deployment.id)
        prod, analytics = await asyncio.gather(
            build_customer_vpc(customer, "prod-data", REGION, "172.20.0.0/16"),
            build_customer_vpc(customer, "analytics", REGION, "172.21.0.0/16"),
        )

        async def request(vpc_id: str) -> str:
            pcx = await customer.create_peering(
                REGION, vpc_id=vpc_id, peer_vpc_id=info.vpc_id, peer_owner_id=info.account_id
            )
            return pcx.id

        # A write on one replica is the other's next poll's new body.
        first_poll = await b_http.get("/api/v1/peerings")
        assert first_poll.status_code == 200 and first_poll.json() == []
        tag = first_poll.headers["etag"]
        assert (
            await b_http.get("/api/v1/peerings", headers={"If-None-Match": tag})
        ).status_code == 304

        # One pcx confirmed on both replicas at once: one record, the same answer twice.
        both = await request(analytics.vpc_id)
        on_a, on_b = await asyncio.gather(
            a.confirm_peering(deployment.id, both, CUSTOMER_ACCOUNT_ID, analytics.vpc_id),
            b.confirm_peering(deployment.id, both, CUSTOMER_ACCOUNT_ID, analytics.vpc_id),
        )
        assert on_a == on_b and on_a.status is PlatformStatus.PENDING
        rows = await stored(
            database, "SELECT count(*) AS n FROM peerings WHERE peering_id=$1", both
        )
        assert rows[0]["n"] == 1
        polled = await b_http.get("/api/v1/peerings", headers={"If-None-Match": tag})
        assert polled.status_code == 200 and polled.headers["etag"] != tag
        assert [p["peeringId"] for p in polled.json()] == [both]
        async with asyncio.timeout(30):
            assert (await wait_for_platform(b, deployment.id, both)).status.value == "running"

        # A takes an acceptance, AWS stalls for it, and it is killed holding the lease.
        pcx = await request(prod.vpc_id)
        await a.confirm_peering(deployment.id, pcx, CUSTOMER_ACCOUNT_ID, prod.vpc_id)
        link_a.hold()
        async with asyncio.timeout(10):
            while not (
                await stored(
                    database,
                    "SELECT 1 FROM peerings WHERE peering_id=$1 AND lease_owner IS NOT NULL",
                    pcx,
                )
            ):
                await asyncio.sleep(0.05)
        a_process.send_signal(signal.SIGKILL)
        a_process.wait(timeout=10)
        killed_at = asyncio.get_running_loop().time()
        link_a.release()

        async with asyncio.timeout(30):
            record = await wait_for_platform(b, deployment.id, pcx)
        taken_over_in = asyncio.get_running_loop().time() - killed_at
        assert record.status is PlatformStatus.RUNNING, record.reason
        assert taken_over_in < LEASE + 5, taken_over_in
        seen = await customer.describe_peering(REGION, pcx)
        assert seen is not None and seen.status == "active"
        tables = await platform_ec2.describe_route_tables(
            REGION, route_table_ids=info.route_table_ids
        )
        routes = [(t.id, r.destination) for t in tables for r in t.routes if r.target_id == pcx]
        assert sorted(routes) == sorted((t, "172.20.0.0/16") for t in info.route_table_ids)
        assert [p.peering_id for p in await b.all_peerings()] == [both, pcx]
