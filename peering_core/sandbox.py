"""The embedded default: a moto server and the platform server on loopback, seeded.

Two AWS accounts live on one moto server: the platform's (moto's default account, reached with
any plain keys) and the customer's (STS ``AssumeRole`` into another account id). The platform
runs for real (uvicorn, SQLite, background acceptance) in its own thread and event loop, so
everything else talks to it over HTTP exactly as it would to a remote control plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import socket
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from pydantic import SecretStr

from . import rules
from .aws import AwsAccess, Ec2Gateway
from .intent import PeeringIntent
from .models import Deployment, PlatformPeering, PlatformStatus
from .platform.client import PlatformClient
from .platform.server import create_app
from .platform.service import PlatformService
from .platform.store import Store
from .workflow import CreateRequest, Failed, create_peering

PLATFORM_ACCOUNT_ID = "123456789012"  # moto's default account
CUSTOMER_ACCOUNT_ID = "210987654321"
SANDBOX_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")

log = logging.getLogger("peering_core.sandbox")


def _free_socket(host: str = "127.0.0.1") -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only then, and
    # without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def _free_port(host: str = "127.0.0.1") -> int:
    with _free_socket(host) as sock:
        return int(sock.getsockname()[1])


class MotoServer:
    """moto's server on a free loopback port, in a thread of this process."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> MotoServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every AWS resource of every account (moto state is per process)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass


class PlatformServer:
    """The platform API (uvicorn) in a thread with its own event loop."""

    def __init__(
        self,
        *,
        aws: AwsAccess,
        db_path: Path | str,
        key: str,
        secret: SecretStr,
        reserved_cidrs: Sequence[str] = rules.DEFAULT_RESERVED_CIDRS,
        accept_delay: float = 0.0,
        requests_per_minute: int = 6000,
        region: str = "us-east-1",
    ) -> None:
        self.aws = aws
        self.db_path = db_path
        self.key = key
        self.secret = secret
        self.reserved_cidrs = tuple(reserved_cidrs)
        self.accept_delay = accept_delay
        self.requests_per_minute = requests_per_minute
        self.region = region
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> PlatformServer:
        sock = _free_socket()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        service = PlatformService(
            Store(self.db_path),
            Ec2Gateway(self.aws, default_region=self.region),
            reserved_cidrs=self.reserved_cidrs,
            accept_delay=self.accept_delay,
        )
        app = create_app(
            service,
            key=self.key,
            secret=self.secret,
            requests_per_minute=self.requests_per_minute,
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        server = uvicorn.Server(config)
        self._server = server

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # reported to the starting thread
                self._error = exc
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name="platform-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"platform server did not start: {self._error!r}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)


