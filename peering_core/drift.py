"""Desired vs actual route tables, inbound rules and network ACLs for each peering → diff →
fix plan.

Pure functions over models: :mod:`peering_core.network` reads AWS in batched calls and hands
the result here; :mod:`peering_core.reachability` says what lets traffic through (longest
prefix, prefix lists, covering blocks, ACL entries). moto never marks a route ``blackhole``
when its pcx goes away, so the pcx's state is checked here rather than trusted from the route.

A fix plan creates before it deletes (and replaces in place where EC2 can), so a plan that
stops between two steps never leaves the peering with less than it had.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, computed_field
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass as pydantic_dataclass

from . import rules
from .health import Health, worst
from .intent import PeeringIntent, rule_description
from .models import (
    AclEntry,
    AwsPeering,
    NetworkAcl,
    NetworkInterface,
    PrefixList,
    Resource,
    RouteTable,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    Vpc,
)
from .reachability import (
    ANYWHERE,
    EPHEMERAL_PORTS,
    MQTT_PORTS,
    AclVerdict,
    RouteChoice,
    acl_fixes,
    acl_verdict,
    best_route,
    carves,
    port_label,
    ports_label,
    route_choices,
    rule_allowance,
    rule_allows,
    rule_sources,
    subnet_acl,
    subnet_route_table,
    within,
)

T = TypeVar("T")

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


class AclState(StrEnum):
    OK = "ok"
    BLOCKED = "blocked"


# How bad each row's state is (see Health): what stops traffic is an error; what works but
# needs attention a warning.
_ERRORS = frozenset(
    {
        RouteState.MISSING,
        RouteState.BLACKHOLE,
        RouteState.WRONG_TARGET,
        RouteState.SHADOWED,
        RuleState.MISSING,
        AclState.BLOCKED,
    }
)
_WARNINGS = frozenset({RouteState.STALE, RuleState.STALE, RuleState.TOO_BROAD})


def state_health(state: RouteState | RuleState | AclState) -> Health:
    """The severity of a diff row in ``state``."""
    if state in _ERRORS:
        return Health.ERROR
    if state in _WARNINGS:
        return Health.WARNING
    return Health.OK


# camelCase on the wire, snake_case in Python: the diff's JSON speaks the Platform API's style.
_WIRE = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


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
    # The route that decides when it is not a CIDR route to ``destination`` itself: a wider
    # CIDR that covers it, or the ``pl-…`` prefix list that holds it.
    matched: str | None = None


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
    # The rules themselves where a fix may revoke them (stale, too broad): what Terraform
    # adopts, as they are, before it deletes them. Not in the JSON (``ruleIds`` names them).
    rules: tuple[SecurityGroupRule, ...] = Field(default=(), exclude=True)


# ACL rows are a fleet's most numerous rows (two per peering at least): slotted dataclasses,
# their reason worded when asked, hold a sixth of a model's memory (a pydantic model each
# would add about 20 MB to a 5,000-peering tick).
@pydantic_dataclass(frozen=True, slots=True, config=_WIRE)
class AclFix:
    """An ACL entry that lets the row's traffic through (always an allow, always TCP)."""

    rule_number: int
    egress: bool
    cidr: str
    from_port: int
    to_port: int
    replace: bool  # replaces the deny of the same number, else a new entry


