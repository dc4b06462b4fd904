"""The benchmarks' fleet: moto and the platform, seeded at scale, in a process of their own.

AWS and the platform are somewhere else for a real operator, and their CPU is not the
operator's. Here they run in a child process (:class:`FleetServer`), so what a benchmark
times in its own process is the client's work, and moto's response rendering runs on the
other core instead of sharing one interpreter lock with the client being measured.

The fleet is written straight into moto's backends (seconds instead of the half hour that
30,000 API calls would take); every read a benchmark times goes over HTTP.

``python -m tests.bench.fleet DEPLOYMENTS PER_DEPLOYMENT`` is the child: it prints one JSON
line (where the servers are, the fleet's ids), then answers ``break COUNT ROUND`` lines with
the pcx ids whose customer route it deleted, until its standard input closes.
"""

from __future__ import annotations

import contextlib
import json
import select
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from peering_core.accounts import Account, Accounts
from peering_core.aws import AwsAccess, Ec2Gateway
from peering_core.platform.store import NEVER
from peering_core.platform_client import PlatformClient
from peering_core.sandbox.process import exported_connection
from peering_core.sandbox.seed import (
    CUSTOMER_ACCOUNT_ID,
    CUSTOMER_ACCOUNT_NAME,
    PLATFORM_ACCOUNT_ID,
    STAGING_ACCOUNT_ID,
    STAGING_ACCOUNT_NAME,
    STAGING_ROLE_ARN,
)
from peering_core.sandbox.servers import Sandbox

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1", "us-west-2")


def _octets(value: int) -> str:
    return ".".join(str((value >> s) & 0xFF) for s in (24, 16, 8, 0))


@dataclass
class SeededFleet:
    deployments: int
    peerings: int
    accounts: int = 1  # customer accounts the peerings are spread over (prod, staging)
    pcx_ids: list[str] = field(default_factory=list)
    requester_vpcs: list[tuple[str, str]] = field(default_factory=list)  # (region, vpc)
    deployment_ids: list[str] = field(default_factory=list)  # the deployment of each pcx
    client_ip: str = ""  # a network interface in the first peering's VPC, for the path check
    seconds: float = 0.0