@dataclass
class Sandbox:
    """A moto server, the platform on loopback, and credentials for both AWS accounts."""

    moto: MotoServer
    platform: PlatformServer
    key: str
    secret: SecretStr
    platform_aws: AwsAccess
    customer_aws: AwsAccess
    region: str = "us-east-1"
    owns_moto: bool = True
    workdir: Path | None = None
    deployments: list[Deployment] = field(default_factory=list)

    @property
    def platform_url(self) -> str:
        return self.platform.url

    @classmethod
    def start(
        cls,
        *,
        moto: MotoServer | None = None,
        accept_delay: float = 0.0,
        reserved_cidrs: Sequence[str] = rules.DEFAULT_RESERVED_CIDRS,
        db_path: Path | None = None,
        requests_per_minute: int = 6000,
    ) -> Sandbox:
        """Start (or reset and reuse) a moto server and start a fresh platform in front of it.

        Blocking: call it through ``asyncio.to_thread`` from a running event loop.
        """
        owns_moto = moto is None
        if moto is None:
            moto = MotoServer().start()
        else:
            moto.reset()
        workdir = Path(tempfile.mkdtemp(prefix="peering-sandbox-"))
        platform_aws = AwsAccess(
            access_key_id="sandbox-platform",
            secret_access_key=SecretStr("sandbox-platform"),
            endpoint_url=moto.url,
        )
        customer_aws = asyncio.run(_assume_customer(platform_aws))
        key = "sandbox-" + secrets.token_hex(4)
        secret = SecretStr(secrets.token_urlsafe(24))
        platform = PlatformServer(
            aws=platform_aws,
            db_path=db_path or workdir / "platform.sqlite3",
            key=key,
            secret=secret,
            reserved_cidrs=reserved_cidrs,
            accept_delay=accept_delay,
            requests_per_minute=requests_per_minute,
        ).start()
        return cls(
            moto=moto,
            platform=platform,
            key=key,
            secret=secret,
            platform_aws=platform_aws,
            customer_aws=customer_aws,
            owns_moto=owns_moto,
            workdir=workdir,
        )

    def stop(self) -> None:
        self.platform.stop()
        if self.owns_moto:
            # moto keeps its state in the process, not the server: a sandbox that started its
            # own server takes its AWS resources with it, or the next sandbox would see them.
            with contextlib.suppress(OSError):
                self.moto.reset()
            self.moto.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def client(self) -> PlatformClient:
        return PlatformClient(self.platform_url, self.key, self.secret)

    def customer_gateway(self) -> Ec2Gateway:
        return Ec2Gateway(self.customer_aws, default_region=self.region)

    def platform_gateway(self) -> Ec2Gateway:
        return Ec2Gateway(self.platform_aws, default_region=self.region)

    def environment(self) -> dict[str, str]:
        """The variables that point the CLI, the aws CLI and curl at this sandbox."""
        creds = self.customer_aws
        env = {
            "PEERING_PLATFORM_URL": self.platform_url,
            "PEERING_PLATFORM_KEY": self.key,
            "PEERING_PLATFORM_SECRET": self.secret.get_secret_value(),
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_ACCESS_KEY_ID": creds.access_key_id or "",
            "AWS_SECRET_ACCESS_KEY": (
                creds.secret_access_key.get_secret_value() if creds.secret_access_key else ""
            ),
            "AWS_SESSION_TOKEN": (
                creds.session_token.get_secret_value() if creds.session_token else ""
            ),
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }
        return env

    async def seed(self, *, demo: bool = True) -> SeedReport:
        """Create deployments in three regions and the customer estate; with ``demo``, peerings."""
        async with self.client() as client, self.customer_gateway() as customer:
            report = await seed_estate(client, customer, self.platform_aws, demo=demo)
        self.deployments = list(report.deployments.values())
        return report


async def _assume_customer(platform_aws: AwsAccess) -> AwsAccess:
    async with Ec2Gateway(platform_aws) as sts:
        return await sts.assume_role(
            f"arn:aws:iam::{CUSTOMER_ACCOUNT_ID}:role/operator", "peering-tui-sandbox"
        )


# --- seeding --------------------------------------------------------------------------------


@dataclass
class CustomerVpc:
    """A customer VPC built for the sandbox."""

    region: str
    vpc_id: str
    cidr: str
    route_tables: list[str]
    main_route_table: str
    security_groups: dict[str, str]
    interfaces: dict[str, str]


@dataclass
class SeedReport:
    deployments: dict[str, Deployment] = field(default_factory=dict)
    vpcs: dict[str, CustomerVpc] = field(default_factory=dict)
    peerings: dict[str, str] = field(default_factory=dict)


DEMO_DEPLOYMENTS: tuple[tuple[str, str, str], ...] = (
    ("factory-telemetry", "us-east-1", "10.200.0.0/16"),
    ("fleet-staging", "us-east-1", "10.203.0.0/16"),
    ("eu-connected-cars", "eu-west-1", "10.201.0.0/16"),
    ("apac-sensors", "ap-southeast-1", "10.202.0.0/16"),
)

