"""The operator's story on the command line: create, list, delete — and every refusal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from peering_core.intent import rule_description
from peering_core.sandbox.seed import SeedReport, build_customer_vpc
from peering_core.sandbox.servers import MotoServer, Sandbox

from .cli_helpers import Cli


def _routes_via(state, region, pcx):
    return [r for r in state["customer"][region]["routes"] if r[2] == pcx]


def _rules_from(state, region, cidr):
    return [r for r in state["customer"][region]["rules"] if r[4] == cidr]


def test_create_then_ls_then_delete_leaves_nothing_behind(cli, seeded):
    dep = seeded.deployments["factory-telemetry"]
    vpc = seeded.vpcs["prod-data"]
    group = vpc.security_groups["orders-db"]

    created = cli(
        "create",
        dep.id,
        "--vpc-id",
        vpc.vpc_id,
        "--security-group",
        group,
        "--port",
        "5432",
        "--port",
        "1883",
        "--yes",
        "--json",
    )
    assert created.code == 0, created.err
    result = created.json["result"]
    pcx = result["peeringId"]
    assert result["pcxCreated"] and result["confirmedNow"]
    # Default route tables: the private table (explicit) and the main table (third subnet).
    assert sorted(result["routesAdded"]) == sorted(vpc.route_tables)
    assert sorted(result["rulesAdded"]) == [f"{group}:1883", f"{group}:5432"]

    listed = cli("ls", "--json", "--deployment", dep.id)
    assert listed.code == 0
    (view,) = listed.json["peerings"]
    assert (view["peeringId"], view["platformStatus"], view["awsStatus"], view["health"]) == (
        pcx,
        "running",
        "active",
        "ok",
    )
    state = cli.state()
    assert len(_routes_via(state, "us-east-1", pcx)) == 2
    assert len(_rules_from(state, "us-east-1", "10.200.0.0/16")) == 2

    deleted = cli("delete", dep.id, pcx, "--confirm", pcx, "--json")
    assert deleted.code == 0, deleted.err
    assert len(deleted.json["result"]["routesRemoved"]) == 2
    assert len(deleted.json["result"]["rulesRemoved"]) == 2

    after = cli.state()
    assert _routes_via(after, "us-east-1", pcx) == []
    assert _rules_from(after, "us-east-1", "10.200.0.0/16") == []
    assert (pcx, "deleted") in after["customer"]["us-east-1"]["pcxs"]
    assert after["platform"]["peerings"] == []
    assert cli("ls", "--json", "--deployment", dep.id).json["peerings"] == []


def test_human_output_names_each_step(cli, seeded):
    dep = seeded.deployments["eu-connected-cars"]
    vpc = seeded.vpcs["eu-prod"]
    created = cli("create", dep.id, "--vpc-id", vpc.vpc_id, "--yes")
    assert created.code == 0, created.err
    for step in ("validate", "request", "confirm", "wait", "routes", "rules", "verify"):
        assert step in created.err
    assert "is running" in created.out
    listed = cli("ls")
    assert "PEERINGS" in listed.out and "running" in listed.out


def test_create_without_yes_when_not_interactive_changes_nothing(cli, seeded):
    before = cli.state()
    dep = seeded.deployments["factory-telemetry"]
    result = cli("create", dep.id, "--vpc-id", seeded.vpcs["prod-data"].vpc_id)
    assert result.code == 2
    assert "--yes" in result.err
    assert cli.state() == before


def _make_vpc(sandbox: Sandbox, name: str, region: str, cidr: str) -> str:
    async def build() -> str:
        async with sandbox.customer_gateway() as ec2:
            return (await build_customer_vpc(ec2, name, region, cidr)).vpc_id

    return asyncio.run(build())


BAD_CREATES = [
    # (story, args builder, exit code, words the message must contain)
    (
        "reserved CIDR",
        lambda s, r: ["--vpc-id", _make_vpc(s, "cgnat", "us-east-1", "100.64.0.0/16")],
        2,
        ["CIDR_RESERVED", "100.64.0.0/16", "100.0.0.0/8"],
    ),
    (
        "overlaps the deployment",
        lambda s, r: ["--vpc-id", _make_vpc(s, "clash", "us-east-1", "10.200.16.0/20")],
        2,
        ["CIDR_OVERLAP", "10.200.16.0/20", "10.200.0.0/16"],
    ),
    (
        "VPC in another region",
        lambda s, r: ["--vpc-id", r.vpcs["eu-prod"].vpc_id],
        2,
        ["VPC_NOT_FOUND", "us-east-1"],
    ),
    (
        "unknown VPC",
        lambda s, r: ["--vpc-id", "vpc-0123456789abcdef0"],
        2,
        ["vpc-0123456789abcdef0"],
    ),
    ("malformed VPC id", lambda s, r: ["--vpc-id", "vpc-NOPE"], 2, ["--vpc-id", "vpc-NOPE"]),
    (
        "malformed route table",
        lambda s, r: ["--vpc-id", r.vpcs["prod-data"].vpc_id, "--route-table", "rtb-x"],
        2,
        ["--route-table", "rtb-x"],
    ),
    (
        "route table of another VPC",
        lambda s, r: [
            "--vpc-id",
            r.vpcs["prod-data"].vpc_id,
            "--route-table",
            r.vpcs["analytics"].route_tables[0],
        ],
        2,
        ["ROUTE_TABLE_NOT_FOUND"],
    ),
    (
        "malformed security group",
        lambda s, r: ["--vpc-id", r.vpcs["prod-data"].vpc_id, "--security-group", "web"],
        2,
        ["--security-group", "'web'"],
    ),
    (
        "port out of range",
        lambda s, r: ["--vpc-id", r.vpcs["prod-data"].vpc_id, "--port", "70000"],
        2,
        ["--port", "70000"],
    ),
    (
        "port not a number",
        lambda s, r: ["--vpc-id", r.vpcs["prod-data"].vpc_id, "--port", "mqtt"],
        2,
        ["--port", "mqtt"],
    ),
]


@pytest.fixture(scope="module")
def refusals(moto_server: MotoServer) -> Iterator[tuple[Sandbox, SeedReport]]:
    """One seeded sandbox for the refusals: each changes nothing (and proves it), so they share
    it; a refusal whose story needs a VPC of its own adds one nobody else uses."""
    box = Sandbox.start(moto=moto_server, accept_delay=0.0)
    try:
        yield box, asyncio.run(box.seed(demo=False))
    finally:
        box.stop()


@pytest.fixture
def refused(
    refusals: tuple[Sandbox, SeedReport],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[Cli, Sandbox, SeedReport]:
    box, report = refusals
    return Cli(box, monkeypatch, capsys), box, report


@pytest.mark.parametrize(
    ("story", "make_args", "code", "words"), BAD_CREATES, ids=[b[0] for b in BAD_CREATES]
)
def test_bad_create_input_exits_2_and_changes_nothing(refused, story, make_args, code, words):
    cli, sandbox, seeded = refused
    args = make_args(sandbox, seeded)
    before = cli.state()
    result = cli("create", seeded.deployments["factory-telemetry"].id, *args, "--yes", "--json")
    assert result.code == code, (story, result.out, result.err)
    error = result.json["error"]
    text = f"{error['code']} {error['message']}"
    for word in words:
        assert word in text, (story, text)
    assert cli.state() == before


def test_unknown_deployment_exits_2(refused):
    cli, _sandbox, seeded = refused
    before = cli.state()
    result = cli("create", "dnothere", "--vpc-id", seeded.vpcs["prod-data"].vpc_id, "--yes")
    assert result.code == 2
    assert "dnothere" in result.err
    assert cli.state() == before


def test_a_vpc_overlapping_another_peering_of_the_deployment_is_refused(cli, sandbox, seeded):
    dep = seeded.deployments["factory-telemetry"]
    assert cli("create", dep.id, "--vpc-id", seeded.vpcs["prod-data"].vpc_id, "--yes").code == 0
    twin = _make_vpc(sandbox, "prod-data-copy", "us-east-1", "172.20.128.0/20")
    before = cli.state()
    result = cli("create", dep.id, "--vpc-id", twin, "--yes", "--json")
    assert result.code == 2
    assert result.json["error"]["code"] == "CIDR_OVERLAP"
    assert "172.20.0.0/16" in result.json["error"]["message"]
    assert cli.state() == before


def test_a_route_table_already_routing_the_deployment_cidr_elsewhere_stops_create(
    cli, sandbox, seeded
):
    vpc = seeded.vpcs["prod-data"]

    async def hijack() -> None:
        async with sandbox.customer_gateway() as ec2:
            igw = await ec2.create_internet_gateway("us-east-1", vpc.vpc_id)
            await ec2.create_gateway_route("us-east-1", vpc.route_tables[0], "10.200.0.0/16", igw)

    asyncio.run(hijack())
    before = cli.state()
    result = cli(
        "create",
        seeded.deployments["factory-telemetry"].id,
        "--vpc-id",
        vpc.vpc_id,
        "--yes",
        "--json",
    )
    assert result.code == 3
    assert result.json["error"]["code"] == "ROUTE_CONFLICT"
    assert vpc.route_tables[0] in result.json["error"]["message"]
    assert cli.state() == before


def test_delete_refusals_exit_3_and_change_nothing(cli, sandbox, seeded):
    dep = seeded.deployments["factory-telemetry"]
    vpc = seeded.vpcs["prod-data"]
    pcx = cli("create", dep.id, "--vpc-id", vpc.vpc_id, "--yes", "--json").json["result"][
        "peeringId"
    ]
    before = cli.state()

    wrong = cli("delete", dep.id, pcx, "--confirm", pcx[:-1], "--json")
    assert wrong.code == 3
    assert "does not match" in wrong.json["error"]["message"]

    malformed = cli("delete", dep.id, "pcx-oops", "--confirm", "pcx-oops", "--json")
    assert malformed.code == 2
    assert "pcx-oops" in malformed.json["error"]["message"]
    assert cli.state() == before

    async def add_resource() -> None:
        async with sandbox.client() as client:
            await client.create_resource(dep.id, "orders-db", "postgresql", "172.20.1.10", 5432)

    asyncio.run(add_resource())
    before = cli.state()
    in_use = cli("delete", dep.id, pcx, "--confirm", pcx, "--json")
    assert in_use.code == 3
    assert "orders-db" in in_use.json["error"]["message"]
    assert "172.20.1.10" in in_use.json["error"]["message"]
    assert cli.state() == before


def test_deleting_a_failed_peering_clears_it(cli, sandbox):
    # Issues 14 and 17 (2): the platform takes DELETE for a failed peering and cleans up.
    asyncio.run(sandbox.seed(demo=True))
    listed = cli("ls", "--json").json
    failed = next(p for p in listed["peerings"] if p["platformStatus"] == "failed")
    result = cli(
        "delete",
        failed["deploymentID"],
        failed["peeringId"],
        "--confirm",
        failed["peeringId"],
        "--json",
    )
    assert result.code == 0, result.out
    after = cli("ls", "--json").json
    assert failed["peeringId"] not in {p["peeringId"] for p in after["peerings"]}


def test_delete_keep_routes_leaves_routes_and_rules(cli, seeded):
    dep = seeded.deployments["factory-telemetry"]
    vpc = seeded.vpcs["prod-data"]
    pcx = cli("create", dep.id, "--vpc-id", vpc.vpc_id, "--yes", "--json").json["result"][
        "peeringId"
    ]
    result = cli("delete", dep.id, pcx, "--confirm", pcx, "--keep-routes", "--json")
    assert result.code == 0
    assert result.json["result"]["kept"] is True
    state = cli.state()
    assert len(_routes_via(state, "us-east-1", pcx)) == 2
    assert any(r[4] == "10.200.0.0/16" for r in state["customer"]["us-east-1"]["rules"])
    assert rule_description(pcx) == f"peering-tui {pcx}"


def test_nothing_configured_says_how_to_configure(monkeypatch, capsys):
    for name in ("PEERING_PLATFORM_URL", "PEERING_PLATFORM_KEY", "PEERING_PLATFORM_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PEERING_CONFIG", "/nonexistent/peering-tui.toml")
    from peering_core.cli import main

    assert main(["ls"]) == 2
    assert "PEERING_PLATFORM_URL" in capsys.readouterr().err
