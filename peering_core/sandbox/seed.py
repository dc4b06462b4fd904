"""Seeding the sandbox: deployments through the platform API, a customer estate on moto, and
peerings in every state worth showing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .. import rules
from ..aws import AwsAccess
from ..create import CreateRequest, create_peering
from ..intent import PeeringIntent
from ..models import Deployment, NewApiKey, PlatformPeering, PlatformStatus, Role, Tenant
from ..platform.ec2 import PlatformEc2
from ..platform_client import PlatformClient
from ..workflow import Progress, Step
from .accounts import CUSTOMER_ACCOUNT_ID as CUSTOMER_ACCOUNT_ID
from .accounts import CUSTOMER_ACCOUNT_NAME as CUSTOMER_ACCOUNT_NAME
from .accounts import PLATFORM_ACCOUNT_ID as PLATFORM_ACCOUNT_ID
from .accounts import SANDBOX_REGIONS as SANDBOX_REGIONS
from .accounts import STAGING_ACCOUNT_ID as STAGING_ACCOUNT_ID
from .accounts import STAGING_ACCOUNT_NAME as STAGING_ACCOUNT_NAME
from .accounts import STAGING_ROLE_ARN as STAGING_ROLE_ARN


class EstateBuilder(PlatformEc2):
    """Builds what the sandbox and the tests need on both sides: VPCs, gateways, groups and
    network interfaces standing in for databases. Not for operators: they bring their own."""

    async def create_internet_gateway(self, region: str, vpc_id: str) -> str:
        raw = await self._call(region, "create_internet_gateway")
        igw = str(raw["InternetGateway"]["InternetGatewayId"])
        await self._call(region, "attach_internet_gateway", InternetGatewayId=igw, VpcId=vpc_id)
        return igw

    async def create_gateway_route(
        self, region: str, route_table_id: str, destination: str, gateway_id: str
    ) -> None:
        await self._create_route(region, route_table_id, destination, GatewayId=gateway_id)

    async def associate_vpc_cidr(self, region: str, vpc_id: str, cidr: str) -> None:
        """A further IPv4 block for the VPC (a requester VPC with several blocks)."""
        await self._call(region, "associate_vpc_cidr_block", VpcId=vpc_id, CidrBlock=cidr)

    async def create_security_group(
        self, region: str, vpc_id: str, name: str, description: str
    ) -> str:
        raw = await self._call(
            region,
            "create_security_group",
            VpcId=vpc_id,
            GroupName=name,
            Description=description,
        )
        return str(raw["GroupId"])

    async def create_network_interface(
        self,
        region: str,
        subnet_id: str,
        private_ip: str,
        group_ids: Sequence[str],
        description: str,
    ) -> str:
        raw = await self._call(
            region,
            "create_network_interface",
            SubnetId=subnet_id,
            PrivateIpAddress=private_ip,
            Groups=list(group_ids),
            Description=description,
        )
        return str(raw["NetworkInterface"]["NetworkInterfaceId"])


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
    tenants: dict[str, Tenant] = field(default_factory=dict)
    # An operator key of OPERATOR_TENANT, made through the API (its secret shown only here).
    operator_key: NewApiKey | None = None


DEMO_DEPLOYMENTS: tuple[tuple[str, str, str], ...] = (
    ("factory-telemetry", "us-east-1", "10.200.0.0/16"),
    ("fleet-staging", "us-east-1", "10.203.0.0/16"),
    ("eu-connected-cars", "eu-west-1", "10.201.0.0/16"),
    ("apac-sensors", "ap-southeast-1", "10.202.0.0/16"),
)

# Two customers of the platform: one owns most of the demo, the other a deployment of its own.
DEMO_TENANTS: dict[str, str] = {
    "factory-telemetry": "acme",
    "fleet-staging": "acme",
    "eu-connected-cars": "acme",
    "apac-sensors": "globex",
}
OPERATOR_TENANT = "acme"

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
    ec2: EstateBuilder,
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
    # What depends only on the VPC is made side by side.
    subnets, private, tables, group_ids = await asyncio.gather(
        asyncio.gather(
            *(
                ec2.create_subnet(region, vpc_id, str(block), {"Name": f"{name}-{i}"})
                for i, block in enumerate(blocks)
            )
        ),
        ec2.create_route_table(region, vpc_id, {"Name": f"{name}-private"}),
        ec2.describe_route_tables(region, vpc_ids=[vpc_id]),
        asyncio.gather(
            ec2.create_security_group(region, vpc_id, f"{name}-app", "application servers"),
            *(
                ec2.create_security_group(region, vpc_id, f"{name}-{db}", f"{db} clients")
                for db, _offset, _port in databases
            ),
        ),
    )
    main = next(t.id for t in tables if t.main)
    groups = dict(zip(["app", *(db for db, _o, _p in databases)], group_ids, strict=True))
    interfaces = {db: str(blocks[1].network_address + offset) for db, offset, _p in databases}
    await asyncio.gather(
        *(ec2.associate_route_table(region, private, subnet) for subnet in subnets[:2]),
        *(
            ec2.create_network_interface(
                region, subnets[1], interfaces[db], [groups[db]], f"{db} primary"
            )
            for db, _offset, _port in databases
        ),
    )
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


# Told what seeding just finished (a progress line; the dashboard polls again on each).
StageCallback = Callable[[str], None]


def _quiet(_stage: str) -> None:
    pass


async def seed_estate(
    client: PlatformClient,
    customer: EstateBuilder,
    platform_aws: AwsAccess,
    *,
    demo: bool = True,
    on_stage: StageCallback = _quiet,
    before_last: Callable[[], None] | None = None,
) -> SeedReport:
    """Deployments through the platform API, the customer's VPCs, and (``demo``) peerings in
    every interesting state; each group made side by side. ``before_last`` runs before the
    last peering is confirmed (the one a fresh dashboard sees move to running)."""
    report = SeedReport()
    tenants = await asyncio.gather(
        *(client.create_tenant(tenant) for tenant in dict.fromkeys(DEMO_TENANTS.values()))
    )
    report.tenants = {t.name: t for t in tenants}
    operator_key = asyncio.create_task(
        client.create_key(report.tenants[OPERATOR_TENANT].id, Role.OPERATOR)
    )

    async def deployment(name: str, region: str, cidr: str) -> None:
        tenant_id = report.tenants[DEMO_TENANTS[name]].id
        report.deployments[name] = await client.create_deployment(
            name, region, cidr, "demo", tenant_id=tenant_id
        )

    async def vpc(
        name: str, region: str, cidr: str, databases: tuple[tuple[str, int, int], ...]
    ) -> None:
        report.vpcs[name] = await build_customer_vpc(customer, name, region, cidr, databases)

    deployments = {spec[0]: spec for spec in DEMO_DEPLOYMENTS}
    vpcs = {spec[0]: spec for spec in DEMO_VPCS}
    unconfirmed: asyncio.Task[str] | None = None
    if demo:
        # Requested on AWS, never confirmed on the platform: its deployment and VPC are made
        # first, and it is requested while the rest are made: the first row a dashboard shows.
        await asyncio.gather(
            deployment(*deployments.pop("eu-connected-cars")), vpc(*vpcs.pop("eu-dr"))
        )
        unconfirmed = asyncio.create_task(
            _request(
                client, customer, report, "eu-connected-cars", "eu-dr", confirm=False,
                on_stage=on_stage,
            )
        )  # fmt: skip
    await asyncio.gather(
        *(deployment(*spec) for spec in deployments.values()),
        *(vpc(*spec) for spec in vpcs.values()),
    )
    report.operator_key = await operator_key
    # In the order they are listed, whichever was made first.
    report.deployments = {name: report.deployments[name] for name, *_ in DEMO_DEPLOYMENTS}
    report.vpcs = {name: report.vpcs[name] for name, *_ in DEMO_VPCS}
    on_stage(f"{len(report.deployments)} deployments and {len(report.vpcs)} customer VPCs made")
    if unconfirmed is not None:
        await _seed_peerings(
            client, customer, platform_aws, report, on_stage, before_last, unconfirmed
        )
        on_stage(f"{len(report.peerings)} peerings seeded")
    return report


# The staging account's VPCs (name, region, CIDR, databases), as DEMO_VPCS.
STAGING_VPCS: tuple[tuple[str, str, str, tuple[tuple[str, int, int], ...]], ...] = (
    ("staging-app", "us-east-1", "172.40.0.0/16", (("staging-db", 10, 5432),)),
    ("staging-tools", "us-east-1", "172.41.0.0/16", ()),
    ("staging-eu", "eu-west-1", "172.42.0.0/16", ()),
)


async def seed_staging(
    client: PlatformClient, staging: EstateBuilder, report: SeedReport, *, demo: bool = True
) -> None:
    """The customer's staging account: its VPCs and (``demo``) peerings of its own — one
    healthy, one whose route was removed behind the tool's back, one never confirmed."""
    for name, region, cidr, databases in STAGING_VPCS:
        report.vpcs[name] = await build_customer_vpc(staging, name, region, cidr, databases)
    if not demo:
        return
    await _create(client, staging, report, "factory-telemetry", "staging-app", ["app"])
    drifted = await _create(client, staging, report, "fleet-staging", "staging-tools", ["app"])
    tools = report.vpcs["staging-tools"]
    cidr = (await client.deployment_vpc(report.deployments["fleet-staging"].id)).cidr
    await staging.delete_route(tools.region, tools.route_tables[0], cidr)
    await _request(client, staging, report, "eu-connected-cars", "staging-eu", confirm=False)
    report.peerings["staging-tools->fleet-staging"] = drifted


