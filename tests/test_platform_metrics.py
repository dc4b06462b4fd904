"""The platform's ``GET /metrics``, scraped through real HTTP and read with prometheus-client's
own parser while a test acts: a confirmation brought to running, an AWS refusal injected by the
fault proxy in front of the platform's AWS, 429s from both budgets, and who may scrape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from peering_core.aws import AwsAccess
from peering_core.models import PlatformPeering, Role
from peering_core.platform_client import PlatformClient
from peering_core.sandbox.seed import CUSTOMER_ACCOUNT_ID, EstateBuilder, build_customer_vpc
from peering_core.sandbox.servers import MotoServer, PlatformServer, Sandbox

from .faults import FaultProxy

REGION = "us-east-1"
API = "/api/v1"
ADMIN = ("admin", "admin-secret")
PEERINGS_ROUTE = f"{API}/deployments/{{deployment_id}}/peerings"


def figure(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def scrape(url: str, auth: tuple[str, str] | None = ADMIN) -> str:
    async with httpx.AsyncClient(base_url=url, auth=auth) as http:
        answer = await http.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


@pytest.fixture
def platform_behind_a_fault_proxy(
    moto_server: MotoServer, tmp_path: Path
) -> Iterator[tuple[PlatformServer, FaultProxy]]:
    """A platform whose AWS calls go through a fault proxy to moto (forwarding everything until
    told otherwise); two failed logins a minute per address; retries capped at a second."""
    moto_server.reset()
    proxy = FaultProxy(moto_server.url).start()
    server = PlatformServer(
        aws=AwsAccess(
            access_key_id="sandbox-platform",
            secret_access_key=SecretStr("sandbox-platform"),
            endpoint_url=proxy.url,
        ),
        db_path=tmp_path / "platform.sqlite3",
        key=ADMIN[0],
        secret=SecretStr(ADMIN[1]),
        failed_logins_per_minute=2,
        work={"retry_cap": 1.0},
    ).start()
    try:
        yield server, proxy
    finally:
        server.stop()
        proxy.stop()


async def wait_until(
    client: PlatformClient, dep: str, pcx: str, done: Callable[[PlatformPeering], bool]
) -> PlatformPeering:
    async with asyncio.timeout(30):
        while not done(record := await client.peering(dep, pcx)):
            await asyncio.sleep(0.1)
    return record


async def test_the_figures_move_as_a_peering_is_confirmed_refused_by_aws_and_throttled(
    platform_behind_a_fault_proxy: tuple[PlatformServer, FaultProxy], moto_server: MotoServer
) -> None:
    server, proxy = platform_behind_a_fault_proxy
    url = server.url
    before = await scrape(url)
    assert figure(before, "peering_platform_replica_info") == 1
    assert figure(before, "peering_platform_peerings", tenant_name="default", state="running") == 0
    assert figure(before, "peering_platform_store_up") == 1

    direct = AwsAccess(
        access_key_id="sandbox-platform",
        secret_access_key=SecretStr("sandbox-platform"),
        endpoint_url=moto_server.url,
    )
    async with EstateBuilder(direct) as sts:
        customer_aws = await sts.assume_role(
            f"arn:aws:iam::{CUSTOMER_ACCOUNT_ID}:role/operator", "metrics-test"
        )
    async with (
        PlatformClient(url, ADMIN[0], SecretStr(ADMIN[1])) as client,
        EstateBuilder(customer_aws) as customer,
    ):
        tenant = await client.create_tenant("acme")
        dep = (await client.create_deployment("edge", REGION, "10.9.0.0/16", "demo",
                                              tenant_id=tenant.id)).id  # fmt: skip
        info = await client.deployment_vpc(dep)
        vpc = await build_customer_vpc(customer, "prod", REGION, "172.20.0.0/16")

        # AWS refuses the acceptance: the peering stays pending, retried, the error counted.
        proxy.refuse("AcceptVpcPeeringConnection", "OperationNotPermitted")
        pcx = await customer.create_peering(
            REGION, vpc_id=vpc.vpc_id, peer_vpc_id=info.vpc_id, peer_owner_id=info.account_id
        )
        await client.confirm_peering(dep, pcx.id, CUSTOMER_ACCOUNT_ID, vpc.vpc_id)
        retrying = await wait_until(client, dep, pcx.id, lambda p: p.attempts >= 1)
        assert "OperationNotPermitted" in (retrying.last_error or "")
        refused = await scrape(url)
        assert figure(refused, "peering_platform_aws_errors_total",
                      operation="accept_vpc_peering_connection",
                      code="OperationNotPermitted") >= 1  # fmt: skip
        assert figure(refused, "peering_platform_work_duration_seconds_count",
                      work="accept", outcome="retry") >= 1  # fmt: skip
        assert figure(refused, "peering_platform_peerings", tenant=tenant.id,
                      tenant_name="acme", state="pending") == 1  # fmt: skip
        assert figure(refused, "peering_platform_confirm_to_running_seconds_count") == 0

        # AWS accepts again: running, and every figure says so.
        proxy.allow("AcceptVpcPeeringConnection")
        await wait_until(client, dep, pcx.id, lambda p: p.status.value == "running")
        running = await scrape(url)
    assert figure(running, "peering_platform_peerings", tenant_name="acme", state="running") == 1
    assert figure(running, "peering_platform_peerings", tenant_name="acme", state="pending") == 0
    assert figure(running, "peering_platform_confirm_to_running_seconds_count") == 1
    assert figure(running, "peering_platform_work_duration_seconds_count",
                  work="accept", outcome="done") == 1  # fmt: skip
    attempts = sum(
        figure(running, "peering_platform_work_duration_seconds_count", work="accept", outcome=o)
        for o in ("retry", "done")
    )
    assert attempts >= 2  # at least one refused, then the one that went through
    assert figure(running, "peering_platform_lease_claims_total", work="accept") == attempts
    assert figure(running, "peering_platform_lease_expiries_total") == 0  # one replica, alive
    assert figure(running, "peering_platform_http_requests_total", route=PEERINGS_ROUTE,
                  method="POST", status="202") == 1  # fmt: skip
    assert figure(running, "peering_platform_http_request_duration_seconds_count",
                  route=PEERINGS_ROUTE, method="POST") == 1  # fmt: skip
    # The scrapes before this one (a request is counted once answered).
    assert figure(running, "peering_platform_http_requests_total",
                  route="/metrics", status="200") == 2  # fmt: skip

    # Who may scrape: the admin key only, unless --metrics-public.
    async with PlatformClient(url, ADMIN[0], SecretStr(ADMIN[1])) as client:
        operator = await client.create_key(tenant.id, Role.OPERATOR)
    async with httpx.AsyncClient(base_url=url) as http:
        as_operator = await http.get(
            "/metrics", auth=(operator.key, operator.secret.get_secret_value())
        )
        assert (as_operator.status_code, as_operator.json()["code"]) == (403, "FORBIDDEN")
        assert (await http.head("/metrics", auth=ADMIN)).status_code == 200
        # No key, on a path nobody serves: a 401 counted as "unmatched", not by its path.
        assert (await http.get("/wp-login.php")).status_code == 401
        # A wrong secret, twice: the address's budget for failed logins is spent.
        statuses = [
            (await http.get(f"{API}/deployments", auth=(ADMIN[0], "wrong"))).status_code
            for _ in range(2)
        ]
        assert statuses == [401, 429]
    throttled = await scrape(url)  # a verified key still passes the throttled address
    assert figure(throttled, "peering_platform_http_rate_limited_total",
                  code="TOO_MANY_FAILED_LOGINS") == 1  # fmt: skip
    assert figure(throttled, "peering_platform_http_requests_total",
                  route="unmatched", status="401") == 1  # fmt: skip
    assert "wp-login" not in throttled
    assert figure(throttled, "peering_platform_http_requests_total",
                  route="/metrics", status="403") == 1  # fmt: skip


async def test_metrics_public_needs_no_key_and_counts_a_keys_spent_budget(
    start_sandbox: Callable[..., Sandbox],
) -> None:
    box: Sandbox = await asyncio.to_thread(
        start_sandbox, requests_per_minute=5, metrics_public=True
    )
    admin = (box.key, box.secret.get_secret_value())
    async with httpx.AsyncClient(base_url=box.platform_url, auth=admin) as http:
        statuses = [(await http.get(f"{API}/deployments")).status_code for _ in range(7)]
    assert statuses.count(429) >= 2
    for _ in range(3):  # scraping takes nothing from any budget
        public = await scrape(box.platform_url, auth=None)
    assert figure(public, "peering_platform_http_rate_limited_total",
                  code="RATE_LIMITED") == statuses.count(429)  # fmt: skip
    assert figure(public, "peering_platform_http_requests_total", route=f"{API}/deployments",
                  method="GET", status="200") == statuses.count(200)  # fmt: skip
    assert figure(public, "peering_platform_aws_degraded") == 0
