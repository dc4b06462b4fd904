"""A platform killed mid-work finishes it after a restart: the real ``platform serve`` process.

The platform runs as ``peering-tui platform serve`` on a loopback port in front of the session's
moto server, with its state in a SQLite file; the tests SIGKILL it while a peering is
``pending`` or ``deleting`` and start it again on the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
from pydantic import SecretStr

from peering_core.aws import AwsAccess, Ec2Gateway
from peering_core.errors import PlatformApiError
from peering_core.models import PlatformStatus
from peering_core.platform.ec2 import PlatformEc2
from peering_core.platform_client import PlatformClient
from peering_core.sandbox.seed import (
    CUSTOMER_ACCOUNT_ID,
    PLATFORM_ACCOUNT_ID,
    CustomerVpc,
    EstateBuilder,
    build_customer_vpc,
    wait_for_platform,
)
from peering_core.sandbox.servers import MotoServer

from .aws_link import AwsLink
from .platform_process import serve_environment

REGION = "us-east-1"
KEY = "restart-test"
SECRET = "restart-test-secret"
PEERING_TUI = Path(sys.executable).parent / "peering-tui"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PlatformProcess:
    """``peering-tui platform serve`` as a child process, logging to a file."""

    def __init__(self, db: Path, aws_endpoint: str, log: Path) -> None:
        self.db = db
        self.aws_endpoint = aws_endpoint
        self.log = log
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def _environment(self) -> dict[str, str]:
        return serve_environment(self.aws_endpoint, KEY, SECRET)

    async def start(self, *, accept_delay: float) -> PlatformProcess:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._log_file = self.log.open("ab")
        self._proc = subprocess.Popen(
            [
                str(PEERING_TUI),
                "platform",
                "serve",
                "--port",
                str(port),
                "--db",
                str(self.db),
                "--accept-delay",
                str(accept_delay),
                # A killed process's lease on its work runs out this soon after its death.
                "--lease-seconds",
                "3",
            ],
            env=self._environment(),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        await self._ready()
        return self

    async def _ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as http:
            for _ in range(300):  # 30 s at most
                assert self._proc is not None
                if self._proc.poll() is not None:
                    pytest.fail(f"platform exited with {self._proc.returncode}:\n{self.log_text()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        pytest.fail(f"platform did not answer /healthz within 30 s:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no cancelled tasks, just gone."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def client(self) -> PlatformClient:
        return PlatformClient(self.url, KEY, SECRET, max_attempts=2)


@dataclass
class Customer:
    ec2: Ec2Gateway
    vpc: CustomerVpc


@pytest.fixture
async def customer_estate(moto_server: MotoServer) -> AsyncIterator[Customer]:
    """A reset moto with the customer's prod-data VPC (172.20.0.0/16) in us-east-1."""
    moto_server.reset()
    platform_aws = AwsAccess(
        access_key_id="sandbox-platform",
        secret_access_key=SecretStr("sandbox-platform"),
        endpoint_url=moto_server.url,
    )
    async with PlatformEc2(platform_aws) as sts:
        customer_aws = await sts.assume_role(
            f"arn:aws:iam::{CUSTOMER_ACCOUNT_ID}:role/operator", "restart-test"
        )
    async with EstateBuilder(customer_aws) as ec2:
        vpc = await build_customer_vpc(ec2, "prod-data", REGION, "172.20.0.0/16")
        yield Customer(ec2, vpc)


@pytest.fixture
async def platform_ec2(moto_server: MotoServer) -> AsyncIterator[Ec2Gateway]:
    """The platform account's EC2, to look at the deployment route tables."""
    access = AwsAccess(
        access_key_id="sandbox-platform",
        secret_access_key=SecretStr("sandbox-platform"),
        endpoint_url=moto_server.url,
    )
    async with Ec2Gateway(access) as gateway:
        yield gateway


@pytest.fixture
def processes() -> Iterator[list[PlatformProcess]]:
    """Platform processes a test starts; any still alive are killed at teardown."""
    started: list[PlatformProcess] = []
    yield started
    for process in started:
        process.kill()


