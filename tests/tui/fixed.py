"""A fixed, in-memory fleet for snapshot tests: the sandbox's demo story with stable ids and a
fixed clock, built from the core's own models, view and drift functions (no network, no
randomness). The customer's network is fixed too, so every diff comes from the core's own
``diff_region``: eu-connected-cars misses its main-table route and the telemetry-db rule,
apac-sensors' pcx is deleted (blackhole routes, a stale rule).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from peering_core.create_choices import CreateChoices, VpcChoice
from peering_core.delete import DeleteGuard, GuardCheck
from peering_core.drift import PeeringDiff, RegionEstate
from peering_core.health import build_views, deployment_views
from peering_core.intent import PeeringIntent, rule_description
from peering_core.models import (
    AwsPeering,
    Deployment,
    DeploymentVpc,
    PeeringSide,
    PlatformPeering,
    PlatformStatus,
    Resource,
    Route,
    RouteTable,
    SecurityGroup,
    SecurityGroupRule,
    Vpc,
)
from peering_core.network import diff_region
from peering_core.snapshot import Snapshot, SourceState, aws_source
from tui.app import PeeringApp

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
PLATFORM_ACCOUNT = "123456789012"
CUSTOMER_ACCOUNT = "210987654321"
RESERVED = ("100.0.0.0/8", "101.0.0.0/8")


def clock() -> datetime:
    """Three seconds after the snapshot: the header says ``refreshed 3s ago``."""
    return NOW + timedelta(seconds=3)


def _hex(n: int) -> str:
    return f"{n:017x}"


def _deployment(n: int, name: str, region: str) -> Deployment:
    return Deployment(
        id=f"d000000{n}",
        name=name,
        region=region,
        status="running",
        version="5.8",
        create_at=NOW - timedelta(days=30),
    )


DEPLOYMENTS = {
    "factory-telemetry": _deployment(1, "factory-telemetry", "us-east-1"),
    "fleet-staging": _deployment(2, "fleet-staging", "us-east-1"),
    "eu-connected-cars": _deployment(3, "eu-connected-cars", "eu-west-1"),
    "apac-sensors": _deployment(4, "apac-sensors", "ap-southeast-1"),
}
CIDRS = {
    "factory-telemetry": "10.200.0.0/16",
    "fleet-staging": "10.203.0.0/16",
    "eu-connected-cars": "10.201.0.0/16",
    "apac-sensors": "10.202.0.0/16",
}
DEPLOYMENT_VPCS = {
    name: DeploymentVpc(
        deployment_id=dep.id,
        region=dep.region,
        vpc_id=f"vpc-{_hex(0xA00 + i)}",
        cidr=CIDRS[name],
        account_id=PLATFORM_ACCOUNT,
        reserved_cidrs=RESERVED,
    )
    for i, (name, dep) in enumerate(DEPLOYMENTS.items())
}

# pcx number, deployment, requester VPC number, requester CIDR, platform status, AWS status,
# platform failure reason
PEERINGS: list[tuple[int, str, int, str, PlatformStatus | None, str, str | None]] = [
    (1, "factory-telemetry", 1, "172.20.0.0/16", PlatformStatus.RUNNING, "active", None),
    (2, "eu-connected-cars", 2, "172.30.0.0/16", PlatformStatus.RUNNING, "active", None),
    (3, "apac-sensors", 3, "10.50.0.0/16", PlatformStatus.RUNNING, "deleted", None),
    (
        4,
        "fleet-staging",
        4,
        "192.168.0.0/20",
        PlatformStatus.FAILED,
        "rejected",
        "CIDR overlap: deployment route table rtb-00000000000000b02 already routes "
        "192.168.0.0/16 to igw-00000000000000c02, which overlaps the peer CIDR 192.168.0.0/20",
    ),
    (5, "eu-connected-cars", 5, "172.31.0.0/16", None, "pending-acceptance", None),
    (6, "fleet-staging", 6, "172.21.0.0/16", PlatformStatus.PENDING, "provisioning", None),
]


def pcx_id(n: int) -> str:
    return f"pcx-{_hex(0xF00 + n)}"


def customer_vpc_id(n: int) -> str:
    return f"vpc-{_hex(0xB00 + n)}"


def private_table_id(vpc_n: int) -> str:
    return f"rtb-{_hex(0xC00 + vpc_n)}"


def main_table_id(vpc_n: int) -> str:
    return f"rtb-{_hex(0xD00 + vpc_n)}"


def app_group_id(vpc_n: int) -> str:
    return f"sg-{_hex(0xE00 + vpc_n)}"


# eu-prod's database has a security group of its own, like the sandbox's telemetry-db.
DATABASE_GROUP = f"sg-{_hex(0xE82)}"


def _intent_groups(vpc_n: int) -> tuple[str, ...]:
    return (app_group_id(vpc_n), DATABASE_GROUP) if vpc_n == 2 else (app_group_id(vpc_n),)


def _records_and_pcxs() -> tuple[list[PlatformPeering], list[AwsPeering]]:
    records, pcxs = [], []
    for n, name, vpc_n, cidr, status, aws_status, reason in PEERINGS:
        dep, info = DEPLOYMENTS[name], DEPLOYMENT_VPCS[name]
        created = NOW - timedelta(hours=n * 5, minutes=n * 7)
        if status is not None:
            records.append(
                PlatformPeering(
                    peering_id=pcx_id(n),
                    deployment_id=dep.id,
                    account_id=CUSTOMER_ACCOUNT,
                    vpc_id=customer_vpc_id(vpc_n),
                    cidr=cidr,
                    region=dep.region,
                    status=status,
                    reason=reason,
                    create_at=created,
                    update_at=created + timedelta(seconds=4),
                )
            )
        intent = PeeringIntent(
            deployment_id=dep.id,
            route_tables=(private_table_id(vpc_n), main_table_id(vpc_n)),
            security_groups=_intent_groups(vpc_n),
            ports=(5432, 9092) if n == 1 else (),
            requested_at=created,
        )
        pcxs.append(
            AwsPeering(
                id=pcx_id(n),
                status=aws_status,
                requester=PeeringSide(
                    owner_id=CUSTOMER_ACCOUNT,
                    vpc_id=customer_vpc_id(vpc_n),
                    region=dep.region,
                    cidr=cidr,
                    cidrs=(cidr,),
                ),
                accepter=PeeringSide(
                    owner_id=PLATFORM_ACCOUNT,
                    vpc_id=info.vpc_id,
                    region=dep.region,
                    cidr=info.cidr,
                    cidrs=(info.cidr,),
                ),
                tags={"Name": f"peering {n} to {name}"} | intent.to_tags(),
            )
        )
    return records, pcxs


def _customer_network(
    vpc_n: int, pcx: AwsPeering, deployment_cidr: str, rule_ids: list[int]
) -> tuple[list[RouteTable], list[SecurityGroup], list[SecurityGroupRule]]:
    """One customer VPC as the create workflow left it, then drifted like the sandbox's story:
    both tables route the deployment CIDR via the pcx and every intent group allows it in,
    except eu-prod's main table and database group; peerings that never ran have neither."""
    n = int(pcx.id[-2:], 16)
    made = n in (1, 2, 3)  # running on the platform (pcx 3 was deleted on AWS afterwards)
    tables = []
    for table_id, main in ((private_table_id(vpc_n), False), (main_table_id(vpc_n), True)):
        routed = made and not (n == 2 and main)
        routes = (Route(destination=deployment_cidr, target_kind="pcx", target_id=pcx.id),)
        tables.append(
            RouteTable(
                id=table_id,
                vpc_id=pcx.requester.vpc_id,
                main=main,
                routes=routes if routed else (),
            )
        )
    groups, rules = [], []
    intent = PeeringIntent.from_tags(pcx.tags)
    assert intent is not None
    for group_id in intent.security_groups:
        groups.append(
            SecurityGroup(id=group_id, vpc_id=pcx.requester.vpc_id, name=f"group {group_id[-3:]}")
        )
        if not made or (n == 2 and group_id == DATABASE_GROUP):
            continue
        for port in intent.rule_ports():
            rule_ids.append(len(rule_ids) + 1)
            rules.append(
                SecurityGroupRule(
                    id=f"sgr-{_hex(0x500 + rule_ids[-1])}",
                    group_id=group_id,
                    is_egress=False,
                    protocol="-1" if port is None else "tcp",
                    from_port=port,
                    to_port=port,
                    cidr=deployment_cidr,
                    description=rule_description(pcx.id),
                )
            )
    return tables, groups, rules