@pydantic_dataclass(frozen=True, slots=True, config=_WIRE)
class AclDiff:
    """One network ACL check: the traffic one direction of the peering needs through the ACL
    of some subnets, and the entry that decides it."""

    network_acl_id: str
    subnet_ids: tuple[str, ...]
    direction: Literal["inbound", "outbound"]
    cidr: str
    ports: str  # tcp/5432, tcp/1024-65535, tcp/1883,8883
    purpose: str
    state: AclState
    rule: str  # the deciding entry's number, or * for the final deny
    entry: str  # the deciding entry as the operator reads it
    blocked: str = ""  # the ports it blocks (some of ``ports``), "" when it lets them through
    fixes: tuple[AclFix, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reason(self) -> str:
        where = f"{self.network_acl_id} ({', '.join(self.subnet_ids)})"
        way = "to" if self.direction == "outbound" else "from"
        if self.blocked:
            return (
                f"{where} blocks {self.direction} {self.blocked} {way} {self.cidr} "
                f"({self.purpose}): {self.entry} decides"
            )
        return (
            f"{where} lets {self.direction} {self.ports} {way} {self.cidr} through ({self.purpose})"
        )


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
    network_acls: tuple[AclDiff, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def drift(self) -> list[RouteDiff | RuleDiff | AclDiff]:
        """Rows that need a change (``too_broad`` is a warning and not counted)."""
        rows: list[RouteDiff | RuleDiff | AclDiff] = [
            r for r in self.routes if r.state != RouteState.OK
        ]
        rows += [r for r in self.rules if r.state not in (RuleState.OK, RuleState.TOO_BROAD)]
        rows += [r for r in self.network_acls if r.state != AclState.OK]
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

    def problems(self) -> list[tuple[Health, str]]:
        """Every row that is not ok, worst first, with its severity: for the peering view."""
        rows: list[RouteDiff | RuleDiff | AclDiff] = [
            *self.routes,
            *self.rules,
            *self.network_acls,
        ]
        found = [(state_health(r.state), r.reason) for r in rows if r.state != "ok"]
        return sorted(found, key=lambda problem: -problem[0].rank)

    def summary(self) -> list[str]:
        """The problems in words, worst first."""
        return [text for _, text in self.problems()]

    @property
    def health(self) -> Health:
        """The worst row's severity (ok when every row is)."""
        return worst(level for level, _ in self.problems())

    def verdict(self) -> str:
        """``✗ error: 2 rows stop traffic`` / ``! warning: 1 row needs attention`` /
        ``✓ ok: in sync``: the health word, and how many rows of each kind."""
        problems = self.problems()
        errors = sum(level is Health.ERROR for level, _ in problems)
        warnings = len(problems) - errors
        parts = []
        if errors:
            parts.append(f"{errors} row{'s stop' if errors > 1 else ' stops'} traffic")
        if warnings:
            parts.append(f"{warnings} row{'s need' if warnings > 1 else ' needs'} attention")
        health = self.health
        return health.label + (": " + ", ".join(parts) if parts else ": in sync")


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
    prefix_lists: tuple[PrefixList, ...] = ()
    network_acls: tuple[NetworkAcl, ...] = ()

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
            egress=_group((r for r in self.rules if r.is_egress), lambda r: r.group_id),
            subnets=_group(self.subnets, lambda s: s.vpc_id),
            interfaces=_group(self.interfaces, lambda n: n.vpc_id),
            peerings={p.id: p for p in self.peerings},
            prefix_lists={p.id: p for p in self.prefix_lists},
            acls=_group(self.network_acls, lambda a: a.vpc_id),
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

    def egress(self, group_id: str) -> list[SecurityGroupRule]:
        return self._index.egress.get(group_id, [])

    def pcx(self, peering_id: str) -> AwsPeering | None:
        return self._index.peerings.get(peering_id)

    def acls_of(self, vpc_id: str) -> list[NetworkAcl]:
        return self._index.acls.get(vpc_id, [])

    def entries_of(self, prefix_list_id: str) -> tuple[str, ...] | None:
        """The CIDRs a prefix list holds, or ``None`` when they were not read."""
        found = self._index.prefix_lists.get(prefix_list_id)
        return found.entries if found is not None else None

    def referenced_prefix_lists(self) -> set[str]:
        """Every prefix list a route or a rule of this estate refers to."""
        ids = {r.destination for t in self.route_tables for r in t.prefix_list_routes}
        return ids | {r.prefix_list_id for r in self.rules if r.prefix_list_id}


@dataclass(frozen=True, slots=True)
class _EstateIndex:
    """A region estate's contents by VPC, group or id."""

    tables: dict[str, list[RouteTable]]
    groups: dict[str, list[SecurityGroup]]
    ingress: dict[str, list[SecurityGroupRule]]
    egress: dict[str, list[SecurityGroupRule]]
    subnets: dict[str, list[Subnet]]
    interfaces: dict[str, list[NetworkInterface]]
    peerings: dict[str, AwsPeering]
    prefix_lists: dict[str, PrefixList]
    acls: dict[str, list[NetworkAcl]]


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


def _label(port: int | None) -> str:
    return "all traffic" if port is None else f"tcp/{port}"


def _open_to_anywhere(
    rules_: Iterable[SecurityGroupRule], port: int | None
) -> list[SecurityGroupRule]:
    """Rules that let ``port`` in from ``0.0.0.0/0``."""
    return [r for r in rules_ if r.cidr == ANYWHERE and r.covers_port(port)]


def allowing_rules(
    rules_: Iterable[SecurityGroupRule],
    cidr: str,
    port: int | None,
    estate: RegionEstate,
    *,
    anywhere: bool = False,
) -> list[tuple[SecurityGroupRule, str]]:
    """Rules that let ``port`` in from all of ``cidr`` — from a block that contains it, or
    through a prefix list that holds one — each with that block (``0.0.0.0/0`` only with
    ``anywhere``)."""
    found = []
    for rule in rules_:
        block = rule_allows(rule, cidr, port, estate.entries_of, anywhere=anywhere)
        if block is not None:
            found.append((rule, block))
    return found


def _allowed_by(found: Sequence[tuple[SecurityGroupRule, str]], cidr: str) -> str:
    return "allowed by " + ", ".join(rule_allowance(r, cidr, b) for r, b in found[:1])


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
    active = pcx.status in ROUTABLE_STATES
    intent = PeeringIntent.from_tags(pcx.tags)
    notes: list[str] = []
    routes: list[RouteDiff] = []
    wanted: list[str] = []
    if active:
        wanted = list(intent.route_tables) if intent else serving_tables(estate, vpc_id)
        routes += _needed_routes(pcx, deployment_cidr, estate, wanted, notes)
    routes += _routes_via(pcx, deployment_cidr, estate, active, notes)

    rule_rows: list[RuleDiff] = []
    acl_rows: list[AclDiff] = []
    if active:
        placed = _placed_resources(pcx, estate, resources, notes)
        rule_rows += _needed_rules(pcx, intent, deployment_cidr, estate, placed, notes)
        acl_rows += _acl_rows(vpc_id, deployment_cidr, estate, placed, wanted, notes)
    rule_rows += _stale_rules(pcx, deployment_cidr, estate, live_cidrs or {}, active)
    if not active and not routes and not rule_rows and pcx.status not in ("deleted", "deleting"):
        notes.append(
            f"the pcx is {pcx.status}: nothing routes through it, so no route or rule is needed"
        )
    return PeeringDiff(
        peering_id=pcx.id,
        deployment_id=deployment_id,
        region=estate.region,
        vpc_id=vpc_id,
        deployment_cidr=deployment_cidr,
        status=pcx.status,
        peering_active=active,
        routes=tuple(routes),
        rules=tuple(rule_rows),
        network_acls=tuple(acl_rows),
        notes=tuple(dict.fromkeys(notes)),
    )


def _target_state(estate: RegionEstate, target: str) -> str:
    other = estate.pcx(target)
    return other.status if other else "not visible"


def _carries(choice: RouteChoice, pcx: AwsPeering) -> bool:
    """Whether ``choice`` sends traffic into this pcx, and the pcx carries it."""
    route = choice.route
    return route.target_id == pcx.id and route.state != "blackhole" and pcx.status == "active"


def _dead_pcx(choice: RouteChoice, pcx: AwsPeering, estate: RegionEstate) -> bool:
    route = choice.route
    return route.target_id == pcx.id or (
        route.target_kind == "pcx" and _target_state(estate, route.target_id) != "active"
    )


def table_route(
    table: RouteTable, pcx: AwsPeering, cidr: str, estate: RegionEstate, notes: list[str]
) -> list[RouteDiff]:
    """How ``table`` routes the deployment ``cidr`` (the longest prefix, prefix lists
    included) against what the peering needs: the row for ``cidr`` itself, then a row for
    each part of it the table sends elsewhere."""
    choices, unknown = route_choices(table, estate.entries_of)
    for prefix_list in unknown:
        notes.append(
            f"{table.id} routes prefix list {prefix_list}, whose entries could not be read; "
            "its route is not judged"
        )
    main = " (main table, serves subnets without their own)" if table.main else ""
    rows = [_deciding_row(table, main, pcx, cidr, best_route(choices, cidr), estate, notes)]
    for part in carves(choices, cidr):
        if part.route.target_id == pcx.id:
            continue
        through = f" through prefix list {part.prefix_list}" if part.prefix_list else ""
        rows.append(
            RouteDiff(
                route_table_id=table.id,
                destination=part.cidr,
                expected=pcx.id,
                actual=part.route.target_id,
                state=RouteState.SHADOWED,
                reason=f"{table.id} sends {part.cidr} (inside {cidr}) to "
                f"{part.route.target_id}{through}",
                matched=part.prefix_list,
            )
        )
    return rows


def _deciding_row(
    table: RouteTable,
    main: str,
    pcx: AwsPeering,
    cidr: str,
    win: RouteChoice | None,
    estate: RegionEstate,
    notes: list[str],
) -> RouteDiff:
    def row(state: RouteState, actual: str | None, reason: str) -> RouteDiff:
        matched = None
        if win is not None and (win.prefix_list or win.cidr != cidr):
            matched = win.prefix_list or win.cidr
        return RouteDiff(
            route_table_id=table.id, destination=cidr, expected=pcx.id, actual=actual,
            state=state, reason=reason, matched=matched,
        )  # fmt: skip

    if win is None:
        return row(RouteState.MISSING, None, f"{table.id}{main} has no route to {cidr}")
    target = win.route.target_id
    through = f" through prefix list {win.prefix_list}" if win.prefix_list else ""
    if win.cidr != cidr:
        # A wider route decides: it covers the deployment when it goes into this pcx.
        if _carries(win, pcx):
            notes.append(
                f"{table.id} reaches {cidr} by the wider route {win.cidr} via {pcx.id}"
                f"{through}, which covers it"
            )
            return row(
                RouteState.OK,
                pcx.id,
                f"{table.id} routes {cidr} via {pcx.id} (covered by {win.cidr}{through})",
            )
        return row(
            RouteState.MISSING,
            None,
            f"{table.id}{main} has no route to {cidr} (the wider {win.cidr} goes to {win.via()})",
        )
    if _carries(win, pcx):
        return row(RouteState.OK, pcx.id, f"{table.id} routes {cidr} via {pcx.id}{through}")
    if _dead_pcx(win, pcx, estate):
        return row(
            RouteState.BLACKHOLE,
            target,
            f"{table.id} routes {cidr} via {target}{through}, which is "
            f"{_target_state(estate, target)}",
        )
    return row(
        RouteState.WRONG_TARGET,
        target,
        f"{table.id} sends {cidr} to {target} ({win.route.target_kind}){through}, not to {pcx.id}",
    )


def _needed_routes(
    pcx: AwsPeering, cidr: str, estate: RegionEstate, wanted: Sequence[str], notes: list[str]
) -> list[RouteDiff]:
    by_id = {t.id: t for t in estate.tables_of(pcx.requester.vpc_id)}
    rows: list[RouteDiff] = []
    for table_id in wanted:
        table = by_id.get(table_id)
        if table is None:
            notes.append(f"route table {table_id} of the intent no longer exists")
            continue
        rows += table_route(table, pcx, cidr, estate, notes)
    return rows


def _routes_via(
    pcx: AwsPeering, cidr: str, estate: RegionEstate, active: bool, notes: list[str]
) -> list[RouteDiff]:
    """Routes via this pcx that it cannot carry (it is not active) or that lead nowhere (a
    destination outside the deployment). A route that contains the deployment covers it."""
    rows: list[RouteDiff] = []
    for table in estate.tables_of(pcx.requester.vpc_id):
        for route in (*table.routes, *table.prefix_list_routes):
            if route.target_id != pcx.id:
                continue
            if route.via_prefix_list:
                entries = estate.entries_of(route.destination)
                if entries is None:
                    continue
                serving = [e for e in entries if within(e, cidr) or within(cidr, e)]
                others = [e for e in entries if e not in serving]
                if active and serving and others:
                    notes.append(
                        f"{table.id} routes prefix list {route.destination} via {pcx.id}; it "
                        f"also holds {', '.join(others)}, which {pcx.id} does not serve"
                    )
                useful = bool(serving)
            else:
                useful = within(route.destination, cidr) or within(cidr, route.destination)
            if active and useful:
                continue
            if not active and useful:
                state, reason = RouteState.BLACKHOLE, f"which is {pcx.status}"
            else:
                state, reason = RouteState.STALE, f"which only serves {cidr}"
            rows.append(
                RouteDiff(
                    route_table_id=table.id,
                    destination=route.destination,
                    expected=None,
                    actual=pcx.id,
                    state=state,
                    reason=f"{table.id} routes {route.destination} via {pcx.id}, {reason}",
                )
            )
    return rows


@dataclass(frozen=True, slots=True)
class _Placed:
    """A deployment resource inside the requester VPC, and the interface that holds its IP."""

    resource: Resource
    interface: NetworkInterface | None


def _placed_resources(
    pcx: AwsPeering, estate: RegionEstate, resources: Sequence[Resource], notes: list[str]
) -> list[_Placed]:
    vpc_id = pcx.requester.vpc_id
    # Every block of the VPC: the pcx lists them on AWS, and subnets exist in each (moto lists
    # only the first block on the pcx).
    blocks = {*pcx.requester.cidrs, *((pcx.requester.cidr,) if pcx.requester.cidr else ())}
    blocks |= {s.cidr for s in estate.subnets_of(vpc_id)}
    placed = []
    for resource in resources:
        if not any(rules.contains_ip(c, resource.host) for c in blocks):
            continue
        owner = next(
            (n for n in estate.interfaces_of(vpc_id) if resource.host in n.private_ips), None
        )
        if owner is None:
            notes.append(
                f"resource {resource.name} ({resource.host}) has no network interface in {vpc_id}"
            )
        placed.append(_Placed(resource, owner))
    return placed


def _needed_rules(
    pcx: AwsPeering,
    intent: PeeringIntent | None,
    cidr: str,
    estate: RegionEstate,
    placed: Sequence[_Placed],
    notes: list[str],
) -> list[RuleDiff]:
    vpc_id = pcx.requester.vpc_id
    rows: list[RuleDiff] = []
    existing_groups = {g.id for g in estate.groups_of(vpc_id)}

    def too_broad(group: str, port: int | None, why: str) -> None:
        broad = _open_to_anywhere(estate.ingress(group), port)
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
                    rules=tuple(broad),
                )
            )

    def need(group: str, port: int | None, why: str) -> None:
        if group not in existing_groups:
            notes.append(f"security group {group} ({why}) no longer exists")
            return
        found = allowing_rules(estate.ingress(group), cidr, port, estate)
        rows.append(
            RuleDiff(
                security_group_id=group,
                cidr=cidr,
                port=port,
                expected=f"allow {_label(port)} from {cidr}",
                actual=_allowed_by(found, cidr) if found else "not allowed",
                state=RuleState.OK if found else RuleState.MISSING,
                reason=f"{group} {'allows' if found else 'does not allow'} {_label(port)} "
                f"from {cidr} ({why})",
                rule_ids=tuple(r.id for r, _ in found),
            )
        )
        too_broad(group, port, why)

    if intent is not None:
        for group in intent.security_groups:
            for port in intent.rule_ports():
                need(group, port, "the peering's intent")
    else:
        groups = estate.groups_of(vpc_id)
        allowing = _any_port(groups, cidr, estate)
        default = next(
            (g.id for g in groups if g.name == "default"), groups[0].id if groups else ""
        )
        first = allowing[0][0] if allowing else None
        rows.append(
            RuleDiff(
                security_group_id=first.group_id if first else default,
                cidr=cidr,
                port=None,
                expected=f"some security group of {vpc_id} allows {cidr}",
                actual=_allowed_by(allowing, cidr) if allowing else "no group allows it",
                state=RuleState.OK if allowing else RuleState.MISSING,
                reason=(
                    f"{first.group_id} allows {cidr}"
                    if first
                    else f"no security group of {vpc_id} allows {cidr} (created without intent)"
                ),
                rule_ids=(first.id,) if first else (),
            )
        )
    for where in placed:
        resource, owner = where.resource, where.interface
        if owner is None:
            continue
        allowed = [
            found
            for g in owner.group_ids
            for found in allowing_rules(estate.ingress(g), cidr, resource.port, estate)
        ]
        if allowed:
            rule = allowed[0][0]
            rows.append(
                RuleDiff(
                    security_group_id=rule.group_id,
                    cidr=cidr,
                    port=resource.port,
                    expected=f"allow tcp/{resource.port} from {cidr}",
                    actual=_allowed_by(allowed, cidr),
                    state=RuleState.OK,
                    reason=f"{resource.name} ({resource.host}) reachable on {resource.port}",
                    rule_ids=(rule.id,),
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
            broad = _open_to_anywhere(estate.ingress(g), resource.port)
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
                        rules=tuple(broad),
                    )
                )
    # One row per (group, cidr, port): intent and resources may ask for the same thing.
    unique: dict[tuple[str, str, int | None, RuleState], RuleDiff] = {}
    for row in rows:
        unique.setdefault((row.security_group_id, row.cidr, row.port, row.state), row)
    return list(unique.values())


