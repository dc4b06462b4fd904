"""The drift rules (``peering_core.drift``) on hand-built estates: no network.

The baseline is one healthy peering: prod-data (172.20.0.0/16) peered with a deployment
(10.200.0.0/16) through ``pcx-0live``; its intent routes the deployment CIDR in the private
table (two subnets) and the main table (the third subnet falls back to it) and lets tcp/5432 in
on the database group. Each test breaks one thing and reads the diff and the fix plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peering_core.drift import (
    FixAction,
    FixPlan,
    PeeringDiff,
    RegionEstate,
    RouteState,
    RuleState,
    diff_peering,
    plan_fix,
    serving_tables,
)
from peering_core.intent import PeeringIntent, rule_description
from peering_core.models import (
    AwsPeering,
    NetworkInterface,
    PeeringSide,
    Resource,
    Route,
    RouteTable,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)

REGION = "us-east-1"
VPC, VPC_CIDR = "vpc-0prod", "172.20.0.0/16"
DEP, DEP_VPC, DEP_CIDR = "d1a2b3c", "vpc-0broker", "10.200.0.0/16"
PCX = "pcx-0live"
PRIVATE, MAIN = "rtb-0private", "rtb-0main"
APP, DB, DEFAULT = "sg-0app", "sg-0db", "sg-0default"
SUBNET_A, SUBNET_B, SUBNET_C = "subnet-0a", "subnet-0b", "subnet-0c"
ANYWHERE = "0.0.0.0/0"
IGW = "igw-0internet"
DB_HOST = "172.20.16.10"
WHEN = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


# --- building estates ------------------------------------------------------------------------


def intent(
    tables: Sequence[str] = (PRIVATE, MAIN), groups: Sequence[str] = (DB,), ports=(5432,)
) -> dict[str, str]:
    return PeeringIntent(
        deployment_id=DEP,
        route_tables=tuple(tables),
        security_groups=tuple(groups),
        ports=tuple(ports),
        requested_at=WHEN,
    ).to_tags()


def peering(
    pcx_id: str = PCX,
    status: str = "active",
    tags: dict[str, str] | None = None,
    accepter_vpc: str = DEP_VPC,
) -> AwsPeering:
    return AwsPeering(
        id=pcx_id,
        status=status,
        requester=PeeringSide(
            owner_id="210987654321", vpc_id=VPC, region=REGION, cidr=VPC_CIDR, cidrs=(VPC_CIDR,)
        ),
        accepter=PeeringSide(owner_id="123456789012", vpc_id=accepter_vpc, region=REGION),
        tags=intent() if tags is None else tags,
    )


def route(destination: str, target: str, state: str = "active") -> Route:
    kind = {"pcx": "pcx", "igw": "igw", "loc": "local"}[target[:3]]
    return Route(destination=destination, target_kind=kind, target_id=target, state=state)


LOCAL = route(VPC_CIDR, "local")


def rule(
    rule_id: str,
    group: str,
    cidr: str,
    port: int | None = None,
    *,
    protocol: str | None = None,
    to_port: int | None = None,
    description: str = "",
) -> SecurityGroupRule:
    return SecurityGroupRule(
        id=rule_id,
        group_id=group,
        is_egress=False,
        protocol=protocol or ("-1" if port is None else "tcp"),
        from_port=port,
        to_port=to_port if to_port is not None else port,
        cidr=cidr,
        description=description,
    )


OUR_DB_RULE = rule("sgr-0db5432", DB, DEP_CIDR, 5432, description=rule_description(PCX))


def estate(
    *,
    private: Sequence[Route] = (LOCAL, route(DEP_CIDR, PCX)),
    main: Sequence[Route] = (LOCAL, route(DEP_CIDR, PCX)),
    private_subnets: Sequence[str] = (SUBNET_A, SUBNET_B),
    subnets: Sequence[str] = (SUBNET_A, SUBNET_B, SUBNET_C),
    rules: Sequence[SecurityGroupRule] = (OUR_DB_RULE,),
    peerings: Sequence[AwsPeering] | None = None,
    interfaces: Sequence[NetworkInterface] = (),
) -> RegionEstate:
    return RegionEstate(
        region=REGION,
        subnets=tuple(Subnet(id=s, vpc_id=VPC, cidr="172.20.0.0/20") for s in subnets),
        route_tables=(
            RouteTable(
                id=PRIVATE, vpc_id=VPC, subnet_ids=tuple(private_subnets), routes=tuple(private)
            ),
            RouteTable(id=MAIN, vpc_id=VPC, main=True, routes=tuple(main)),
        ),
        security_groups=tuple(
            SecurityGroup(id=g, vpc_id=VPC, name=n)
            for g, n in ((APP, "prod-data-app"), (DB, "prod-data-orders-db"), (DEFAULT, "default"))
        ),
        rules=tuple(rules),
        interfaces=tuple(interfaces),
        peerings=(peering(),) if peerings is None else tuple(peerings),
    )


def orders_db(port: int = 5432, host: str = DB_HOST) -> Resource:
    return Resource(
        id="r1", deployment_id=DEP, name="orders-db", type="postgresql", host=host, port=port,
        create_at=WHEN,
    )  # fmt: skip


DB_INTERFACE = NetworkInterface(
    id="eni-0orders", vpc_id=VPC, subnet_id=SUBNET_B, private_ips=(DB_HOST,), group_ids=(DB,)
)


def diff(
    world: RegionEstate,
    pcx_id: str = PCX,
    resources: Sequence[Resource] = (),
    live: dict[str, set[str]] | None = None,
) -> PeeringDiff:
    pcx = world.pcx(pcx_id)
    assert pcx is not None
    return diff_peering(
        pcx, deployment_id=DEP, deployment_cidr=DEP_CIDR, estate=world, resources=resources,
        live_cidrs=live,
    )  # fmt: skip


def route_rows(d: PeeringDiff) -> set[tuple[str, str, RouteState]]:
    return {(r.route_table_id, r.destination, r.state) for r in d.routes if r.state != "ok"}


def rule_rows(d: PeeringDiff) -> set[tuple[str, str, int | None, RuleState]]:
    return {(r.security_group_id, r.cidr, r.port, r.state) for r in d.rules if r.state != "ok"}


def kinds(plan: FixPlan) -> list[tuple[str, str | None]]:
    return [(a.kind, a.needs) for a in plan.actions]


# --- in sync ---------------------------------------------------------------------------------


def test_the_baseline_is_in_sync_and_needs_no_plan():
    d = diff(estate())
    assert d.in_sync and d.peering_active
    assert d.drift == [] and d.warnings == [] and d.summary() == []
    assert {(r.route_table_id, r.state) for r in d.routes} == {(PRIVATE, "ok"), (MAIN, "ok")}
    assert [(r.security_group_id, r.port, r.state, r.rule_ids) for r in d.rules] == [
        (DB, 5432, "ok", ("sgr-0db5432",))
    ]
    assert plan_fix([d]).actions == ()


# --- routes ----------------------------------------------------------------------------------


def test_a_table_of_the_intent_without_the_route_is_missing():
    d = diff(estate(private=[LOCAL]))
    assert route_rows(d) == {(PRIVATE, DEP_CIDR, "missing")}
    (row,) = d.drift
    assert (row.expected, row.actual) == (PCX, None)
    assert row.reason == f"{PRIVATE} has no route to {DEP_CIDR}"
    assert kinds(plan_fix([d])) == [("create_route", None)]


def test_the_main_table_is_named_as_such_when_it_lacks_the_route():
    (row,) = diff(estate(main=[LOCAL])).drift
    assert row.reason == (
        f"{MAIN} (main table, serves subnets without their own) has no route to {DEP_CIDR}"
    )


def test_without_intent_the_main_table_needs_the_route_when_a_subnet_falls_back_to_it():
    hand_made = peering(tags={"Name": "made in the console"})
    allowed = rule("sgr-0hand", APP, DEP_CIDR)
    world = estate(main=[LOCAL], rules=[allowed], peerings=[hand_made])
    assert route_rows(diff(world)) == {(MAIN, DEP_CIDR, "missing")}

    every_subnet_explicit = estate(
        main=[LOCAL], private_subnets=(SUBNET_A, SUBNET_B, SUBNET_C), rules=[allowed],
        peerings=[hand_made],
    )  # fmt: skip
    assert serving_tables(every_subnet_explicit, VPC) == [PRIVATE]
    assert diff(every_subnet_explicit).in_sync


def test_a_vpc_without_subnets_is_served_by_its_main_table():
    assert serving_tables(estate(subnets=(), private_subnets=()), VPC) == [MAIN]


def test_a_route_to_an_internet_gateway_is_wrong_target_and_replacing_it_needs_replace():
    d = diff(estate(main=[LOCAL, route(DEP_CIDR, IGW)]))
    assert route_rows(d) == {(MAIN, DEP_CIDR, "wrong_target")}
    (row,) = d.drift
    assert (row.expected, row.actual) == (PCX, IGW)
    assert row.reason == f"{MAIN} sends {DEP_CIDR} to {IGW} (igw), not to {PCX}"
    assert kinds(plan_fix([d])) == [("replace_route", "replace")]


def test_a_route_to_another_active_pcx_is_wrong_target():
    other = peering("pcx-0other", accepter_vpc="vpc-0elsewhere", tags={})
    d = diff(estate(private=[LOCAL, route(DEP_CIDR, "pcx-0other")],
                    peerings=[peering(), other]))  # fmt: skip
    assert route_rows(d) == {(PRIVATE, DEP_CIDR, "wrong_target")}


def test_a_more_specific_route_elsewhere_is_shadowed_a_less_specific_one_is_not():
    d = diff(estate(private=[LOCAL, route(DEP_CIDR, PCX), route("10.200.7.0/24", IGW),
                             route("10.0.0.0/8", IGW), route(ANYWHERE, IGW)]))  # fmt: skip
    assert route_rows(d) == {(PRIVATE, "10.200.7.0/24", "shadowed")}
    (row,) = d.drift
    assert (row.expected, row.actual) == (PCX, IGW)
    assert row.reason == f"{PRIVATE} sends 10.200.7.0/24 (inside {DEP_CIDR}) to {IGW}"
    (action,) = plan_fix([d]).actions
    assert (action.kind, action.destination, action.needs) == (
        "delete_route", "10.200.7.0/24", "replace",
    )  # fmt: skip


def test_a_route_aws_marked_blackhole_on_an_active_pcx_is_blackhole():
    d = diff(estate(private=[LOCAL, route(DEP_CIDR, PCX, state="blackhole")]))
    assert route_rows(d) == {(PRIVATE, DEP_CIDR, "blackhole")}
    (row,) = d.drift
    assert (row.expected, row.actual) == (PCX, PCX)
    plan = plan_fix([d])
    # Replaced in place: never a moment without a route to the deployment.
    assert kinds(plan) == [("replace_route", None)]
    assert {(a.route_table_id, a.destination) for a in plan.actions} == {(PRIVATE, DEP_CIDR)}


@pytest.mark.parametrize(("earlier", "seen_as"), [("deleted", "deleted"), (None, "not visible")])
def test_a_route_via_an_earlier_pcx_that_is_gone_is_blackhole(earlier, seen_as):
    peerings = [peering()]
    if earlier:
        peerings.append(peering("pcx-0earlier", status=earlier, tags={}))
    d = diff(estate(private=[LOCAL, route(DEP_CIDR, "pcx-0earlier")], peerings=peerings))
    assert route_rows(d) == {(PRIVATE, DEP_CIDR, "blackhole")}
    (row,) = d.drift
    assert row.reason == f"{PRIVATE} routes {DEP_CIDR} via pcx-0earlier, which is {seen_as}"
    assert kinds(plan_fix([d])) == [("replace_route", None)]


@pytest.mark.parametrize("status", ["deleted", "rejected", "failed", "expired"])
def test_the_routes_of_a_pcx_that_is_no_longer_active_are_blackholes_to_delete(status):
    world = estate(peerings=[peering(status=status)])
    d = diff(world)
    assert not d.peering_active
    assert route_rows(d) == {(PRIVATE, DEP_CIDR, "blackhole"), (MAIN, DEP_CIDR, "blackhole")}
    assert all(r.expected is None and r.actual == PCX for r in d.routes)
    assert all(r.reason.endswith(f"which is {status}") for r in d.routes)
    plan = plan_fix([d])
    route_actions = [a for a in plan.actions if a.route_table_id]
    assert {(a.kind, a.route_table_id, a.needs) for a in route_actions} == {
        ("delete_route", PRIVATE, None), ("delete_route", MAIN, None),
    }  # fmt: skip


def test_a_route_via_the_pcx_to_a_destination_it_does_not_serve_is_stale():
    d = diff(estate(main=[LOCAL, route(DEP_CIDR, PCX), route("10.99.0.0/16", PCX)]))
    assert route_rows(d) == {(MAIN, "10.99.0.0/16", "stale")}
    (row,) = d.drift
    assert (row.expected, row.actual) == (None, PCX)
    assert row.reason == f"{MAIN} routes 10.99.0.0/16 via {PCX}, which only serves {DEP_CIDR}"
    assert kinds(plan_fix([d])) == [("delete_route", None)]


def test_a_route_table_of_the_intent_that_is_gone_is_a_note_not_drift():
    d = diff(estate(peerings=[peering(tags=intent(tables=(PRIVATE, MAIN, "rtb-0gone")))]))
    assert d.in_sync
    assert d.notes == ("route table rtb-0gone of the intent no longer exists",)


# --- inbound rules ---------------------------------------------------------------------------


def test_a_revoked_rule_is_missing_and_authorized_again_with_the_tools_description():
    d = diff(estate(rules=[]))
    assert rule_rows(d) == {(DB, DEP_CIDR, 5432, "missing")}
    (row,) = d.drift
    assert row.reason == f"{DB} does not allow tcp/5432 from {DEP_CIDR} (the peering's intent)"
    (action,) = plan_fix([d]).actions
    assert (action.kind, action.group_id, action.cidr, action.port, action.needs) == (
        "authorize_ingress", DB, DEP_CIDR, 5432, None,
    )  # fmt: skip
    assert action.description == f"peering-tui {PCX}"


def test_an_all_traffic_rule_satisfies_every_port():
    world = estate(rules=[rule("sgr-0all", DB, DEP_CIDR)],
                   peerings=[peering(tags=intent(ports=(5432, 9092, 1883)))])  # fmt: skip
    d = diff(world)
    assert d.in_sync
    assert sorted((r.port, r.state, r.rule_ids) for r in d.rules) == [
        (1883, "ok", ("sgr-0all",)), (5432, "ok", ("sgr-0all",)), (9092, "ok", ("sgr-0all",)),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("present", "satisfied"),
    [
        (rule("r", DB, DEP_CIDR, 5000, to_port=6000), True),  # a port range around it
        (rule("r", DB, DEP_CIDR, 5432, protocol="6"), True),  # tcp by number
        (rule("r", DB, DEP_CIDR, 5433), False),  # the next port
        (rule("r", DB, DEP_CIDR, 5432, protocol="udp"), False),  # not tcp
        (rule("r", DB, "10.200.0.0/24", 5432), False),  # only part of the deployment
        (rule("r", APP, DEP_CIDR, 5432), False),  # another group
    ],
    ids=["range", "tcp-by-number", "other-port", "udp", "narrower-cidr", "other-group"],
)
def test_which_rules_satisfy_a_needed_port(present, satisfied):
    d = diff(estate(rules=[present]))
    assert d.in_sync is satisfied


def test_an_all_traffic_intent_needs_an_all_traffic_rule():
    all_traffic = peering(tags=intent(groups=(DEFAULT,), ports=()))
    assert diff(estate(rules=[rule("r", DEFAULT, DEP_CIDR)], peerings=[all_traffic])).in_sync
    d = diff(estate(rules=[rule("r", DEFAULT, DEP_CIDR, 5432)], peerings=[all_traffic]))
    assert rule_rows(d) == {(DEFAULT, DEP_CIDR, None, "missing")}
    (action,) = plan_fix([d]).actions
    assert (action.kind, action.port) == ("authorize_ingress", None)


def test_a_needed_port_open_to_the_world_is_a_warning_that_needs_revoke():
    d = diff(estate(rules=[OUR_DB_RULE, rule("sgr-0world", DB, ANYWHERE, 5432)]))
    assert d.in_sync  # a warning is not drift
    assert d.drift == []
    (warning,) = d.warnings
    assert (warning.security_group_id, warning.cidr, warning.port, warning.state) == (
        DB, ANYWHERE, 5432, "too_broad",
    )  # fmt: skip
    assert warning.rule_ids == ("sgr-0world",)
    assert warning.reason == f"{DB} opens tcp/5432 to {ANYWHERE} (the peering's intent)"
    assert d.summary() == [warning.reason]
    (action,) = plan_fix([d]).actions
    assert (action.kind, action.needs, action.rule_ids) == (
        "revoke_ingress", "revoke", ("sgr-0world",),
    )  # fmt: skip


def test_one_world_open_rule_too_broad_for_two_ports_is_revoked_once():
    world = estate(
        rules=[rule("r1", DB, DEP_CIDR, 5432), rule("r2", DB, DEP_CIDR, 9092),
               rule("sgr-0world", DB, ANYWHERE)],
        peerings=[peering(tags=intent(ports=(5432, 9092)))],
    )  # fmt: skip
    d = diff(world)
    assert rule_rows(d) == {(DB, ANYWHERE, 5432, "too_broad"), (DB, ANYWHERE, 9092, "too_broad")}
    assert [(a.kind, a.rule_ids) for a in plan_fix([d]).actions] == [
        ("revoke_ingress", ("sgr-0world",))
    ]


def test_rules_too_broad_for_several_ports_are_each_revoked_exactly_once():
    world = estate(
        rules=[rule("r1", DB, DEP_CIDR, 5432), rule("r2", DB, DEP_CIDR, 9092),
               rule("sgr-0psql", DB, ANYWHERE, 5432), rule("sgr-0all", DB, ANYWHERE)],
        peerings=[peering(tags=intent(ports=(5432, 9092)))],
    )  # fmt: skip
    plan = plan_fix([diff(world)])
    revoked = [rid for a in plan.actions if a.kind == "revoke_ingress" for rid in a.rule_ids]
    assert sorted(revoked) == ["sgr-0all", "sgr-0psql"]


def test_rules_left_behind_by_a_gone_pcx_are_stale_and_need_revoke():
    by_hand = rule("sgr-0hand", APP, DEP_CIDR, 6432, description="pgbouncer")
    tagged_elsewhere = rule("sgr-0moved", APP, "10.77.0.0/16", description=rule_description(PCX))
    world = estate(rules=[OUR_DB_RULE, by_hand, tagged_elsewhere],
                   peerings=[peering(status="deleted")])  # fmt: skip
    d = diff(world)
    assert rule_rows(d) == {
        (DB, DEP_CIDR, 5432, "stale"),
        (APP, DEP_CIDR, 6432, "stale"),
        (APP, "10.77.0.0/16", None, "stale"),
    }
    ours = next(r for r in d.rules if r.rule_ids == ("sgr-0db5432",))
    assert ours.reason == f"{DB} still allows {DEP_CIDR} although {PCX} is deleted"
    revokes = [a for a in plan_fix([d]).actions if a.kind == "revoke_ingress"]
    # One revoke per security group, naming each of its stale rules once.
    assert sorted((a.group_id, a.rule_ids) for a in revokes) == sorted(
        [(APP, ("sgr-0hand", "sgr-0moved")), (DB, ("sgr-0db5432",))]
    )
    assert {a.needs for a in revokes} == {"revoke"}


def test_rules_of_a_gone_pcx_are_not_stale_while_another_active_peering_needs_them():
    world = estate(peerings=[peering(status="deleted")])
    assert rule_rows(diff(world, live={VPC: {DEP_CIDR}})) == set()
    assert rule_rows(diff(world, live={VPC: {"10.201.0.0/16"}})) == {(DB, DEP_CIDR, 5432, "stale")}


def test_an_active_peering_never_calls_a_rule_stale():
    extra = rule("sgr-0extra", APP, DEP_CIDR, 22)
    assert diff(estate(rules=[OUR_DB_RULE, extra])).in_sync


def test_a_security_group_of_the_intent_that_is_gone_is_a_note_not_drift():
    d = diff(estate(peerings=[peering(tags=intent(groups=(DB, "sg-0gone")))]))
    assert d.in_sync
    assert d.notes == ("security group sg-0gone (the peering's intent) no longer exists",)


# --- resources -------------------------------------------------------------------------------


def test_a_resource_whose_interface_group_lacks_the_port_is_missing_on_that_group():
    app_only = peering(tags=intent(groups=(APP,), ports=(1883,)))
    world = estate(rules=[rule("sgr-0mqtt", APP, DEP_CIDR, 1883)], peerings=[app_only],
                   interfaces=[DB_INTERFACE])  # fmt: skip
    d = diff(world, resources=[orders_db()])
    assert rule_rows(d) == {(DB, DEP_CIDR, 5432, "missing")}
    (row,) = d.drift
    assert row.reason == (
        f"resource orders-db ({DB_HOST}:5432): eni-0orders's groups do not allow tcp/5432 "
        f"from {DEP_CIDR}"
    )
    (action,) = plan_fix([d]).actions
    assert (action.kind, action.group_id, action.port) == ("authorize_ingress", DB, 5432)

    allowed = world.model_copy(update={"rules": (*world.rules, OUR_DB_RULE)})
    d = diff(allowed, resources=[orders_db()])
    assert d.in_sync
    assert (DB, 5432, "ok") in {(r.security_group_id, r.port, r.state) for r in d.rules}


def test_a_resource_open_to_the_world_is_too_broad():
    world = estate(
        rules=[
            rule("sgr-0app", APP, DEP_CIDR),
            OUR_DB_RULE,
            rule("sgr-0world", DB, ANYWHERE, 5432),
        ],
        peerings=[peering(tags=intent(groups=(APP,), ports=()))],
        interfaces=[DB_INTERFACE],
    )
    d = diff(world, resources=[orders_db()])
    assert d.in_sync
    assert rule_rows(d) == {(DB, ANYWHERE, 5432, "too_broad")}


def test_resources_outside_the_vpc_are_ignored_and_without_an_interface_are_noted():
    world = estate(interfaces=[DB_INTERFACE])
    assert diff(world, resources=[orders_db(host="10.9.9.9")]).rules == diff(world).rules
    d = diff(world, resources=[orders_db(host="172.20.16.99")])
    assert d.in_sync
    assert d.notes == (f"resource orders-db (172.20.16.99) has no network interface in {VPC}",)


# --- a peering made without peering-tui (no intent tags) -------------------------------------


def test_without_intent_any_group_allowing_the_cidr_will_do():
    hand_made = peering(tags={})
    d = diff(estate(rules=[rule("sgr-0ssh", APP, DEP_CIDR, 22)], peerings=[hand_made]))
    assert d.in_sync

    d = diff(estate(rules=[], peerings=[hand_made]))
    assert rule_rows(d) == {(DEFAULT, DEP_CIDR, None, "missing")}
    (row,) = d.drift
    assert row.reason == f"no security group of {VPC} allows {DEP_CIDR} (created without intent)"
    (action,) = plan_fix([d]).actions
    assert (action.kind, action.group_id, action.port) == ("authorize_ingress", DEFAULT, None)


# --- the fix plan ----------------------------------------------------------------------------


def everything_wrong() -> PeeringDiff:
    return diff(estate(
        private=[LOCAL, route(DEP_CIDR, "pcx-0earlier"), route("10.200.7.0/24", IGW)],
        main=[LOCAL, route(DEP_CIDR, IGW), route("10.99.0.0/16", PCX)],
        rules=[rule("sgr-0world", DB, ANYWHERE, 5432)],
        peerings=[peering(), peering("pcx-0earlier", status="deleted", tags={})],
    ))  # fmt: skip


def test_the_plan_creates_and_replaces_before_it_deletes_and_revokes():
    d = everything_wrong()
    assert route_rows(d) == {
        (PRIVATE, DEP_CIDR, "blackhole"),
        (PRIVATE, "10.200.7.0/24", "shadowed"),
        (MAIN, DEP_CIDR, "wrong_target"),
        (MAIN, "10.99.0.0/16", "stale"),
    }
    assert rule_rows(d) == {(DB, DEP_CIDR, 5432, "missing"), (DB, ANYWHERE, 5432, "too_broad")}
    plan = plan_fix([d])
    order = [a.kind for a in plan.actions]
    assert order == [
        "replace_route", "replace_route",  # the blackhole (via the live pcx), the wrong target
        "authorize_ingress",
        "delete_route", "delete_route",  # shadowed, stale
        "revoke_ingress",
    ]  # fmt: skip
    assert {a.destination for a in plan.actions[3:5]} == {"10.200.7.0/24", "10.99.0.0/16"}


def test_actions_that_need_a_flag_are_held_back_without_it():
    plan = plan_fix([everything_wrong()])
    needs = {(a.kind, a.destination or a.cidr, a.needs) for a in plan.actions}
    assert needs == {
        ("replace_route", DEP_CIDR, None),  # blackhole
        ("delete_route", "10.99.0.0/16", None),  # stale route
        ("delete_route", "10.200.7.0/24", "replace"),  # shadowed
        ("replace_route", DEP_CIDR, "replace"),  # wrong target
        ("authorize_ingress", DEP_CIDR, None),  # missing rule
        ("revoke_ingress", None, "revoke"),  # too broad
    }

    def flags(allowed: list[FixAction]) -> set[str | None]:
        return {a.needs for a in allowed}

    assert flags(plan.allowed(replace=False, revoke=False)) == {None}
    assert flags(plan.held_back(replace=False, revoke=False)) == {"replace", "revoke"}
    assert flags(plan.allowed(replace=True, revoke=False)) == {None, "replace"}
    assert flags(plan.held_back(replace=True, revoke=False)) == {"revoke"}
    assert flags(plan.allowed(replace=False, revoke=True)) == {None, "revoke"}
    assert plan.held_back(replace=True, revoke=True) == []
    assert plan.allowed(replace=True, revoke=True) == list(plan.actions)
    # Held back or not, the order stays the plan's order.
    for replace in (False, True):
        for revoke in (False, True):
            chosen = plan.allowed(replace=replace, revoke=revoke)
            assert chosen == [a for a in plan.actions if a in chosen]


def test_the_same_change_asked_by_two_diffs_is_planned_once():
    d = diff(estate(private=[LOCAL]))
    assert len(plan_fix([d, d]).actions) == 1


# --- the aws CLI twin of each action ---------------------------------------------------------

AWS_CLI_CASES = [
    (
        FixAction(kind="create_route", region=REGION, reason="r", route_table_id=PRIVATE,
                  destination=DEP_CIDR, peering_id=PCX),
        "aws ec2 create-route --route-table-id rtb-0private --destination-cidr-block "
        "10.200.0.0/16 --vpc-peering-connection-id pcx-0live --region us-east-1",
    ),
    (
        FixAction(kind="replace_route", region="eu-west-1", reason="r", needs="replace",
                  route_table_id=MAIN, destination=DEP_CIDR, peering_id=PCX),
        "aws ec2 replace-route --route-table-id rtb-0main --destination-cidr-block "
        "10.200.0.0/16 --vpc-peering-connection-id pcx-0live --region eu-west-1",
    ),
    (
        FixAction(kind="delete_route", region=REGION, reason="r", route_table_id=PRIVATE,
                  destination="10.200.7.0/24"),
        "aws ec2 delete-route --route-table-id rtb-0private --destination-cidr-block "
        "10.200.7.0/24 --region us-east-1",
    ),
    (
        FixAction(kind="authorize_ingress", region=REGION, reason="r", group_id=DB,
                  cidr=DEP_CIDR, port=5432, description="peering-tui pcx-0live"),
        "aws ec2 authorize-security-group-ingress --group-id sg-0db --ip-permissions "
        "'IpProtocol=tcp,FromPort=5432,ToPort=5432,"
        "IpRanges=[{CidrIp=10.200.0.0/16,Description=peering-tui pcx-0live}]' "
        "--region us-east-1",
    ),
    (
        FixAction(kind="authorize_ingress", region=REGION, reason="r", group_id=DEFAULT,
                  cidr=DEP_CIDR, port=None, description="peering-tui pcx-0live"),
        "aws ec2 authorize-security-group-ingress --group-id sg-0default --ip-permissions "
        "'IpProtocol=-1,IpRanges=[{CidrIp=10.200.0.0/16,Description=peering-tui pcx-0live}]' "
        "--region us-east-1",
    ),
    (
        FixAction(kind="revoke_ingress", region=REGION, reason="r", needs="revoke", group_id=DB,
                  rule_ids=("sgr-0a", "sgr-0b")),
        "aws ec2 revoke-security-group-ingress --group-id sg-0db --security-group-rule-ids "
        "sgr-0a sgr-0b --region us-east-1",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("action", "command"),
    AWS_CLI_CASES,
    ids=["create-route", "replace-route", "delete-route", "authorize-tcp", "authorize-all",
         "revoke"],
)  # fmt: skip
def test_each_action_has_its_exact_aws_cli_command(action, command):
    assert action.aws_cli() == command


def test_the_plan_for_a_real_diff_carries_the_ids_into_the_commands():
    commands = [a.aws_cli() for a in plan_fix([everything_wrong()]).actions]
    assert commands[-1] == (
        "aws ec2 revoke-security-group-ingress --group-id sg-0db --security-group-rule-ids "
        "sgr-0world --region us-east-1"
    )
    assert (
        "aws ec2 replace-route --route-table-id rtb-0main --destination-cidr-block "
        "10.200.0.0/16 --vpc-peering-connection-id pcx-0live --region us-east-1"
    ) in commands


# --- property: the full plan, applied in order the way EC2 would, converges ---------------


class Refused(Exception):
    """What EC2 would answer with an error (NotFound, AlreadyExists, Duplicate)."""


def apply_like_ec2(world: RegionEstate, actions: Sequence[FixAction]) -> RegionEstate:
    tables = {t.id: list(t.routes) for t in world.route_tables}
    rules = list(world.rules)
    for n, a in enumerate(actions):
        if a.kind in ("create_route", "replace_route", "delete_route"):
            routes = tables[a.route_table_id or ""]
            present = [r for r in routes if r.destination == a.destination]
            if a.kind == "create_route" and present:
                raise Refused(f"RouteAlreadyExists: {a.aws_cli()}")
            if a.kind != "create_route" and not present:
                raise Refused(f"InvalidRoute.NotFound: {a.aws_cli()}")
            routes[:] = [r for r in routes if r.destination != a.destination]
            if a.kind != "delete_route":
                routes.append(route(a.destination or "", a.peering_id or ""))
        elif a.kind == "authorize_ingress":
            new = rule(
                f"sgr-fix{n}", a.group_id or "", a.cidr or "", a.port,
                description=a.description or "",
            )  # fmt: skip
            same = (new.group_id, new.cidr, new.protocol, new.from_port)
            if any((r.group_id, r.cidr, r.protocol, r.from_port) == same for r in rules):
                raise Refused(f"InvalidPermission.Duplicate: {a.aws_cli()}")
            rules.append(new)
        else:
            ids = {r.id for r in rules if r.group_id == a.group_id}
            if not set(a.rule_ids) <= ids:
                raise Refused(f"InvalidPermission.NotFound: {a.aws_cli()}")
            rules = [r for r in rules if r.id not in a.rule_ids]
    new_tables = tuple(
        dataclasses.replace(t, routes=tuple(tables[t.id])) for t in world.route_tables
    )
    return world.model_copy(update={"route_tables": new_tables, "rules": tuple(rules)})


PRIVATE_SLOT = {
    "ok": [route(DEP_CIDR, PCX)],
    "missing": [],
    "aws-blackhole": [route(DEP_CIDR, PCX, state="blackhole")],
    "earlier-pcx": [route(DEP_CIDR, "pcx-0earlier")],
    "igw": [route(DEP_CIDR, IGW)],
}
MAIN_SLOT = {
    "ok": [route(DEP_CIDR, PCX)],
    "missing": [],
    "other-active-pcx": [route(DEP_CIDR, "pcx-0other")],
}
EXTRA_ROUTES = {
    "shadow": (PRIVATE, route("10.200.7.0/24", IGW)),
    "stale": (MAIN, route("10.99.0.0/16", PCX)),
    "stale-inside": (PRIVATE, route("10.200.9.0/24", PCX)),
}
RULE_SLOT = {
    "ok": [OUR_DB_RULE],
    "revoked": [],
    "udp": [rule("sgr-0udp", DB, DEP_CIDR, 5432, protocol="udp")],
    "all-traffic": [rule("sgr-0all", DB, DEP_CIDR)],
}
WORLD_OPEN = {
    "psql": rule("sgr-0psql", DB, ANYWHERE, 5432),
    "everything": rule("sgr-0every", DB, ANYWHERE),
}


@settings(deadline=None, max_examples=150)
@given(
    status=st.sampled_from(["active", "active", "deleted", "rejected"]),
    private=st.sampled_from(sorted(PRIVATE_SLOT)),
    main=st.sampled_from(sorted(MAIN_SLOT)),
    extras=st.sets(st.sampled_from(sorted(EXTRA_ROUTES))),
    rules=st.sampled_from(sorted(RULE_SLOT)),
    world_open=st.sets(st.sampled_from(sorted(WORLD_OPEN))),
    with_resource=st.booleans(),
)
def test_any_mix_of_drift_converges_when_the_whole_plan_is_applied_in_order(
    status, private, main, extras, rules, world_open, with_resource
):
    routes = {PRIVATE: [LOCAL, *PRIVATE_SLOT[private]], MAIN: [LOCAL, *MAIN_SLOT[main]]}
    for name in extras:
        table, extra = EXTRA_ROUTES[name]
        routes[table].append(extra)
    world = estate(
        private=routes[PRIVATE],
        main=routes[MAIN],
        rules=[*RULE_SLOT[rules], *(WORLD_OPEN[w] for w in sorted(world_open))],
        peerings=[
            peering(status=status),
            peering("pcx-0earlier", status="deleted", tags={}),
            peering("pcx-0other", accepter_vpc="vpc-0elsewhere", tags={}),
        ],
        interfaces=[DB_INTERFACE],
    )
    resources = [orders_db()] if with_resource else []
    before = diff(world, resources=resources)
    plan = plan_fix([before])

    kinds_in_order = [a.kind for a in plan.actions]
    rank = {"create_route": 0, "replace_route": 1, "authorize_ingress": 2, "delete_route": 5,
            "revoke_ingress": 6}  # fmt: skip
    assert kinds_in_order == sorted(kinds_in_order, key=rank.__getitem__)
    assert not plan.actions or before.drift or before.warnings

    after = diff(apply_like_ec2(world, plan.actions), resources=resources)
    assert after.in_sync, after.summary()
    assert after.warnings == []
    assert plan_fix([after]).actions == ()