def seed_fleet(
    sandbox: Sandbox, deployments: int, per_deployment: int, accounts: int = 1
) -> SeededFleet:
    """Deployments (platform VPC + route table, platform records) and, per peering, a customer
    VPC with a subnet on the main table, an active pcx, its route and an inbound rule; the
    first VPC has a client's network interface (the path benchmark walks from it). With two
    ``accounts``, every other peering is the staging account's."""
    from moto.ec2.models import ec2_backends

    began = time.perf_counter()
    fleet = SeededFleet(deployments, deployments * per_deployment, accounts)
    owners = (CUSTOMER_ACCOUNT_ID, STAGING_ACCOUNT_ID)[:accounts]
    # Made days ago, as a real fleet's are: the AGE column reads "3d" on every tick.
    now = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0).isoformat()
    deployment_rows: list[tuple[Any, ...]] = []
    peering_rows: list[tuple[Any, ...]] = []
    for d in range(deployments):
        region = REGIONS[d % len(REGIONS)]
        platform = ec2_backends[PLATFORM_ACCOUNT_ID][region]
        dep_cidr = f"{_octets(0x0A000000 + 256 * d)}/24"  # 10.0.0.0/9 in /24s
        dep_vpc = platform.create_vpc(dep_cidr)
        dep_rtb = platform.create_route_table(dep_vpc.id)
        dep_id = f"b{d:07x}"
        deployment_rows.append(
            (dep_id, f"bench-{d}", "dedicated", region, "running", "5.8.6", "bench", dep_cidr,
             dep_vpc.id, f'["{dep_rtb.id}"]', now)
        )  # fmt: skip
        for p in range(per_deployment):
            i = d * per_deployment + p
            owner = owners[i % len(owners)]
            customer = ec2_backends[owner][region]
            cidr = f"{_octets(0x0A800000 + 256 * i)}/24"  # 10.128.0.0/9 in /24s
            vpc = customer.create_vpc(cidr)
            subnet = customer.create_subnet(vpc.id, cidr)
            pcx = customer.create_vpc_peering_connection(vpc, dep_vpc)
            pcx._status.accept()
            main = _main_route_table(customer, vpc.id)
            customer.create_route(main.id, dep_cidr, vpc_peering_connection_id=pcx.id)
            platform.create_route(dep_rtb.id, cidr, vpc_peering_connection_id=pcx.id)
            group = next(g for g in customer.groups[vpc.id].values() if g.name == "default")
            customer.authorize_security_group_ingress(
                group.id, "-1", None, None, [{"CidrIp": dep_cidr}]
            )
            if i == 0:
                fleet.client_ip = _octets(0x0A800000 + 10)
                customer.create_network_interface(subnet, fleet.client_ip, group_ids=[group.id])
            fleet.pcx_ids.append(pcx.id)
            fleet.requester_vpcs.append((region, vpc.id))
            fleet.deployment_ids.append(dep_id)
            peering_rows.append(
                (pcx.id, dep_id, owner, vpc.id, cidr, region, "running", None, now, now)
            )  # fmt: skip
    db = sqlite3.connect(str(sandbox.platform.db_path), isolation_level=None)
    try:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO deployments (id, name, deployment_type, region, status, version, "
            "project_name, cidr, vpc_id, route_table_ids, create_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            deployment_rows,
        )
        # Running peerings whose reconciler checks are not due while a benchmark runs: a
        # platform checks each one a minute apart, not all at once as they are inserted (which
        # would put thousands of describes on the same cores as what is being timed).
        db.executemany(
            "INSERT INTO peerings (peering_id, deployment_id, account_id, vpc_id, cidr, region, "
            "status, reason, create_at, update_at, due_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(*row, NEVER) for row in peering_rows],
        )
        db.execute("COMMIT")
    finally:
        db.close()
    fleet.seconds = round(time.perf_counter() - began, 2)
    return fleet


def _main_route_table(backend: Any, vpc_id: str) -> Any:
    """The VPC's main route table: moto made it last, with the VPC (a scan of every table
    per VPC would make seeding quadratic in the fleet)."""
    newest = next(reversed(backend.route_tables.values()))
    if newest.vpc_id == vpc_id:
        return newest
    return next(t for t in backend.route_tables.values() if t.vpc_id == vpc_id)