def _any_port(
    groups: Sequence[SecurityGroup], cidr: str, estate: RegionEstate
) -> list[tuple[SecurityGroupRule, str]]:
    """Rules of ``groups`` that let ``cidr`` in on some port (a peering made elsewhere says
    nothing of its ports)."""
    found = []
    for group in groups:
        for rule in estate.ingress(group.id):
            block = next(
                (
                    s
                    for s in rule_sources(rule, estate.entries_of)
                    if s != ANYWHERE and within(cidr, s)
                ),
                None,
            )
            if block is not None:
                found.append((rule, block))
    return found


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
                        rules=(rule,),
                    )
                )
    return rows


def _acl_rows(
    vpc_id: str,
    cidr: str,
    estate: RegionEstate,
    placed: Sequence[_Placed],
    wanted: Sequence[str],
    notes: list[str],
) -> list[AclDiff]:
    """Both directions the peering carries, through the ACL of each subnet that matters: the
    deployment reaching each resource (in on its port, replies out on ephemeral ports), and
    clients in the subnets whose tables route the deployment reaching its MQTT ports (out on
    those ports, replies in on ephemeral ports)."""
    acls = estate.acls_of(vpc_id)
    if not acls:
        return []  # not read: nothing to judge
    rows: dict[tuple[str, bool, str], AclDiff] = {}
    taken: dict[tuple[str, bool], set[int]] = {}

    def check(
        subnets: Sequence[str], egress: bool, ports: Sequence[tuple[int, int]], purpose: str
    ) -> None:
        acl = subnet_acl(acls, subnets[0], vpc_id)
        if acl is None:
            notes.append(f"no network ACL of {vpc_id} is known for {subnets[0]}")
            return
        key = (acl.id, egress, ports_label(tuple(ports)))
        if key in rows:
            merged = tuple(dict.fromkeys((*rows[key].subnet_ids, *subnets)))
            rows[key] = dataclasses.replace(rows[key], subnet_ids=merged)
            return
        rows[key] = judge_acl(
            acl, subnets, egress=egress, cidr=cidr, ports=ports, purpose=purpose,
            taken=taken.setdefault((acl.id, egress), set()), notes=notes,
        )  # fmt: skip

    for where in placed:
        if where.interface is None:
            continue
        resource, subnet = where.resource, where.interface.subnet_id
        port = (resource.port, resource.port)
        check([subnet], False, [port], f"the deployment → {resource.name} ({resource.host})")
        check([subnet], True, [EPHEMERAL_PORTS], f"{resource.name}'s replies to the deployment")
    tables = estate.tables_of(vpc_id)
    clients: dict[str, list[str]] = {}
    for client_subnet in estate.subnets_of(vpc_id):
        table = subnet_route_table(tables, client_subnet.id)
        acl = subnet_acl(acls, client_subnet.id, vpc_id)
        if table is not None and table.id in wanted and acl is not None:
            clients.setdefault(acl.id, []).append(client_subnet.id)
    for subnets in clients.values():
        mqtt = [(p, p) for p in MQTT_PORTS]
        check(subnets, True, mqtt, "clients → the deployment's MQTT ports")
        check(subnets, False, [EPHEMERAL_PORTS], "the deployment's replies to clients")
    return list(rows.values())


