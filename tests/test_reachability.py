"""Reachability on the moto server, through the real command line: prefix lists, covering
routes and rules, every block of a multi-CIDR VPC, network ACLs, and ``peering-tui path``.

Each story starts from ``create`` (factory-telemetry ↔ prod-data, orders-db's clients on
tcp/5432), changes the customer's network behind the tool's back, and checks ``diff --json``'s
verdict, ``ls --json``'s health, and that ``fix`` (with ``--nacl`` where it takes one) brings
``diff`` to exit 0 without removing anything that was letting traffic through. moto represents
every construct here (managed prefix lists, AWS-managed ones included; prefix-list routes and
rules; network ACLs); what it cannot (EC2's own reachability) is judged by the tool itself.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from peering_core.path import check_path
from peering_core.sandbox.seed import SeedReport
from peering_core.sandbox.servers import Sandbox

from .cli_helpers import Cli
from .network_builder import NetworkBuilder
from .test_drift import (
    CIDR,
    REGION,
    Peered,
    assert_in_sync,
    create,
    diff_json,
    held_back,
    peer_in_the_console,
    problems,
    run_with_aws_cli,
)

DB_PORT = 5432


def by_hand(sandbox: Sandbox, change: Callable[[NetworkBuilder], Awaitable[Any]]) -> Any:
    """Change the customer's network directly, with its own EC2 credentials."""

    async def run() -> Any:
        async with NetworkBuilder(sandbox.customer_aws, default_region=REGION) as ec2:
            return await change(ec2)

    return asyncio.run(run())


@pytest.fixture
def peered(cli: Cli, seeded: SeedReport) -> Peered:
    vpc = seeded.vpcs["prod-data"]
    return create(cli, seeded, "--security-group", vpc.security_groups["orders-db"],
                  "--port", str(DB_PORT))  # fmt: skip


def health(cli: Cli, peered: Peered) -> tuple[str, list[str]]:
    listed = cli("ls", "--json")
    assert listed.code == 0, listed.out + listed.err
    (row,) = [p for p in listed.json["peerings"] if p["peeringId"] == peered.pcx]
    return row["health"], row["problems"]


def routes_and_rules(cli: Cli) -> tuple[set[Any], set[Any]]:
    """What the customer account has, to prove a fix removed nothing."""
    state = cli.state()["customer"][REGION]
    return set(map(tuple, state["routes"])), set(map(tuple, state["rules"]))


async def revoke_cidr_rule(ec2: NetworkBuilder, group: str) -> None:
    rules = await ec2.describe_security_group_rules(REGION, [group])
    await ec2.revoke_ingress(REGION, group, [r.id for r in rules if r.cidr == CIDR])


def fix_keeps_everything(cli: Cli, peered: Peered, *flags: str) -> dict[str, Any]:
    """``fix --yes FLAGS``: in sync afterwards, and every route and rule of before still there."""
    routes, rules = routes_and_rules(cli)
    fixed = cli("fix", peered.deployment, peered.pcx, "--yes", *flags, "--json")
    assert fixed.code == 0, fixed.out + fixed.err
    after_routes, after_rules = routes_and_rules(cli)
    assert routes <= after_routes and rules <= after_rules
    assert_in_sync(cli, peered)
    return dict(fixed.json)


# --- prefix lists -----------------------------------------------------------------------------


def test_a_rule_through_a_customer_prefix_list_allows_the_deployment_and_fix_adds_nothing(
    cli, sandbox, peered
):
    group = peered.group("orders-db")

    async def through_a_list(ec2: NetworkBuilder) -> str:
        listed = await ec2.create_prefix_list(REGION, "brokers", ["10.201.0.0/16", CIDR])
        await ec2.allow_through_prefix_list(REGION, group, listed, DB_PORT)
        await revoke_cidr_rule(ec2, group)
        return listed

    listed = by_hand(sandbox, through_a_list)
    peering = assert_in_sync(cli, peered)
    (row,) = [r for r in peering["rules"] if r["securityGroupId"] == group]
    assert f"through prefix list {listed}" in row["actual"]
    assert health(cli, peered) == ("ok", [])
    dry = cli("fix", peered.deployment, peered.pcx, "--dry-run", "--json")
    assert dry.code == 0 and dry.json["plan"] == {"actions": [], "heldBack": []}


