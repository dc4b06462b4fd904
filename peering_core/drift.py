"""Desired vs actual route tables and inbound rules for each peering → diff → fix plan.

Pure functions over models: :mod:`peering_core.estate` reads AWS in batched calls and hands
the result here. moto never marks a route ``blackhole`` when its pcx goes away, so the pcx's
state is checked here rather than trusted from the route.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from . import rules
from .intent import PeeringIntent, rule_description
from .models import (
    AwsPeering,
    NetworkInterface,
    Resource,
    RouteTable,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    Vpc,
)

T = TypeVar("T")

ANYWHERE = "0.0.0.0/0"
ROUTABLE_STATES = frozenset({"active"})


class RouteState(StrEnum):
    OK = "ok"
    MISSING = "missing"
    BLACKHOLE = "blackhole"
    WRONG_TARGET = "wrong_target"
    SHADOWED = "shadowed"
    STALE = "stale"


class RuleState(StrEnum):
    OK = "ok"
    MISSING = "missing"
    STALE = "stale"
    TOO_BROAD = "too_broad"


class DiffModel(BaseModel):
    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class RouteDiff(DiffModel):
    """One route table row: what the peering needs there and what is there."""

    route_table_id: str
    destination: str
    expected: str | None  # the target the peering needs, or None when it needs no route
    actual: str | None  # the target found, or None when there is no route
    state: RouteState
    reason: str


class RuleDiff(DiffModel):
    """One inbound rule row. ``port`` None means all traffic."""

    security_group_id: str
    cidr: str
    port: int | None
    expected: str
    actual: str
    state: RuleState
    reason: str
    rule_ids: tuple[str, ...] = ()


class PeeringDiff(DiffModel):
    peering_id: str
    status: str = "active"  # the pcx's status on AWS
    deployment_id: str = Field(alias="deploymentID")
    region: str
    vpc_id: str
    deployment_cidr: str
    peering_active: bool
    routes: tuple[RouteDiff, ...] = ()
    rules: tuple[RuleDiff, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def drift(self) -> list[RouteDiff | RuleDiff]:
        """Rows that need a change (``too_broad`` is a warning and not counted)."""
        rows: list[RouteDiff | RuleDiff] = [r for r in self.routes if r.state != RouteState.OK]
        rows += [r for r in self.rules if r.state not in (RuleState.OK, RuleState.TOO_BROAD)]
        return rows

    @property
    def warnings(self) -> list[RuleDiff]:
        return [r for r in self.rules if r.state == RuleState.TOO_BROAD]

    @property
    def gone(self) -> bool:
        """The pcx is deleted on AWS (history: worth showing only for what it left behind)."""
        return self.status in ("deleted", "deleting")

    @property
    def in_sync(self) -> bool:
        return not self.drift

    def summary(self) -> list[str]:
        """Problems in words, for the peering view."""
        return [r.reason for r in self.drift] + [r.reason for r in self.warnings]


class RegionEstate(BaseModel):
    """The customer account's network in one region, as far as peerings care."""

    model_config = ConfigDict(frozen=True)

    region: str
    vpcs: tuple[Vpc, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    route_tables: tuple[RouteTable, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    rules: tuple[SecurityGroupRule, ...] = ()
    interfaces: tuple[NetworkInterface, ...] = ()
    peerings: tuple[AwsPeering, ...] = ()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy without the index: it describes the original's contents."""
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop("_index", None)
        return copy

    # Built once per estate: a fleet diff looks things up per peering, and linear scans would
    # make a refresh quadratic in the number of peerings.
    @cached_property
    def _index(self) -> _EstateIndex:
        return _EstateIndex(
            tables=_group(self.route_tables, lambda t: t.vpc_id),
            groups=_group(self.security_groups, lambda g: g.vpc_id),
            ingress=_group((r for r in self.rules if not r.is_egress), lambda r: r.group_id),
            subnets=_group(self.subnets, lambda s: s.vpc_id),
            interfaces=_group(self.interfaces, lambda n: n.vpc_id),
            peerings={p.id: p for p in self.peerings},
        )

    def tables_of(self, vpc_id: str) -> list[RouteTable]:
        return self._index.tables.get(vpc_id, [])

    def groups_of(self, vpc_id: str) -> list[SecurityGroup]:
        return self._index.groups.get(vpc_id, [])

    def subnets_of(self, vpc_id: str) -> list[Subnet]:
        return self._index.subnets.get(vpc_id, [])

    def interfaces_of(self, vpc_id: str) -> list[NetworkInterface]:
        return self._index.interfaces.get(vpc_id, [])

    def ingress(self, group_id: str) -> list[SecurityGroupRule]:
        return self._index.ingress.get(group_id, [])

    def pcx(self, peering_id: str) -> AwsPeering | None:
        return self._index.peerings.get(peering_id)


@dataclass(frozen=True, slots=True)
class _EstateIndex:
    """A region estate's contents by VPC, group or id."""

    tables: dict[str, list[RouteTable]]
    groups: dict[str, list[SecurityGroup]]
    ingress: dict[str, list[SecurityGroupRule]]
    subnets: dict[str, list[Subnet]]
    interfaces: dict[str, list[NetworkInterface]]
    peerings: dict[str, AwsPeering]


def _group(items: Iterable[T], key: Callable[[T], str]) -> dict[str, list[T]]:
    grouped: dict[str, list[T]] = {}
    for item in items:
        grouped.setdefault(key(item), []).append(item)
    return grouped


def serving_route_tables(tables: Sequence[RouteTable], subnet_ids: Sequence[str]) -> list[str]:
    """Route tables that serve at least one subnet: explicit associations, plus the main table
    when some subnet has no explicit association (or the VPC has no subnet yet)."""
    explicit = {s for t in tables for s in t.subnet_ids}
    serving = {t.id for t in tables if t.subnet_ids}
    main = next((t for t in tables if t.main), None)
    if main is not None and (any(s not in explicit for s in subnet_ids) or not subnet_ids):
        serving.add(main.id)
    return sorted(serving)


def serving_tables(estate: RegionEstate, vpc_id: str) -> list[str]:
    """The serving route tables of ``vpc_id`` in ``estate``."""
    return serving_route_tables(estate.tables_of(vpc_id), [s.id for s in estate.subnets_of(vpc_id)])


def _subnet_of(inner: str, outer: str) -> bool:
    a = ipaddress.ip_network(inner)
    b = ipaddress.ip_network(outer)
    return a != b and a.version == b.version and a.subnet_of(b)  # type: ignore[arg-type]


def _label(port: int | None) -> str:
    return "all traffic" if port is None else f"tcp/{port}"


def _covering(
    rules_: Iterable[SecurityGroupRule], cidr: str, port: int | None
) -> list[SecurityGroupRule]:
    """Rules from exactly ``cidr`` that let ``port`` in."""
    return [r for r in rules_ if r.cidr == cidr and r.covers_port(port)]


def _allowing(
    rules_: Iterable[SecurityGroupRule], cidr: str, port: int | None
) -> list[SecurityGroupRule]:
    """Rules that let ``port`` in from all of ``cidr`` (a wider block counts; 0.0.0.0/0 does
    not: it is reported as too broad, and revoking it must not leave the peering without)."""
    return [
        r
        for r in rules_
        if r.cidr is not None
        and r.cidr != ANYWHERE
        and r.covers_port(port)
        and _within(cidr, r.cidr)
    ]


def _within(inner: str, outer: str) -> bool:
    a = ipaddress.ip_network(inner)
    b = ipaddress.ip_network(outer)
    return a.version == b.version and a.subnet_of(b)  # type: ignore[arg-type]


def diff_peering(
    pcx: AwsPeering,
    *,
    deployment_id: str,
    deployment_cidr: str,
    estate: RegionEstate,
    resources: Sequence[Resource] = (),
    live_cidrs: Mapping[str, set[str]] | None = None,
) -> PeeringDiff:
    """The diff of one peering. ``live_cidrs`` maps a VPC to the deployment CIDRs it has an
    active peering with (so a rule from one of them is never called stale)."""
    vpc_id = pcx.requester.vpc_id
    region = estate.region
    active = pcx.status in ROUTABLE_STATES
    intent = PeeringIntent.from_tags(pcx.tags)
    tables = estate.tables_of(vpc_id)
    by_id = {t.id: t for t in tables}
    notes: list[str] = []
    routes: list[RouteDiff] = []

    def target_state(target: str) -> str:
        other = estate.pcx(target)
        return other.status if other else "not visible"

    if active:
        wanted = list(intent.route_tables) if intent else serving_tables(estate, vpc_id)
        for table_id in wanted:
            table = by_id.get(table_id)
            if table is None:
                notes.append(f"route table {table_id} of the intent no longer exists")
                continue
            route = table.route_to(deployment_cidr)
            if route is None:
                main = " (main table, serves subnets without their own)" if table.main else ""
                routes.append(
                    RouteDiff(
                        route_table_id=table.id,
                        destination=deployment_cidr,
                        expected=pcx.id,
                        actual=None,
                        state=RouteState.MISSING,
                        reason=f"{table.id}{main} has no route to {deployment_cidr}",
                    )
                )
            elif route.target_id == pcx.id and route.state != "blackhole":
                routes.append(
                    RouteDiff(
                        route_table_id=table.id,
                        destination=deployment_cidr,
                        expected=pcx.id,
                        actual=pcx.id,
                        state=RouteState.OK,
                        reason=f"{table.id} routes {deployment_cidr} via {pcx.id}",
                    )
                )
            elif route.target_id == pcx.id or (
                route.target_kind == "pcx" and target_state(route.target_id) != "active"
            ):
                routes.append(
                    RouteDiff(
                        route_table_id=table.id,
                        destination=deployment_cidr,
                        expected=pcx.id,
                        actual=route.target_id,
                        state=RouteState.BLACKHOLE,
                        reason=f"{table.id} routes {deployment_cidr} via {route.target_id}, "
                        f"which is {target_state(route.target_id)}",
                    )
                )
            else:
                routes.append(
                    RouteDiff(
                        route_table_id=table.id,
                        destination=deployment_cidr,
                        expected=pcx.id,
                        actual=route.target_id,
                        state=RouteState.WRONG_TARGET,
                        reason=f"{table.id} sends {deployment_cidr} to {route.target_id} "
                        f"({route.target_kind}), not to {pcx.id}",
                    )
                )
            for other in table.routes:
                if other.target_id != pcx.id and _subnet_of(other.destination, deployment_cidr):
                    routes.append(
                        RouteDiff(
                            route_table_id=table.id,
                            destination=other.destination,
                            expected=pcx.id,
                            actual=other.target_id,
                            state=RouteState.SHADOWED,
                            reason=f"{table.id} sends {other.destination} (inside "
                            f"{deployment_cidr}) to {other.target_id}",
                        )
                    )
    for table in tables:
        for route in table.routes:
            if route.target_id != pcx.id:
                continue
            inside = _within(route.destination, deployment_cidr)
            if active and inside:
                continue  # the main route, or a narrower one via the same pcx: both fine
            if not active and inside:
                routes.append(
                    RouteDiff(
                        route_table_id=table.id,
                        destination=route.destination,
                        expected=None,
                        actual=pcx.id,
                        state=RouteState.BLACKHOLE,
                        reason=f"{table.id} routes {route.destination} via {pcx.id}, "
                        f"which is {pcx.status}",
                    )
                )
            else:
                routes.append(
                    RouteDiff(
                        route_table_id=table.id,
                        destination=route.destination,
                        expected=None,
                        actual=pcx.id,
                        state=RouteState.STALE,
                        reason=f"{table.id} routes {route.destination} via {pcx.id}, which "
                        f"only serves {deployment_cidr}",
                    )
                )

    rule_rows: list[RuleDiff] = []
    if active:
        rule_rows += _needed_rules(pcx, intent, deployment_cidr, estate, resources, notes)
    rule_rows += _stale_rules(pcx, deployment_cidr, estate, live_cidrs or {}, active)
    if not active and not routes and not rule_rows and pcx.status not in ("deleted", "deleting"):
        notes.append(
            f"the pcx is {pcx.status}: nothing routes through it, so no route or rule is needed"
        )
    return PeeringDiff(
        peering_id=pcx.id,
        deployment_id=deployment_id,
        region=region,
        vpc_id=vpc_id,
        deployment_cidr=deployment_cidr,
        status=pcx.status,
        peering_active=active,
        routes=tuple(routes),
        rules=tuple(rule_rows),
        notes=tuple(notes),
    )


def _needed_rules(
    pcx: AwsPeering,
    intent: PeeringIntent | None,
    cidr: str,
    estate: RegionEstate,
    resources: Sequence[Resource],
    notes: list[str],
) -> list[RuleDiff]:
    vpc_id = pcx.requester.vpc_id
    rows: list[RuleDiff] = []
    existing_groups = {g.id for g in estate.groups_of(vpc_id)}

    def need(group: str, port: int | None, why: str) -> None:
        if group not in existing_groups:
            notes.append(f"security group {group} ({why}) no longer exists")
            return
        ingress = estate.ingress(group)
        found = _allowing(ingress, cidr, port)
        rows.append(
            RuleDiff(
                security_group_id=group,
                cidr=cidr,
                port=port,
                expected=f"allow {_label(port)} from {cidr}",
                actual=f"allowed by {found[0].id}" if found else "not allowed",
                state=RuleState.OK if found else RuleState.MISSING,
                reason=f"{group} {'allows' if found else 'does not allow'} {_label(port)} "
                f"from {cidr} ({why})",
                rule_ids=tuple(r.id for r in found),
            )
        )
        broad = _covering(ingress, ANYWHERE, port)
        if broad:
            rows.append(
                RuleDiff(
                    security_group_id=group,
                    cidr=ANYWHERE,
                    port=port,
                    expected=f"{_label(port)} open to {cidr} only",
                    actual=f"open to {ANYWHERE} by {', '.join(r.id for r in broad)}",
                    state=RuleState.TOO_BROAD,
                    reason=f"{group} opens {_label(port)} to {ANYWHERE} ({why})",
                    rule_ids=tuple(r.id for r in broad),
                )
            )

    if intent is not None:
        for group in intent.security_groups:
            for port in intent.rule_ports():
                need(group, port, "the peering's intent")
    else:
        groups = estate.groups_of(vpc_id)
        allowing = [r for g in groups for r in estate.ingress(g.id) if r.cidr == cidr]
        default = next(
            (g.id for g in groups if g.name == "default"), groups[0].id if groups else ""
        )
        rows.append(
            RuleDiff(
                security_group_id=allowing[0].group_id if allowing else default,
                cidr=cidr,
                port=None,
                expected=f"some security group of {vpc_id} allows {cidr}",
                actual=f"allowed by {allowing[0].id}" if allowing else "no group allows it",
                state=RuleState.OK if allowing else RuleState.MISSING,
                reason=(
                    f"{allowing[0].group_id} allows {cidr}"
                    if allowing
                    else f"no security group of {vpc_id} allows {cidr} (created without intent)"
                ),
                rule_ids=tuple(r.id for r in allowing[:1]),
            )
        )
    requester_cidrs = pcx.requester.cidrs or ((pcx.requester.cidr,) if pcx.requester.cidr else ())
    for resource in resources:
        if not any(rules.contains_ip(c, resource.host) for c in requester_cidrs):
            continue
        owner = next(
            (n for n in estate.interfaces_of(vpc_id) if resource.host in n.private_ips), None
        )
        if owner is None:
            notes.append(
                f"resource {resource.name} ({resource.host}) has no network interface in {vpc_id}"
            )
            continue
        allowed = [
            r for g in owner.group_ids for r in _allowing(estate.ingress(g), cidr, resource.port)
        ]
        if allowed:
            rows.append(
                RuleDiff(
                    security_group_id=allowed[0].group_id,
                    cidr=cidr,
                    port=resource.port,
                    expected=f"allow tcp/{resource.port} from {cidr}",
                    actual=f"allowed by {allowed[0].id}",
                    state=RuleState.OK,
                    reason=f"{resource.name} ({resource.host}) reachable on {resource.port}",
                    rule_ids=(allowed[0].id,),
                )
            )
        else:
            group = owner.group_ids[0] if owner.group_ids else ""
            rows.append(
                RuleDiff(
                    security_group_id=group,
                    cidr=cidr,
                    port=resource.port,
                    expected=f"allow tcp/{resource.port} from {cidr}",
                    actual="not allowed",
                    state=RuleState.MISSING,
                    reason=f"resource {resource.name} ({resource.host}:{resource.port}): "
                    f"{owner.id}'s groups do not allow tcp/{resource.port} from {cidr}",
                )
            )
        for g in owner.group_ids:
            broad = _covering(estate.ingress(g), ANYWHERE, resource.port)
            if broad:
                rows.append(
                    RuleDiff(
                        security_group_id=g,
                        cidr=ANYWHERE,
                        port=resource.port,
                        expected=f"tcp/{resource.port} open to {cidr} only",
                        actual=f"open to {ANYWHERE} by {', '.join(r.id for r in broad)}",
                        state=RuleState.TOO_BROAD,
                        reason=f"{g} opens tcp/{resource.port} of {resource.name} to {ANYWHERE}",
                        rule_ids=tuple(r.id for r in broad),
                    )
                )
    # One row per (group, cidr, port): intent and resources may ask for the same thing.
    unique: dict[tuple[str, str, int | None, RuleState], RuleDiff] = {}
    for row in rows:
        unique.setdefault((row.security_group_id, row.cidr, row.port, row.state), row)
    return list(unique.values())


def _stale_rules(
    pcx: AwsPeering,
    cidr: str,
    estate: RegionEstate,
    live_cidrs: Mapping[str, set[str]],
    active: bool,
) -> list[RuleDiff]:
    """Rules from this deployment's CIDR that no active peering of the VPC justifies."""
    vpc_id = pcx.requester.vpc_id
    if active or cidr in live_cidrs.get(vpc_id, set()):
        return []
    description = rule_description(pcx.id)
    rows = []
    for group in estate.groups_of(vpc_id):
        for rule in estate.ingress(group.id):
            if rule.cidr == cidr or rule.description == description:
                port = None if rule.protocol == "-1" else rule.from_port
                rows.append(
                    RuleDiff(
                        security_group_id=group.id,
                        cidr=rule.cidr or cidr,
                        port=port,
                        expected="no rule (the peering is gone)",
                        actual=f"{rule.id} allows {_label(port)} from {rule.cidr}",
                        state=RuleState.STALE,
                        reason=f"{group.id} still allows {rule.cidr} although {pcx.id} is "
                        f"{pcx.status}",
                        rule_ids=(rule.id,),
                    )
                )
    return rows


# --- fix plan -------------------------------------------------------------------------------

ActionKind = Literal[
    "delete_route", "replace_route", "create_route", "authorize_ingress", "revoke_ingress"
]
_ORDER = {
    "delete_route": 0,
    "replace_route": 1,
    "create_route": 2,
    "authorize_ingress": 3,
    "revoke_ingress": 4,
}


class FixAction(DiffModel):
    """One change, with the flag it needs (``None``: done by default) and its aws CLI twin."""

    kind: ActionKind
    region: str
    reason: str
    needs: Literal["replace", "revoke"] | None = None
    route_table_id: str | None = None
    destination: str | None = None
    peering_id: str | None = None
    group_id: str | None = None
    cidr: str | None = None
    port: int | None = None
    rule_ids: tuple[str, ...] = ()
    description: str | None = None

    def aws_cli(self) -> str:
        """The exact ``aws ec2`` command that makes the same change."""
        region = ["--region", self.region]
        if self.kind in ("create_route", "replace_route"):
            verb = "create-route" if self.kind == "create_route" else "replace-route"
            args = [
                "aws", "ec2", verb,
                "--route-table-id", self.route_table_id or "",
                "--destination-cidr-block", self.destination or "",
                "--vpc-peering-connection-id", self.peering_id or "",
                *region,
            ]  # fmt: skip
        elif self.kind == "delete_route":
            args = [
                "aws", "ec2", "delete-route",
                "--route-table-id", self.route_table_id or "",
                "--destination-cidr-block", self.destination or "",
                *region,
            ]  # fmt: skip
        elif self.kind == "authorize_ingress":
            proto = "-1" if self.port is None else "tcp"
            ports = "" if self.port is None else f",FromPort={self.port},ToPort={self.port}"
            permission = (
                f"IpProtocol={proto}{ports},"
                f"IpRanges=[{{CidrIp={self.cidr},Description={self.description}}}]"
            )
            args = [
                "aws", "ec2", "authorize-security-group-ingress",
                "--group-id", self.group_id or "",
                "--ip-permissions", permission,
                *region,
            ]  # fmt: skip
        else:
            args = [
                "aws", "ec2", "revoke-security-group-ingress",
                "--group-id", self.group_id or "",
                "--security-group-rule-ids", *self.rule_ids,
                *region,
            ]  # fmt: skip
        return shlex.join(args)


class FixPlan(DiffModel):
    actions: tuple[FixAction, ...] = ()

    def allowed(self, *, replace: bool, revoke: bool) -> list[FixAction]:
        flags = {None, *(["replace"] if replace else []), *(["revoke"] if revoke else [])}
        return [a for a in self.actions if a.needs in flags]

    def held_back(self, *, replace: bool, revoke: bool) -> list[FixAction]:
        allowed = self.allowed(replace=replace, revoke=revoke)
        return [a for a in self.actions if a not in allowed]


def plan_fix(diffs: Iterable[PeeringDiff]) -> FixPlan:
    """Ordered actions that bring every diff in sync: route deletions first, rule revokes last."""
    actions: list[FixAction] = []
    revokes: dict[tuple[str, str], FixAction] = {}
    seen: set[tuple[object, ...]] = set()

    def add(action: FixAction, key: tuple[object, ...]) -> None:
        if key not in seen:
            seen.add(key)
            actions.append(action)

    for diff in diffs:
        region = diff.region
        for row in diff.routes:
            table = row.route_table_id
            if row.state == RouteState.MISSING:
                add(
                    FixAction(kind="create_route", region=region, reason=row.reason,
                              route_table_id=table, destination=row.destination,
                              peering_id=diff.peering_id),
                    ("route", table, row.destination),
                )  # fmt: skip
            elif row.state in (RouteState.BLACKHOLE, RouteState.STALE):
                add(
                    FixAction(kind="delete_route", region=region, reason=row.reason,
                              route_table_id=table, destination=row.destination),
                    ("route-delete", table, row.destination),
                )  # fmt: skip
                if row.state == RouteState.BLACKHOLE and row.expected and diff.peering_active:
                    add(
                        FixAction(kind="create_route", region=region,
                                  reason=f"then route {row.destination} via {diff.peering_id}",
                                  route_table_id=table, destination=row.destination,
                                  peering_id=diff.peering_id),
                        ("route", table, row.destination),
                    )  # fmt: skip
            elif row.state == RouteState.WRONG_TARGET:
                add(
                    FixAction(kind="replace_route", region=region, reason=row.reason,
                              needs="replace", route_table_id=table,
                              destination=row.destination, peering_id=diff.peering_id),
                    ("route", table, row.destination),
                )  # fmt: skip
            elif row.state == RouteState.SHADOWED:
                add(
                    FixAction(kind="delete_route", region=region, reason=row.reason,
                              needs="replace", route_table_id=table,
                              destination=row.destination),
                    ("route-delete", table, row.destination),
                )  # fmt: skip
        for rule in diff.rules:
            if rule.state == RuleState.MISSING and rule.security_group_id:
                add(
                    FixAction(kind="authorize_ingress", region=region, reason=rule.reason,
                              group_id=rule.security_group_id, cidr=rule.cidr, port=rule.port,
                              description=rule_description(diff.peering_id)),
                    ("rule", rule.security_group_id, rule.cidr, rule.port),
                )  # fmt: skip
            elif rule.state in (RuleState.STALE, RuleState.TOO_BROAD) and rule.rule_ids:
                # One revoke per group with every rule id once: two rows may name the same
                # rule, and revoking it twice fails the second aws CLI command.
                key = (region, rule.security_group_id)
                merged = revokes.setdefault(
                    key,
                    FixAction(kind="revoke_ingress", region=region, reason=rule.reason,
                              needs="revoke", group_id=rule.security_group_id),
                )  # fmt: skip
                new_ids = tuple(i for i in rule.rule_ids if i not in merged.rule_ids)
                if new_ids:
                    reason = merged.reason
                    if merged.rule_ids and rule.reason not in reason:
                        reason = f"{reason}; {rule.reason}"
                    revokes[key] = merged.model_copy(
                        update={"rule_ids": merged.rule_ids + new_ids, "reason": reason}
                    )
    actions.extend(revokes.values())
    actions.sort(key=lambda a: _ORDER[a.kind])
    return FixPlan(actions=tuple(actions))
