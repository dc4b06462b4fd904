"""Drift on the command line: a clean create, then AWS changed behind the tool's back.

Each story starts from ``create`` on the sandbox (factory-telemetry ↔ prod-data unless said
otherwise), changes the customer's (or the platform's) AWS directly, and checks what ``diff``
says, which exit code it gives, and that ``fix`` — with the flag the change needs — brings the
peering back in sync. The last stories run the dry-run plan's ``aws ec2`` commands with the real
aws CLI against the same moto server instead of letting ``fix`` apply them.
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from peering_core.aws import Ec2Gateway
from peering_core.sandbox.seed import (
    CUSTOMER_ACCOUNT_ID,
    CustomerVpc,
    SeedReport,
    wait_for_platform,
)
from peering_core.sandbox.servers import Sandbox

from .cli_helpers import Cli, CliResult

REGION = "us-east-1"
CIDR = "10.200.0.0/16"  # factory-telemetry's VPC
ANYWHERE = "0.0.0.0/0"
AWS_CLI = Path(sys.prefix, "bin", "aws")


@pytest.fixture
def seeded(sandbox: Sandbox) -> SeedReport:
    return asyncio.run(sandbox.seed(demo=False))


@pytest.fixture
def cli(sandbox, monkeypatch, capsys) -> Cli:
    return Cli(sandbox, monkeypatch, capsys)


@dataclass
class Peered:
    """A peering made by ``create``, and the customer VPC it serves."""

    deployment: str
    pcx: str
    vpc: CustomerVpc

    @property
    def private(self) -> str:
        return self.vpc.route_tables[0]

    @property
    def main(self) -> str:
        return self.vpc.main_route_table

    def group(self, name: str) -> str:
        return self.vpc.security_groups[name]


def create(cli: Cli, seeded: SeedReport, *args: str) -> Peered:
    """``peering-tui create factory-telemetry --vpc-id <prod-data> ARGS --yes``, checked."""
    dep = seeded.deployments["factory-telemetry"].id
    vpc = seeded.vpcs["prod-data"]
    created = cli("create", dep, "--vpc-id", vpc.vpc_id, *args, "--yes", "--json")
    assert created.code == 0, created.out + created.err
    return Peered(dep, created.json["result"]["peeringId"], vpc)


@pytest.fixture
def peered(cli: Cli, seeded: SeedReport) -> Peered:
    """orders-db's clients: routes in both tables that serve subnets, tcp/5432 on its group."""
    vpc = seeded.vpcs["prod-data"]
    return create(cli, seeded, "--security-group", vpc.security_groups["orders-db"],
                  "--port", "5432")  # fmt: skip


def behind_the_tools_back(
    sandbox: Sandbox,
    change: Callable[[Ec2Gateway], Awaitable[Any]],
    *,
    account: str = "customer",
) -> Any:
    """Change AWS directly, with the customer's (or the platform's) EC2 credentials."""

    async def run() -> Any:
        customer = account == "customer"
        gateway = sandbox.customer_gateway() if customer else sandbox.platform_gateway()
        async with gateway as ec2:
            return await change(ec2)

    return asyncio.run(run())


async def via_an_abandoned_pcx(
    sandbox: Sandbox, ec2: Ec2Gateway, peered: Peered, table: str
) -> str:
    """Someone requested a second pcx by hand, pointed ``table`` at it, then deleted it."""
    async with sandbox.client() as platform:
        info = await platform.deployment_vpc(peered.deployment)
    earlier = await ec2.create_peering(
        REGION, vpc_id=peered.vpc.vpc_id, peer_vpc_id=info.vpc_id, peer_owner_id=info.account_id
    )
    await ec2.replace_route(REGION, table, CIDR, earlier.id)
    await ec2.delete_peering(REGION, earlier.id)
    return earlier.id


async def peer_in_the_console(sandbox: Sandbox, ec2: Ec2Gateway, dep: str, vpc_id: str) -> str:
    """A pcx requested and confirmed by hand (no intent tags), running on the platform."""
    async with sandbox.client() as platform:
        info = await platform.deployment_vpc(dep)
        pcx = await ec2.create_peering(
            REGION, vpc_id=vpc_id, peer_vpc_id=info.vpc_id, peer_owner_id=info.account_id
        )
        await platform.confirm_peering(dep, pcx.id, CUSTOMER_ACCOUNT_ID, vpc_id)
        async with asyncio.timeout(30):
            record = await wait_for_platform(platform, dep, pcx.id)
        assert record.status.value == "running"
    return pcx.id


