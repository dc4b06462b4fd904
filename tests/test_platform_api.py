"""The platform API as an operator meets it: real HTTP to the real server in front of moto.

Every refusal is followed by a look at both sides (the platform's records through the API and
in its SQLite file, the pcx on AWS, the deployment route tables) to show it changed nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from peering_core.aws import AwsAccess, Ec2Gateway
from peering_core.errors import PlatformApiError
from peering_core.models import DeploymentVpc, PlatformStatus
from peering_core.platform.ec2 import PlatformEc2
from peering_core.platform_client import PlatformClient
from peering_core.sandbox.seed import (
    CUSTOMER_ACCOUNT_ID,
    CustomerVpc,
    build_customer_vpc,
    wait_for_platform,
)
from peering_core.sandbox.servers import MotoServer, PlatformServer, Sandbox

from .aws_link import AwsLink

REGION = "us-east-1"
API = "/api/v1"

# A lean us-east-1 slice of the sandbox's demo estate; each test builds only what it uses.
DEPLOYMENTS = {"factory-telemetry": "10.200.0.0/16", "fleet-staging": "10.203.0.0/16"}
CUSTOMER_VPCS = {
    "prod-data": "172.20.0.0/16",
    "analytics": "172.21.0.0/16",
    "office-net": "192.168.0.0/20",
}
BASE_DEPLOYMENTS = ("factory-telemetry",)
BASE_VPCS = ("prod-data",)
OTHER_ACCOUNT_ID = "111122223333"


@dataclass(frozen=True)
class Snapshot:
    """Both sides of every peering at one moment."""

    api_peerings: list[dict[str, Any]]
    store_rows: list[tuple[Any, ...]]
    deployment_routes: dict[str, list[tuple[str, str, str]]]
    pcx_status: dict[str, str]


@dataclass
class World:
    """The operator's two consoles (platform API, their AWS account) and the platform's books."""

    sandbox: Sandbox
    api: httpx.AsyncClient
    client: PlatformClient
    customer: Ec2Gateway
    platform_ec2: Ec2Gateway
    deployments: dict[str, DeploymentVpc] = field(default_factory=dict)
    vpcs: dict[str, CustomerVpc] = field(default_factory=dict)
    requested: dict[str, str] = field(default_factory=dict)  # pcx id -> requester region

    async def build(self, deployments: Sequence[str] = (), vpcs: Sequence[str] = ()) -> World:
        """Add deployments and customer VPCs of the demo estate, side by side."""
        await asyncio.gather(
            *(self.add_deployment(name) for name in deployments),
            *(self.add_vpc(name) for name in vpcs),
        )
        return self

    def dep(self, name: str) -> str:
        return self.deployments[name].deployment_id

    async def add_deployment(self, name: str) -> DeploymentVpc:
        created = await self.client.create_deployment(name, REGION, DEPLOYMENTS[name], "demo")
        self.deployments[name] = await self.client.deployment_vpc(created.id)
        return self.deployments[name]

    async def add_vpc(
        self, name: str, cidr: str | None = None, region: str = REGION
    ) -> CustomerVpc:
        cidr = cidr or CUSTOMER_VPCS[name]
        self.vpcs[name] = await build_customer_vpc(self.customer, name, region, cidr)
        return self.vpcs[name]

    async def request_peering(self, vpc: str, deployment: str) -> str:
        """Step 2: the customer asks the deployment's VPC for a peering (same region)."""
        info = self.deployments[deployment]
        cust = self.vpcs[vpc]
        pcx = await self.customer.create_peering(
            cust.region, vpc_id=cust.vpc_id, peer_vpc_id=info.vpc_id, peer_owner_id=info.account_id
        )
        self.requested[pcx.id] = cust.region
        return pcx.id

    def body(self, pcx: str, vpc: str, *, account: str = CUSTOMER_ACCOUNT_ID) -> dict[str, str]:
        """The three values the operator noted in step 3."""
        return {"peeringId": pcx, "accountId": account, "vpcId": self.vpcs[vpc].vpc_id}

    async def confirm(
        self, deployment: str, pcx: str, vpc: str, *, account: str = CUSTOMER_ACCOUNT_ID
    ) -> httpx.Response:
        """Step 4 over raw HTTP: POST the three values to the deployment's peerings."""
        return await self.api.post(
            f"{API}/deployments/{self.dep(deployment)}/peerings",
            json=self.body(pcx, vpc, account=account),
        )

    async def confirm_and_wait(self, vpc: str, deployment: str) -> str:
        pcx = await self.request_peering(vpc, deployment)
        assert (await self.confirm(deployment, pcx, vpc)).status_code == 202
        async with asyncio.timeout(15):
            record = await wait_for_platform(self.client, self.dep(deployment), pcx)
        assert record.status is PlatformStatus.RUNNING, record.reason
        return pcx

    def store_rows(self) -> list[tuple[Any, ...]]:
        """The platform's peering rows straight from its SQLite file."""
        db = sqlite3.connect(self.sandbox.platform.db_path)
        try:
            return db.execute("SELECT * FROM peerings ORDER BY peering_id").fetchall()
        finally:
            db.close()

    async def api_peerings(self) -> list[dict[str, Any]]:
        response = await self.api.get(f"{API}/peerings")
        assert response.status_code == 200
        return response.json()

    async def deployment_routes(self) -> dict[str, list[tuple[str, str, str]]]:
        tables = await self.platform_ec2.describe_route_tables(
            REGION,
            route_table_ids=[t for d in self.deployments.values() for t in d.route_table_ids],
        )
        return {
            t.id: sorted((r.destination, r.target_id, r.state) for r in t.routes) for t in tables
        }

    async def routes_via(self, pcx: str) -> list[tuple[str, str]]:
        routes = await self.deployment_routes()
        return [
            (rtb, dest) for rtb, rs in routes.items() for dest, target, _ in rs if target == pcx
        ]

    async def pcx_status(self, pcx: str) -> str:
        seen = await self.customer.describe_peering(self.requested[pcx], pcx)
        assert seen is not None, f"{pcx} is not visible to the customer"
        return seen.status

    async def snapshot(self) -> Snapshot:
        return Snapshot(
            api_peerings=await self.api_peerings(),
            store_rows=self.store_rows(),
            deployment_routes=await self.deployment_routes(),
            pcx_status={pcx: await self.pcx_status(pcx) for pcx in self.requested},
        )


