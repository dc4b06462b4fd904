"""One path through a peering, hop by hop: a free, instant, explained reachability check.

``--to IP[:PORT]``: the deployment reaching a resource in the customer VPC. ``--from IP``: a
client in the customer VPC reaching the deployment's MQTT ports. Either way the walk is
ENI → security groups → subnet → network ACL → route table (longest prefix, prefix lists
included) → pcx → the deployment side (as the platform reports it) → and back through the
network ACL (stateless, ephemeral ports). Each hop is judged with the diff's own rules
(:mod:`peering_core.drift`, :mod:`peering_core.reachability`), so the path and the diff never
disagree; a blocked hop carries the fix.

The reads are a handful of describes filtered by the requester VPC (and the address), not a
fleet refresh.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shlex
from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

from pydantic import Field

from .aws import Ec2Gateway
from .drift import (
    AclState,
    DiffModel,
    FixAction,
    RegionEstate,
    RouteState,
    acl_fix_actions,
    allowing_rules,
    judge_acl,
    route_fixes,
    table_route,
)
from .errors import InvalidInput, RuleViolation
from .intent import rule_description
from .models import (
    AwsPeering,
    DeploymentVpc,
    NetworkAcl,
    NetworkInterface,
    PlatformPeering,
    PlatformStatus,
    Resource,
    RouteTable,
    Subnet,
)
from .network import find_peering, with_prefix_lists
from .platform_client import PlatformClient
from .reachability import (
    EPHEMERAL_PORTS,
    MQTT_PORTS,
    rule_allowance,
    subnet_acl,
    subnet_route_table,
)
from .rules import contains_ip
from .workflow import Step, platform_record

Direction = Literal["to", "from"]


class HopState(StrEnum):
    OK = "ok"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"  # an earlier hop left nothing to judge this one by


class PathHop(DiffModel):
    """One hop of the path: what was judged, the verdict, why, and what would fix it."""

    hop: str
    id: str
    state: HopState
    detail: str
    fix: tuple[str, ...] = ()  # aws ec2 commands, or what to do in words


class PathReport(DiffModel):
    deployment_id: str = Field(alias="deploymentID")
    peering_id: str
    region: str
    direction: Direction
    address: str
    ports: tuple[int, ...]
    deployment_cidr: str
    hops: tuple[PathHop, ...]
    notes: tuple[str, ...] = ()

    @property
    def reachable(self) -> bool:
        return all(h.state == HopState.OK for h in self.hops)

    @property
    def blocked_at(self) -> PathHop | None:
        """The first hop that stops the traffic (or that could not be judged)."""
        return next((h for h in self.hops if h.state != HopState.OK), None)

    def verdict(self) -> str:
        """``reachable`` or ``blocked at network-acl``."""
        first = self.blocked_at
        return "reachable" if first is None else f"blocked at {first.hop}"


def parse_target(value: str, field: str) -> tuple[str, int | None]:
    """``IP`` or ``IP:PORT`` → (ip, port), refused with a clear error otherwise."""
    host, _, port_text = value.partition(":")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise RuleViolation(
            "INVALID_ARGUMENT", f"{field} {value!r} is not an IPv4 address (IP or IP:PORT)", field
        ) from None
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise RuleViolation(
            "INVALID_ARGUMENT", f"{field} {value!r}: the port must be 1 to 65535", field
        )
    return host, int(port_text)


# --- the walk (pure) ------------------------------------------------------------------------


def walk_path(
    *,
    direction: Direction,
    address: str,
    ports: Sequence[int],
    pcx: AwsPeering,
    deployment: DeploymentVpc,
    record: PlatformPeering | None,
    estate: RegionEstate,
) -> PathReport:
    """Judge every hop between the deployment and ``address`` in the requester VPC."""
    vpc_id, cidr, region = pcx.requester.vpc_id, deployment.cidr, estate.region
    notes: list[str] = []
    to = direction == "to"
    interface = next((n for n in estate.interfaces_of(vpc_id) if address in n.private_ips), None)
    subnet = _subnet(estate, vpc_id, address, interface)
    hops = [
        _eni_hop(interface, vpc_id, address),
        _groups_hop(interface, estate, cidr, ports, to, region, pcx.id),
    ]
    acl = subnet_acl(estate.acls_of(vpc_id), subnet.id, vpc_id) if subnet else None
    table = subnet_route_table(estate.tables_of(vpc_id), subnet.id) if subnet else None
    hops.append(_subnet_hop(subnet, vpc_id, address, acl, table))
    way = [(p, p) for p in ports]
    purpose = (
        f"the deployment → {address}" if to else f"{address} → the deployment's {_ports(ports)}"
    )
    hops.append(_acl_hop("network-acl", acl, subnet, not to, cidr, way, purpose, region))
    hops.append(_route_hop(table, pcx, cidr, estate, notes))
    hops.append(_pcx_hop(pcx))
    hops.append(_deployment_hop(deployment, record, pcx, address, notes))
    back = f"replies {'of' if to else 'to'} {address}"
    hops.append(
        _acl_hop("network-acl-return", acl, subnet, to, cidr, [EPHEMERAL_PORTS], back, region)
    )
    return PathReport(
        deployment_id=deployment.deployment_id,
        peering_id=pcx.id,
        region=region,
        direction=direction,
        address=address,
        ports=tuple(ports),
        deployment_cidr=cidr,
        hops=tuple(hops),
        notes=tuple(dict.fromkeys(notes)),
    )


def _subnet_hop(
    subnet: Subnet | None,
    vpc_id: str,
    address: str,
    acl: NetworkAcl | None,
    table: RouteTable | None,
) -> PathHop:
    if subnet is None:
        detail = f"no subnet of {vpc_id} contains {address}"
        return PathHop(hop="subnet", id="", state=HopState.BLOCKED, detail=detail)
    main = " (main)" if table is not None and table.main else ""
    return PathHop(
        hop="subnet",
        id=subnet.id,
        state=HopState.OK,
        detail=f"{subnet.id} ({subnet.cidr}): network ACL {acl.id if acl else '?'}, "
        f"route table {table.id if table else '?'}{main}",
    )


def _ports(ports: Sequence[int]) -> str:
    return "tcp/" + ",".join(str(p) for p in ports)


def _subnet(
    estate: RegionEstate, vpc_id: str, address: str, interface: NetworkInterface | None
) -> Subnet | None:
    subnets = estate.subnets_of(vpc_id)
    if interface is not None:
        found = next((s for s in subnets if s.id == interface.subnet_id), None)
        if found is not None:
            return found
    return next((s for s in subnets if contains_ip(s.cidr, address)), None)


def _eni_hop(interface: NetworkInterface | None, vpc_id: str, address: str) -> PathHop:
    if interface is None:
        look = ["aws", "ec2", "describe-network-interfaces", "--filters"]
        look.append(f"Name=addresses.private-ip-address,Values={address}")
        return PathHop(
            hop="eni",
            id="",
            state=HopState.BLOCKED,
            detail=f"no network interface of {vpc_id} holds {address}",
            fix=(f"check the address: {shlex.join(look)}",),
        )
    described = f" ({interface.description})" if interface.description else ""
    return PathHop(
        hop="eni",
        id=interface.id,
        state=HopState.OK,
        detail=f"{interface.id} in {interface.subnet_id} holds {address}{described}",
    )


def _groups_hop(
    interface: NetworkInterface | None,
    estate: RegionEstate,
    cidr: str,
    ports: Sequence[int],
    inbound: bool,
    region: str,
    peering_id: str,
) -> PathHop:
    """Security groups are stateful: the direction the traffic starts in is all they judge."""
    if interface is None:
        detail = "no network interface: no security group to judge"
        return PathHop(hop="security-groups", id="", state=HopState.UNKNOWN, detail=detail)
    groups = interface.group_ids
    way = "from" if inbound else "to"
    allowed: dict[str, list[int]] = {}  # how it is allowed → the ports it lets through
    blocked: list[int] = []
    for port in ports:
        found = [
            hit
            for g in groups
            for hit in allowing_rules(
                estate.ingress(g) if inbound else estate.egress(g),
                cidr,
                port,
                estate,
                anywhere=True,
            )
        ]
        if found:
            rule, block = found[0]
            how = f"{rule.group_id} ({rule_allowance(rule, cidr, block)})"
            allowed.setdefault(how, []).append(port)
        else:
            blocked.append(port)
    said = [f"{how} lets {_ports(p)} {way} {cidr}" for how, p in allowed.items()]
    ids = ", ".join(groups) or "(none)"
    if not blocked:
        return PathHop(hop="security-groups", id=ids, state=HopState.OK, detail="; ".join(said))
    direction = "inbound" if inbound else "outbound"
    fixes = [_allow_command(groups[0], cidr, p, inbound, region, peering_id) for p in blocked]
    return PathHop(
        hop="security-groups",
        id=ids,
        state=HopState.BLOCKED,
        detail=f"no {direction} rule of {ids} lets {_ports(blocked)} {way} {cidr}",
        fix=tuple(fixes) if groups else (),
    )


def _allow_command(
    group: str, cidr: str, port: int, inbound: bool, region: str, peering_id: str
) -> str:
    if inbound:
        action = FixAction(
            kind="authorize_ingress",
            region=region,
            reason="",
            group_id=group,
            cidr=cidr,
            port=port,
            description=rule_description(peering_id),
        )
        return action.aws_cli()
    permission = f"IpProtocol=tcp,FromPort={port},ToPort={port},IpRanges=[{{CidrIp={cidr}}}]"
    return shlex.join(
        ["aws", "ec2", "authorize-security-group-egress", "--group-id", group,
         "--ip-permissions", permission, "--region", region]
    )  # fmt: skip


def _acl_hop(
    hop: str,
    acl: NetworkAcl | None,
    subnet: Subnet | None,
    egress: bool,
    cidr: str,
    ports: list[tuple[int, int]],
    purpose: str,
    region: str,
) -> PathHop:
    if acl is None or subnet is None:
        return PathHop(hop=hop, id="", state=HopState.UNKNOWN,
                       detail="the subnet's network ACL is not known")  # fmt: skip
    notes: list[str] = []
    row = judge_acl(
        acl, [subnet.id], egress=egress, cidr=cidr, ports=ports, purpose=purpose, taken=set(),
        notes=notes,
    )  # fmt: skip
    ok = row.state == AclState.OK
    fixes = tuple(a.aws_cli() for a in acl_fix_actions(row, region))
    detail = row.reason if not ok else f"{row.reason}: {row.entry} decides"
    return PathHop(
        hop=hop,
        id=acl.id,
        state=HopState.OK if ok else HopState.BLOCKED,
        detail=detail,
        fix=fixes + tuple(notes),
    )


def _route_hop(
    table: RouteTable | None, pcx: AwsPeering, cidr: str, estate: RegionEstate, notes: list[str]
) -> PathHop:
    if table is None:
        return PathHop(hop="route-table", id="", state=HopState.UNKNOWN,
                       detail="the subnet's route table is not known")  # fmt: skip
    rows = table_route(table, pcx, cidr, estate, notes)
    bad = [r for r in rows if r.state != RouteState.OK]
    if not bad:
        return PathHop(hop="route-table", id=table.id, state=HopState.OK, detail=rows[0].reason)
    active = pcx.status == "active"
    fixes = [
        a.aws_cli()
        for r in bad
        for a in route_fixes(r, region=estate.region, peering_id=pcx.id, active=active)
    ]
    return PathHop(
        hop="route-table",
        id=table.id,
        state=HopState.BLOCKED,
        detail="; ".join(r.reason for r in bad),
        fix=tuple(fixes),
    )


def _pcx_hop(pcx: AwsPeering) -> PathHop:
    if pcx.status == "active":
        return PathHop(hop="pcx", id=pcx.id, state=HopState.OK, detail=f"{pcx.id} is active")
    return PathHop(
        hop="pcx",
        id=pcx.id,
        state=HopState.BLOCKED,
        detail=f"{pcx.id} is {pcx.status} on AWS: it carries nothing",
        fix=(f"make a new peering: peering-tui create DEPLOYMENT --vpc-id {pcx.requester.vpc_id}",),
    )


def _deployment_hop(
    deployment: DeploymentVpc,
    record: PlatformPeering | None,
    pcx: AwsPeering,
    address: str,
    notes: list[str],
) -> PathHop:
    name = deployment.deployment_id
    if record is None:
        return PathHop(
            hop="deployment",
            id=name,
            state=HopState.BLOCKED,
            detail=f"the platform has no record of {pcx.id}: it never accepted nor routed it",
            fix=("confirm the peering on the platform: re-running peering-tui create continues",),
        )
    if record.status is not PlatformStatus.RUNNING:
        why = f" ({record.reason})" if record.reason else ""
        return PathHop(
            hop="deployment",
            id=name,
            state=HopState.BLOCKED,
            detail=f"the platform says the peering is {record.status.value}{why}",
        )
    if not contains_ip(record.cidr, address):
        return PathHop(
            hop="deployment",
            id=name,
            state=HopState.BLOCKED,
            detail=f"the platform routes only {record.cidr} back via {pcx.id}; {address} is in "
            "another block of the VPC",
            fix=("the platform must record and route that block too",),
        )
    tables = ", ".join(deployment.route_table_ids) or "its route tables"
    notes.append(
        "the platform does not report its own side's routes yet: the deployment hop is judged "
        "from its record (running, the CIDR it routes)"
    )
    return PathHop(
        hop="deployment",
        id=name,
        state=HopState.OK,
        detail=f"the platform runs the peering and routes {record.cidr} via {pcx.id} in {tables}",
    )


# --- reading --------------------------------------------------------------------------------


async def check_path(
    platform: PlatformClient,
    ec2: Ec2Gateway,
    deployment_id: str,
    peering_id: str,
    *,
    to: str | None = None,
    from_: str | None = None,
) -> PathReport:
    """Read what one path needs (filtered by the requester VPC and the address) and walk it."""
    if (to is None) == (from_ is None):
        raise InvalidInput("INVALID_ARGUMENT", "give exactly one of --to IP[:PORT] or --from IP")
    direction: Direction = "to" if to is not None else "from"
    field = "--to" if to is not None else "--from"
    address, port = parse_target(to or from_ or "", field)
    info, record, pcx = await _peering(platform, ec2, deployment_id, peering_id)
    if port is not None:
        ports: tuple[int, ...] = (port,)
    elif direction == "from":
        ports = MQTT_PORTS
    else:
        ports = await _resource_port(platform, deployment_id, address)
    estate = await read_path_estate(ec2, info.region, pcx, address=address)
    _inside(estate, pcx, address, field)
    return walk_path(
        direction=direction,
        address=address,
        ports=ports,
        pcx=pcx,
        deployment=info,
        record=record,
        estate=estate,
    )


async def check_resource_paths(
    platform: PlatformClient, ec2: Ec2Gateway, deployment_id: str, peering_id: str
) -> list[tuple[Resource, PathReport]]:
    """The path from the deployment to each of its resources inside the requester VPC, read
    once for all of them."""
    info, record, pcx = await _peering(platform, ec2, deployment_id, peering_id)
    resources = await platform.resources(deployment_id)
    estate = await read_path_estate(ec2, info.region, pcx)
    inside = [
        r
        for r in resources
        if any(contains_ip(s.cidr, r.host) for s in estate.subnets_of(pcx.requester.vpc_id))
    ]
    reports = []
    for resource in inside:
        report = walk_path(
            direction="to",
            address=resource.host,
            ports=(resource.port,),
            pcx=pcx,
            deployment=info,
            record=record,
            estate=estate,
        )
        reports.append((resource, report))
    return reports


async def _peering(
    platform: PlatformClient, ec2: Ec2Gateway, deployment_id: str, peering_id: str
) -> tuple[DeploymentVpc, PlatformPeering | None, AwsPeering]:
    (info, pcx), record = await asyncio.gather(
        find_peering(platform, ec2, deployment_id, peering_id),
        platform_record(platform, deployment_id, peering_id, step=Step.VALIDATE),
    )
    return info, record, pcx


async def _resource_port(
    platform: PlatformClient, deployment_id: str, address: str
) -> tuple[int, ...]:
    ports = tuple(r.port for r in await platform.resources(deployment_id) if r.host == address)
    if not ports:
        raise InvalidInput(
            "INVALID_ARGUMENT",
            f"--to {address}: no resource of deployment {deployment_id} is at that address; "
            "name the port (--to IP:PORT)",
        )
    return tuple(dict.fromkeys(ports))


def _inside(estate: RegionEstate, pcx: AwsPeering, address: str, field: str) -> None:
    vpc_id = pcx.requester.vpc_id
    blocks = {*pcx.requester.cidrs, *((pcx.requester.cidr,) if pcx.requester.cidr else ())}
    blocks |= {s.cidr for s in estate.subnets_of(vpc_id)}
    if not any(contains_ip(b, address) for b in blocks):
        raise InvalidInput(
            "INVALID_ARGUMENT",
            f"{field} {address} is not inside {vpc_id} ({', '.join(sorted(blocks)) or 'no block'})",
        )


async def read_path_estate(
    ec2: Ec2Gateway, region: str, pcx: AwsPeering, *, address: str | None = None
) -> RegionEstate:
    """The requester VPC as far as a path needs it: subnets, route tables, interfaces (the one
    holding ``address``, or all), network ACLs, the interfaces' group rules, the prefix lists
    they refer to, and the state of other pcxs its tables route through."""
    vpc = [pcx.requester.vpc_id]
    subnets, tables, interfaces, acls = await asyncio.gather(
        ec2.describe_subnets(region, vpc),
        ec2.describe_route_tables(region, vpc_ids=vpc),
        ec2.describe_network_interfaces(region, vpc, private_ip=address),
        ec2.describe_network_acls(region, vpc),
    )
    groups = sorted({g for n in interfaces for g in n.group_ids})
    other_pcxs = sorted(
        {
            r.target_id
            for t in tables
            for r in (*t.routes, *t.prefix_list_routes)
            if r.target_kind == "pcx" and r.target_id != pcx.id
        }
    )
    rules, others = await asyncio.gather(
        ec2.describe_security_group_rules(region, groups),
        asyncio.gather(*(ec2.describe_peering(region, p) for p in other_pcxs)),
    )
    estate = RegionEstate(
        region=region,
        subnets=tuple(subnets),
        route_tables=tuple(tables),
        rules=tuple(rules),
        interfaces=tuple(interfaces),
        peerings=(pcx, *(p for p in others if p is not None)),
        network_acls=tuple(acls),
    )
    return await with_prefix_lists(ec2, estate, only_referenced=True)