# name, region, CIDR, databases (name, ip offset inside the second subnet, port)
DEMO_VPCS: tuple[tuple[str, str, str, tuple[tuple[str, int, int], ...]], ...] = (
    (
        "prod-data",
        "us-east-1",
        "172.20.0.0/16",
        (("orders-db", 10, 5432), ("events-kafka", 20, 9092)),
    ),
    ("analytics", "us-east-1", "172.21.0.0/16", (("warehouse", 10, 5439),)),
    ("office-net", "us-east-1", "192.168.0.0/20", ()),
    ("eu-prod", "eu-west-1", "172.30.0.0/16", (("telemetry-db", 10, 5432),)),
    ("eu-dr", "eu-west-1", "172.31.0.0/16", ()),
    ("apac-edge", "ap-southeast-1", "10.50.0.0/16", (("edge-redis", 10, 6379),)),
)


async def build_customer_vpc(
    ec2: Ec2Gateway,
    name: str,
    region: str,
    cidr: str,
    databases: Sequence[tuple[str, int, int]] = (),
) -> CustomerVpc:
    """A VPC with three subnets: two explicitly associated with a private route table, one
    falling back to the main table; an app security group; one interface per database."""
    vpc_id = await ec2.create_vpc(region, cidr, {"Name": name})
    net = rules.parse_cidr(cidr)
    blocks = list(net.subnets(new_prefix=min(net.prefixlen + 4, 28)))[:3]
    subnets = [
        await ec2.create_subnet(region, vpc_id, str(block), {"Name": f"{name}-{i}"})
        for i, block in enumerate(blocks)
    ]
    private = await ec2.create_route_table(region, vpc_id, {"Name": f"{name}-private"})
    for subnet in subnets[:2]:
        await ec2.associate_route_table(region, private, subnet)
    tables = await ec2.describe_route_tables(region, vpc_ids=[vpc_id])
    main = next(t.id for t in tables if t.main)
    app_sg = await ec2.create_security_group(region, vpc_id, f"{name}-app", "application servers")
    groups = {"app": app_sg}
    interfaces: dict[str, str] = {}
    for db, offset, _port in databases:
        sg = await ec2.create_security_group(region, vpc_id, f"{name}-{db}", f"{db} clients")
        groups[db] = sg
        ip = str(blocks[1].network_address + offset)
        interfaces[db] = ip
        await ec2.create_network_interface(region, subnets[1], ip, [sg], f"{db} primary")
    return CustomerVpc(region, vpc_id, cidr, [private, main], main, groups, interfaces)


async def wait_for_platform(
    client: PlatformClient, deployment_id: str, peering_id: str
) -> PlatformPeering:
    """Poll the platform until the peering leaves ``pending`` (wrap in ``asyncio.timeout``)."""
    while True:
        record = await client.peering(deployment_id, peering_id)
        if record.status is not PlatformStatus.PENDING:
            return record
        await asyncio.sleep(0.1)


async def seed_estate(
    client: PlatformClient,
    customer: Ec2Gateway,
    platform_aws: AwsAccess,
    *,
    demo: bool = True,
) -> SeedReport:
    """Deployments through the platform API, the customer's VPCs, and (``demo``) peerings in
    every interesting state."""
    report = SeedReport()
    for name, region, cidr in DEMO_DEPLOYMENTS:
        report.deployments[name] = await client.create_deployment(name, region, cidr, "demo")
    for name, region, cidr, databases in DEMO_VPCS:
        report.vpcs[name] = await build_customer_vpc(customer, name, region, cidr, databases)
    if demo:
        await _seed_peerings(client, customer, platform_aws, report)
    return report


async def _request(
    client: PlatformClient,
    customer: Ec2Gateway,
    report: SeedReport,
    deployment: str,
    vpc: str,
    *,
    confirm: bool = True,
) -> str:
    """A pcx requested without the create workflow, tagged with its intent."""
    dep = report.deployments[deployment]
    info = await client.deployment_vpc(dep.id)
    cust = report.vpcs[vpc]
    intent = PeeringIntent(
        deployment_id=dep.id,
        route_tables=tuple(cust.route_tables),
        security_groups=(cust.security_groups["app"],),
    )
    pcx = await customer.create_peering(
        cust.region,
        vpc_id=cust.vpc_id,
        peer_vpc_id=info.vpc_id,
        peer_owner_id=info.account_id,
        tags={"Name": f"{vpc} to {deployment}"} | intent.to_tags(),
    )
    report.peerings[f"{vpc}->{deployment}"] = pcx.id
    if confirm:
        await client.confirm_peering(dep.id, pcx.id, CUSTOMER_ACCOUNT_ID, cust.vpc_id)
    return pcx.id