async def _request(
    client: PlatformClient,
    customer: EstateBuilder,
    report: SeedReport,
    deployment: str,
    vpc: str,
    *,
    confirm: bool = True,
    on_stage: StageCallback = _quiet,
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
    on_stage(f"{vpc} → {deployment}: requested on AWS")
    if confirm:
        await client.confirm_peering(dep.id, pcx.id, pcx.requester.owner_id, cust.vpc_id)
    return pcx.id


async def _create(
    client: PlatformClient,
    customer: EstateBuilder,
    report: SeedReport,
    deployment: str,
    vpc: str,
    groups: Sequence[str],
    ports: Sequence[int] = (),
    on_stage: StageCallback = _quiet,
) -> str:
    """A peering made the way peering-tui makes them: the whole create workflow."""
    cust = report.vpcs[vpc]
    request = CreateRequest(
        deployment_id=report.deployments[deployment].id,
        vpc_id=cust.vpc_id,
        security_groups=tuple(cust.security_groups[g] for g in groups),
        ports=tuple(ports),
    )

    def progress(event: Progress) -> None:
        done = {Step.REQUEST: "requested on AWS", Step.CONFIRM: "confirmed on the platform"}
        if event.state == "done" and event.step in done:
            on_stage(f"{vpc} → {deployment}: {done[event.step]}")

    result = await create_peering(
        request, client, customer, on_progress=progress, poll_interval=0.05
    )
    peering_id = result.peering_id
    report.peerings[f"{vpc}->{deployment}"] = peering_id
    return peering_id


async def _route_staging_to_its_vpn(
    client: PlatformClient, platform_aws: AwsAccess, report: SeedReport
) -> None:
    """The platform's own network already routes 192.168.0.0/16 from fleet-staging (a VPN to
    its operations network), so a peer inside it fails at acceptance. peering-tui's create
    refuses such a peer before any pcx (the platform's pre-flight check): the failed one of the
    demo is requested and confirmed by hand, as an older tool would have."""
    staging_vpc = await client.deployment_vpc(report.deployments["fleet-staging"].id)
    async with EstateBuilder(platform_aws) as platform_ec2:
        igw = await platform_ec2.create_internet_gateway("us-east-1", staging_vpc.vpc_id)
        for table in staging_vpc.route_table_ids:
            await platform_ec2.create_gateway_route("us-east-1", table, "192.168.0.0/16", igw)


async def _add_resources(client: PlatformClient, report: SeedReport) -> None:
    """Two data integrations of factory-telemetry inside prod-data: its delete is refused."""
    prod = report.vpcs["prod-data"]
    for db, kind, port in (("orders-db", "postgresql", 5432), ("events-kafka", "kafka", 9092)):
        await client.create_resource(
            report.deployments["factory-telemetry"].id, db, kind, prod.interfaces[db], port
        )


async def _drift_behind_the_tools_back(
    client: PlatformClient, customer: EstateBuilder, report: SeedReport
) -> None:
    """eu-prod's main-table route and its database group's rule are gone."""
    eu = report.vpcs["eu-prod"]
    eu_cidr = (await client.deployment_vpc(report.deployments["eu-connected-cars"].id)).cidr
    await customer.delete_route(eu.region, eu.main_route_table, eu_cidr)
    db_group = eu.security_groups["telemetry-db"]
    db_rules = await customer.describe_security_group_rules(eu.region, [db_group])
    await customer.revoke_ingress(
        eu.region, db_group, [r.id for r in db_rules if r.cidr == eu_cidr and not r.is_egress]
    )


async def _seed_peerings(
    client: PlatformClient,
    customer: EstateBuilder,
    platform_aws: AwsAccess,
    report: SeedReport,
    on_stage: StageCallback,
    before_last: Callable[[], None] | None,
    unconfirmed: asyncio.Task[str],
) -> None:
    await _route_staging_to_its_vpn(client, platform_aws, report)
    made_by_create = (
        ("factory-telemetry", "prod-data", ("orders-db", "events-kafka"), (5432, 9092)),
        ("eu-connected-cars", "eu-prod", ("app", "telemetry-db"), ()),
        ("apac-sensors", "apac-edge", ("app",), ()),
    )

    async def failed() -> str:
        pcx = await _request(client, customer, report, "fleet-staging", "office-net")
        async with asyncio.timeout(60):  # the demo shows it failed, not still being accepted
            await wait_for_platform(client, report.deployments["fleet-staging"].id, pcx)
        return pcx

    _healthy, _drifted, orphaned, _failed = await asyncio.gather(
        *(
            _create(client, customer, report, deployment, vpc, groups, ports, on_stage)
            for deployment, vpc, groups, ports in made_by_create
        ),
        failed(),
    )
    await asyncio.gather(
        unconfirmed,
        _add_resources(client, report),
        _drift_behind_the_tools_back(client, customer, report),
        # Deleted on AWS behind the platform's back: the platform still says running.
        customer.delete_peering(report.vpcs["apac-edge"].region, orphaned),
    )
    # Confirmed last and not waited for, so a fresh dashboard sees it move to running.
    if before_last is not None:
        before_last()
    await _request(client, customer, report, "fleet-staging", "analytics")