def stored_status(db: Path, pcx: str) -> str | None:
    """The peering's status as written in the platform's SQLite file."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT status FROM peerings WHERE peering_id=?", (pcx,)).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


async def pcx_status(customer: Ec2Gateway, pcx: str) -> str:
    seen = await customer.describe_peering(REGION, pcx)
    assert seen is not None, f"{pcx} is not visible to the customer"
    return seen.status


async def routes_via(platform_ec2: Ec2Gateway, table_ids: tuple[str, ...], pcx: str) -> list[str]:
    tables = await platform_ec2.describe_route_tables(REGION, route_table_ids=table_ids)
    return [f"{t.id}:{r.destination}" for t in tables for r in t.routes if r.target_id == pcx]


async def test_a_platform_killed_while_a_peering_is_pending_accepts_it_after_a_restart(
    tmp_path: Path,
    moto_server: MotoServer,
    customer_estate: Customer,
    platform_ec2: Ec2Gateway,
    processes: list[PlatformProcess],
) -> None:
    db = tmp_path / "platform.sqlite3"
    first = PlatformProcess(db, moto_server.url, tmp_path / "first.log")
    processes.append(first)
    await first.start(accept_delay=30)
    async with first.client() as client:
        deployment = await client.create_deployment("factory-telemetry", REGION, "10.200.0.0/16")
        info = await client.deployment_vpc(deployment.id)
        assert info.account_id == PLATFORM_ACCOUNT_ID
        pcx = await customer_estate.ec2.create_peering(
            REGION,
            vpc_id=customer_estate.vpc.vpc_id,
            peer_vpc_id=info.vpc_id,
            peer_owner_id=info.account_id,
        )
        record = await client.confirm_peering(
            deployment.id, pcx.id, CUSTOMER_ACCOUNT_ID, customer_estate.vpc.vpc_id
        )
    assert record.status is PlatformStatus.PENDING

    first.kill()

    assert stored_status(db, pcx.id) == "pending"
    assert await pcx_status(customer_estate.ec2, pcx.id) == "pending-acceptance"
    assert await routes_via(platform_ec2, info.route_table_ids, pcx.id) == []

    second = PlatformProcess(db, moto_server.url, tmp_path / "second.log")
    processes.append(second)
    await second.start(accept_delay=0)
    async with second.client() as client:
        async with asyncio.timeout(20):
            resumed = await wait_for_platform(client, deployment.id, pcx.id)
        assert resumed.status is PlatformStatus.RUNNING, resumed.reason
        assert [p.peering_id for p in await client.all_peerings()] == [pcx.id]
    assert stored_status(db, pcx.id) == "running"
    assert await pcx_status(customer_estate.ec2, pcx.id) == "active"
    assert sorted(await routes_via(platform_ec2, info.route_table_ids, pcx.id)) == sorted(
        f"{t}:172.20.0.0/16" for t in info.route_table_ids
    )


async def test_a_platform_killed_while_deleting_a_peering_finishes_the_delete_after_a_restart(
    tmp_path: Path,
    moto_server: MotoServer,
    customer_estate: Customer,
    platform_ec2: Ec2Gateway,
    processes: list[PlatformProcess],
) -> None:
    db = tmp_path / "platform.sqlite3"
    async with AwsLink(moto_server.url) as link:
        first = PlatformProcess(db, link.url, tmp_path / "first.log")
        processes.append(first)
        await first.start(accept_delay=0)
        async with first.client() as client:
            deployment = await client.create_deployment(
                "factory-telemetry", REGION, "10.200.0.0/16"
            )
            info = await client.deployment_vpc(deployment.id)
            pcx = await customer_estate.ec2.create_peering(
                REGION,
                vpc_id=customer_estate.vpc.vpc_id,
                peer_vpc_id=info.vpc_id,
                peer_owner_id=info.account_id,
            )
            await client.confirm_peering(
                deployment.id, pcx.id, CUSTOMER_ACCOUNT_ID, customer_estate.vpc.vpc_id
            )
            async with asyncio.timeout(20):
                running = await wait_for_platform(client, deployment.id, pcx.id)
            assert running.status is PlatformStatus.RUNNING, running.reason
            assert await routes_via(platform_ec2, info.route_table_ids, pcx.id)

            # AWS stalls for the platform, so the delete cannot get past its first EC2 call.
            link.hold()
            deleting = await client.delete_peering(deployment.id, pcx.id)
            assert deleting.status is PlatformStatus.DELETING
            assert (await client.peering(deployment.id, pcx.id)).status is PlatformStatus.DELETING

        first.kill()

    assert stored_status(db, pcx.id) == "deleting"
    assert await pcx_status(customer_estate.ec2, pcx.id) == "active"
    assert await routes_via(platform_ec2, info.route_table_ids, pcx.id)

    second = PlatformProcess(db, moto_server.url, tmp_path / "second.log")
    processes.append(second)
    await second.start(accept_delay=0)
    async with second.client() as client:
        async with asyncio.timeout(20):
            while True:
                try:
                    await client.peering(deployment.id, pcx.id)
                except PlatformApiError as exc:
                    assert exc.status == 404 and exc.code == "PEERING_NOT_FOUND"
                    break
                await asyncio.sleep(0.05)
        assert await client.all_peerings() == []
    assert stored_status(db, pcx.id) is None
    assert await pcx_status(customer_estate.ec2, pcx.id) == "deleted"
    assert await routes_via(platform_ec2, info.route_table_ids, pcx.id) == []