def test_an_aws_managed_prefix_list_is_resolved_and_does_not_hold_the_deployment(
    cli, sandbox, peered
):
    group = peered.group("orders-db")

    async def s3_only(ec2: NetworkBuilder) -> tuple[str, Any]:
        s3 = await ec2.aws_managed_list(REGION, "s3")
        await ec2.allow_through_prefix_list(REGION, group, s3, DB_PORT)
        await revoke_cidr_rule(ec2, group)
        return s3, await ec2.describe_prefix_lists(REGION, [s3], with_entries=[s3])

    _s3, (resolved,) = by_hand(sandbox, s3_only)
    assert resolved.aws_managed and resolved.entries and "52.216.0.0/15" in resolved.entries
    assert problems(diff_json(cli, peered, 2)) == {("rule", group, CIDR, DB_PORT, "missing")}
    fix_keeps_everything(cli, peered)


def test_a_prefix_list_route_via_the_pcx_routes_the_deployment(cli, sandbox, peered):
    async def list_route(ec2: NetworkBuilder) -> str:
        listed = await ec2.create_prefix_list(REGION, "brokers", [CIDR])
        await ec2.delete_route(REGION, peered.private, CIDR)
        await ec2.create_route(REGION, peered.private, listed, peered.pcx)
        return listed

    listed = by_hand(sandbox, list_route)
    peering = assert_in_sync(cli, peered)
    (row,) = [r for r in peering["routes"] if r["routeTableId"] == peered.private]
    assert (row["state"], row["matched"]) == ("ok", listed)
    assert health(cli, peered) == ("ok", [])
    assert cli("fix", peered.deployment, peered.pcx, "--dry-run").code == 0


def test_a_prefix_list_route_sending_part_of_the_deployment_to_a_gateway_is_found_and_fixed(
    cli, sandbox, peered
):
    """The seen bug: diff exited 0 and ls said ok while 10.200.7.0/24 left by the gateway."""

    async def leak(ec2: NetworkBuilder) -> tuple[str, str]:
        listed = await ec2.create_prefix_list(REGION, "saas", ["10.200.7.0/24", "203.0.113.0/24"])
        igw = await ec2.create_internet_gateway(REGION, peered.vpc.vpc_id)
        await ec2.create_gateway_route(REGION, peered.private, listed, igw)
        return listed, igw

    listed, igw = by_hand(sandbox, leak)
    peering = diff_json(cli, peered, 2)
    assert problems(peering) == {("route", peered.private, "10.200.7.0/24", "shadowed")}
    (row,) = [r for r in peering["routes"] if r["state"] == "shadowed"]
    assert row["reason"] == (
        f"{peered.private} sends 10.200.7.0/24 (inside {CIDR}) to {igw} "
        f"through prefix list {listed}"
    )
    state, said = health(cli, peered)
    assert state == "error" and row["reason"] in said  # part of the traffic leaves

    timid = cli("fix", peered.deployment, peered.pcx, "--yes", "--json")
    assert timid.code == 2
    assert [(a["kind"], a["destination"], a["needs"]) for a in held_back(timid)] == [
        ("create_route", "10.200.7.0/24", "replace")
    ]
    fixed = fix_keeps_everything(cli, peered, "--replace")
    assert [a["kind"] for a in fixed["applied"]] == ["create_route"]
    assert (peered.private, listed, igw) in routes_and_rules(cli)[0]  # the list still routes


# --- covering routes and rules ----------------------------------------------------------------


def test_a_wider_route_via_the_pcx_covers_the_deployment_and_fix_keeps_it(cli, sandbox, peered):
    """The seen bug: reported missing and stale; the fix deleted the working route first."""

    async def widen(ec2: NetworkBuilder) -> None:
        await ec2.delete_route(REGION, peered.private, CIDR)
        await ec2.create_route(REGION, peered.private, "10.0.0.0/8", peered.pcx)

    by_hand(sandbox, widen)
    peering = assert_in_sync(cli, peered)
    (row,) = [r for r in peering["routes"] if r["routeTableId"] == peered.private]
    assert (row["state"], row["matched"]) == ("ok", "10.0.0.0/8")
    assert any("which covers it" in n for n in peering["notes"])
    assert health(cli, peered) == ("ok", [])

    by_hand(sandbox, lambda ec2: ec2.delete_route(REGION, peered.main, CIDR))
    assert problems(diff_json(cli, peered, 2)) == {("route", peered.main, CIDR, "missing")}
    fixed = fix_keeps_everything(cli, peered)
    assert [(a["kind"], a["routeTableId"]) for a in fixed["applied"]] == [
        ("create_route", peered.main)
    ]