async def _create(
    client: PlatformClient,
    customer: Ec2Gateway,
    report: SeedReport,
    deployment: str,
    vpc: str,
    groups: Sequence[str],
    ports: Sequence[int] = (),
) -> str:
    """A peering made the way peering-tui makes them: the whole create workflow."""
    cust = report.vpcs[vpc]
    request = CreateRequest(
        deployment_id=report.deployments[deployment].id,
        vpc_id=cust.vpc_id,
        security_groups=tuple(cust.security_groups[g] for g in groups),
        ports=tuple(ports),
    )
    try:
        result = await create_peering(request, client, customer, poll_interval=0.1)
        peering_id = result.peering_id
    except Failed:
        # The platform refused it at acceptance; the pcx is still there to show.
        found = await customer.describe_peerings(cust.region, requester_vpc_ids=[cust.vpc_id])
        peering_id = found[0].id
    report.peerings[f"{vpc}->{deployment}"] = peering_id
    return peering_id


async def _seed_peerings(
    client: PlatformClient, customer: Ec2Gateway, platform_aws: AwsAccess, report: SeedReport
) -> None:
    deps = report.deployments
    vpcs = report.vpcs

    # The platform's own network already routes 192.168.0.0/16 from fleet-staging (a VPN to
    # its operations network), so a peer inside it fails at acceptance.
    staging_vpc = await client.deployment_vpc(deps["fleet-staging"].id)
    async with Ec2Gateway(platform_aws) as platform_ec2:
        igw = await platform_ec2.create_internet_gateway("us-east-1", staging_vpc.vpc_id)
        for table in staging_vpc.route_table_ids:
            await platform_ec2.create_gateway_route("us-east-1", table, "192.168.0.0/16", igw)

    databases = ["orders-db", "events-kafka"]
    _healthy, _drifted, orphaned, _failed = await asyncio.gather(
        _create(
            client, customer, report, "factory-telemetry", "prod-data", databases, [5432, 9092]
        ),
        _create(client, customer, report, "eu-connected-cars", "eu-prod", ["app", "telemetry-db"]),
        _create(client, customer, report, "apac-sensors", "apac-edge", ["app"]),
        _create(client, customer, report, "fleet-staging", "office-net", ["app"]),
    )
    prod = vpcs["prod-data"]
    for db, kind, port in (("orders-db", "postgresql", 5432), ("events-kafka", "kafka", 9092)):
        await client.create_resource(
            deps["factory-telemetry"].id, db, kind, prod.interfaces[db], port
        )

    # Drift behind the tool's back: the main table's route and the database's rule are gone.
    eu = vpcs["eu-prod"]
    eu_cidr = (await client.deployment_vpc(deps["eu-connected-cars"].id)).cidr
    await customer.delete_route(eu.region, eu.main_route_table, eu_cidr)
    db_group = eu.security_groups["telemetry-db"]
    db_rules = await customer.describe_security_group_rules(eu.region, [db_group])
    await customer.revoke_ingress(
        eu.region, db_group, [r.id for r in db_rules if r.cidr == eu_cidr and not r.is_egress]
    )

    # Deleted on AWS behind the platform's back: the platform still says running.
    await customer.delete_peering(vpcs["apac-edge"].region, orphaned)

    # Requested on AWS, never confirmed on the platform.
    await _request(client, customer, report, "eu-connected-cars", "eu-dr", confirm=False)
    # Confirmed last and not waited for, so a fresh dashboard sees it move to running.
    await _request(client, customer, report, "fleet-staging", "analytics")