def fixed_diffs(pcxs: list[AwsPeering]) -> dict[str, PeeringDiff]:
    """Every pcx's diff, as the poller's tick carries them, from the core's ``diff_region``."""
    vpc_of = {n: vpc_n for n, _, vpc_n, *_ in PEERINGS}
    cidr_of = {name: CIDRS[name] for name in DEPLOYMENTS}
    diffs: dict[str, PeeringDiff] = {}
    rule_ids: list[int] = []
    for region in sorted({d.region for d in DEPLOYMENTS.values()}):
        in_region = [p for p in pcxs if p.accepter.region == region]
        tables, groups, rules = [], [], []
        for pcx in in_region:
            n = int(pcx.id[-2:], 16)
            name = next(name for m, name, *_ in PEERINGS if m == n)
            t, g, r = _customer_network(vpc_of[n], pcx, cidr_of[name], rule_ids)
            tables += t
            groups += g
            rules += r
        estate = RegionEstate(
            region=region,
            route_tables=tuple(tables),
            security_groups=tuple(groups),
            rules=tuple(rules),
            peerings=tuple(in_region),
        )
        diffs.update(diff_region(estate, list(DEPLOYMENT_VPCS.values()), ()))
    return diffs


def fixed_snapshot() -> Snapshot:
    """The demo fleet in every interesting state, as of :data:`NOW`."""
    records, pcxs = _records_and_pcxs()
    deployments = list(DEPLOYMENTS.values())
    vpcs = list(DEPLOYMENT_VPCS.values())
    regions = sorted({d.region for d in deployments})
    diffs = fixed_diffs(pcxs)
    drift = {pcx: diff.problems() for pcx, diff in diffs.items()}
    views = build_views(
        deployments, vpcs, records, pcxs, now=NOW, aws_regions_read=regions, drift=drift
    )
    by_region: dict[str, tuple[AwsPeering, ...]] = {
        r: tuple(p for p in pcxs if p.accepter.region == r) for r in regions
    }
    sources = {"platform": SourceState(name="platform", fetched_at=NOW)} | {
        aws_source(r): SourceState(name=aws_source(r), fetched_at=NOW) for r in regions
    }
    return Snapshot(
        taken_at=NOW,
        deployments=tuple(deployments),
        vpcs=tuple(vpcs),
        records=tuple(records),
        pcxs=by_region,
        diffs=diffs,
        views=tuple(views),
        deployment_views=tuple(deployment_views(deployments, vpcs, views)),
        sources=sources,
    )


