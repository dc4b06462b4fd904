"""Shared fixtures: one real moto server per test session, a fresh real platform per test.

moto keeps its state per process, so each test resets it and builds what it needs; the
platform server runs for real (uvicorn, SQLite, background acceptance) on a loopback port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from peering_core.aws import Ec2Gateway
from peering_core.platform.client import PlatformClient
from peering_core.sandbox import MotoServer, Sandbox, SeedReport


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(moto_server: MotoServer) -> Iterator[Sandbox]:
    """A reset moto server and a new platform (zero acceptance delay), nothing seeded."""
    box = Sandbox.start(moto=moto_server, accept_delay=0.0)
    yield box
    box.stop()


@pytest.fixture
async def platform(sandbox: Sandbox) -> AsyncIterator[PlatformClient]:
    async with sandbox.client() as client:
        yield client


@pytest.fixture
async def customer(sandbox: Sandbox) -> AsyncIterator[Ec2Gateway]:
    async with sandbox.customer_gateway() as gateway:
        yield gateway


@pytest.fixture
async def platform_ec2(sandbox: Sandbox) -> AsyncIterator[Ec2Gateway]:
    async with sandbox.platform_gateway() as gateway:
        yield gateway


@pytest.fixture
async def estate(sandbox: Sandbox) -> SeedReport:
    """The sandbox's deployments and customer VPCs, without demo peerings."""
    return await sandbox.seed(demo=False)
