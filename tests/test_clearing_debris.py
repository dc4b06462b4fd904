"""Clearing debris (issue 17 (2)): a request never confirmed on the platform is withdrawn, and
a peering that failed on the platform is deleted, through the same guarded delete."""

from __future__ import annotations

import asyncio

from peering_core.audit import read_audit
from peering_core.sandbox.seed import CUSTOMER_ACCOUNT_ID, SeedReport, wait_for_platform
from peering_core.sandbox.servers import Sandbox

from .cli_helpers import Cli


async def _request(sandbox: Sandbox, seeded: SeedReport, deployment: str, vpc: str) -> str:
    """A pcx requested on AWS toward the deployment and never confirmed on the platform."""
    async with sandbox.client() as platform, sandbox.customer_gateway() as customer:
        info = await platform.deployment_vpc(seeded.deployments[deployment].id)
        pcx = await customer.create_peering(
            info.region,
            vpc_id=seeded.vpcs[vpc].vpc_id,
            peer_vpc_id=info.vpc_id,
            peer_owner_id=info.account_id,
        )
    return pcx.id


async def _status(sandbox: Sandbox, region: str, pcx: str) -> str | None:
    async with sandbox.customer_gateway() as customer:
        found = await customer.describe_peering(region, pcx)
    return found.status if found else None


def test_an_unconfirmed_request_is_withdrawn_with_the_typed_confirmation(
    cli: Cli, sandbox: Sandbox, seeded: SeedReport
):
    dep = seeded.deployments["eu-connected-cars"]
    pcx = asyncio.run(_request(sandbox, seeded, "eu-connected-cars", "eu-dr"))
    before = cli.state()

    wrong = cli("delete", dep.id, pcx, "--confirm", "pcx-nope", "--json")
    assert wrong.code == 3 and wrong.json["error"]["code"] == "DELETE_REFUSED"
    assert cli.state() == before, "a wrong confirmation changes nothing"

    done = cli("delete", dep.id, pcx, "--confirm", pcx, "--json")
    assert done.code == 0, done.out
    assert done.json["result"]["withdrawn"] is True
    assert asyncio.run(_status(sandbox, dep.region, pcx)) in ("deleted", None)
    listed = cli("ls", "--json")
    assert pcx not in {p["peeringId"] for p in listed.json["peerings"]}
    (record,) = [r for r in read_audit(cli.audit_log) if r["action"] == "delete"][-1:]
    assert record["result"] == "ok" and record["target"]["peeringId"] == pcx
    # Run again, it finds the request gone and only tidies up: no error, nothing withdrawn twice.
    again = cli("delete", dep.id, pcx, "--confirm", pcx, "--json")
    assert again.code == 0 and again.json["result"]["withdrawn"] is False


async def _failed_peering(sandbox: Sandbox, seeded: SeedReport) -> str:
    """office-net → fleet-staging, confirmed straight through the API (no pre-flight check)
    while the deployment routes office-net's block elsewhere: the platform fails it."""
    dep = seeded.deployments["fleet-staging"]
    async with sandbox.client() as platform, sandbox.platform_gateway() as platform_ec2:
        info = await platform.deployment_vpc(dep.id)
        igw = await platform_ec2.create_internet_gateway(info.region, info.vpc_id)
        for table in info.route_table_ids:
            await platform_ec2.create_gateway_route(info.region, table, "192.168.0.0/16", igw)
    pcx = await _request(sandbox, seeded, "fleet-staging", "office-net")
    vpc = seeded.vpcs["office-net"].vpc_id
    async with sandbox.client() as platform:
        await platform.confirm_peering(dep.id, pcx, CUSTOMER_ACCOUNT_ID, vpc)
        async with asyncio.timeout(30):
            record = await wait_for_platform(platform, dep.id, pcx)
    assert record.status.value == "failed", record
    return pcx


def test_a_failed_peering_is_cleared_and_its_deployment_turns_ok(cli: Cli, sandbox, seeded):
    dep = seeded.deployments["fleet-staging"]
    pcx = asyncio.run(_failed_peering(sandbox, seeded))

    def health() -> str:
        listed = cli("ls", "--json").json
        return next(d["health"] for d in listed["deployments"] if d["deploymentID"] == dep.id)

    assert health() == "error"
    # A retry runs the acceptance again; the pcx was rejected, so it fails again, for good.
    retried = cli("retry", dep.id, pcx, "--json")
    assert retried.code == 3 and retried.json["error"]["code"] == "PEERING_FAILED"

    cleared = cli("delete", dep.id, pcx, "--confirm", pcx)
    assert cleared.code == 0, cleared.out
    # Its progress says what the guard saw: a failed peering, not a running one.
    assert "failed, unused, confirmed" in cleared.err and "running" not in cleared.err
    assert health() == "ok"
    assert pcx not in {p["peeringId"] for p in cli("ls", "--json").json["peerings"]}


def test_only_a_failed_peering_can_be_retried(cli: Cli, seeded):
    dep = seeded.deployments["factory-telemetry"]
    made = cli("create", dep.id, "--vpc-id", seeded.vpcs["prod-data"].vpc_id, "--yes", "--json")
    pcx = made.json["result"]["peeringId"]
    before = cli.state()
    refused = cli("retry", dep.id, pcx, "--json")
    assert refused.code == 3 and refused.json["error"]["code"] == "PEERING_NOT_FAILED"
    assert cli.state() == before
    assert cli("--read-only", "retry", dep.id, pcx).code == 3