def fixed_app(**settings: object) -> PeeringApp:
    """The dashboard on :func:`fixed_snapshot`, not polling, with a fixed clock."""
    return PeeringApp(snapshot=fixed_snapshot(), clock=clock, **settings)  # type: ignore[arg-type]


def _table(vpc_n: int, name: str, *, main: bool, subnets: int) -> RouteTable:
    prefix = 0xD00 if main else 0xC00
    return RouteTable(
        id=f"rtb-{_hex(prefix + vpc_n)}",
        vpc_id=customer_vpc_id(vpc_n),
        main=main,
        subnet_ids=tuple(f"subnet-{_hex(0x100 * vpc_n + i)}" for i in range(subnets)),
        tags={"Name": name} if name else {},
    )


def _groups(vpc_n: int, names: list[str]) -> tuple[SecurityGroup, ...]:
    return tuple(
        SecurityGroup(
            id=f"sg-{_hex(0xE00 + vpc_n * 16 + i)}",
            vpc_id=customer_vpc_id(vpc_n),
            name=group,
            description="default VPC security group" if group == "default" else f"{group} clients",
        )
        for i, group in enumerate(names)
    )


def _choice(
    vpc_n: int,
    name: str,
    cidr: str,
    groups: list[str],
    refusal: str | None = None,
    peered_by: str | None = None,
) -> VpcChoice:
    tables = (
        _table(vpc_n, f"{name}-private", main=False, subnets=2),
        _table(vpc_n, "", main=True, subnets=0),
    )
    security_groups = _groups(vpc_n, groups)
    return VpcChoice(
        vpc=Vpc(
            id=customer_vpc_id(vpc_n),
            region="us-east-1",
            owner_id=CUSTOMER_ACCOUNT,
            cidr=cidr,
            cidrs=(cidr,),
            tags={"Name": name},
        ),
        refusal=refusal,
        peered_by=peered_by,
        route_tables=tables,
        default_route_tables=tuple(t.id for t in tables),
        security_groups=security_groups,
        default_security_groups=(security_groups[0].id,),
    )


def fixed_create_choices() -> CreateChoices:
    """What the create form offers for factory-telemetry in the fixed fleet."""
    return CreateChoices(
        deployment=DEPLOYMENTS["factory-telemetry"],
        deployment_vpc=DEPLOYMENT_VPCS["factory-telemetry"],
        vpcs=(
            _choice(6, "analytics", "172.21.0.0/16", ["default", "analytics-app", "warehouse"]),
            _choice(
                7,
                "lab",
                "100.64.0.0/16",
                ["default"],
                refusal="peer CIDR 100.64.0.0/16 falls in 100.0.0.0/8, which the platform reserves",
            ),
            _choice(4, "office-net", "192.168.0.0/20", ["default", "office-net-app"]),
            _choice(
                1,
                "prod-data",
                "172.20.0.0/16",
                ["default", "prod-data-app", "orders-db"],
                peered_by=pcx_id(1),
            ),
        ),
    )


def fixed_refused_guard() -> DeleteGuard:
    """The guard for the healthy factory-telemetry peering: orders-db and events-kafka sit in
    the peer VPC, so the delete is refused."""
    records, _ = _records_and_pcxs()
    record = next(r for r in records if r.peering_id == pcx_id(1))
    dependents = tuple(
        Resource(
            id=f"r000000{i}",
            deployment_id=record.deployment_id,
            name=name,
            type=kind,
            host=host,
            port=port,
            create_at=NOW,
        )
        for i, (name, kind, host, port) in enumerate(
            [
                ("orders-db", "postgresql", "172.20.16.10", 5432),
                ("events-kafka", "kafka", "172.20.16.20", 9092),
            ]
        )
    )
    return DeleteGuard(
        record=record,
        dependents=dependents,
        checks=(
            GuardCheck(name="status", ok=True, detail="platform status is running"),
            GuardCheck(
                name="resources",
                ok=False,
                detail="2 resource(s) inside 172.20.0.0/16: orders-db (172.20.16.10:5432), "
                "events-kafka (172.20.16.20:9092)",
            ),
        ),
    )