@pytest.fixture
async def world(
    sandbox: Sandbox,
    api: httpx.AsyncClient,
    platform: PlatformClient,
    customer: Ec2Gateway,
    platform_ec2: Ec2Gateway,
) -> World:
    return await World(sandbox, api, platform, customer, platform_ec2).build(
        BASE_DEPLOYMENTS, BASE_VPCS
    )


@contextlib.asynccontextmanager
async def linked_world(
    moto_server: MotoServer, db: Path | str, **settings: Any
) -> AsyncIterator[tuple[World, AwsLink]]:
    """A world (reset moto) whose platform reaches AWS through a link the test can hold or
    cut; ``settings`` go to the platform server (``accept_delay``, ``work``)."""
    moto_server.reset()
    direct = AwsAccess(
        access_key_id="sandbox-platform",
        secret_access_key=SecretStr("sandbox-platform"),
        endpoint_url=moto_server.url,
    )
    async with PlatformEc2(direct) as sts:
        customer_aws = await sts.assume_role(
            f"arn:aws:iam::{CUSTOMER_ACCOUNT_ID}:role/operator", "stalled-world"
        )
    async with AwsLink(moto_server.url) as link:
        server = PlatformServer(
            aws=direct.model_copy(update={"endpoint_url": link.url}),
            db_path=db,
            key="stalled",
            secret=SecretStr("stalled-secret"),
            **settings,
        )
        await asyncio.to_thread(server.start)
        box = Sandbox(
            moto=moto_server,
            platform=server,
            key=server.key,
            secret=server.secret,
            platform_aws=direct,
            customer_aws=customer_aws,
            owns_moto=False,
        )
        try:
            async with (
                httpx.AsyncClient(
                    base_url=box.platform_url, auth=("stalled", "stalled-secret")
                ) as api,
                box.client() as client,
                box.customer_gateway() as customer,
                box.platform_gateway() as platform_ec2,
            ):
                yield (
                    await World(box, api, client, customer, platform_ec2).build(
                        BASE_DEPLOYMENTS, BASE_VPCS
                    ),
                    link,
                )
        finally:
            link.release()
            await asyncio.to_thread(server.stop)


@pytest.fixture
async def stalled_world(
    moto_server: MotoServer, tmp_path: Path
) -> AsyncIterator[tuple[World, AwsLink]]:
    """A world whose platform reaches AWS through a link the test can hold."""
    async with linked_world(moto_server, tmp_path / "platform.sqlite3") as world:
        yield world


