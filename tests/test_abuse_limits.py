"""Abuse limits and safe input, as an attacker on loopback meets them.

Requests come from different loopback addresses (any of 127.0.0.0/8 reaches the server) so
the platform sees different peers; every bad input is followed by a look at the platform
account's VPCs and the store, to show nothing was made on AWS or recorded.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from peering_core.aws import AwsAccess, Ec2Gateway
from peering_core.sandbox.servers import MotoServer, PlatformServer, Sandbox

from .faults import FaultProxy

REGION = "us-east-1"
API = "/api/v1"


def from_address(sandbox: Sandbox, address: str, auth: Any = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=sandbox.platform_url,
        auth=auth,
        transport=httpx.AsyncHTTPTransport(local_address=address),
        timeout=30,
    )


async def operator_key(api: httpx.AsyncClient, name: str = "acme") -> tuple[str, str]:
    tenant = (await api.post(f"{API}/tenants", json={"tenantName": name})).json()["tenantId"]
    made = (await api.post(f"{API}/keys", json={"tenantId": tenant, "role": "operator"})).json()
    return made["key"], made["secret"]


# --- failed logins --------------------------------------------------------------------------


async def test_rotating_x_forwarded_for_does_not_escape_the_failed_login_budget(
    sandbox: Sandbox,
) -> None:
    bad = httpx.BasicAuth(sandbox.key, "guess")
    async with from_address(sandbox, "127.0.0.2", bad) as guesser:
        answers = [
            await guesser.get(f"{API}/deployments", headers={"X-Forwarded-For": f"10.9.9.{i}"})
            for i in range(12)
        ]
    assert [a.status_code for a in answers] == [401] * 10 + [429] * 2
    assert all("retry-after" in a.headers for a in answers[10:])


async def test_naming_a_victims_address_in_x_forwarded_for_does_not_lock_the_victim_out(
    sandbox: Sandbox, api: httpx.AsyncClient
) -> None:
    key, secret = await operator_key(api)
    bad = httpx.BasicAuth(key, "guess")
    async with from_address(sandbox, "127.0.0.2", bad) as attacker:
        for _ in range(12):
            await attacker.get(f"{API}/deployments", headers={"X-Forwarded-For": "127.0.0.3"})
    async with from_address(sandbox, "127.0.0.3", (key, secret)) as victim:
        assert (await victim.get(f"{API}/deployments")).status_code == 200


async def test_another_addresss_failures_never_refuse_correct_credentials(
    sandbox: Sandbox, api: httpx.AsyncClient
) -> None:
    key, secret = await operator_key(api)
    async with from_address(sandbox, "127.0.0.2", (key, "guess")) as guesser:
        refused = [await guesser.get(f"{API}/deployments") for _ in range(11)]
    assert refused[-1].status_code == 429

    # Never verified by this platform yet (its scrypt hash is checked now), from elsewhere.
    async with from_address(sandbox, "127.0.0.3", (key, secret)) as neighbour:
        assert (await neighbour.get(f"{API}/deployments")).status_code == 200
    # From the throttled address itself: credentials already verified still pass; guessing
    # there stays refused without costing a hash.
    async with from_address(sandbox, "127.0.0.2", (key, secret)) as same_address:
        assert (await same_address.get(f"{API}/deployments")).status_code == 200
    async with from_address(sandbox, "127.0.0.2", (key, "another-guess")) as guesser:
        assert (await guesser.get(f"{API}/deployments")).status_code == 429


async def test_requests_without_credentials_spend_the_address_budget_too(
    sandbox: Sandbox,
) -> None:
    async with from_address(sandbox, "127.0.0.4") as anonymous:
        answers = [await anonymous.get(f"{API}/nothing-{i}") for i in range(11)]
        healthz = await anonymous.get("/healthz")
    assert [a.status_code for a in answers] == [401] * 10 + [429]
    assert healthz.status_code == 200


async def test_x_forwarded_for_names_the_client_only_from_a_proxy_the_platform_trusts(
    start_sandbox: Callable[..., Sandbox],
) -> None:
    box: Sandbox = await asyncio.to_thread(start_sandbox, forwarded_allow_ips="127.0.0.1")
    bad = httpx.BasicAuth(box.key, "guess")
    async with httpx.AsyncClient(base_url=box.platform_url, auth=bad) as proxy:
        behind = [
            await proxy.get(f"{API}/deployments", headers={"X-Forwarded-For": f"10.9.9.{i}"})
            for i in range(12)
        ]
    # Each client behind the trusted proxy has a budget of its own.
    assert [a.status_code for a in behind] == [401] * 12
    async with from_address(box, "127.0.0.5", bad) as untrusted:
        direct = [
            await untrusted.get(f"{API}/deployments", headers={"X-Forwarded-For": f"10.8.8.{i}"})
            for i in range(11)
        ]
    assert direct[-1].status_code == 429


# --- request budgets ------------------------------------------------------------------------


async def test_one_keys_burst_spends_its_own_budget_not_another_keys(
    start_sandbox: Callable[..., Sandbox],
) -> None:
    box: Sandbox = await asyncio.to_thread(start_sandbox, requests_per_minute=5)
    async with httpx.AsyncClient(
        base_url=box.platform_url, auth=(box.key, box.secret.get_secret_value())
    ) as admin:
        tenant = (await admin.post(f"{API}/tenants", json={"tenantName": "acme"})).json()
        made = await admin.post(
            f"{API}/keys", json={"tenantId": tenant["tenantId"], "role": "viewer"}
        )
        burst = [await admin.get(f"{API}/deployments") for _ in range(5)]
    key = made.json()
    async with httpx.AsyncClient(base_url=box.platform_url, auth=(key["key"], key["secret"])) as c:
        other = [await c.get(f"{API}/deployments") for _ in range(5)]
    assert burst[-1].status_code == 429 and 1 <= int(burst[-1].headers["retry-after"]) <= 12
    assert burst[-1].json()["code"] == "RATE_LIMITED"
    assert [a.status_code for a in other] == [200] * 5


# --- input ----------------------------------------------------------------------------------


def store_counts(sandbox: Sandbox) -> tuple[int, ...]:
    db = sqlite3.connect(sandbox.platform.db_path)
    try:
        return tuple(
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("tenants", "deployments", "resources", "api_keys")
        )
    finally:
        db.close()


async def platform_vpcs(sandbox: Sandbox) -> list[str]:
    async with sandbox.platform_gateway() as ec2:
        return sorted(v.id for v in await ec2.describe_vpcs(REGION))


BAD_NAMES: list[tuple[str, Any, str]] = [
    ("deploymentName", "\ud800", "unpaired surrogate"),
    ("projectName", "\ud800", "unpaired surrogate"),
    ("deploymentName", "telemetry\x1b[2J\x07", "escape and bell"),
    ("deploymentName", "title\x1b]0;pwned\x07", "window title"),
    ("projectName", "demo\x1b[31m", "colour escape"),
    ("deploymentName", "a\u202eevil", "bidi override"),
    ("deploymentName", "x" * 65, "65 characters"),
    ("projectName", "p" * 65, "65 characters"),
]


@pytest.mark.parametrize(("field", "value", "what"), BAD_NAMES, ids=[b[2] for b in BAD_NAMES])
async def test_a_bad_name_is_refused_naming_the_field_and_leaves_no_vpc(
    sandbox: Sandbox, api: httpx.AsyncClient, field: str, value: str, what: str
) -> None:
    before = (await platform_vpcs(sandbox), store_counts(sandbox))
    body = {"deploymentName": "edge", "region": REGION, "cidr": "10.9.0.0/16", field: value}
    # Raw JSON, as an attacker sends it: a lone surrogate travels as its \\u escape.
    response = await api.post(
        f"{API}/deployments",
        content=_json(body),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_ARGUMENT"
    assert field in response.json()["message"]
    assert response.json()["message"].isprintable()  # escaped: safe to print, to log
    assert (await platform_vpcs(sandbox), store_counts(sandbox)) == before


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()  # ensure_ascii: "\ud800" is written as its escape


async def test_bad_names_of_tenants_and_resources_are_refused_naming_the_field(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    tenant = await api.post(f"{API}/tenants", json={"tenantName": "acme\x1b[2J"})
    assert tenant.status_code == 400 and "tenantName" in tenant.json()["message"]
    deployment = (
        await api.post(
            f"{API}/deployments",
            json={"deploymentName": "edge", "region": REGION, "cidr": "10.9.0.0/16"},
        )
    ).json()["deploymentID"]
    before = store_counts(sandbox)
    for name in ("db\x07", "d" * 65, "\ud800"):
        resource = await api.post(
            f"{API}/deployments/{deployment}/resources",
            content=_json({"name": name, "type": "postgresql", "host": "10.9.0.5", "port": 5432}),
            headers={"content-type": "application/json"},
        )
        assert resource.status_code == 400 and "name" in resource.json()["message"]
    assert store_counts(sandbox) == before


async def test_a_body_over_64_kib_is_refused_before_anything_is_read_or_made(
    sandbox: Sandbox, api: httpx.AsyncClient
) -> None:
    before = (await platform_vpcs(sandbox), store_counts(sandbox))
    huge = {"deploymentName": "edge", "region": REGION, "cidr": "10.9.0.0/16"}
    huge["projectName"] = "p" * 10_000_000
    declared = await api.post(f"{API}/deployments", json=huge)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the body is streamed
        yield b'{"deploymentName": "edge", "projectName": "'
        for _ in range(100):
            yield b"p" * 1024
        yield b'", "region": "us-east-1", "cidr": "10.9.0.0/16"}'

    streamed = await api.post(f"{API}/deployments", content=chunks())
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "BODY_TOO_LARGE"
    assert (await platform_vpcs(sandbox), store_counts(sandbox)) == before
    assert (await api.get(f"{API}/deployments")).json() == []


async def test_head_answers_wherever_get_does_with_its_headers_and_no_body(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await api.post(
        f"{API}/deployments",
        json={"deploymentName": "edge", "region": REGION, "cidr": "10.9.0.0/16"},
    )
    for path in (f"{API}/deployments", f"{API}/peerings", f"{API}/whoami", "/healthz"):
        get, head = await api.get(path), await api.head(path)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers.get("etag") == get.headers.get("etag")
    assert (await api.head(f"{API}/nothing")).status_code == 404
    async with httpx.AsyncClient(base_url=sandbox.platform_url) as anonymous:
        assert (await anonymous.head(f"{API}/deployments")).status_code == 401
    allowed = (await api.request("PATCH", f"{API}/deployments")).headers["allow"]
    assert allowed == "GET, HEAD, POST"


# --- a creation that fails after AWS calls began ------------------------------------------


@pytest.fixture
def refusing_platform(moto_server: MotoServer, tmp_path: Path) -> Iterator[tuple[str, FaultProxy]]:
    """A platform whose AWS refuses every CreateSubnet, after CreateVpc went through."""
    moto_server.reset()
    proxy = FaultProxy(moto_server.url).start()
    proxy.refuse("CreateSubnet", "InvalidParameterValue")
    server = PlatformServer(
        aws=AwsAccess(
            access_key_id="sandbox-platform",
            secret_access_key=SecretStr("sandbox-platform"),
            endpoint_url=proxy.url,
        ),
        db_path=tmp_path / "platform.sqlite3",
        key="admin",
        secret=SecretStr("admin-secret"),
    ).start()
    try:
        yield server.url, proxy
    finally:
        server.stop()
        proxy.stop()


async def test_a_deployment_whose_vpc_could_not_be_finished_leaves_nothing_behind(
    refusing_platform: tuple[str, FaultProxy], moto_server: MotoServer
) -> None:
    url, proxy = refusing_platform
    direct = AwsAccess(
        access_key_id="sandbox-platform",
        secret_access_key=SecretStr("sandbox-platform"),
        endpoint_url=moto_server.url,
    )
    async with Ec2Gateway(direct) as ec2:
        before = sorted(v.id for v in await ec2.describe_vpcs(REGION))
        tables_before = sorted(t.id for t in await ec2.describe_route_tables(REGION))
        async with httpx.AsyncClient(base_url=url, auth=("admin", "admin-secret")) as api:
            response = await api.post(
                f"{API}/deployments",
                json={"deploymentName": "edge", "region": REGION, "cidr": "10.9.0.0/16"},
            )
            listed = (await api.get(f"{API}/deployments")).json()
        after = sorted(v.id for v in await ec2.describe_vpcs(REGION))
        tables_after = sorted(t.id for t in await ec2.describe_route_tables(REGION))

    assert response.status_code == 502, response.text
    assert response.json()["code"] == "AWS_UNAVAILABLE"
    assert "InvalidParameterValue" in response.json()["message"]
    assert proxy.injected["refused:InvalidParameterValue"] >= 1
    assert listed == []
    assert (after, tables_after) == (before, tables_before)
