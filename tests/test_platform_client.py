"""The platform client: typed errors, Retry-After honoured, connection errors retried."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest

from peering_core.errors import PlatformApiError, PlatformUnavailable
from peering_core.platform_client import PlatformClient
from peering_core.sandbox.servers import Sandbox

from .aws_link import AwsLink


async def test_errors_arrive_typed_with_the_server_code(platform):
    with pytest.raises(PlatformApiError) as err:
        await platform.deployment("dmissing")
    assert (err.value.status, err.value.code) == (404, "DEPLOYMENT_NOT_FOUND")
    assert "dmissing" in err.value.message


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real transport, with the status of every response written down."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.statuses: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.statuses.append(response.status_code)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_429_is_waited_out_using_retry_after(moto_server):
    box = await asyncio.to_thread(Sandbox.start, moto=moto_server, requests_per_minute=30)
    transport = RecordingTransport()
    try:
        async with PlatformClient(
            box.platform_url, box.key, box.secret, transport=transport
        ) as client:
            for _ in range(31):
                assert await client.deployments() == []
        # The budget ran out; the client waited Retry-After and every call still succeeded.
        assert 429 in transport.statuses
        answered = [s for s in transport.statuses if s != 429]
        assert answered == [200] + [304] * 30
    finally:
        await asyncio.to_thread(box.stop)


async def test_a_429_longer_than_the_caller_accepts_is_raised(moto_server):
    box = await asyncio.to_thread(Sandbox.start, moto=moto_server, requests_per_minute=1)
    try:
        async with PlatformClient(
            box.platform_url, box.key, box.secret, max_retry_after=0.1
        ) as client:
            await client.deployments()
            with pytest.raises(PlatformApiError) as err:
                await client.deployments()
            assert err.value.status == 429
    finally:
        await asyncio.to_thread(box.stop)


async def test_an_unreachable_platform_is_retried_then_reported_without_the_secret():
    transport = httpx.AsyncHTTPTransport(retries=0)
    async with PlatformClient(
        "http://127.0.0.1:9",
        "key",
        "canary-secret-value",
        backoff=0.01,
        max_attempts=3,
        transport=transport,
    ) as client:
        with pytest.raises(PlatformUnavailable) as err:
            await client.deployments()
    assert client.calls["GET /api/v1/deployments"] == 3
    assert "canary-secret-value" not in str(err.value)


async def test_wrong_credentials_are_a_typed_401(sandbox):
    async with PlatformClient(sandbox.platform_url, sandbox.key, "wrong") as client:
        with pytest.raises(PlatformApiError) as err:
            await client.deployments()
    assert (err.value.status, err.value.code) == (401, "UNAUTHORIZED")


async def test_a_post_that_must_not_be_repeated_goes_on_a_connection_of_its_own(sandbox):
    # A pooled connection the platform closed while it sat idle fails the next request sent
    # on it before it arrives; a POST that would make a second object cannot be sent again,
    # so it never rides a pooled connection (seen once under load: POST /api/v1/keys).
    async with (
        AwsLink(sandbox.platform_url) as link,
        PlatformClient(link.url, sandbox.key, sandbox.secret) as client,
    ):
        await client.deployments()
        await client.deployments()
        pooled = link.connections
        await client.create_tenant("acme")
        await client.create_tenant("globex")
        await client.deployments()
    assert pooled == 1, "GETs share one pooled connection"
    assert link.connections == pooled + 2, "each POST had a connection of its own"


async def test_clients_share_one_tls_context_per_setting() -> None:
    """httpx read the CA bundle for every client made (20 ms each); a process makes it once
    per setting (an SSL_CERT_FILE set later gets its own: tests/test_transport.py)."""

    def context(client: PlatformClient) -> object:
        return client._http._transport._pool._ssl_context  # type: ignore[attr-defined]

    async with (
        PlatformClient("https://a.example", "k", "s") as first,
        PlatformClient("https://b.example", "k", "s") as second,
        PlatformClient("https://c.example", "k", "s", verify=False) as unverified,
    ):
        assert context(first) is context(second)
        assert context(unverified) is not context(first)
        assert context(unverified).verify_mode == ssl.CERT_NONE  # type: ignore[attr-defined]
