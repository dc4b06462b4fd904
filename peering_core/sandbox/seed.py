"""Seeding the sandbox: deployments through the platform API, a customer estate on moto, and
peerings in every state worth showing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import rules
from ..aws import AwsAccess
from ..create import CreateRequest, create_peering
from ..errors import Failed
from ..intent import PeeringIntent
from ..models import Deployment, NewApiKey, PlatformPeering, PlatformStatus, Role, Tenant
from ..platform.ec2 import PlatformEc2
from ..platform_client import PlatformClient

PLATFORM_ACCOUNT_ID = "123456789012"  # moto's default account
CUSTOMER_ACCOUNT_ID = "210987654321"
CUSTOMER_ACCOUNT_NAME = "prod"
# The customer's second account, reached by assuming a role with the first one's keys.
STAGING_ACCOUNT_ID = "222222222222"
STAGING_ACCOUNT_NAME = "staging"
STAGING_ROLE_ARN = f"arn:aws:iam::{STAGING_ACCOUNT_ID}:role/peering-ops"
SANDBOX_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")


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
    customer: EstateBuilder,
    platform_aws: AwsAccess,
    *,
    demo: bool = True,
) -> SeedReport:
    """Deployments through the platform API, the customer's VPCs, and (``demo``) peerings in
    every interesting state."""
    report = SeedReport()
    for tenant in dict.fromkeys(DEMO_TENANTS.values()):
        report.tenants[tenant] = await client.create_tenant(tenant)
    report.operator_key = await client.create_key(report.tenants[OPERATOR_TENANT].id, Role.OPERATOR)
    for name, region, cidr in DEMO_DEPLOYMENTS:
        report.deployments[name] = await client.create_deployment(
            name, region, cidr, "demo", tenant_id=report.tenants[DEMO_TENANTS[name]].id
        )
    for name, region, cidr, databases in DEMO_VPCS:
        report.vpcs[name] = await build_customer_vpc(customer, name, region, cidr, databases)
    if demo:
        await _seed_peerings(client, customer, platform_aws, report)
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
    client: PlatformClient, customer: EstateBuilder, platform_aws: AwsAccess, report: SeedReport
) -> None:
    deps = report.deployments
    vpcs = report.vpcs

    # The platform's own network already routes 192.168.0.0/16 from fleet-staging (a VPN to
    # its operations network), so a peer inside it fails at acceptance.
    staging_vpc = await client.deployment_vpc(deps["fleet-staging"].id)
    async with EstateBuilder(platform_aws) as platform_ec2:
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
