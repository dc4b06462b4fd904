"""Clearing debris (issue 17 (2)): a request never confirmed on the platform is withdrawn, and
a peering that failed on the platform is deleted, through the same guarded delete."""

from __future__ import annotations

import asyncio

from peering_core.audit import read_audit
from peering_core.sandbox.seed import SeedReport
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