async def revoke_from(ec2: Ec2Gateway, group: str, cidr: str) -> None:
    rules = await ec2.describe_security_group_rules(REGION, [group])
    await ec2.revoke_ingress(
        REGION, group, [r.id for r in rules if r.cidr == cidr and not r.is_egress]
    )


# --- reading results -------------------------------------------------------------------------


def the_peering(payload: dict[str, Any]) -> dict[str, Any]:
    """The one peering of a ``diff --json`` (or of the ``diff`` inside ``fix --json``)."""
    diff = payload.get("diff", payload)
    (peering,) = diff["peerings"]
    return peering


def rows(peering: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Each row as ``("route", rtb, destination, state)`` or ``("rule", sg, cidr, port, state)``."""
    routes = [("route", r["routeTableId"], r["destination"], r["state"]) for r in peering["routes"]]
    rules = [
        ("rule", r["securityGroupId"], r["cidr"], r["port"], r["state"]) for r in peering["rules"]
    ]
    return routes + rules


def problems(peering: dict[str, Any]) -> set[tuple[Any, ...]]:
    """Rows that are not ``ok`` (drift and warnings)."""
    return {row for row in rows(peering) if row[-1] != "ok"}


def reasons(peering: dict[str, Any]) -> list[str]:
    return [r["reason"] for r in peering["routes"] + peering["rules"] if r["state"] != "ok"]


def held_back(result: CliResult) -> list[dict[str, Any]]:
    """Actions ``fix`` did not take for want of a flag (listed with or without applied ones)."""
    payload = result.json
    return payload["heldBack"] if "heldBack" in payload else payload["plan"]["heldBack"]


def assert_in_sync(cli: Cli, peered: Peered) -> dict[str, Any]:
    diff = cli("diff", peered.deployment, peered.pcx, "--json")
    assert diff.code == 0, diff.out + diff.err
    peering = the_peering(diff.json)
    assert peering["inSync"] is True
    assert problems(peering) == set()
    return peering


def diff_json(cli: Cli, peered: Peered, code: int) -> dict[str, Any]:
    diff = cli("diff", peered.deployment, peered.pcx, "--json")
    assert diff.code == code, diff.out + diff.err
    return the_peering(diff.json)


# --- a clean create ------------------------------------------------------------------------


def test_a_clean_create_is_in_sync(cli, seeded, peered):
    peering = assert_in_sync(cli, peered)
    group = peered.group("orders-db")
    assert sorted(rows(peering)) == sorted([
        ("route", peered.private, CIDR, "ok"),
        ("route", peered.main, CIDR, "ok"),
        ("rule", group, CIDR, 5432, "ok"),
    ])  # fmt: skip
    text = cli("diff", peered.deployment, peered.pcx)
    assert text.code == 0
    assert "in sync" in text.out

    nothing = cli("fix", peered.deployment, peered.pcx, "--yes", "--json")
    assert nothing.code == 0
    assert nothing.json["plan"] == {"actions": [], "heldBack": []}

    everything = cli("diff", "--all", "--json")
    assert everything.code == 0
    assert [p["peeringId"] for p in everything.json["peerings"]] == [peered.pcx]

    # Asking about it under another deployment, or about a pcx nobody made, is bad input.
    other = seeded.deployments["fleet-staging"].id
    wrong = cli("diff", other, peered.pcx, "--json")
    assert wrong.code == 2
    assert "not with deployment" in wrong.json["error"]["message"]
    unknown = cli("diff", peered.deployment, "pcx-0123456789abcdef0", "--json")
    assert unknown.code == 2
    assert "not visible" in unknown.json["error"]["message"]


# --- routes ----------------------------------------------------------------------------------


def test_deleted_routes_are_missing_and_fix_puts_them_back(cli, sandbox, peered):
    async def delete_both(ec2: Ec2Gateway) -> None:
        await ec2.delete_route(REGION, peered.private, CIDR)
        await ec2.delete_route(REGION, peered.main, CIDR)

    behind_the_tools_back(sandbox, delete_both)

    peering = diff_json(cli, peered, 2)
    assert problems(peering) == {
        ("route", peered.private, CIDR, "missing"),
        ("route", peered.main, CIDR, "missing"),
    }
    assert sorted(reasons(peering)) == sorted([
        f"{peered.private} has no route to {CIDR}",
        f"{peered.main} (main table, serves subnets without their own) has no route to {CIDR}",
    ])  # fmt: skip
    assert "✗" in cli("diff", peered.deployment, peered.pcx).out

    before = cli.state()
    asked = cli("fix", peered.deployment, peered.pcx, "--json")  # no terminal, no --yes
    assert asked.code != 0
    assert asked.json["error"]["code"] == "CONFIRMATION_REQUIRED"
    assert cli.state() == before

    fixed = cli("fix", peered.deployment, peered.pcx, "--yes", "--json")
    assert fixed.code == 0, fixed.out
    assert sorted((a["kind"], a["routeTableId"], a["ok"]) for a in fixed.json["applied"]) == sorted(
        [("create_route", peered.private, True), ("create_route", peered.main, True)]
    )
    assert_in_sync(cli, peered)


def test_a_route_to_an_internet_gateway_is_wrong_target_and_needs_replace(cli, sandbox, peered):
    async def hijack(ec2: Ec2Gateway) -> str:
        igw = await ec2.create_internet_gateway(REGION, peered.vpc.vpc_id)
        await ec2.delete_route(REGION, peered.private, CIDR)
        await ec2.create_gateway_route(REGION, peered.private, CIDR, igw)
        return igw

    igw = behind_the_tools_back(sandbox, hijack)
    peering = diff_json(cli, peered, 2)
    assert problems(peering) == {("route", peered.private, CIDR, "wrong_target")}
    assert reasons(peering) == [
        f"{peered.private} sends {CIDR} to {igw} (igw), not to {peered.pcx}"
    ]

    timid = cli("fix", peered.deployment, peered.pcx, "--yes", "--json")
    assert timid.code == 2
    assert [(a["kind"], a["needs"]) for a in held_back(timid)] == [("replace_route", "replace")]
    assert problems(the_peering(timid.json)) == {("route", peered.private, CIDR, "wrong_target")}
    assert "needs --replace" in cli("fix", peered.deployment, peered.pcx, "--yes").out

    fixed = cli("fix", peered.deployment, peered.pcx, "--yes", "--replace", "--json")
    assert fixed.code == 0, fixed.out
    assert [a["kind"] for a in fixed.json["applied"]] == ["replace_route"]
    assert_in_sync(cli, peered)


def test_a_more_specific_route_elsewhere_is_shadowed_and_needs_replace(cli, sandbox, peered):
    async def carve_out(ec2: Ec2Gateway) -> str:
        igw = await ec2.create_internet_gateway(REGION, peered.vpc.vpc_id)
        await ec2.create_gateway_route(REGION, peered.private, "10.200.7.0/24", igw)
        return igw

    igw = behind_the_tools_back(sandbox, carve_out)
    peering = diff_json(cli, peered, 2)
    assert problems(peering) == {("route", peered.private, "10.200.7.0/24", "shadowed")}
    assert reasons(peering) == [f"{peered.private} sends 10.200.7.0/24 (inside {CIDR}) to {igw}"]

    timid = cli("fix", peered.deployment, peered.pcx, "--yes", "--json")
    assert timid.code == 2
    assert [(a["kind"], a["destination"], a["needs"]) for a in held_back(timid)] == [
        ("delete_route", "10.200.7.0/24", "replace")
    ]
    assert ("route", peered.private, "10.200.7.0/24", "shadowed") in problems(
        diff_json(cli, peered, 2)
    )

    fixed = cli("fix", peered.deployment, peered.pcx, "--yes", "--replace", "--json")
    assert fixed.code == 0, fixed.out
    assert_in_sync(cli, peered)


@pytest.mark.parametrize("account", ["customer", "platform"])
def test_a_pcx_deleted_behind_the_platforms_back_leaves_blackholes(cli, sandbox, peered, account):
    behind_the_tools_back(
        sandbox, lambda ec2: ec2.delete_peering(REGION, peered.pcx), account=account
    )

    peering = diff_json(cli, peered, 2)
    assert peering["peeringActive"] is False
    group = peered.group("orders-db")
    assert problems(peering) == {
        ("route", peered.private, CIDR, "blackhole"),
        ("route", peered.main, CIDR, "blackhole"),
        ("rule", group, CIDR, 5432, "stale"),
    }
    blackholes = [r for r in peering["routes"] if r["state"] == "blackhole"]
    assert {(r["expected"], r["actual"]) for r in blackholes} == {(None, peered.pcx)}
    assert all(r["reason"].endswith("which is deleted") for r in blackholes)

    fixed = cli("fix", peered.deployment, peered.pcx, "--yes", "--revoke", "--json")
    assert fixed.code == 0, fixed.out
    assert sorted(a["kind"] for a in fixed.json["applied"]) == [
        "delete_route", "delete_route", "revoke_ingress",
    ]  # fmt: skip
    peering = assert_in_sync(cli, peered)
    assert rows(peering) == []
    state = cli.state()["customer"][REGION]
    assert [r for r in state["routes"] if r[2] == peered.pcx] == []
    assert [r for r in state["rules"] if r[4] == CIDR] == []


def test_a_route_left_on_an_earlier_deleted_pcx_is_blackhole_and_fixed_by_default(
    cli, sandbox, peered
):
    earlier = behind_the_tools_back(
        sandbox, lambda ec2: via_an_abandoned_pcx(sandbox, ec2, peered, peered.private)
    )
    peering = diff_json(cli, peered, 2)
    assert problems(peering) == {("route", peered.private, CIDR, "blackhole")}
    (row,) = [r for r in peering["routes"] if r["state"] == "blackhole"]
    assert (row["expected"], row["actual"]) == (peered.pcx, earlier)
    assert row["reason"] == f"{peered.private} routes {CIDR} via {earlier}, which is deleted"

    fixed = cli("fix", peered.deployment, peered.pcx, "--yes", "--json")
    assert fixed.code == 0, fixed.out
    # Replaced in place: the table is never without a route to the deployment.
    assert [a["kind"] for a in fixed.json["applied"]] == ["replace_route"]
    assert_in_sync(cli, peered)


def test_a_route_via_the_pcx_to_a_cidr_it_does_not_serve_is_stale(cli, sandbox, peered):
    behind_the_tools_back(
        sandbox, lambda ec2: ec2.create_route(REGION, peered.private, "10.99.0.0/16", peered.pcx)
    )
    peering = diff_json(cli, peered, 2)
    assert problems(peering) == {("route", peered.private, "10.99.0.0/16", "stale")}
    (row,) = [r for r in peering["routes"] if r["state"] == "stale"]
    assert (row["expected"], row["actual"]) == (None, peered.pcx)
    assert row["reason"].endswith(f"which only serves {CIDR}")

    fixed = cli("fix", peered.deployment, peered.pcx, "--yes", "--json")
    assert fixed.code == 0, fixed.out
    assert [(a["kind"], a["destination"]) for a in fixed.json["applied"]] == [
        ("delete_route", "10.99.0.0/16")
    ]
    assert_in_sync(cli, peered)


def test_a_subnet_added_later_to_a_hand_made_peering_needs_the_main_table(cli, sandbox, seeded):
    """Made in the console (no intent tags) when every subnet had its own table; a subnet added
    since falls back to the main table, which now needs the route too."""
    dep = seeded.deployments["factory-telemetry"].id
    vpc = seeded.vpcs["prod-data"]
    private, main = vpc.route_tables[0], vpc.main_route_table

    async def by_hand(ec2: Ec2Gateway) -> str:
        tables = await ec2.describe_route_tables(REGION, vpc_ids=[vpc.vpc_id])
        associated = {s for t in tables for s in t.subnet_ids}
        for subnet in await ec2.describe_subnets(REGION, [vpc.vpc_id]):
            if subnet.id not in associated:
                await ec2.associate_route_table(REGION, private, subnet.id)
        pcx = await peer_in_the_console(sandbox, ec2, dep, vpc.vpc_id)
        await ec2.create_route(REGION, private, CIDR, pcx)
        await ec2.authorize_ingress(
            REGION, vpc.security_groups["app"], cidr=CIDR, port=None, description="the broker"
        )
        return pcx

    peered = Peered(dep, behind_the_tools_back(sandbox, by_hand), vpc)
    assert sorted(rows(assert_in_sync(cli, peered))) == sorted([
        ("route", private, CIDR, "ok"),
        ("rule", vpc.security_groups["app"], CIDR, None, "ok"),
    ])  # fmt: skip

    behind_the_tools_back(
        sandbox, lambda ec2: ec2.create_subnet(REGION, vpc.vpc_id, "172.20.48.0/24")
    )
    peering = diff_json(cli, peered, 2)
    assert problems(peering) == {("route", main, CIDR, "missing")}
    assert reasons(peering) == [
        f"{main} (main table, serves subnets without their own) has no route to {CIDR}"
    ]

    fixed = cli("fix", dep, peered.pcx, "--yes", "--json")
    assert fixed.code == 0, fixed.out
    assert_in_sync(cli, peered)


# --- inbound rules ---------------------------------------------------------------------------


def test_a_revoked_rule_is_missing_and_fix_allows_it_again(cli, sandbox, peered):
    group = peered.group("orders-db")
    behind_the_tools_back(sandbox, lambda ec2: revoke_from(ec2, group, CIDR))

    peering = diff_json(cli, peered, 2)
    assert problems(peering) == {("rule", group, CIDR, 5432, "missing")}
    assert reasons(peering) == [
        f"{group} does not allow tcp/5432 from {CIDR} (the peering's intent)"
    ]

    fixed = cli("fix", peered.deployment, peered.pcx, "--yes", "--json")
    assert fixed.code == 0, fixed.out
    (applied,) = fixed.json["applied"]
    assert (applied["kind"], applied["groupId"], applied["port"]) == (
        "authorize_ingress", group, 5432,
    )  # fmt: skip
    assert applied["description"] == f"peering-tui {peered.pcx}"
    assert_in_sync(cli, peered)


def test_a_resource_whose_interface_group_lacks_the_port_is_missing(cli, sandbox, seeded):
    """The peering's intent opened MQTT on the app group; orders-db, registered afterwards as a
    resource, sits on an interface whose own group does not let postgres in."""
    vpc = seeded.vpcs["prod-data"]
    peered = create(cli, seeded, "--security-group", vpc.security_groups["app"], "--port", "1883")
    assert_in_sync(cli, peered)

    host = vpc.interfaces["orders-db"]

    async def register() -> None:
        async with sandbox.client() as platform:
            await platform.create_resource(peered.deployment, "orders-db", "postgresql", host, 5432)

    asyncio.run(register())
    group = vpc.security_groups["orders-db"]
    peering = diff_json(cli, peered, 2)
    assert problems(peering) == {("rule", group, CIDR, 5432, "missing")}
    (reason,) = reasons(peering)
    assert reason.startswith(f"resource orders-db ({host}:5432): eni-")
    assert reason.endswith(f"do not allow tcp/5432 from {CIDR}")

    fixed = cli("fix", peered.deployment, peered.pcx, "--yes", "--json")
    assert fixed.code == 0, fixed.out
    assert [(a["kind"], a["groupId"], a["port"]) for a in fixed.json["applied"]] == [
        ("authorize_ingress", group, 5432)
    ]
    peering = assert_in_sync(cli, peered)
    assert ("rule", group, CIDR, 5432, "ok") in rows(peering)


def test_a_port_open_to_the_world_is_a_warning_that_revoke_removes(cli, sandbox, peered):
    group = peered.group("orders-db")
    behind_the_tools_back(
        sandbox,
        lambda ec2: ec2.authorize_ingress(
            REGION, group, cidr=ANYWHERE, port=5432, description="quick test"
        ),
    )

    diff = cli("diff", peered.deployment, peered.pcx, "--json")
    assert diff.code == 0, diff.out  # a warning, not drift
    peering = the_peering(diff.json)
    assert peering["inSync"] is True
    assert problems(peering) == {("rule", group, ANYWHERE, 5432, "too_broad")}
    assert reasons(peering) == [f"{group} opens tcp/5432 to {ANYWHERE} (the peering's intent)"]
    text = cli("diff", peered.deployment, peered.pcx)
    assert text.code == 0
    assert "! warning: 1 row needs attention" in text.out  # the same words as the dashboard
    assert "too_broad" in text.out

    timid = cli("fix", peered.deployment, peered.pcx, "--yes", "--json")
    assert timid.code == 0  # nothing drifts; the warning stays until --revoke
    assert [(a["kind"], a["needs"]) for a in held_back(timid)] == [("revoke_ingress", "revoke")]
    assert problems(diff_json(cli, peered, 0)) == {("rule", group, ANYWHERE, 5432, "too_broad")}

    fixed = cli("fix", peered.deployment, peered.pcx, "--yes", "--revoke", "--json")
    assert fixed.code == 0, fixed.out
    assert [a["kind"] for a in fixed.json["applied"]] == ["revoke_ingress"]
    assert_in_sync(cli, peered)
    assert [r for r in cli.state()["customer"][REGION]["rules"] if r[4] == ANYWHERE] == []


def test_delete_keep_routes_leaves_a_stale_rule_that_only_revoke_removes(cli, peered):
    deleted = cli("delete", peered.deployment, peered.pcx, "--confirm", peered.pcx, "--keep-routes")
    assert deleted.code == 0, deleted.err
    group = peered.group("orders-db")

    peering = diff_json(cli, peered, 2)
    assert problems(peering) == {
        ("route", peered.private, CIDR, "blackhole"),
        ("route", peered.main, CIDR, "blackhole"),
        ("rule", group, CIDR, 5432, "stale"),
    }
    (stale,) = [r for r in peering["rules"] if r["state"] == "stale"]
    assert stale["reason"] == f"{group} still allows {CIDR} although {peered.pcx} is deleted"

    everything = cli("diff", "--all", "--json")
    assert everything.code == 2
    assert problems(the_peering(everything.json)) == problems(peering)

    timid = cli("fix", peered.deployment, peered.pcx, "--yes", "--json")
    assert timid.code == 2
    assert sorted(a["kind"] for a in timid.json["applied"]) == ["delete_route", "delete_route"]
    assert [(a["kind"], a["needs"], a["ruleIds"]) for a in held_back(timid)] == [
        ("revoke_ingress", "revoke", stale["ruleIds"])
    ]
    assert problems(diff_json(cli, peered, 2)) == {("rule", group, CIDR, 5432, "stale")}

    fixed = cli("fix", peered.deployment, peered.pcx, "--yes", "--revoke", "--json")
    assert fixed.code == 0, fixed.out
    assert_in_sync(cli, peered)
    assert cli("diff", "--all", "--json").code == 0


def test_a_rule_added_by_hand_survives_delete_and_diff_all_finds_it(cli, sandbox, peered):
    group = peered.group("orders-db")
    behind_the_tools_back(
        sandbox,
        lambda ec2: ec2.authorize_ingress(
            REGION, group, cidr=CIDR, port=6432, description="pgbouncer for the broker"
        ),
    )
    assert cli("diff", "--all").code == 0

    deleted = cli("delete", peered.deployment, peered.pcx, "--confirm", peered.pcx, "--json")
    assert deleted.code == 0, deleted.out
    assert len(deleted.json["result"]["rulesRemoved"]) == 1  # only the tool's own rule

    everything = cli("diff", "--all", "--json")
    assert everything.code == 2
    assert everything.json["inSync"] is False
    peering = the_peering(everything.json)
    assert peering["peeringId"] == peered.pcx
    assert problems(peering) == {("rule", group, CIDR, 6432, "stale")}
    assert "still allows" in cli("diff", "--all").out

    assert cli("fix", peered.deployment, peered.pcx, "--yes").code == 2
    fixed = cli("fix", peered.deployment, peered.pcx, "--yes", "--revoke", "--json")
    assert fixed.code == 0, fixed.out
    after = cli("diff", "--all", "--json")
    assert after.code == 0
    assert after.json["peerings"] == []  # a gone pcx with nothing left is not shown


# --- the dry-run plan, applied with the aws CLI ---------------------------------------------


def everything_at_once(cli: Cli, sandbox: Sandbox, seeded: SeedReport) -> Peered:
    """A live peering with every kind of drift and a warning (the blackhole is replaced in
    place: one command)."""
    vpc = seeded.vpcs["prod-data"]
    peered = create(cli, seeded, "--security-group", vpc.security_groups["orders-db"],
                    "--port", "5432")  # fmt: skip
    group = peered.group("orders-db")

    async def mess(ec2: Ec2Gateway) -> None:
        igw = await ec2.create_internet_gateway(REGION, vpc.vpc_id)
        await via_an_abandoned_pcx(sandbox, ec2, peered, peered.main)  # blackhole
        await ec2.delete_route(REGION, peered.private, CIDR)
        await ec2.create_gateway_route(REGION, peered.private, CIDR, igw)  # wrong_target
        await ec2.create_gateway_route(REGION, peered.private, "10.200.7.0/24", igw)  # shadowed
        await ec2.create_route(REGION, peered.private, "10.99.0.0/16", peered.pcx)  # stale
        await revoke_from(ec2, group, CIDR)  # missing rule
        await ec2.authorize_ingress(
            REGION, group, cidr=ANYWHERE, port=5432, description="quick test"
        )  # too_broad

    behind_the_tools_back(sandbox, mess)
    return peered


def deleted_behind_the_platforms_back(cli: Cli, sandbox: Sandbox, seeded: SeedReport) -> Peered:
    """Blackhole routes and a stale rule: delete-route and revoke with rule ids."""
    peered = create(cli, seeded)
    behind_the_tools_back(sandbox, lambda ec2: ec2.delete_peering(REGION, peered.pcx))
    return peered


def all_traffic_rule_revoked(cli: Cli, sandbox: Sandbox, seeded: SeedReport) -> Peered:
    """Defaults (all traffic on the default group), then the rule revoked: IpProtocol=-1."""
    peered = create(cli, seeded)

    async def revoke(ec2: Ec2Gateway) -> None:
        groups = await ec2.describe_security_groups(REGION, vpc_ids=[peered.vpc.vpc_id])
        default = next(g.id for g in groups if g.name == "default")
        await revoke_from(ec2, default, CIDR)

    behind_the_tools_back(sandbox, revoke)
    return peered


def world_open_twice(cli: Cli, sandbox: Sandbox, seeded: SeedReport) -> Peered:
    """Two intent ports; postgres opened to the world, then everything opened to the world:
    the all-traffic rule is too broad for both ports."""
    vpc = seeded.vpcs["prod-data"]
    group = vpc.security_groups["orders-db"]
    peered = create(cli, seeded, "--security-group", group, "--port", "5432", "--port", "9092")

    async def open_up(ec2: Ec2Gateway) -> None:
        await ec2.authorize_ingress(REGION, group, cidr=ANYWHERE, port=5432, description="psql")
        await ec2.authorize_ingress(REGION, group, cidr=ANYWHERE, port=None, description="all")

    behind_the_tools_back(sandbox, open_up)
    return peered


def run_with_aws_cli(sandbox: Sandbox, commands: list[str], tmp_path: Path) -> None:
    """Each ``aws ec2 …`` command, run by the real aws CLI against the sandbox's moto."""
    assert AWS_CLI.exists(), f"{AWS_CLI} missing: install the test extra (awscli)"
    env = sandbox.environment() | {
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
    }
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "aws"
        done = subprocess.run(
            [str(AWS_CLI), *argv[1:]], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"


BREAKAGES = {
    "every-kind-of-drift": (everything_at_once, 6, 2),
    "pcx-deleted-behind-the-platforms-back": (deleted_behind_the_platforms_back, 3, 2),
    "all-traffic-rule-revoked": (all_traffic_rule_revoked, 1, 2),
    "one-rule-too-broad-for-two-ports": (world_open_twice, 1, 0),
}


@pytest.mark.parametrize(
    "story",
    list(BREAKAGES),
)
def test_the_dry_run_plan_run_with_the_aws_cli_brings_it_in_sync(
    cli, sandbox, seeded, tmp_path, story
):
    breakage, expected_commands, diff_code = BREAKAGES[story]
    peered = breakage(cli, sandbox, seeded)
    assert cli("diff", peered.deployment, peered.pcx).code == diff_code

    before = cli.state()
    dry = cli("fix", peered.deployment, peered.pcx, "--dry-run", "--json")
    assert dry.code == diff_code, dry.out + dry.err  # like diff: 0 in sync, 2 drift
    assert cli.state() == before  # a dry run changes nothing
    plan = dry.json["plan"]
    commands = [a["awsCli"] for a in plan["actions"] + plan["heldBack"]]
    assert all(c.startswith("aws ec2 ") and c.endswith(f"--region {REGION}") for c in commands)

    run_with_aws_cli(sandbox, commands, tmp_path)
    assert_in_sync(cli, peered)
    assert len(commands) == expected_commands