def assert_refused(response: httpx.Response, status: int, code: str, *named: str) -> dict[str, Any]:
    """The response is a JSON ``{"code", "message"}`` refusal whose message names ``named``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    for value in named:
        assert value in body["message"], f"{value!r} is not named in {body['message']!r}"
    return body


async def failed_for_overlap(world: World) -> str:
    """A peering that fails at acceptance: fleet-staging already routes 192.168.0.0/16 to a
    gateway (a VPN to its operations network, as in the sandbox), and office-net is inside it."""
    await world.build(deployments=["fleet-staging"], vpcs=["office-net"])
    staging = world.deployments["fleet-staging"]
    igw = await world.platform_ec2.create_internet_gateway(REGION, staging.vpc_id)
    for table in staging.route_table_ids:
        await world.platform_ec2.create_gateway_route(REGION, table, "192.168.0.0/16", igw)
    pcx = await world.request_peering("office-net", "fleet-staging")
    response = await world.confirm("fleet-staging", pcx, "office-net")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    async with asyncio.timeout(15):
        record = await wait_for_platform(world.client, staging.deployment_id, pcx)
    assert record.status is PlatformStatus.FAILED
    return pcx


async def wait_until_gone(client: PlatformClient, deployment_id: str, pcx: str) -> PlatformApiError:
    """Poll until the platform no longer knows the peering (wrap in ``asyncio.timeout``)."""
    while True:
        try:
            await client.peering(deployment_id, pcx)
        except PlatformApiError as exc:
            if exc.status == 404:
                return exc
            raise
        await asyncio.sleep(0.05)


# --- confirming a peering: every refusal ---------------------------------------------------


async def test_malformed_confirmations_are_refused_naming_the_value_and_nothing_is_recorded(
    world: World,
) -> None:
    pcx = await world.request_peering("prod-data", "factory-telemetry")
    vpc_id = world.vpcs["prod-data"].vpc_id
    good = {"peeringId": pcx, "accountId": CUSTOMER_ACCOUNT_ID, "vpcId": vpc_id}
    before = await world.snapshot()
    url = f"{API}/deployments/{world.dep('factory-telemetry')}/peerings"

    cases: list[tuple[dict[str, Any] | list[Any], str]] = [
        ({**good, "peeringId": "pcx-NOT-HEX"}, "pcx-NOT-HEX"),
        ({**good, "peeringId": "pcx-1234"}, "pcx-1234"),
        ({**good, "peeringId": vpc_id}, vpc_id),
        ({**good, "vpcId": "vpc-xyz"}, "vpc-xyz"),
        ({**good, "vpcId": pcx}, pcx),
        ({**good, "accountId": "21098765432"}, "21098765432"),
        ({**good, "accountId": "2109876543210"}, "2109876543210"),
        ({**good, "accountId": "21098765432x"}, "21098765432x"),
        ({k: v for k, v in good.items() if k != "vpcId"}, "vpcId"),
        ({k: v for k, v in good.items() if k != "peeringId"}, "peeringId"),
        ({**good, "accountId": int(CUSTOMER_ACCOUNT_ID)}, "accountId"),
        ({**good, "vpcId": [vpc_id]}, "vpcId"),
        ({**good, "peeringID": pcx}, "peeringID"),
        ([good], "body"),
    ]
    for body, named in cases:
        response = await world.api.post(url, json=body)
        assert_refused(response, 400, "INVALID_ARGUMENT", named)
    not_json = await world.api.post(
        url, content=b"peeringId=" + pcx.encode(), headers={"content-type": "application/json"}
    )
    assert_refused(not_json, 400, "INVALID_ARGUMENT")

    assert await world.snapshot() == before
    assert before.api_peerings == [] and before.store_rows == []
    assert before.pcx_status == {pcx: "pending-acceptance"}


async def test_a_wrong_json_type_is_refused_with_a_message_naming_the_value(
    sandbox: Sandbox, api: httpx.AsyncClient, platform: PlatformClient
) -> None:
    deployment = await platform.create_deployment("factory-telemetry", REGION, "10.200.0.0/16")
    response = await api.post(
        f"{API}/deployments/{deployment.id}/peerings",
        json={
            "peeringId": "pcx-0123456789abcdef0",
            "accountId": 210987654321,
            "vpcId": "vpc-0123456789abcdef0",
        },
    )
    assert_refused(response, 400, "INVALID_ARGUMENT", "accountId", "210987654321")


async def test_a_confirmation_for_an_unknown_deployment_is_refused_and_nothing_is_recorded(
    world: World,
) -> None:
    pcx = await world.request_peering("prod-data", "factory-telemetry")
    before = await world.snapshot()

    response = await world.api.post(
        f"{API}/deployments/d0nosuch/peerings", json=world.body(pcx, "prod-data")
    )

    assert_refused(response, 404, "DEPLOYMENT_NOT_FOUND", "d0nosuch")
    assert await world.snapshot() == before
    assert before.pcx_status[pcx] == "pending-acceptance"


async def test_a_stopped_deployment_takes_no_new_peering_until_it_is_started_again(
    world: World,
) -> None:
    dep = world.dep("factory-telemetry")
    pcx = await world.request_peering("prod-data", "factory-telemetry")
    stopped = await world.api.post(f"{API}/deployments/{dep}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    before = await world.snapshot()

    response = await world.confirm("factory-telemetry", pcx, "prod-data")

    assert_refused(response, 409, "DEPLOYMENT_NOT_RUNNING", dep, "stopped")
    assert await world.snapshot() == before
    assert before.api_peerings == [] and before.pcx_status[pcx] == "pending-acceptance"

    started = await world.api.post(f"{API}/deployments/{dep}/start")
    assert started.status_code == 200 and started.json()["status"] == "running"
    assert (await world.confirm("factory-telemetry", pcx, "prod-data")).status_code == 202


async def test_a_pcx_that_does_not_exist_is_refused_and_nothing_is_recorded(world: World) -> None:
    before = await world.snapshot()

    response = await world.confirm("factory-telemetry", "pcx-0123456789abcdef0", "prod-data")

    assert_refused(
        response, 422, "PEERING_NOT_FOUND", "pcx-0123456789abcdef0", world.sandbox.region
    )
    assert await world.snapshot() == before
    assert before.api_peerings == []


async def test_a_pcx_addressed_to_another_vpc_is_refused_and_nothing_is_recorded(
    world: World,
) -> None:
    await world.build(deployments=["fleet-staging"])
    pcx = await world.request_peering("prod-data", "fleet-staging")
    before = await world.snapshot()

    response = await world.confirm("factory-telemetry", pcx, "prod-data")

    assert_refused(
        response,
        422,
        "PEERING_WRONG_ACCEPTER",
        pcx,
        world.deployments["fleet-staging"].vpc_id,
        world.deployments["factory-telemetry"].vpc_id,
    )
    assert await world.snapshot() == before
    assert before.api_peerings == [] and before.pcx_status[pcx] == "pending-acceptance"


async def test_a_confirmation_naming_another_requester_vpc_or_account_is_refused(
    world: World,
) -> None:
    await world.build(vpcs=["analytics"])
    pcx = await world.request_peering("prod-data", "factory-telemetry")
    before = await world.snapshot()

    wrong_vpc = await world.confirm("factory-telemetry", pcx, "analytics")
    wrong_account = await world.confirm(
        "factory-telemetry", pcx, "prod-data", account=OTHER_ACCOUNT_ID
    )

    assert_refused(
        wrong_vpc, 422, "PEERING_REQUESTER_MISMATCH", pcx, world.vpcs["analytics"].vpc_id
    )
    assert_refused(wrong_account, 422, "PEERING_REQUESTER_MISMATCH", pcx, OTHER_ACCOUNT_ID)
    assert await world.snapshot() == before
    assert before.api_peerings == [] and before.pcx_status[pcx] == "pending-acceptance"


async def test_a_pcx_the_customer_deleted_or_the_platform_rejected_is_refused_as_not_pending(
    world: World,
) -> None:
    await world.build(vpcs=["analytics"])
    deleted = await world.request_peering("prod-data", "factory-telemetry")
    await world.customer.delete_peering(REGION, deleted)
    rejected = await world.request_peering("analytics", "factory-telemetry")
    await world.platform_ec2.reject_peering(REGION, rejected)
    before = await world.snapshot()
    assert before.pcx_status == {deleted: "deleted", rejected: "rejected"}

    refused_deleted = await world.confirm("factory-telemetry", deleted, "prod-data")
    refused_rejected = await world.confirm("factory-telemetry", rejected, "analytics")

    assert_refused(refused_deleted, 422, "PEERING_NOT_PENDING", deleted, "deleted")
    assert_refused(refused_rejected, 422, "PEERING_NOT_PENDING", rejected, "rejected")
    assert await world.snapshot() == before
    assert before.api_peerings == []


async def test_a_cross_region_pcx_is_refused_as_a_region_mismatch(world: World) -> None:
    eu = await world.add_vpc("eu-prod", "172.30.0.0/16", region="eu-west-1")
    info = world.deployments["factory-telemetry"]
    # Ec2Gateway.create_peering always sends PeerRegion=<its own region> (same-region only,
    # as the platform demands), so the cross-region request goes to EC2 directly.
    raw = await world.customer._call(
        "eu-west-1",
        "create_vpc_peering_connection",
        VpcId=eu.vpc_id,
        PeerVpcId=info.vpc_id,
        PeerOwnerId=info.account_id,
        PeerRegion=REGION,
    )
    pcx = raw["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    world.requested[pcx] = "eu-west-1"
    seen_by_platform = await world.platform_ec2.describe_peering(REGION, pcx)
    assert seen_by_platform is not None, "moto copies a cross-region pcx into the accepter region"
    assert seen_by_platform.requester.region == "eu-west-1"
    before = await world.snapshot()

    response = await world.confirm("factory-telemetry", pcx, "eu-prod")

    assert_refused(response, 422, "REGION_MISMATCH", "eu-west-1", REGION)
    assert await world.snapshot() == before
    assert before.api_peerings == [] and before.pcx_status[pcx] == "pending-acceptance"


async def test_a_peer_vpc_in_the_platform_reserved_range_is_refused(world: World) -> None:
    await world.add_vpc("carrier-nat", "100.64.0.0/16")
    pcx = await world.request_peering("carrier-nat", "factory-telemetry")
    info = await world.client.deployment_vpc(world.dep("factory-telemetry"))
    assert info.reserved_cidrs == ("100.0.0.0/8", "101.0.0.0/8")
    before = await world.snapshot()

    response = await world.confirm("factory-telemetry", pcx, "carrier-nat")

    assert_refused(response, 422, "CIDR_RESERVED", "100.64.0.0/16", "100.0.0.0/8")
    assert await world.snapshot() == before
    assert before.api_peerings == [] and before.pcx_status[pcx] == "pending-acceptance"


async def test_a_platform_configured_with_its_own_reserved_ranges_refuses_those_instead(
    start_sandbox: Callable[..., Sandbox],
) -> None:
    box: Sandbox = await asyncio.to_thread(start_sandbox, reserved_cidrs=["172.16.0.0/12"])
    async with contextlib.AsyncExitStack() as stack:
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=box.platform_url, auth=(box.key, box.secret.get_secret_value())
            )
        )
        client = await stack.enter_async_context(box.client())
        customer = await stack.enter_async_context(box.customer_gateway())
        platform_ec2 = await stack.enter_async_context(box.platform_gateway())
        world = await World(box, api, client, customer, platform_ec2).build(
            BASE_DEPLOYMENTS, BASE_VPCS
        )
        await world.add_vpc("carrier-nat", "100.64.0.0/16")
        refused = await world.request_peering("prod-data", "factory-telemetry")
        allowed = await world.request_peering("carrier-nat", "factory-telemetry")
        info = await client.deployment_vpc(world.dep("factory-telemetry"))
        assert info.reserved_cidrs == ("172.16.0.0/12",)
        before = await world.snapshot()

        response = await world.confirm("factory-telemetry", refused, "prod-data")

        assert_refused(response, 422, "CIDR_RESERVED", "172.20.0.0/16", "172.16.0.0/12")
        assert await world.snapshot() == before
        assert before.pcx_status[refused] == "pending-acceptance"
        # The configured list replaces the default one: 100.64.0.0/16 is a fine peer here.
        accepted = await world.confirm("factory-telemetry", allowed, "carrier-nat")
        assert accepted.status_code == 202, accepted.text
        async with asyncio.timeout(15):
            record = await wait_for_platform(client, world.dep("factory-telemetry"), allowed)
        assert record.status is PlatformStatus.RUNNING


async def test_a_peer_overlapping_the_deployment_cidr_is_refused(world: World) -> None:
    await world.add_vpc("lab", "10.200.64.0/18")
    pcx = await world.request_peering("lab", "factory-telemetry")
    before = await world.snapshot()

    response = await world.confirm("factory-telemetry", pcx, "lab")

    assert_refused(response, 422, "CIDR_OVERLAP", "10.200.64.0/18", "10.200.0.0/16")
    assert await world.snapshot() == before
    assert before.api_peerings == [] and before.pcx_status[pcx] == "pending-acceptance"


async def test_a_peer_overlapping_another_peering_of_the_deployment_is_refused(
    world: World,
) -> None:
    first = await world.confirm_and_wait("prod-data", "factory-telemetry")
    await world.add_vpc("prod-data-copy", "172.20.16.0/20")
    pcx = await world.request_peering("prod-data-copy", "factory-telemetry")
    before = await world.snapshot()

    response = await world.confirm("factory-telemetry", pcx, "prod-data-copy")

    assert_refused(response, 422, "CIDR_OVERLAP", "172.20.16.0/20", "172.20.0.0/16", first)
    assert await world.snapshot() == before
    assert [p["peeringId"] for p in before.api_peerings] == [first]
    assert before.pcx_status == {first: "active", pcx: "pending-acceptance"}


async def test_two_overlapping_peers_confirmed_at_once_are_not_both_recorded(
    world: World,
) -> None:
    await world.add_vpc("prod-data-copy", "172.20.16.0/20")
    first = await world.request_peering("prod-data", "factory-telemetry")
    second = await world.request_peering("prod-data-copy", "factory-telemetry")

    responses = await asyncio.gather(
        world.confirm("factory-telemetry", first, "prod-data"),
        world.confirm("factory-telemetry", second, "prod-data-copy"),
    )

    assert sorted(r.status_code for r in responses) == [202, 422], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 202).json()["peeringId"]
    loser = next(r for r in responses if r.status_code == 422)
    assert_refused(loser, 422, "CIDR_OVERLAP", winner)
    assert [row[0] for row in world.store_rows()] == [winner]
    async with asyncio.timeout(15):
        await wait_for_platform(world.client, world.dep("factory-telemetry"), winner)
    assert await world.pcx_status(({first, second} - {winner}).pop()) == "pending-acceptance"


async def test_a_recorded_pcx_is_refused_elsewhere_or_with_another_body_but_a_repeat_is_idempotent(
    world: World,
) -> None:
    await world.build(deployments=["fleet-staging"], vpcs=["analytics"])
    pcx = await world.confirm_and_wait("prod-data", "factory-telemetry")
    record = await world.api.get(
        f"{API}/deployments/{world.dep('factory-telemetry')}/peerings/{pcx}"
    )
    before = await world.snapshot()

    elsewhere = await world.confirm("fleet-staging", pcx, "prod-data")
    other_vpc = await world.confirm("factory-telemetry", pcx, "analytics")
    other_account = await world.confirm(
        "factory-telemetry", pcx, "prod-data", account=OTHER_ACCOUNT_ID
    )

    assert_refused(elsewhere, 409, "PEERING_EXISTS", pcx, world.dep("factory-telemetry"))
    assert_refused(other_vpc, 409, "PEERING_EXISTS", pcx)
    assert_refused(other_account, 409, "PEERING_EXISTS", pcx)
    assert await world.snapshot() == before

    repeat = await world.confirm("factory-telemetry", pcx, "prod-data")
    assert repeat.status_code == 202
    assert repeat.json() == record.json()
    after = await world.snapshot()
    assert after == before
    assert len(after.api_peerings) == 1 and len(after.store_rows) == 1


async def test_concurrent_identical_confirmations_make_one_record(world: World) -> None:
    pcx = await world.request_peering("prod-data", "factory-telemetry")

    responses = await asyncio.gather(
        *(world.confirm("factory-telemetry", pcx, "prod-data") for _ in range(6))
    )

    assert [r.status_code for r in responses] == [202] * 6
    assert {r.json()["peeringId"] for r in responses} == {pcx}
    assert len({r.json()["createAt"] for r in responses}) == 1
    async with asyncio.timeout(15):
        record = await wait_for_platform(world.client, world.dep("factory-telemetry"), pcx)
    assert record.status is PlatformStatus.RUNNING
    assert [p["peeringId"] for p in await world.api_peerings()] == [pcx]
    assert len(world.store_rows()) == 1
    table_ids = world.deployments["factory-telemetry"].route_table_ids
    assert sorted(await world.routes_via(pcx)) == sorted((t, "172.20.0.0/16") for t in table_ids)


# --- acceptance ----------------------------------------------------------------------------


async def test_a_confirmed_peering_goes_from_pending_to_running_with_a_route_in_every_table(
    world: World,
) -> None:
    dep = world.dep("factory-telemetry")
    pcx = await world.request_peering("prod-data", "factory-telemetry")

    response = await world.confirm("factory-telemetry", pcx, "prod-data")

    assert response.status_code == 202
    assert response.json() | {"createAt": None, "updateAt": None} == {
        "peeringId": pcx,
        "deploymentID": dep,
        "accountId": CUSTOMER_ACCOUNT_ID,
        "vpcId": world.vpcs["prod-data"].vpc_id,
        "cidr": "172.20.0.0/16",
        "cidrs": ["172.20.0.0/16"],
        "region": REGION,
        "status": "pending",
        "reason": None,
        "createAt": None,
        "updateAt": None,
        "tenantId": "default",
        "lastError": None,
        "attempts": 0,
        "nextAttemptAt": None,
        "platformSide": None,
    }
    async with asyncio.timeout(15):
        record = await wait_for_platform(world.client, dep, pcx)
    assert record.status is PlatformStatus.RUNNING and record.reason is None
    assert await world.pcx_status(pcx) == "active"
    table_ids = world.deployments["factory-telemetry"].route_table_ids
    assert table_ids
    assert sorted(await world.routes_via(pcx)) == sorted((t, "172.20.0.0/16") for t in table_ids)
    assert record.platform_side is not None
    assert (record.platform_side.pcx_state, record.platform_side.routes) == ("active", "ok")
    listed = (await world.api.get(f"{API}/deployments/{dep}/peerings")).json()
    assert [(p["peeringId"], p["status"]) for p in listed] == [(pcx, "running")]
    assert [p["peeringId"] for p in await world.api_peerings()] == [pcx]


async def test_a_peer_cidr_the_deployment_already_routes_elsewhere_fails_and_leaves_no_route(
    world: World,
) -> None:
    pcx = await failed_for_overlap(world)

    staging = world.deployments["fleet-staging"]
    record = await world.client.peering(staging.deployment_id, pcx)
    assert record.status is PlatformStatus.FAILED and record.reason is not None
    assert "192.168.0.0/20" in record.reason and "192.168.0.0/16" in record.reason
    assert "overlap" in record.reason.lower()
    assert await world.routes_via(pcx) == []
    routes = await world.deployment_routes()
    for table in staging.route_table_ids:
        assert next(r for r in routes[table] if r[0] == "192.168.0.0/16")[1].startswith("igw-")
    assert await world.pcx_status(pcx) == "rejected"


# --- deleting a peering --------------------------------------------------------------------


async def test_a_failed_peering_is_deleted_with_whatever_it_left_on_aws(world: World) -> None:
    pcx = await failed_for_overlap(world)
    dep = world.dep("fleet-staging")

    response = await world.api.delete(f"{API}/deployments/{dep}/peerings/{pcx}")

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "deleting"
    async with asyncio.timeout(15):
        await wait_until_gone(world.client, dep, pcx)
    assert await world.routes_via(pcx) == []
    assert await world.pcx_status(pcx) == "rejected"  # the platform refused it: nothing to undo
    assert await world.api_peerings() == []


async def test_only_a_failed_peering_can_be_retried_and_a_retry_runs_its_last_step_again(
    world: World,
) -> None:
    pcx = await failed_for_overlap(world)
    dep = world.dep("fleet-staging")
    running = await world.confirm_and_wait("prod-data", "factory-telemetry")
    before = await world.snapshot()

    refused = await world.api.post(
        f"{API}/deployments/{world.dep('factory-telemetry')}/peerings/{running}/retry"
    )
    unknown = await world.api.post(f"{API}/deployments/{dep}/peerings/pcx-0123456789abcdef0/retry")

    assert_refused(refused, 409, "PEERING_NOT_FAILED", running, "running")
    assert_refused(unknown, 404, "PEERING_NOT_FOUND", "pcx-0123456789abcdef0")
    assert await world.snapshot() == before

    retried = await world.api.post(f"{API}/deployments/{dep}/peerings/{pcx}/retry")

    assert retried.status_code == 202 and retried.json()["status"] == "pending"
    async with asyncio.timeout(15):
        record = await wait_for_platform(world.client, dep, pcx)
    # The acceptance ran again and met the answer that does not pass: the pcx is rejected.
    assert record.status is PlatformStatus.FAILED
    assert record.reason == f"peering {pcx} is rejected on AWS"
    assert await world.routes_via(pcx) == []


async def test_a_peering_a_resource_depends_on_cannot_be_deleted_until_the_resource_is_gone(
    world: World,
) -> None:
    dep = world.dep("factory-telemetry")
    pcx = await world.confirm_and_wait("prod-data", "factory-telemetry")
    orders = await world.api.post(
        f"{API}/deployments/{dep}/resources",
        json={"name": "orders-db", "type": "postgresql", "host": "172.20.16.10", "port": 5432},
    )
    assert orders.status_code == 201
    elsewhere = await world.api.post(
        f"{API}/deployments/{dep}/resources",
        json={"name": "metrics", "type": "http", "host": "metrics.example.com", "port": 443},
    )
    assert elsewhere.status_code == 201
    before = await world.snapshot()

    response = await world.api.delete(f"{API}/deployments/{dep}/peerings/{pcx}")

    body = assert_refused(
        response, 409, "PEERING_IN_USE", pcx, "172.20.0.0/16", "orders-db", "172.20.16.10"
    )
    assert [(d["name"], d["host"], d["port"]) for d in body["details"]] == [
        ("orders-db", "172.20.16.10", 5432)
    ]
    assert body["details"][0]["resourceID"] == orders.json()["resourceID"]
    assert await world.snapshot() == before
    assert before.pcx_status[pcx] == "active"
    assert [p["status"] for p in before.api_peerings] == ["running"]

    gone = await world.api.delete(
        f"{API}/deployments/{dep}/resources/{orders.json()['resourceID']}"
    )
    assert gone.status_code == 204
    deleted = await world.api.delete(f"{API}/deployments/{dep}/peerings/{pcx}")
    assert deleted.status_code == 202 and deleted.json()["status"] == "deleting"


async def test_deleting_a_running_peering_removes_the_record_the_pcx_and_the_reverse_routes(
    world: World,
) -> None:
    await world.build(vpcs=["analytics"])
    dep = world.dep("factory-telemetry")
    pcx = await world.confirm_and_wait("prod-data", "factory-telemetry")
    kept = await world.confirm_and_wait("analytics", "factory-telemetry")
    assert await world.routes_via(pcx)

    response = await world.api.delete(f"{API}/deployments/{dep}/peerings/{pcx}")

    assert response.status_code == 202
    assert response.json()["peeringId"] == pcx and response.json()["status"] == "deleting"
    async with asyncio.timeout(15):
        gone = await wait_until_gone(world.client, dep, pcx)
    assert gone.code == "PEERING_NOT_FOUND" and pcx in gone.message
    assert await world.pcx_status(pcx) == "deleted"
    assert await world.routes_via(pcx) == []
    assert [p["peeringId"] for p in await world.api_peerings()] == [kept]
    assert [row[0] for row in world.store_rows()] == [kept]
    assert await world.routes_via(kept)
    assert await world.pcx_status(kept) == "active"


async def test_a_peering_whose_pcx_the_customer_already_deleted_can_still_be_deleted(
    world: World,
) -> None:
    dep = world.dep("factory-telemetry")
    pcx = await world.confirm_and_wait("prod-data", "factory-telemetry")
    await world.customer.delete_peering(REGION, pcx)
    # moto leaves the platform's routes to the dead pcx in place (real AWS would blackhole them).
    assert await world.routes_via(pcx)

    response = await world.api.delete(f"{API}/deployments/{dep}/peerings/{pcx}")

    assert response.status_code == 202 and response.json()["status"] == "deleting"
    async with asyncio.timeout(15):
        await wait_until_gone(world.client, dep, pcx)
    assert await world.routes_via(pcx) == []
    assert await world.pcx_status(pcx) == "deleted"
    assert world.store_rows() == []


async def test_concurrent_deletes_of_one_peering_let_exactly_one_through(
    stalled_world: tuple[World, AwsLink],
) -> None:
    world, link = stalled_world
    dep = world.dep("factory-telemetry")
    pcx = await world.confirm_and_wait("prod-data", "factory-telemetry")
    # The platform's EC2 calls stall, so the winner's delete stays in `deleting` while the
    # others arrive (otherwise a late one may find the record already gone: 404).
    link.hold()

    responses = await asyncio.gather(
        *(world.api.delete(f"{API}/deployments/{dep}/peerings/{pcx}") for _ in range(6))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202, 409, 409, 409, 409, 409], [r.text for r in responses]
    for refused in (r for r in responses if r.status_code == 409):
        assert_refused(refused, 409, "PEERING_NOT_RUNNING", pcx)
    assert [p["status"] for p in await world.api_peerings()] == ["deleting"]
    link.release()
    async with asyncio.timeout(15):
        await wait_until_gone(world.client, dep, pcx)
    assert await world.pcx_status(pcx) == "deleted"
    assert await world.routes_via(pcx) == []
    assert world.store_rows() == []


# --- credentials ---------------------------------------------------------------------------


def _concrete(path: str, deployment_id: str) -> str:
    return (
        path.replace("{deployment_id}", deployment_id)
        .replace("{peering_id}", "pcx-0123456789abcdef0")
        .replace("{resource_id}", "r0000000")
        .replace("{key_id}", "pk-0000000000000000")
    )


def from_address(address: str, **settings: Any) -> httpx.AsyncClient:
    """A client whose requests come from ``address`` (any of 127.0.0.0/8 reaches the
    loopback server), so the platform sees another peer."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(transport=transport, **settings)