def test_a_wider_rule_allows_the_deployment_on_a_pcx_made_elsewhere(cli, sandbox, seeded):
    dep = seeded.deployments["factory-telemetry"].id
    vpc = seeded.vpcs["prod-data"]

    async def console(ec2: NetworkBuilder) -> str:
        pcx = await peer_in_the_console(sandbox, ec2, dep, vpc.vpc_id)
        for table in vpc.route_tables:
            await ec2.create_route(REGION, table, CIDR, pcx)
        await ec2.authorize_ingress(
            REGION, vpc.security_groups["app"], cidr="10.0.0.0/8", port=None, description="corp"
        )
        return pcx

    peered = Peered(dep, by_hand(sandbox, console), vpc)
    peering = assert_in_sync(cli, peered)
    (rule,) = peering["rules"]
    assert rule["state"] == "ok" and "10.0.0.0/8 contains it" in rule["actual"]
    assert health(cli, peered) == ("ok", [])


# --- every block of a multi-CIDR VPC ----------------------------------------------------------


def test_routes_and_resources_in_a_second_vpc_block_are_checked(cli, sandbox, seeded):
    vpc = seeded.vpcs["prod-data"]
    host = "172.22.0.10"

    async def second_block(ec2: NetworkBuilder) -> str:
        await ec2.add_vpc_block(REGION, vpc.vpc_id, "172.22.0.0/16")
        subnet = await ec2.create_subnet(REGION, vpc.vpc_id, "172.22.0.0/24")
        table = await ec2.create_route_table(REGION, vpc.vpc_id)
        await ec2.associate_route_table(REGION, table, subnet)
        await ec2.create_network_interface(
            REGION, subnet, host, [vpc.security_groups["orders-db"]], "replica"
        )
        return table

    table = by_hand(sandbox, second_block)
    peered = create(cli, seeded, "--security-group", vpc.security_groups["orders-db"],
                    "--port", str(DB_PORT))  # fmt: skip
    assert ("route", table, CIDR, "ok") in {r[:4] for r in _rows(assert_in_sync(cli, peered))}

    async def register() -> None:
        async with sandbox.client() as platform:
            await platform.create_resource(peered.deployment, "replica", "postgresql", host, 6432)

    asyncio.run(register())
    by_hand(sandbox, lambda ec2: ec2.delete_route(REGION, table, CIDR))
    group = vpc.security_groups["orders-db"]
    assert problems(diff_json(cli, peered, 2)) == {
        ("route", table, CIDR, "missing"),
        ("rule", group, CIDR, 6432, "missing"),
    }
    fix_keeps_everything(cli, peered)

    # The platform routes back only the block it recorded: the path says so.
    path = cli("path", peered.deployment, peered.pcx, "--to", host, "--json")
    assert path.code == 2, path.out
    assert path.json["blockedAt"] == "deployment"
    (hop,) = [h for h in path.json["hops"] if h["hop"] == "deployment"]
    assert "another block of the VPC" in hop["detail"]