def judge_acl(
    acl: NetworkAcl,
    subnets: Sequence[str],
    *,
    egress: bool,
    cidr: str,
    ports: Sequence[tuple[int, int]],
    purpose: str,
    taken: set[int],
    notes: list[str],
) -> AclDiff:
    """``acl``'s verdict on TCP to (``egress``) or from ``cidr`` on each of ``ports``, with the
    deciding entry and the entries that would let what it blocks through."""
    verdicts: list[tuple[tuple[int, int], AclVerdict]] = [
        (p, acl_verdict(acl, egress=egress, cidr=cidr, ports=p)) for p in ports
    ]
    blocked = [(p, v) for p, v in verdicts if not v.allowed]
    deciding = blocked[0][1] if blocked else verdicts[0][1]
    fixes: list[AclFix] = []
    for p, _ in blocked:
        found = acl_fixes(acl, egress=egress, cidr=cidr, ports=p, taken=taken)
        if not found:
            notes.append(f"{acl.id} has no free rule number to let {port_label(p)} through")
        fixes += [
            AclFix(rule_number=e.rule_number, egress=egress, cidr=cidr, from_port=p[0],
                   to_port=p[1], replace=replace)
            for e, replace in found
        ]  # fmt: skip
    return AclDiff(
        network_acl_id=acl.id,
        subnet_ids=tuple(subnets),
        direction="outbound" if egress else "inbound",
        cidr=cidr,
        ports=ports_label(tuple(ports)),
        purpose=purpose,
        state=AclState.BLOCKED if blocked else AclState.OK,
        rule=deciding.rule,
        entry=deciding.says(),
        blocked=", ".join(port_label(p) for p, _ in blocked),
        fixes=tuple(fixes),
    )