def break_routes(fleet: SeededFleet, count: int, round_: int = 0) -> list[str]:
    """Delete the customer-side route of ``count`` peerings (spread over the fleet; each
    round another set); the pcx ids whose route is gone."""
    from moto.ec2.models import ec2_backends

    step = max(1, fleet.peerings // max(count, 1))
    chosen = list(range(round_ % step, fleet.peerings, step))[:count]
    broken = []
    for i in chosen:
        region, vpc = fleet.requester_vpcs[i]
        owner = (CUSTOMER_ACCOUNT_ID, STAGING_ACCOUNT_ID)[i % fleet.accounts]
        backend = ec2_backends[owner][region]
        main = next(t for t in backend.route_tables.values() if t.vpc_id == vpc)
        via = [r for r in main.routes if r.vpc_pcx and r.vpc_pcx.id == fleet.pcx_ids[i]]
        for route in via:
            backend.delete_route(main.id, route.destination_cidr_block)
        broken.append(fleet.pcx_ids[i])
    return broken


# --- the parent's handle ------------------------------------------------------------------


@dataclass
class FleetServer:
    """A seeded fleet served by a child process; stop it with :meth:`stop` (or ``with``)."""

    process: subprocess.Popen[str]
    fleet: SeededFleet
    platform_url: str
    moto_url: str
    key: str
    secret: SecretStr
    customer_aws: AwsAccess
    env: dict[str, str]

    @classmethod
    def start(
        cls, deployments: int, per_deployment: int, timeout: float = 600, accounts: int = 1
    ) -> FleetServer:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.fleet", str(deployments), str(per_deployment),
             str(accounts)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        try:
            ready = _answer(process, timeout)
        except BaseException:
            process.kill()
            process.wait()
            raise
        fleet = SeededFleet(**ready["fleet"])
        fleet.requester_vpcs = [(region, vpc) for region, vpc in fleet.requester_vpcs]
        env = ready["env"]
        connection = exported_connection(env)
        return cls(
            process=process,
            fleet=fleet,
            platform_url=connection.platform_url,
            moto_url=env["AWS_ENDPOINT_URL"],
            key=connection.platform_key,
            secret=connection.platform_secret,
            customer_aws=connection.aws,
            env=env,
        )

    def __enter__(self) -> FleetServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """The exports that point the CLI, the aws CLI and the dashboard at this fleet."""
        return dict(self.env)

    def client(self, platform_url: str | None = None) -> PlatformClient:
        return PlatformClient(platform_url or self.platform_url, self.key, self.secret)

    def gateway(self, aws_url: str | None = None) -> Ec2Gateway:
        access = self.customer_aws
        if aws_url:
            access = access.model_copy(update={"endpoint_url": aws_url})
        return Ec2Gateway(access, default_region=REGIONS[0])

    def accounts(self, aws_url: str | None = None) -> Accounts:
        """Gateways on the fleet's customer accounts (prod, and staging by its role)."""
        prod = self.customer_aws
        if aws_url:
            prod = prod.model_copy(update={"endpoint_url": aws_url})
        if self.fleet.accounts == 1:
            return Accounts.single(Ec2Gateway(prod, default_region=REGIONS[0]))
        staging = prod.model_copy(update={"role_arn": STAGING_ROLE_ARN})
        return Accounts.open(
            [Account(CUSTOMER_ACCOUNT_NAME, prod), Account(STAGING_ACCOUNT_NAME, staging)]
        )

    def break_routes(self, count: int, round_: int = 0) -> list[str]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"break {count} {round_}\n")
        self.process.stdin.flush()
        broken: list[str] = _answer(self.process, 120)
        return broken

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _answer(process: subprocess.Popen[str], timeout: float) -> Any:
    """The child's next JSON line (it writes one per request, so none waits in the buffer)."""
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout)
    if not readable:
        raise TimeoutError(f"the fleet server did not answer within {timeout:.0f} s")
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=30)
        raise RuntimeError(f"the fleet server exited with {process.returncode}")
    return json.loads(line)


@contextlib.contextmanager
def links(fleet: FleetServer, rtt_ms: float) -> Iterator[tuple[str, str]]:
    """Delay lines in front of the platform and moto (``rtt_ms`` of round trip each), in
    processes of their own; yields their URLs (the servers' own when ``rtt_ms`` is 0)."""
    if rtt_ms <= 0:
        yield fleet.platform_url, fleet.moto_url
        return
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.aws_link", upstream, str(rtt_ms / 2)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for upstream in (fleet.platform_url, fleet.moto_url)
    ]
    try:
        urls = []
        for link in started:
            assert link.stdout is not None
            urls.append(link.stdout.readline().strip())
        yield urls[0], urls[1]
    finally:
        for link in started:
            assert link.stdin is not None
            link.stdin.close()
            link.wait(timeout=30)


def _serve(deployments: int, per_deployment: int, accounts: int) -> None:
    # Standard output carries the protocol; anything else the servers print goes to stderr.
    protocol, sys.stdout = sys.stdout, sys.stderr

    def say(answer: Any) -> None:
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()

    sandbox = Sandbox.start(accept_delay=0, requests_per_minute=0, second_account=accounts > 1)
    try:
        fleet = seed_fleet(sandbox, deployments, per_deployment, accounts)
        say({"env": sandbox.environment(), "fleet": fleet.__dict__})
        for line in sys.stdin:
            verb, *args = line.split()
            if verb == "break":
                say(break_routes(fleet, int(args[0]), int(args[1])))
    finally:
        sandbox.stop()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