def _rows(peering: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [("route", r["routeTableId"], r["destination"], r["state"]) for r in peering["routes"]]


# --- network ACLs -----------------------------------------------------------------------------


def acl_rows(peering: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {
        (a["networkAclId"], a["direction"], a["ports"], a["state"]) for a in peering["networkAcls"]
    }


def test_a_clean_create_judges_the_default_acl_in_both_directions(cli, sandbox, peered):
    peering = assert_in_sync(cli, peered)
    subnet = _subnet_of(sandbox, peered)
    acl = by_hand(sandbox, lambda ec2: ec2.acl_of(REGION, subnet))
    assert acl_rows(peering) == {
        (acl, "outbound", "tcp/1883,8883", "ok"),
        (acl, "inbound", "tcp/1024-65535", "ok"),
    }
    assert {a["rule"] for a in peering["networkAcls"]} == {"100"}


def _subnet_of(sandbox: Sandbox, peered: Peered, address: str | None = None) -> str:
    async def find(ec2: NetworkBuilder) -> str:
        interfaces = await ec2.describe_network_interfaces(REGION, [peered.vpc.vpc_id])
        wanted = address or peered.vpc.interfaces["orders-db"]
        return next(n.subnet_id for n in interfaces if wanted in n.private_ips)

    return str(by_hand(sandbox, find))


def test_an_acl_deny_on_the_resource_port_is_blocked_and_fix_nacl_replaces_it(cli, sandbox, seeded):
    vpc = seeded.vpcs["prod-data"]
    peered = create(cli, seeded, "--security-group", vpc.security_groups["orders-db"],
                    "--port", str(DB_PORT))  # fmt: skip

    async def register_and_deny(ec2: NetworkBuilder) -> str:
        async with sandbox.client() as platform:
            await platform.create_resource(
                peered.deployment, "orders-db", "postgresql", vpc.interfaces["orders-db"], DB_PORT
            )
        subnet = next(
            n.subnet_id
            for n in await ec2.describe_network_interfaces(REGION, [vpc.vpc_id])
            if vpc.interfaces["orders-db"] in n.private_ips
        )
        acl = await ec2.create_network_acl(REGION, vpc.vpc_id, [subnet])
        for egress in (False, True):
            await ec2.create_network_acl_entry(REGION, acl, _entry(100, "0.0.0.0/0", egress))
        await ec2.create_network_acl_entry(
            REGION, acl, _entry(90, CIDR, False, allow=False, ports=(DB_PORT, DB_PORT))
        )
        return acl

    acl = by_hand(sandbox, register_and_deny)
    peering = diff_json(cli, peered, 2)
    blocked = [a for a in peering["networkAcls"] if a["state"] == "blocked"]
    assert {(a["direction"], a["ports"], a["rule"]) for a in blocked} == {
        ("inbound", f"tcp/{DB_PORT}", "90"),  # the deployment → orders-db
        ("inbound", "tcp/1024-65535", "90"),  # 5432 is an ephemeral port too
    }
    state, said = health(cli, peered)
    assert state == "error" and any(f"blocks inbound tcp/{DB_PORT}" in p for p in said)
    text = cli("diff", peered.deployment, peered.pcx)
    assert "nacl" in text.out and "#90 deny tcp 5432" in text.out

    timid = cli("fix", peered.deployment, peered.pcx, "--yes", "--json")
    assert timid.code == 2
    assert [(a["kind"], a["needs"], a["ruleNumber"]) for a in held_back(timid)] == [
        ("replace_acl_entry", "nacl", 90)
    ]
    fixed = fix_keeps_everything(cli, peered, "--nacl")
    assert [a["kind"] for a in fixed["applied"]] == ["replace_acl_entry"]
    entries = by_hand(sandbox, lambda ec2: ec2.describe_network_acls(REGION, [vpc.vpc_id]))
    (ninety,) = [e for a in entries if a.id == acl for e in a.entries if e.rule_number == 90]
    assert ninety.allow and ninety.cidr == CIDR


def _entry(number: int, cidr: str, egress: bool, *, allow: bool = True,
           ports: tuple[int, int] | None = None) -> Any:  # fmt: skip
    from peering_core.models import AclEntry

    return AclEntry(
        rule_number=number, egress=egress, protocol="-1" if ports is None else "6", allow=allow,
        cidr=cidr, from_port=ports[0] if ports else None, to_port=ports[1] if ports else None,
    )  # fmt: skip


def test_a_new_acl_on_client_subnets_blocks_mqtt_and_fix_nacl_opens_only_that(cli, sandbox, peered):
    async def lock_down(ec2: NetworkBuilder) -> str:
        tables = await ec2.describe_route_tables(REGION, route_table_ids=[peered.private])
        return await ec2.create_network_acl(REGION, peered.vpc.vpc_id, tables[0].subnet_ids)

    acl = by_hand(sandbox, lock_down)
    peering = diff_json(cli, peered, 2)
    assert {r for r in acl_rows(peering) if r[0] == acl} == {
        (acl, "outbound", "tcp/1883,8883", "blocked"),
        (acl, "inbound", "tcp/1024-65535", "blocked"),
    }
    fixed = fix_keeps_everything(cli, peered, "--nacl")
    made = [(a["egress"], a["fromPort"], a["toPort"]) for a in fixed["applied"]]
    assert sorted(made) == [(False, 1024, 65535), (True, 1883, 1883), (True, 8883, 8883)]


# --- the dry-run plan, through the aws CLI -------------------------------------------------


def leak_and_lock(cli: Cli, sandbox: Sandbox, seeded: SeedReport) -> Peered:
    """A prefix-list leak, a stale prefix-list route, a wider route elsewhere and a locked-down
    ACL: create-route, delete-route by prefix list, ACL entries."""
    vpc = seeded.vpcs["prod-data"]
    peered = create(cli, seeded, "--security-group", vpc.security_groups["orders-db"],
                    "--port", str(DB_PORT))  # fmt: skip

    async def mess(ec2: NetworkBuilder) -> None:
        leak = await ec2.create_prefix_list(REGION, "saas", ["10.200.7.0/24"])
        other = await ec2.create_prefix_list(REGION, "elsewhere", ["10.99.0.0/16"])
        igw = await ec2.create_internet_gateway(REGION, vpc.vpc_id)
        await ec2.create_gateway_route(REGION, peered.private, leak, igw)
        await ec2.create_route(REGION, peered.main, other, peered.pcx)
        await ec2.delete_route(REGION, peered.main, CIDR)
        await ec2.create_gateway_route(REGION, peered.main, "10.0.0.0/8", igw)
        tables = await ec2.describe_route_tables(REGION, route_table_ids=[peered.private])
        acl = await ec2.create_network_acl(REGION, vpc.vpc_id, tables[0].subnet_ids)
        await ec2.create_network_acl_entry(
            REGION, acl, _entry(50, CIDR, True, allow=False, ports=(1883, 1883))
        )

    by_hand(sandbox, mess)
    return peered


def test_the_dry_run_plan_with_prefix_lists_and_acls_run_with_the_aws_cli_brings_it_in_sync(
    cli, sandbox, seeded, tmp_path
):
    peered = leak_and_lock(cli, sandbox, seeded)
    before = cli.state()
    dry = cli("fix", peered.deployment, peered.pcx, "--dry-run", "--json")
    assert dry.code == 2, dry.out + dry.err
    assert cli.state() == before
    plan = dry.json["plan"]
    commands = [a["awsCli"] for a in plan["actions"] + plan["heldBack"]]
    verbs = sorted(c.split()[2] for c in commands)
    assert verbs == [
        "create-network-acl-entry", "create-network-acl-entry", "create-route", "create-route",
        "delete-route", "replace-network-acl-entry",
    ]  # fmt: skip
    assert any("--destination-prefix-list-id" in c for c in commands)
    run_with_aws_cli(sandbox, commands, tmp_path)
    assert_in_sync(cli, peered)


# --- peering-tui path -------------------------------------------------------------------------


def test_path_to_a_resource_walks_every_hop_and_names_the_first_that_blocks(cli, sandbox, peered):
    host = peered.vpc.interfaces["orders-db"]
    ok = cli("path", peered.deployment, peered.pcx, "--to", f"{host}:{DB_PORT}", "--json")
    assert ok.code == 0, ok.out + ok.err
    assert ok.json["reachable"] is True and ok.json["blockedAt"] is None
    assert [h["hop"] for h in ok.json["hops"]] == [
        "eni", "security-groups", "subnet", "network-acl", "route-table", "pcx", "deployment",
        "network-acl-return",
    ]  # fmt: skip
    assert {h["state"] for h in ok.json["hops"]} == {"ok"}
    assert any("does not report its own side" in n for n in ok.json["notes"])
    text = cli("path", peered.deployment, peered.pcx, "--to", f"{host}:{DB_PORT}")
    assert text.code == 0 and "reachable" in text.out

    subnet = _subnet_of(sandbox, peered)

    async def deny(ec2: NetworkBuilder) -> str:
        acl = await ec2.acl_of(REGION, subnet)
        await ec2.create_network_acl_entry(
            REGION, acl, _entry(90, "10.0.0.0/8", False, allow=False)
        )
        return acl

    acl = by_hand(sandbox, deny)
    blocked = cli("path", peered.deployment, peered.pcx, "--to", f"{host}:{DB_PORT}", "--json")
    assert blocked.code == 2
    assert blocked.json["blockedAt"] == "network-acl"
    (hop,) = [h for h in blocked.json["hops"] if h["hop"] == "network-acl"]
    assert hop["id"] == acl and "#90 deny all traffic from 10.0.0.0/8" in hop["detail"]
    assert hop["fix"] == [
        f"aws ec2 create-network-acl-entry --network-acl-id {acl} --ingress --rule-number 89 "
        f"--protocol 6 --port-range From={DB_PORT},To={DB_PORT} --cidr-block {CIDR} "
        f"--rule-action allow --region {REGION}"
    ]
    text = cli("path", peered.deployment, peered.pcx, "--to", f"{host}:{DB_PORT}")
    assert "blocked at network-acl" in text.out and "fix:" in text.out


def test_path_from_a_client_checks_the_mqtt_ports_and_a_pcx_deleted_blocks(cli, sandbox, peered):
    client = "172.20.0.10"  # prod-data's first subnet, routed by the private table

    async def app_server(ec2: NetworkBuilder) -> None:
        subnets = await ec2.describe_subnets(REGION, [peered.vpc.vpc_id])
        first = next(s.id for s in subnets if s.cidr == "172.20.0.0/20")
        await ec2.create_network_interface(
            REGION, first, client, [peered.vpc.security_groups["app"]], "app server"
        )

    by_hand(sandbox, app_server)
    ok = cli("path", peered.deployment, peered.pcx, "--from", client, "--json")
    assert ok.code == 0, ok.out
    assert ok.json["ports"] == [1883, 8883]

    by_hand(sandbox, lambda ec2: ec2.delete_peering(REGION, peered.pcx))
    gone = cli("path", peered.deployment, peered.pcx, "--from", client, "--json")
    assert gone.code == 2
    states = {h["hop"]: h["state"] for h in gone.json["hops"]}
    assert states["route-table"] == states["pcx"] == "blocked"


def test_path_refuses_bad_input_with_exit_2_and_changes_nothing(cli, peered):
    before = cli.state()
    for target, says in [
        (["--to", "10.9.9.9:5432"], "is not inside"),
        (["--to", "172.20.16.99"], "name the port"),
        (["--to", "not-an-ip"], "is not an IPv4 address"),
        (["--to", "172.20.16.10:70000"], "1 to 65535"),
    ]:
        refused = cli("path", peered.deployment, peered.pcx, *target, "--json")
        assert refused.code == 2, refused.out
        assert says in refused.json["error"]["message"]
    assert cli("path", peered.deployment, peered.pcx).code == 2  # neither --to nor --from
    assert (
        cli("path", peered.deployment, "pcx-0123456789abcdef0", "--to", "172.20.16.10:1").code == 2
    )
    assert cli.state() == before


def test_path_reads_a_handful_of_filtered_describes(sandbox, peered):
    async def check() -> tuple[Any, dict[str, int], dict[str, int], float]:
        async with sandbox.client() as platform, sandbox.customer_gateway() as ec2:
            started = time.perf_counter()
            report = await check_path(
                platform, ec2, peered.deployment, peered.pcx,
                to=f"{peered.vpc.interfaces['orders-db']}:{DB_PORT}",
            )  # fmt: skip
            took = time.perf_counter() - started
            return report, dict(ec2.calls), dict(platform.calls), took

    report, ec2_calls, platform_calls, took = asyncio.run(check())
    assert report.reachable
    # One pcx by id, then the VPC's subnets, route tables, ACLs, the interface at that address,
    # and its groups' rules — not a fleet refresh.
    assert sum(ec2_calls.values()) == 6, ec2_calls
    assert sum(platform_calls.values()) == 2, platform_calls  # VPC info, the peering's record
    print(f"path check in-process: {took * 1000:.0f} ms")
    assert json.dumps(report.model_dump(mode="json"))