# --- fix plan -------------------------------------------------------------------------------

ActionKind = Literal[
    "create_route",
    "replace_route",
    "authorize_ingress",
    "create_acl_entry",
    "replace_acl_entry",
    "delete_route",
    "revoke_ingress",
]
Flag = Literal["replace", "revoke", "nacl"]
# Creates first, removals last: a plan that stops between two steps never leaves the peering
# with less than it had (a route replaced in place never leaves it without one).
_ORDER: dict[str, int] = {
    "create_route": 0,
    "replace_route": 1,
    "authorize_ingress": 2,
    "create_acl_entry": 3,
    "replace_acl_entry": 4,
    "delete_route": 5,
    "revoke_ingress": 6,
}


class FixAction(DiffModel):
    """One change, with the flag it needs (``None``: done by default) and its aws CLI twin."""

    kind: ActionKind
    region: str
    reason: str
    needs: Flag | None = None
    route_table_id: str | None = None
    destination: str | None = None  # a CIDR, or a prefix list's pl-… id (delete_route)
    peering_id: str | None = None
    group_id: str | None = None
    cidr: str | None = None
    port: int | None = None
    rule_ids: tuple[str, ...] = ()
    description: str | None = None
    network_acl_id: str | None = None
    rule_number: int | None = None
    egress: bool | None = None
    from_port: int | None = None
    to_port: int | None = None
    target: str | None = None  # where a replaced or deleted route goes now
    # The rules a revoke removes, as they are (not in the JSON: ``ruleIds`` names them).
    rules: tuple[SecurityGroupRule, ...] = Field(default=(), exclude=True)

    def acl_entry(self) -> AclEntry:
        """The entry a ``create_acl_entry`` or ``replace_acl_entry`` writes."""
        return AclEntry(
            rule_number=self.rule_number or 0, egress=bool(self.egress), protocol="6",
            allow=True, cidr=self.cidr or "", from_port=self.from_port, to_port=self.to_port,
        )  # fmt: skip

    def aws_cli(self) -> str:
        """The exact ``aws ec2`` command that makes the same change."""
        region = ["--region", self.region]
        destination = self.destination or ""
        where = (
            ["--destination-prefix-list-id", destination]
            if destination.startswith("pl-")
            else ["--destination-cidr-block", destination]
        )
        if self.kind in ("create_route", "replace_route"):
            verb = "create-route" if self.kind == "create_route" else "replace-route"
            args = [
                "aws", "ec2", verb,
                "--route-table-id", self.route_table_id or "",
                *where,
                "--vpc-peering-connection-id", self.peering_id or "",
                *region,
            ]  # fmt: skip
        elif self.kind == "delete_route":
            args = [
                "aws", "ec2", "delete-route",
                "--route-table-id", self.route_table_id or "",
                *where,
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
        elif self.kind in ("create_acl_entry", "replace_acl_entry"):
            verb = (
                "create-network-acl-entry"
                if self.kind == "create_acl_entry"
                else "replace-network-acl-entry"
            )
            args = [
                "aws", "ec2", verb,
                "--network-acl-id", self.network_acl_id or "",
                "--egress" if self.egress else "--ingress",
                "--rule-number", str(self.rule_number),
                "--protocol", "6",
                "--port-range", f"From={self.from_port},To={self.to_port}",
                "--cidr-block", self.cidr or "",
                "--rule-action", "allow",
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

    def allowed(self, *, replace: bool, revoke: bool, nacl: bool = False) -> list[FixAction]:
        ticked = {"replace": replace, "revoke": revoke, "nacl": nacl}
        return [a for a in self.actions if a.needs is None or ticked[a.needs]]

    def held_back(self, *, replace: bool, revoke: bool, nacl: bool = False) -> list[FixAction]:
        allowed = self.allowed(replace=replace, revoke=revoke, nacl=nacl)
        return [a for a in self.actions if a not in allowed]


def route_fixes(row: RouteDiff, *, region: str, peering_id: str, active: bool) -> list[FixAction]:
    """What brings one route row of ``peering_id``'s diff in sync (nothing for ``ok``).

    A route a prefix list decides is never edited: a CIDR route of the same length wins over
    it, so one is created via the pcx and the list keeps serving everything else it holds.
    """
    table, pcx = row.route_table_id, peering_id
    by_list = row.matched is not None and row.matched.startswith("pl-")

    def create(reason: str, needs: Flag | None = None) -> FixAction:
        return FixAction(
            kind="create_route", region=region, reason=reason, needs=needs,
            route_table_id=table, destination=row.destination, peering_id=pcx,
        )  # fmt: skip

    def delete(needs: Flag | None = None) -> FixAction:
        return FixAction(
            kind="delete_route", region=region, reason=row.reason, needs=needs,
            route_table_id=table, destination=row.destination, target=row.actual,
        )  # fmt: skip

    def replace(needs: Flag | None = None) -> FixAction:
        return FixAction(
            kind="replace_route", region=region, reason=row.reason, needs=needs,
            route_table_id=table, destination=row.destination, peering_id=pcx,
            target=row.actual,
        )  # fmt: skip

    if row.state == RouteState.MISSING:
        return [create(row.reason)]
    if row.state == RouteState.STALE:
        return [delete()]
    if row.state == RouteState.BLACKHOLE:
        if row.expected is None or not active:
            return [delete()]
        return [create(row.reason) if by_list else replace()]
    if row.state == RouteState.WRONG_TARGET:
        return [create(row.reason, "replace") if by_list else replace("replace")]
    if row.state == RouteState.SHADOWED:
        return [create(row.reason, "replace") if by_list else delete("replace")]
    return []


def acl_fix_actions(row: AclDiff, region: str) -> list[FixAction]:
    """The ACL entries that let a blocked row's traffic through (each needs ``--nacl``)."""
    actions = []
    for fix in row.fixes:
        action = FixAction(
            kind="replace_acl_entry" if fix.replace else "create_acl_entry",
            region=region, reason=row.reason, needs="nacl", network_acl_id=row.network_acl_id,
            rule_number=fix.rule_number, egress=fix.egress, cidr=fix.cidr,
            from_port=fix.from_port, to_port=fix.to_port,
        )  # fmt: skip
        actions.append(action)
    return actions


def authorize_action(row: RuleDiff, diff: PeeringDiff) -> FixAction:
    """The inbound rule a ``missing`` rule row needs, described as the tool's own."""
    return FixAction(kind="authorize_ingress", region=diff.region, reason=row.reason,
                     group_id=row.security_group_id, cidr=row.cidr, port=row.port,
                     description=rule_description(diff.peering_id))  # fmt: skip


def _action_key(action: FixAction) -> tuple[object, ...]:
    """Two actions with one key make the same change; the plan keeps the first."""
    if action.kind in ("create_route", "replace_route", "delete_route"):
        return ("route", action.kind == "delete_route", action.route_table_id, action.destination)
    if action.kind == "authorize_ingress":
        return ("rule", action.group_id, action.cidr, action.port)
    if action.kind in ("create_acl_entry", "replace_acl_entry"):
        return ("acl", action.network_acl_id, action.egress, action.rule_number)
    return ("revoke", action.group_id, action.rule_ids)


def plan_fix(diffs: Iterable[PeeringDiff]) -> FixPlan:
    """Ordered actions that bring every diff in sync: creations first, removals last."""
    actions: dict[tuple[object, ...], FixAction] = {}
    revokes: dict[tuple[str, str], FixAction] = {}

    def add(action: FixAction) -> None:
        actions.setdefault(_action_key(action), action)

    for diff in diffs:
        for row in diff.routes:
            fixes = route_fixes(
                row, region=diff.region, peering_id=diff.peering_id, active=diff.peering_active
            )
            for action in fixes:
                add(action)
        for rule in diff.rules:
            if rule.state == RuleState.MISSING and rule.security_group_id:
                add(authorize_action(rule, diff))
            elif rule.state in (RuleState.STALE, RuleState.TOO_BROAD) and rule.rule_ids:
                # One revoke per group with every rule id once: two rows may name the same
                # rule, and revoking it twice fails the second aws CLI command.
                key = (diff.region, rule.security_group_id)
                merged = revokes.setdefault(
                    key,
                    FixAction(kind="revoke_ingress", region=diff.region, reason=rule.reason,
                              needs="revoke", group_id=rule.security_group_id),
                )  # fmt: skip
                new_ids = tuple(i for i in rule.rule_ids if i not in merged.rule_ids)
                if new_ids:
                    reason = merged.reason
                    if merged.rule_ids and rule.reason not in reason:
                        reason = f"{reason}; {rule.reason}"
                    new_rules = tuple(r for r in rule.rules if r.id in new_ids)
                    revokes[key] = merged.model_copy(
                        update={
                            "rule_ids": merged.rule_ids + new_ids,
                            "rules": merged.rules + new_rules,
                            "reason": reason,
                        }
                    )
        for acl in diff.network_acls:
            for action in acl_fix_actions(acl, diff.region):
                add(action)
    ordered = [*actions.values(), *revokes.values()]
    ordered.sort(key=lambda a: _ORDER[a.kind])
    return FixPlan(actions=tuple(ordered))
