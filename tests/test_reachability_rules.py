"""Reachability rules on hand-built estates (no network): prefix lists, covering routes and
rules, network ACLs, and fix plans that never leave the peering with less than it had.

The baseline is ``test_drift_rules``'s healthy peering (prod-data 172.20.0.0/16 ↔ a
deployment at 10.200.0.0/16 through ``pcx-0live``). Each test changes one thing, reads the
diff, and — where there is drift — applies the whole plan the way EC2 would and diffs again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from peering_core.drift import (
    AclState,
    FixAction,
    PeeringDiff,
    RegionEstate,
    RouteState,
    plan_fix,
)
from peering_core.models import (
    AclEntry,
    NetworkAcl,
    NetworkInterface,
    PrefixList,
    Route,
    RouteTable,
    Subnet,
)
from peering_core.reachability import (
    AclVerdict,
    acl_fixes,
    acl_verdict,
    best_route,
    route_choices,
)

from .test_drift_rules import (
    ANYWHERE,
    APP,
    DB,
    DB_HOST,
    DB_INTERFACE,
    DEFAULT,
    DEP_CIDR,
    IGW,
    LOCAL,
    MAIN,
    OUR_DB_RULE,
    PCX,
    PRIVATE,
    SUBNET_A,
    SUBNET_B,
    SUBNET_C,
    VPC,
    Refused,
    apply_like_ec2,
    diff,
    estate,
    intent,
    kinds,
    orders_db,
    peering,
    route,
    route_rows,
    rule,
    rule_rows,
)

DEPLOYMENTS_LIST = "pl-0deployments"  # customer-managed: the broker fleet's CIDRs
S3_LIST = "pl-0s3"  # AWS-managed
ACL = "acl-0prod"


def prefix_list(list_id: str, *entries: str, owner: str = "210987654321") -> PrefixList:
    return PrefixList(
        id=list_id, name=list_id, owner_id=owner, version=None if owner == "AWS" else 3,
        entries=entries,
    )  # fmt: skip


def pl_route(list_id: str, target: str, state: str = "active") -> Route:
    kind = {"pcx": "pcx", "igw": "igw"}[target[:3]]
    return Route(destination=list_id, target_kind=kind, target_id=target, state=state)


def with_lists(
    world: RegionEstate,
    lists: Sequence[PrefixList],
    *,
    private: Sequence[Route] = (),
    main: Sequence[Route] = (),
) -> RegionEstate:
    """``world`` with prefix lists known and prefix-list routes added to the two tables."""
    extra = {PRIVATE: tuple(private), MAIN: tuple(main)}
    tables = tuple(
        dataclasses.replace(t, prefix_list_routes=t.prefix_list_routes + extra[t.id])
        for t in world.route_tables
    )
    return world.model_copy(update={"prefix_lists": tuple(lists), "route_tables": tables})


def converge(world: RegionEstate, **diff_args: object) -> PeeringDiff:
    """Apply the whole plan like EC2 (routes, rules, ACL entries) and diff again."""
    before = diff(world, **diff_args)  # type: ignore[arg-type]
    plan = plan_fix([before])
    after = diff(apply_everything(world, plan.actions), **diff_args)  # type: ignore[arg-type]
    assert after.in_sync, after.summary()
    assert plan_fix([after]).actions == ()
    return after


def apply_everything(world: RegionEstate, actions: Sequence[FixAction]) -> RegionEstate:
    acls = {a.id: list(a.entries) for a in world.network_acls}
    rest: list[FixAction] = []
    for a in actions:
        if a.kind not in ("create_acl_entry", "replace_acl_entry"):
            rest.append(a)
            continue
        entries = acls[a.network_acl_id or ""]
        present = [e for e in entries if (e.egress, e.rule_number) == (a.egress, a.rule_number)]
        if (a.kind == "create_acl_entry") == bool(present):
            raise Refused(f"NetworkAclEntry{'AlreadyExists' if present else 'NotFound'}")
        entries[:] = [e for e in entries if e not in present] + [a.acl_entry()]
    world = world.model_copy(
        update={
            "network_acls": tuple(
                dataclasses.replace(a, entries=tuple(acls[a.id])) for a in world.network_acls
            )
        }
    )
    applied = apply_like_ec2(world, [a for a in rest if a.kind != "delete_route"])
    # apply_like_ec2 knows CIDR routes only; a prefix-list route is deleted here.
    deletes = [a for a in rest if a.kind == "delete_route"]
    tables = []
    for t in applied.route_tables:
        gone = {a.destination for a in deletes if a.route_table_id == t.id}
        tables.append(
            dataclasses.replace(
                t,
                routes=tuple(r for r in t.routes if r.destination not in gone),
                prefix_list_routes=tuple(
                    r for r in t.prefix_list_routes if r.destination not in gone
                ),
            )
        )
    return applied.model_copy(update={"route_tables": tuple(tables)})


# --- prefix lists in rules --------------------------------------------------------------------


@pytest.mark.parametrize(
    "lists",
    [
        [prefix_list(DEPLOYMENTS_LIST, "10.201.0.0/16", DEP_CIDR)],
        [prefix_list(DEPLOYMENTS_LIST, "10.0.0.0/8", owner="AWS")],
    ],
    ids=["customer-managed", "aws-managed-wider"],
)
def test_a_rule_through_a_prefix_list_that_holds_the_deployment_allows_it(lists):
    through_list = dataclasses.replace(
        rule("sgr-0pl", DB, "", 5432), cidr=None, prefix_list_id=DEPLOYMENTS_LIST
    )
    world = with_lists(estate(rules=[through_list]), lists)
    d = diff(world)
    assert d.in_sync, d.summary()
    (row,) = d.rules
    assert row.rule_ids == ("sgr-0pl",)
    assert f"through prefix list {DEPLOYMENTS_LIST}" in row.actual
    assert plan_fix([d]).actions == ()  # never a duplicate CIDR rule


def test_a_prefix_list_without_the_deployment_does_not_allow_it_and_the_fix_adds_a_rule():
    through_list = dataclasses.replace(
        rule("sgr-0s3", DB, "", 5432), cidr=None, prefix_list_id=S3_LIST
    )
    world = with_lists(
        estate(rules=[through_list]), [prefix_list(S3_LIST, "52.216.0.0/15", owner="AWS")]
    )
    assert rule_rows(diff(world)) == {(DB, DEP_CIDR, 5432, "missing")}
    converge(world)


def test_a_prefix_list_whose_entries_are_unknown_allows_nothing():
    through_list = dataclasses.replace(
        rule("sgr-0pl", DB, "", 5432), cidr=None, prefix_list_id="pl-0unread"
    )
    assert rule_rows(diff(estate(rules=[through_list]))) == {(DB, DEP_CIDR, 5432, "missing")}


# --- covering rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("tags", [{}, None], ids=["made-elsewhere", "with-intent"])
def test_a_rule_from_a_wider_block_allows_the_deployment_in_every_branch(tags):
    wider = rule("sgr-0wide", DB, "10.0.0.0/8")
    d = diff(estate(rules=[wider], peerings=[peering(tags=tags)]))
    assert d.in_sync, d.summary()
    assert any("10.0.0.0/8 contains it" in r.actual for r in d.rules)
    assert plan_fix([d]).actions == ()


def test_a_wider_rule_for_another_port_does_not_allow_the_needed_one():
    d = diff(estate(rules=[rule("sgr-0wide", DB, "10.0.0.0/8", 22)]))
    assert rule_rows(d) == {(DB, DEP_CIDR, 5432, "missing")}


# --- prefix lists in routes -------------------------------------------------------------------


def test_a_prefix_list_route_via_the_pcx_routes_the_deployment():
    lists = [prefix_list(DEPLOYMENTS_LIST, DEP_CIDR, "10.201.0.0/16")]
    world = with_lists(estate(private=[LOCAL]), lists, private=[pl_route(DEPLOYMENTS_LIST, PCX)])
    d = diff(world)
    assert d.in_sync, d.summary()
    row = next(r for r in d.routes if r.route_table_id == PRIVATE)
    assert (row.state, row.matched) == (RouteState.OK, DEPLOYMENTS_LIST)
    assert plan_fix([d]).actions == ()  # the list keeps serving; no CIDR route on top
    # It also holds another deployment's CIDR: said, not drift.
    assert any("also holds 10.201.0.0/16" in n for n in d.notes)


def test_a_prefix_list_route_sending_part_of_the_deployment_to_an_igw_is_shadowed():
    """The seen bug: a part of the deployment left by the gateway while diff said in sync."""
    lists = [prefix_list("pl-0saas", "10.200.7.0/24", "203.0.113.0/24")]
    world = with_lists(estate(), lists, private=[pl_route("pl-0saas", IGW)])
    d = diff(world)
    assert route_rows(d) == {(PRIVATE, "10.200.7.0/24", "shadowed")}
    (row,) = d.drift
    assert row.reason == (
        f"{PRIVATE} sends 10.200.7.0/24 (inside {DEP_CIDR}) to {IGW} through prefix list pl-0saas"
    )
    # The list is left alone: a CIDR route of the same length wins over it.
    (action,) = plan_fix([d]).actions
    assert (action.kind, action.destination, action.needs) == (
        "create_route", "10.200.7.0/24", "replace",
    )  # fmt: skip
    after = converge(world)
    private = next(t for t in apply_everything(world, plan_fix([d]).actions).route_tables
                   if t.id == PRIVATE)  # fmt: skip
    assert [r.destination for r in private.prefix_list_routes] == ["pl-0saas"]
    assert after.in_sync


def test_a_prefix_list_route_holding_the_deployment_to_an_igw_is_wrong_target():
    lists = [prefix_list("pl-0saas", DEP_CIDR)]
    world = with_lists(estate(private=[LOCAL]), lists, private=[pl_route("pl-0saas", IGW)])
    d = diff(world)
    assert route_rows(d) == {(PRIVATE, DEP_CIDR, "wrong_target")}
    assert kinds(plan_fix([d])) == [("create_route", "replace")]
    converge(world)


def test_at_equal_length_a_cidr_route_wins_over_a_prefix_list_route():
    lists = [prefix_list("pl-0saas", DEP_CIDR)]
    world = with_lists(estate(), lists, private=[pl_route("pl-0saas", IGW)])
    assert diff(world).in_sync
    table = next(t for t in world.route_tables if t.id == PRIVATE)
    choices, unknown = route_choices(table, world.entries_of)
    assert unknown == []
    win = best_route(choices, DEP_CIDR)
    assert win is not None and (win.route.target_id, win.prefix_list) == (PCX, None)


def test_a_prefix_list_route_whose_entries_are_unknown_is_a_note():
    world = with_lists(estate(), [], private=[pl_route("pl-0unread", IGW)])
    d = diff(world)
    assert d.in_sync
    assert any("pl-0unread" in n and "could not be read" in n for n in d.notes)


def test_a_prefix_list_route_via_the_pcx_that_serves_nothing_is_stale_and_deleted():
    lists = [prefix_list("pl-0other", "10.99.0.0/16")]
    world = with_lists(estate(), lists, main=[pl_route("pl-0other", PCX)])
    d = diff(world)
    assert route_rows(d) == {(MAIN, "pl-0other", "stale")}
    (action,) = plan_fix([d]).actions
    assert action.aws_cli() == (
        "aws ec2 delete-route --route-table-id rtb-0main --destination-prefix-list-id "
        "pl-0other --region us-east-1"
    )
    converge(world)


def test_a_prefix_list_route_via_a_deleted_pcx_is_a_blackhole_to_delete():
    lists = [prefix_list(DEPLOYMENTS_LIST, DEP_CIDR)]
    world = with_lists(
        estate(private=[LOCAL], peerings=[peering(status="deleted")]),
        lists,
        private=[pl_route(DEPLOYMENTS_LIST, PCX)],
    )
    d = diff(world)
    assert (PRIVATE, DEPLOYMENTS_LIST, "blackhole") in route_rows(d)
    assert ("delete_route", None) in kinds(plan_fix([d]))


# --- covering routes --------------------------------------------------------------------------


@pytest.mark.parametrize("tags", [{}, None], ids=["made-elsewhere", "with-intent"])
def test_a_wider_route_via_the_pcx_covers_the_deployment_and_is_not_stale(tags):
    """The seen bug: reported missing and stale, and fixed by deleting the working route."""
    wide = [LOCAL, route("10.0.0.0/8", PCX)]
    allowed = [OUR_DB_RULE, rule("sgr-0any", APP, DEP_CIDR)]
    d = diff(estate(private=wide, main=wide, rules=allowed, peerings=[peering(tags=tags)]))
    assert d.in_sync, d.summary()
    oks = [r for r in d.routes if r.destination == DEP_CIDR]
    assert {(r.state, r.matched) for r in oks} == {(RouteState.OK, "10.0.0.0/8")}
    assert all("covered by 10.0.0.0/8" in r.reason for r in oks)
    assert any("which covers it" in n for n in d.notes)
    assert plan_fix([d]).actions == ()


def test_a_wider_route_via_the_pcx_does_not_cover_a_part_sent_elsewhere():
    world = estate(private=[LOCAL, route("10.0.0.0/8", PCX), route("10.200.7.0/24", IGW)])
    assert route_rows(diff(world)) == {(PRIVATE, "10.200.7.0/24", "shadowed")}


def test_a_wider_route_elsewhere_leaves_the_deployment_missing_and_the_fix_adds_a_narrower_one():
    world = estate(private=[LOCAL, route("10.0.0.0/8", IGW)])
    d = diff(world)
    assert route_rows(d) == {(PRIVATE, DEP_CIDR, "missing")}
    (row,) = d.drift
    assert (
        row.reason == f"{PRIVATE} has no route to {DEP_CIDR} (the wider 10.0.0.0/8 goes to {IGW})"
    )
    assert kinds(plan_fix([d])) == [("create_route", None)]  # the wider route stays
    converge(world)


def test_every_fix_creates_or_replaces_before_it_deletes():
    world = estate(
        private=[LOCAL, route(DEP_CIDR, "pcx-0earlier"), route("10.99.0.0/16", PCX)],
        main=[LOCAL],
        peerings=[peering(), peering("pcx-0earlier", status="deleted", tags={})],
    )
    kinds_in_order = [a.kind for a in plan_fix([diff(world)]).actions]
    assert kinds_in_order == ["create_route", "replace_route", "delete_route"]
    converge(world)


# --- every block of a multi-CIDR VPC -----------------------------------------------------------


def test_a_resource_in_the_vpcs_second_block_is_judged_though_the_pcx_lists_only_the_first():
    host = "172.22.0.10"
    interface = NetworkInterface(
        id="eni-0second", vpc_id=VPC, subnet_id="subnet-0second", private_ips=(host,),
        group_ids=(DB,),
    )  # fmt: skip
    world = estate(rules=[], interfaces=[interface])
    second = Subnet(id="subnet-0second", vpc_id=VPC, cidr="172.22.0.0/24")
    world = world.model_copy(update={"subnets": (*world.subnets, second)})
    d = diff(world, resources=[orders_db(host=host)])
    assert (DB, DEP_CIDR, 5432, "missing") in rule_rows(d)
    assert not any("has no network interface" in n for n in d.notes)


# --- network ACLs -----------------------------------------------------------------------------


def entry(number: int, cidr: str, *, allow: bool = True, egress: bool = False,
          ports: tuple[int, int] | None = None) -> AclEntry:  # fmt: skip
    return AclEntry(
        rule_number=number, egress=egress, protocol="-1" if ports is None else "6",
        allow=allow, cidr=cidr, from_port=ports[0] if ports else None,
        to_port=ports[1] if ports else None,
    )  # fmt: skip


OPEN = (
    entry(100, ANYWHERE),
    entry(100, ANYWHERE, egress=True),
    entry(32767, ANYWHERE, allow=False),
    entry(32767, ANYWHERE, allow=False, egress=True),
)


def with_acl(*entries: AclEntry, subnets: Sequence[str] = (SUBNET_A, SUBNET_B, SUBNET_C),
             resources: bool = True) -> tuple[RegionEstate, dict[str, object]]:  # fmt: skip
    acl = NetworkAcl(id=ACL, vpc_id=VPC, is_default=True, subnet_ids=tuple(subnets),
                     entries=entries)  # fmt: skip
    world = estate(interfaces=[DB_INTERFACE]).model_copy(update={"network_acls": (acl,)})
    return world, {"resources": [orders_db()] if resources else []}


def acl_rows(d: PeeringDiff) -> set[tuple[str, str, str, str]]:
    return {(r.direction, r.ports, r.state.value, r.rule) for r in d.network_acls}


def test_an_open_acl_lets_both_directions_through():
    world, args = with_acl(*OPEN)
    d = diff(world, **args)
    assert d.in_sync, d.summary()
    assert acl_rows(d) == {
        ("inbound", "tcp/5432", "ok", "100"),  # the deployment → orders-db
        ("outbound", "tcp/1024-65535", "ok", "100"),  # orders-db's replies
        ("outbound", "tcp/1883,8883", "ok", "100"),  # clients → MQTT
        ("inbound", "tcp/1024-65535", "ok", "100"),  # the deployment's replies
    }


def test_a_deny_for_the_resource_port_blocks_and_is_replaced_by_an_allow():
    world, args = with_acl(entry(90, DEP_CIDR, allow=False, ports=(5432, 5432)), *OPEN)
    d = diff(world, **args)
    assert not d.in_sync
    # 5432 is an ephemeral port too: the deny also drops replies to clients on it.
    row, replies = [r for r in d.network_acls if r.state == AclState.BLOCKED]
    assert (row.direction, row.ports, row.rule) == ("inbound", "tcp/5432", "90")
    assert (replies.direction, replies.ports, replies.rule) == ("inbound", "tcp/1024-65535", "90")
    assert row.reason == (
        f"{ACL} ({SUBNET_B}) blocks inbound tcp/5432 from {DEP_CIDR} (the deployment → "
        f"orders-db ({DB_HOST})): #90 deny tcp 5432 from {DEP_CIDR} decides"
    )
    (action,) = plan_fix([d]).actions  # one replacement lifts both
    assert (action.kind, action.needs, action.rule_number) == ("replace_acl_entry", "nacl", 90)
    assert action.aws_cli() == (
        f"aws ec2 replace-network-acl-entry --network-acl-id {ACL} --ingress --rule-number 90 "
        f"--protocol 6 --port-range From=5432,To=5432 --cidr-block {DEP_CIDR} --rule-action "
        "allow --region us-east-1"
    )
    assert plan_fix([d]).allowed(replace=True, revoke=True) == []  # only with --nacl
    converge(world, **args)


def test_a_broader_deny_keeps_its_number_and_gets_an_allow_below_it():
    world, args = with_acl(entry(50, "10.0.0.0/8", allow=False), *OPEN)
    d = diff(world, **args)
    blocked = {(r.direction, r.ports, r.rule) for r in d.network_acls if r.state == "blocked"}
    assert blocked == {("inbound", "tcp/5432", "50"), ("inbound", "tcp/1024-65535", "50")}
    actions = plan_fix([d]).actions
    assert {(a.kind, a.rule_number, a.egress) for a in actions} == {
        ("create_acl_entry", 49, False), ("create_acl_entry", 48, False),
    }  # fmt: skip
    converge(world, **args)


def test_an_acl_with_nothing_but_the_final_deny_blocks_every_direction():
    world, args = with_acl()  # a new custom ACL: EC2 lists no entries, * denies
    d = diff(world, **args)
    assert {(r.state.value, r.rule, r.entry) for r in d.network_acls} == {
        ("blocked", "*", "* deny all traffic (no entry matches)")
    }
    actions = plan_fix([d]).actions
    assert len(actions) == 5  # 5432 in, replies out, 1883 and 8883 out, replies in
    assert {a.rule_number for a in actions if not a.egress} == {100, 110}
    converge(world, **args)


def test_a_deny_of_part_of_the_deployment_blocks_and_allows_in_pieces_let_it_through():
    world, args = with_acl(
        entry(10, "10.200.0.0/17", ports=(5432, 5432)),
        entry(20, "10.200.128.0/17", ports=(5432, 5432)),
        entry(30, "10.200.7.0/24", allow=False, egress=True),
        *OPEN,
    )
    d = diff(world, **args)
    by_key = {(r.direction, r.ports): r for r in d.network_acls}
    assert (by_key[("inbound", "tcp/5432")].state, by_key[("inbound", "tcp/5432")].rule) == (
        "ok", "20",
    )  # fmt: skip
    outbound = by_key[("outbound", "tcp/1024-65535")]
    assert (outbound.state, outbound.rule) == ("blocked", "30")
    converge(world, **args)


def test_clients_in_subnets_that_do_not_route_the_deployment_are_not_checked():
    world, _args = with_acl(*OPEN[:2], subnets=(SUBNET_C,), resources=False)
    other = NetworkAcl(id="acl-0other", vpc_id=VPC, subnet_ids=(SUBNET_A, SUBNET_B))
    unrouted = world.model_copy(update={"network_acls": (*world.network_acls, other)})
    only_main = peering(tags=intent(tables=(MAIN,)))
    d = diff(unrouted.model_copy(update={"peerings": (only_main,)}))
    # SUBNET_A and B are routed by the private table, which this peering does not use.
    assert {r.network_acl_id for r in d.network_acls} == {ACL}


@pytest.mark.parametrize(
    ("entries", "allowed", "rule"),
    [
        ((entry(100, DEP_CIDR, ports=(5432, 5432)),), True, "100"),
        ((entry(100, DEP_CIDR, ports=(5000, 5431)),), False, "*"),
        ((entry(100, "10.200.0.0/17", ports=(5432, 5432)),), False, "*"),
        ((entry(1, DEP_CIDR, allow=False, ports=(1, 2)), entry(2, ANYWHERE)), True, "2"),
        ((entry(5, "10.200.255.255/32", allow=False), entry(6, ANYWHERE)), False, "5"),
        (
            (
                dataclasses.replace(entry(5, DEP_CIDR, allow=False), protocol="17"),
                entry(6, ANYWHERE),
            ),
            True,
            "6",
        ),
    ],
    ids=["exact", "other-ports", "half-the-block", "deny-elsewhere", "one-address", "udp-deny"],
)
def test_acl_verdicts_cover_the_whole_block_and_port(entries, allowed, rule):
    acl = NetworkAcl(id=ACL, vpc_id=VPC, entries=entries)
    verdict = acl_verdict(acl, egress=False, cidr=DEP_CIDR, ports=(5432, 5432))
    assert (verdict.allowed, verdict.rule) == (allowed, rule)


def test_no_free_rule_number_below_the_deny_means_no_acl_fix_and_a_note():
    acl = NetworkAcl(id=ACL, vpc_id=VPC, entries=(entry(1, ANYWHERE, allow=False),))
    assert acl_fixes(acl, egress=False, cidr=DEP_CIDR, ports=(5432, 5432), taken=set()) == []
    assert AclVerdict(False, None).rule == "*"


def test_the_health_summary_names_a_blocked_acl():
    world, args = with_acl(entry(90, DEP_CIDR, allow=False, ports=(5432, 5432)), *OPEN)
    assert any("blocks inbound tcp/5432" in line for line in diff(world, **args).summary())


# --- everything at once converges -------------------------------------------------------------


def test_prefix_lists_covering_routes_and_acls_together_converge_in_one_plan():
    lists = [prefix_list("pl-0saas", "10.200.7.0/24"), prefix_list("pl-0other", "10.99.0.0/16")]
    world, args = with_acl(entry(90, DEP_CIDR, allow=False, ports=(5432, 5432)), *OPEN)
    world = with_lists(
        world.model_copy(
            update={
                "route_tables": (
                    RouteTable(
                        id=PRIVATE,
                        vpc_id=VPC,
                        subnet_ids=(SUBNET_A, SUBNET_B),
                        routes=(LOCAL, route("10.0.0.0/8", PCX)),
                    ),
                    RouteTable(id=MAIN, vpc_id=VPC, main=True, routes=(LOCAL,)),
                )
            }
        ),
        lists,
        private=[pl_route("pl-0saas", IGW)],
        main=[pl_route("pl-0other", PCX)],
    )
    d = diff(world, **args)
    assert route_rows(d) == {
        (PRIVATE, "10.200.7.0/24", "shadowed"),
        (MAIN, DEP_CIDR, "missing"),
        (MAIN, "pl-0other", "stale"),
    }
    order = [a.kind for a in plan_fix([d]).actions]
    assert order == ["create_route", "create_route", "replace_acl_entry", "delete_route"]
    assert rule_rows(converge(world, **args)) == set()
    assert DEFAULT  # the default group is untouched