async def test_every_documented_route_refuses_missing_or_wrong_credentials_and_changes_nothing(
    sandbox: Sandbox, api: httpx.AsyncClient, platform: PlatformClient
) -> None:
    deployment = await platform.create_deployment("factory-telemetry", REGION, "10.200.0.0/16")
    document = await api.get("/openapi.json")
    assert document.status_code == 200
    paths: dict[str, dict[str, Any]] = document.json()["paths"]
    assert {f"{API}/deployments/{{deployment_id}}/peerings", f"{API}/peerings"} <= set(paths)
    routes = [("GET", "/openapi.json")] + [
        (method.upper(), _concrete(path, deployment.id))
        for path, operations in paths.items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(routes) >= 15
    before = [(await api.get(f"{API}/{what}")).json() for what in ("deployments", "peerings")]
    wrong = [
        None,
        httpx.BasicAuth(sandbox.key, "not-the-secret"),
        httpx.BasicAuth("someone-else", sandbox.secret.get_secret_value()),
    ]

    # Each route from an address of its own: three refusals each stay under the per-address
    # budget for requests without valid credentials.
    for number, (method, path) in enumerate(routes, start=2):
        async with from_address(f"127.0.0.{number}", base_url=sandbox.platform_url) as anonymous:
            for auth in wrong:
                response = await anonymous.request(
                    method,
                    path,
                    auth=auth,
                    json={"deploymentName": "x", "region": REGION, "cidr": "10.9.0.0/16"}
                    if method == "POST"
                    else None,
                )
                assert_refused(response, 401, "UNAUTHORIZED")
                assert response.headers["www-authenticate"].lower().startswith("basic")

    after = [(await api.get(f"{API}/{what}")).json() for what in ("deployments", "peerings")]
    assert after == before


async def test_healthz_answers_without_credentials(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.platform_url) as anonymous:
        response = await anonymous.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_repeated_bad_credentials_throttle_the_address_but_never_correct_credentials(
    sandbox: Sandbox, api: httpx.AsyncClient
) -> None:
    bad = httpx.BasicAuth(sandbox.key, "guess")
    async with httpx.AsyncClient(base_url=sandbox.platform_url) as guesser:
        first = [await guesser.get(f"{API}/deployments", auth=bad) for _ in range(10)]
        locked = await guesser.get(f"{API}/deployments", auth=bad)
        anonymous = await guesser.get(f"{API}/deployments")
        healthz = await guesser.get("/healthz")

    assert [r.status_code for r in first] == [401] * 10
    assert_refused(locked, 429, "TOO_MANY_FAILED_LOGINS")
    assert 1 <= int(locked.headers["retry-after"]) <= 60
    assert_refused(anonymous, 429, "TOO_MANY_FAILED_LOGINS")
    # Credentials are checked before the throttle: a client with the right secret behind the
    # same address is not locked out by another's guesses.
    assert (await api.get(f"{API}/deployments")).status_code == 200
    assert healthz.status_code == 200


# --- conditional GETs and the request budget ------------------------------------------------


async def test_a_get_carries_an_etag_and_an_unchanged_resource_answers_304_with_no_body(
    api: httpx.AsyncClient, platform: PlatformClient
) -> None:
    await platform.create_deployment("factory-telemetry", REGION, "10.200.0.0/16")
    first = await api.get(f"{API}/deployments")
    tag = first.headers["etag"]
    assert first.status_code == 200 and tag

    for wanted in (tag, f"W/{tag}", f'"something-else", {tag}', "*"):
        again = await api.get(f"{API}/deployments", headers={"If-None-Match": wanted})
        assert again.status_code == 304, wanted
        assert again.content == b""
        assert again.headers["etag"] == tag
    stale = await api.get(f"{API}/deployments", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200 and stale.json() == first.json()


async def test_the_etag_changes_after_a_mutation(
    api: httpx.AsyncClient, platform: PlatformClient
) -> None:
    deployment = await platform.create_deployment("factory-telemetry", REGION, "10.200.0.0/16")
    url = f"{API}/deployments/{deployment.id}"
    first = await api.get(url)
    tag = first.headers["etag"]

    assert (await api.post(f"{url}/stop")).status_code == 200
    changed = await api.get(url, headers={"If-None-Match": tag})

    assert changed.status_code == 200
    assert changed.json()["status"] == "stopped"
    assert changed.headers["etag"] != tag
    assert (await api.get(url, headers={"If-None-Match": changed.headers["etag"]})).status_code == (
        304
    )


async def test_the_platform_client_counts_an_unchanged_poll_as_not_modified(
    platform: PlatformClient,
) -> None:
    await platform.create_deployment("factory-telemetry", REGION, "10.200.0.0/16")

    first = await platform.deployments()
    second = await platform.deployments()
    assert platform.not_modified == 1
    assert second == first

    await platform.create_deployment("fleet-staging", REGION, "10.203.0.0/16")
    third = await platform.deployments()
    assert platform.not_modified == 1
    assert {d.name for d in third} == {"factory-telemetry", "fleet-staging"}
    assert platform.calls[f"GET {API}/deployments"] == 3


async def test_past_the_per_key_budget_requests_get_429_with_retry_after(
    start_sandbox: Callable[..., Sandbox],
) -> None:
    box: Sandbox = await asyncio.to_thread(start_sandbox, requests_per_minute=5)
    async with httpx.AsyncClient(
        base_url=box.platform_url, auth=(box.key, box.secret.get_secret_value())
    ) as api:
        allowed = [await api.get(f"{API}/deployments") for _ in range(5)]
        refused = await api.get(f"{API}/deployments")

    assert [r.status_code for r in allowed] == [200] * 5
    assert_refused(refused, 429, "RATE_LIMITED", "5/min")
    assert 1 <= int(refused.headers["retry-after"]) <= 12


# --- unknown routes ------------------------------------------------------------------------


async def test_unknown_routes_and_methods_answer_json_errors(
    sandbox: Sandbox, api: httpx.AsyncClient
) -> None:
    unknown = ("/", f"{API}/nothing-here", "/docs", f"{API}/deployments/x/y/z")
    async with httpx.AsyncClient(base_url=sandbox.platform_url) as anonymous:
        for path in unknown:
            assert_refused(await api.get(path), 404, "NOT_FOUND")
            # Without credentials an unknown path answers like a known one: which paths
            # exist is not told to whoever asks.
            assert_refused(await anonymous.get(path), 401, "UNAUTHORIZED")
        assert_refused(await api.put(f"{API}/deployments"), 405, "METHOD_NOT_ALLOWED")
        assert_refused(await api.patch(f"{API}/peerings"), 405, "METHOD_NOT_ALLOWED")
    missing = await api.get(f"{API}/deployments/d0nosuch/peerings/pcx-0123456789abcdef0")
    assert_refused(missing, 404, "DEPLOYMENT_NOT_FOUND", "d0nosuch")
