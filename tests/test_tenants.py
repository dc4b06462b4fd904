"""The platform as a service for many customers, through real HTTP to the real server.

Two tenants share the platform. Each route is asked, with another tenant's key, a viewer key
and a revoked key, about the first tenant's objects: another tenant gets exactly what a
missing object gets (no existence leak), a viewer gets 403 for every change, a revoked key
401; then the store file and both AWS accounts are read back unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from peering_core.errors import PlatformApiError
from peering_core.models import Role
from peering_core.platform_client import PlatformClient
from peering_core.sandbox.seed import CUSTOMER_ACCOUNT_ID, build_customer_vpc, wait_for_platform
from peering_core.sandbox.servers import Sandbox

from .state import aws_state

REGION = "us-east-1"
API = "/api/v1"
MISSING_DEPLOYMENT = "d0000000"
MISSING_PCX = "pcx-0123456789abcdef0"
MISSING_RESOURCE = "r0000000"
MISSING_KEY = "pk-0000000000000000"
MISSING_TENANT = "t0000000"


@dataclass
class Key:
    key: str
    secret: str
    role: str
    tenant_id: str

    def client(self, sandbox: Sandbox, address: str | None = None) -> httpx.AsyncClient:
        """A client with this key; from ``address`` (in 127.0.0.0/8) when given."""
        transport = httpx.AsyncHTTPTransport(local_address=address) if address else None
        return httpx.AsyncClient(
            base_url=sandbox.platform_url,
            auth=(self.key, self.secret),
            timeout=30,
            transport=transport,
        )


async def new_key(api: httpx.AsyncClient, tenant_id: str, role: str) -> Key:
    made = await api.post(f"{API}/keys", json={"tenantId": tenant_id, "role": role})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["keyId"] == body["key"] and body["role"] == role
    return Key(body["key"], body["secret"], role, body["tenantId"])


async def new_tenant(api: httpx.AsyncClient, name: str) -> str:
    made = await api.post(f"{API}/tenants", json={"tenantName": name})
    assert made.status_code == 201, made.text
    return str(made.json()["tenantId"])


@dataclass
class Tenants:
    """Tenant A (acme) with a running peering and a resource; tenant B (globex) beside it."""

    sandbox: Sandbox
    api: httpx.AsyncClient  # the admin
    a: str
    b: str
    a_operator: Key
    a_viewer: Key
    a_revoked: Key
    b_operator: Key
    a_deployment: str = ""
    b_deployment: str = ""
    a_pcx: str = ""
    a_vpc: str = ""
    a_resource: str = ""
    secrets: list[str] = field(default_factory=list)

    def store_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        db = sqlite3.connect(self.sandbox.platform.db_path)
        try:
            return {
                table: db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608
                for table in ("tenants", "api_keys", "deployments", "peerings", "resources")
            }
        finally:
            db.close()

    async def state(self) -> dict[str, Any]:
        async with (
            self.sandbox.platform_gateway() as platform_ec2,
            self.sandbox.customer_gateway() as customer,
        ):
            return {
                "store": self.store_rows(),
                "platform_aws": await aws_state(platform_ec2, (REGION,)),
                "platform_vpcs": sorted(v.id for v in await platform_ec2.describe_vpcs(REGION)),
                "customer_aws": await aws_state(customer, (REGION,)),
            }


@pytest.fixture
async def tenants(sandbox: Sandbox, api: httpx.AsyncClient) -> Tenants:
    a, b = await new_tenant(api, "acme"), await new_tenant(api, "globex")
    world = Tenants(
        sandbox,
        api,
        a,
        b,
        a_operator=await new_key(api, a, "operator"),
        a_viewer=await new_key(api, a, "viewer"),
        a_revoked=await new_key(api, a, "operator"),
        b_operator=await new_key(api, b, "operator"),
    )
    world.secrets = [k.secret for k in (world.a_operator, world.a_viewer, world.a_revoked)]
    world.secrets.append(world.b_operator.secret)
    assert (await api.delete(f"{API}/keys/{world.a_revoked.key}")).status_code == 200
    deployment = {"region": REGION, "projectName": "demo"}
    async with world.a_operator.client(sandbox) as acme, world.b_operator.client(sandbox) as globex:
        made = await acme.post(
            f"{API}/deployments",
            json=deployment | {"deploymentName": "factory-telemetry", "cidr": "10.200.0.0/16"},
        )
        assert made.status_code == 201 and made.json()["tenantId"] == a, made.text
        world.a_deployment = made.json()["deploymentID"]
        made = await globex.post(
            f"{API}/deployments",
            json=deployment | {"deploymentName": "globex-edge", "cidr": "10.210.0.0/16"},
        )
        assert made.status_code == 201 and made.json()["tenantId"] == b, made.text
        world.b_deployment = made.json()["deploymentID"]
        info = (await acme.get(f"{API}/deployments/{world.a_deployment}/vpc")).json()
        async with sandbox.customer_gateway() as customer:
            vpc = await build_customer_vpc(customer, "prod-data", REGION, "172.20.0.0/16")
            pcx = await customer.create_peering(
                REGION,
                vpc_id=vpc.vpc_id,
                peer_vpc_id=info["vpcId"],
                peer_owner_id=info["accountId"],
            )
        world.a_pcx, world.a_vpc = pcx.id, vpc.vpc_id
        confirmed = await acme.post(
            f"{API}/deployments/{world.a_deployment}/peerings",
            json={"peeringId": pcx.id, "accountId": CUSTOMER_ACCOUNT_ID, "vpcId": vpc.vpc_id},
        )
        assert confirmed.status_code == 202 and confirmed.json()["tenantId"] == a
        resource = await acme.post(
            f"{API}/deployments/{world.a_deployment}/resources",
            json={"name": "orders-db", "type": "postgresql", "host": "172.20.1.10", "port": 5432},
        )
        assert resource.status_code == 201 and resource.json()["tenantId"] == a
        world.a_resource = resource.json()["resourceID"]
    async with (
        PlatformClient(sandbox.platform_url, world.a_operator.key, world.a_operator.secret) as c,
        asyncio.timeout(15),
    ):
        assert (await wait_for_platform(c, world.a_deployment, pcx.id)).status.value == "running"
    return world


def concrete(path: str, *, deployment: str, pcx: str, resource: str, key: str) -> str:
    return (
        path.replace("{deployment_id}", deployment)
        .replace("{peering_id}", pcx)
        .replace("{resource_id}", resource)
        .replace("{key_id}", key)
    )


def body_for(path: str, world: Tenants) -> dict[str, Any] | None:
    """A body the route would take from its own tenant (so a refusal is the key's doing)."""
    if path.endswith(":check"):  # a VPC of its own, outside every deployment's CIDR
        vpc = "vpc-0123456789abcdef0"
        return {"accountId": CUSTOMER_ACCOUNT_ID, "vpcId": vpc, "region": REGION,
                "cidrs": ["172.31.0.0/16"]}  # fmt: skip
    if path.endswith("/peerings"):
        return {"peeringId": world.a_pcx, "accountId": CUSTOMER_ACCOUNT_ID, "vpcId": world.a_vpc}
    if path.endswith("/resources"):
        return {"name": "cache", "type": "redis", "host": "172.20.1.20", "port": 6379}
    if path.endswith("/deployments"):
        return {"deploymentName": "intruder", "region": REGION, "cidr": "10.220.0.0/16"}
    if path.endswith("/tenants"):
        return {"tenantName": "intruder"}
    if path.endswith("/keys"):
        return {"tenantId": world.a, "role": "operator"}
    return None


async def routes(api: httpx.AsyncClient) -> list[tuple[str, str]]:
    """Every operation of the platform's own OpenAPI document that takes credentials."""
    paths: dict[str, dict[str, Any]] = (await api.get("/openapi.json")).json()["paths"]
    found = [
        (method.upper(), path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if method in ("get", "post", "delete") and operation.get("security") != []
    ]
    assert len(found) == 26, found
    return found


def same_refusal(response: httpx.Response, missing: httpx.Response, named: str, as_: str) -> None:
    """``response`` is exactly ``missing``'s answer, with ``named`` where it names ``as_``."""
    assert response.status_code == missing.status_code == 404, (response.text, missing.text)
    assert response.json() == json.loads(missing.text.replace(as_, named)), (
        response.text,
        missing.text,
    )


async def test_every_route_answers_another_tenant_as_missing_a_viewer_403_a_revoked_key_401(
    tenants: Tenants,
) -> None:
    world, sandbox = tenants, tenants.sandbox
    every = await routes(world.api)
    ids = {
        "deployment": world.a_deployment,
        "pcx": world.a_pcx,
        "resource": world.a_resource,
        "key": world.a_operator.key,
    }
    before = await world.state()
    seen: dict[str, set[int]] = {"revoked": set(), "viewer": set(), "other": set()}

    async with (
        world.a_viewer.client(sandbox) as viewer,
        world.b_operator.client(sandbox) as other,
    ):
        for number, (method, template) in enumerate(every, start=2):
            path = concrete(template, **ids)
            body = body_for(template, world) if method == "POST" else None
            # A revoked key's requests count against its address's budget for failed
            # logins: one address per route keeps the answer 401, not 429.
            async with world.a_revoked.client(sandbox, f"127.0.1.{number}") as revoked:
                answer = await revoked.request(method, path, json=body)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.json()["code"] == "UNAUTHORIZED"
            seen["revoked"].add(answer.status_code)

            answer = await viewer.request(method, path, json=body)
            seen["viewer"].add(answer.status_code)
            # The platform's metrics are every tenant's figures: the admin's.
            admin_only = template.endswith(("/tenants", "/keys", "/keys/{key_id}", "/metrics"))
            # The pre-flight check changes nothing: a viewer may ask it.
            changes = method in ("POST", "DELETE") and not template.endswith(":check")
            if changes or admin_only:
                assert answer.status_code == 403, (method, path, answer.text)
                assert answer.json()["code"] == "FORBIDDEN"
            else:
                assert answer.status_code == 200, (method, path, answer.text)

            if template == f"{API}/deployments" and method == "POST":
                continue  # another tenant's new deployment is its own, not the first's
            answer = await other.request(method, path, json=body)
            seen["other"].add(answer.status_code)
            await _as_missing_or_own(other, method, template, path, body, answer, world)

        # The other tenant's own deployment, with the first tenant's pcx and resource in it.
        for method, template, named, as_ in (
            ("GET", "{d}/peerings/{x}", world.a_pcx, MISSING_PCX),
            ("DELETE", "{d}/peerings/{x}", world.a_pcx, MISSING_PCX),
            ("POST", "{d}/peerings/{x}/retry", world.a_pcx, MISSING_PCX),
            ("DELETE", "{d}/resources/{x}", world.a_resource, MISSING_RESOURCE),
        ):
            own = f"{API}/deployments/{world.b_deployment}"
            answer = await other.request(method, template.format(d=own, x=named))
            missing = await other.request(method, template.format(d=own, x=as_))
            same_refusal(answer, missing, named, as_)

    assert seen["revoked"] == {401}
    assert seen["viewer"] == {200, 403}
    assert await world.state() == before


async def _as_missing_or_own(
    other: httpx.AsyncClient,
    method: str,
    template: str,
    path: str,
    body: dict[str, Any] | None,
    answer: httpx.Response,
    world: Tenants,
) -> None:
    """Another tenant's key: a route naming the first tenant's object answers as a missing
    one; a list answers with none of the first tenant's objects."""
    if "{deployment_id}" in template:
        missing = await other.request(
            method, path.replace(world.a_deployment, MISSING_DEPLOYMENT), json=body
        )
        same_refusal(answer, missing, world.a_deployment, MISSING_DEPLOYMENT)
    elif template.endswith("/keys/{key_id}"):
        missing = await other.request(method, path.replace(world.a_operator.key, MISSING_KEY))
        same_refusal(answer, missing, world.a_operator.key, MISSING_KEY)
    elif template.endswith("/keys") and method == "POST":
        missing = await other.post(path, json={"tenantId": MISSING_TENANT, "role": "operator"})
        same_refusal(answer, missing, world.a, MISSING_TENANT)
    elif template.endswith(("/tenants", "/metrics")):
        assert answer.status_code == 403 and answer.json()["code"] == "FORBIDDEN"
    else:
        assert method == "GET" and answer.status_code == 200, (method, path, answer.text)
        text = answer.text
        for own in (world.a_deployment, world.a_pcx, world.a_resource, world.a, world.a_vpc):
            assert own not in text, (path, own)


async def test_one_tenants_writes_leave_another_tenants_etags_as_they_were(
    tenants: Tenants,
) -> None:
    world, sandbox = tenants, tenants.sandbox
    bulk = [f"{API}/{what}" for what in ("deployments", "peerings", "vpcs", "resources")]
    async with world.a_operator.client(sandbox) as acme, world.b_operator.client(sandbox) as globex:
        tags = {path: (await globex.get(path)).headers["etag"] for path in bulk}
        admin_tag = (await world.api.get(f"{API}/deployments")).headers["etag"]

        stopped = await acme.post(f"{API}/deployments/{world.a_deployment}/stop")
        assert stopped.status_code == 200

        for path, tag in tags.items():
            again = await globex.get(path, headers={"If-None-Match": tag})
            assert again.status_code == 304, path
        admin = await world.api.get(f"{API}/deployments", headers={"If-None-Match": admin_tag})
        assert admin.status_code == 200 and admin.headers["etag"] != admin_tag

        made = await globex.post(
            f"{API}/deployments/{world.b_deployment}/resources",
            json={"name": "cache", "type": "redis", "host": "10.99.0.5", "port": 6379},
        )
        assert made.status_code == 201
        changed = await globex.get(bulk[3], headers={"If-None-Match": tags[bulk[3]]})
        assert changed.status_code == 200 and changed.headers["etag"] != tags[bulk[3]]


async def test_whoami_says_each_keys_role_and_tenant(tenants: Tenants) -> None:
    world, sandbox = tenants, tenants.sandbox
    assert (await world.api.get(f"{API}/whoami")).json() == {
        "key": sandbox.key,
        "role": "admin",
        "tenantId": None,
    }
    for key in (world.a_operator, world.a_viewer, world.b_operator):
        async with key.client(sandbox) as client:
            answer = (await client.get(f"{API}/whoami")).json()
        assert answer == {"key": key.key, "role": key.role, "tenantId": key.tenant_id}


async def test_an_operator_makes_keys_for_its_own_tenant_only_and_a_revoked_key_fails_at_once(
    tenants: Tenants,
) -> None:
    world, sandbox = tenants, tenants.sandbox
    async with world.a_operator.client(sandbox) as acme:
        own = await acme.post(f"{API}/keys", json={"role": "viewer"})
        assert own.status_code == 201 and own.json()["tenantId"] == world.a
        refused = await acme.post(f"{API}/keys", json={"tenantId": world.a, "role": "admin"})
        assert refused.status_code == 400 and "role" in refused.json()["message"]
        listed = (await acme.get(f"{API}/keys")).json()
        assert {k["tenantId"] for k in listed} == {world.a}
        assert all("secret" not in k for k in listed)
        fresh = Key(own.json()["key"], own.json()["secret"], "viewer", world.a)
        async with fresh.client(sandbox) as viewer:
            assert (await viewer.get(f"{API}/deployments")).status_code == 200
            revoked = await acme.delete(f"{API}/keys/{fresh.key}")
            assert revoked.status_code == 200 and revoked.json()["revokedAt"]
            assert (await viewer.get(f"{API}/deployments")).status_code == 401


async def test_secrets_have_256_bits_and_the_store_holds_only_their_hash(tenants: Tenants) -> None:
    world = tenants
    for secret in world.secrets:
        assert len(base64.urlsafe_b64decode(secret + "=")) == 32  # 256 random bits
    db = Path(world.sandbox.platform.db_path)
    files = sorted(db.parent.glob(db.name + "*")) + sorted(db.parent.glob("*.jsonl"))
    assert db in files
    for path in files:
        raw = path.read_bytes()
        for secret in world.secrets:
            assert secret.encode() not in raw, path
    hashes = [row[3] for row in world.store_rows()["api_keys"]]
    assert hashes and all(h.startswith("scrypt$16384$8$1$") for h in hashes)


async def test_the_platform_audits_every_change_with_key_tenant_and_result_and_no_secret(
    tenants: Tenants,
) -> None:
    world, sandbox = tenants, tenants.sandbox
    async with world.a_viewer.client(sandbox) as viewer:
        refused = await viewer.post(f"{API}/deployments/{world.a_deployment}/stop")
        assert refused.status_code == 403
    log = Path(world.sandbox.platform.db_path).parent / "platform-audit.jsonl"
    assert log.stat().st_mode & 0o777 == 0o600
    raw = log.read_text()
    for secret in world.secrets:
        assert secret not in raw
    records = [json.loads(line) for line in raw.splitlines()]
    assert {"at", "keyId", "role", "tenantId", "address", "action", "object", "result"} <= set(
        records[0]
    )
    made = {
        (r["keyId"], r["action"], r["result"])
        for r in records
        if r["action"] in (f"POST {API}/deployments", f"POST {API}/keys")
    }
    assert (world.a_operator.key, f"POST {API}/deployments", "ok") in made
    assert (sandbox.key, f"POST {API}/keys", "ok") in made
    last = records[-1]
    assert last["keyId"] == world.a_viewer.key and last["tenantId"] == world.a
    assert last["action"] == f"POST {API}/deployments/{{deployment_id}}/stop"
    assert last["object"] == {"deployment_id": world.a_deployment}
    assert last["result"] == "refused: FORBIDDEN"


async def test_a_deployment_is_deleted_with_its_vpc_once_its_peerings_are_gone(
    tenants: Tenants,
) -> None:
    world, sandbox = tenants, tenants.sandbox
    url = f"{API}/deployments/{world.a_deployment}"
    async with world.a_operator.client(sandbox) as acme, world.b_operator.client(sandbox) as globex:
        vpc = (await acme.get(f"{url}/vpc")).json()["vpcId"]
        busy = await acme.delete(url)
        assert busy.status_code == 409 and busy.json()["code"] == "DEPLOYMENT_HAS_PEERINGS"
        assert world.a_pcx in busy.json()["message"]
        assert (await globex.delete(url)).status_code == 404

        assert (await acme.delete(f"{url}/resources/{world.a_resource}")).status_code == 204
        assert (await acme.delete(f"{url}/peerings/{world.a_pcx}")).status_code == 202
        async with asyncio.timeout(15):
            while (await acme.get(f"{url}/peerings")).json():
                await asyncio.sleep(0.05)
        gone = await acme.delete(url)
        assert gone.status_code == 204, gone.text
        assert (await acme.get(url)).status_code == 404

    async with sandbox.platform_gateway() as platform_ec2:
        assert vpc not in {v.id for v in await platform_ec2.describe_vpcs(REGION)}
        assert [s for s in await platform_ec2.describe_subnets(REGION, vpc_ids=[vpc])] == []
    rows = world.store_rows()
    assert [row[0] for row in rows["deployments"]] == [world.b_deployment]
    assert rows["resources"] == [] and rows["peerings"] == []


async def test_the_admin_places_a_deployment_in_a_tenant_and_an_operator_cannot_place_it_elsewhere(
    tenants: Tenants,
) -> None:
    world, sandbox = tenants, tenants.sandbox
    body = {"deploymentName": "edge", "region": REGION, "cidr": "10.230.0.0/16"}
    placed = await world.api.post(f"{API}/deployments", json=body | {"tenantId": world.b})
    assert placed.status_code == 201 and placed.json()["tenantId"] == world.b
    default = await world.api.post(
        f"{API}/deployments", json=body | {"deploymentName": "legacy", "cidr": "10.231.0.0/16"}
    )
    assert default.status_code == 201 and default.json()["tenantId"] == "default"

    before = await world.state()
    async with world.a_operator.client(sandbox) as acme:
        elsewhere = await acme.post(
            f"{API}/deployments",
            json=body | {"cidr": "10.232.0.0/16", "tenantId": world.b},
        )
    assert elsewhere.status_code == 404 and elsewhere.json()["code"] == "TENANT_NOT_FOUND"
    assert await world.state() == before


@pytest.fixture
async def platform_client(sandbox: Sandbox) -> AsyncIterator[PlatformClient]:
    async with sandbox.client() as client:
        yield client


async def test_a_key_made_through_the_client_reads_its_tenant_and_is_refused_once_revoked(
    sandbox: Sandbox, platform_client: PlatformClient
) -> None:
    tenant = await platform_client.create_tenant("initech")
    key = await platform_client.create_key(tenant.id, Role.VIEWER)
    async with PlatformClient(sandbox.platform_url, key.key, key.secret) as viewer:
        who = await viewer.whoami()
        assert (who.role, who.tenant_id) == (Role.VIEWER, tenant.id)
        assert await viewer.deployments() == []
        await platform_client.revoke_key(key.key_id)
        with pytest.raises(PlatformApiError) as refused:
            await viewer.whoami()
    assert refused.value.status == 401
