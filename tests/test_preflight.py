"""Every platform rule is checked before the first change (issue 17 (1) and (2)).

fleet-staging's own route tables already route 192.168.0.0/16 to an internet gateway (a VPN to
the operations network, as in the demo), so the platform would fail any peer inside it at
acceptance. The create used to request the pcx anyway, the platform failed it, and "Resume"
requested another doomed pcx each time.
"""

from __future__ import annotations

import asyncio

import pytest

from peering_core.create import CreateRequest, create_peering
from peering_core.create_choices import load_create_choices
from peering_core.errors import ExitCode, Refused
from peering_core.sandbox.seed import SeedReport
from peering_core.sandbox.servers import Sandbox
from peering_core.workflow import Progress, Step

from .cli_helpers import Cli

VPN = "192.168.0.0/16"


async def route_the_vpn(sandbox: Sandbox, seeded: SeedReport) -> None:
    """The deployment side routes the VPN's block to an internet gateway."""
    async with sandbox.client() as platform, sandbox.platform_gateway() as platform_ec2:
        info = await platform.deployment_vpc(seeded.deployments["fleet-staging"].id)
        igw = await platform_ec2.create_internet_gateway(info.region, info.vpc_id)
        for table in info.route_table_ids:
            await platform_ec2.create_gateway_route(info.region, table, VPN, igw)


async def pcx_count(sandbox: Sandbox) -> int:
    async with sandbox.customer_gateway() as customer:
        return len(await customer.describe_peerings("us-east-1"))


def test_a_doomed_create_is_refused_before_any_pcx_exists(cli: Cli, sandbox, seeded):
    asyncio.run(route_the_vpn(sandbox, seeded))
    dep = seeded.deployments["fleet-staging"]
    before = cli.state()
    pcxs = asyncio.run(pcx_count(sandbox))

    result = cli("create", dep.id, "--vpc-id", seeded.vpcs["office-net"].vpc_id, "--yes", "--json")
    assert result.code == ExitCode.REFUSED, result.out
    error = result.json["error"]
    assert error["code"] == "CIDR_OVERLAP" and error["step"] == "validate"
    assert VPN in error["message"] and "nothing was created" in error["message"]
    assert asyncio.run(pcx_count(sandbox)) == pcxs
    assert cli.state() == before

    # Another VPC of the same deployment is not refused by it.
    fine = cli("create", dep.id, "--vpc-id", seeded.vpcs["analytics"].vpc_id, "--yes")
    assert fine.code == 0, fine.err


def test_the_form_marks_the_doomed_vpc_not_selectable_with_the_reason(sandbox, seeded):
    async def choices() -> dict[str, str | None]:
        await route_the_vpn(sandbox, seeded)
        async with sandbox.client() as platform, sandbox.customer_gateway() as customer:
            found = await load_create_choices(
                platform, customer, seeded.deployments["fleet-staging"].id
            )
        return {c.vpc.name: c.refusal for c in found.vpcs}

    refusals = asyncio.run(choices())
    assert refusals["office-net"] is not None and VPN in refusals["office-net"]
    assert refusals["analytics"] is None and refusals["prod-data"] is None


async def test_the_preflight_check_changes_nothing_and_is_not_audited_as_a_change(
    api, sandbox, estate
):
    dep = estate.deployments["fleet-staging"]
    vpc = estate.vpcs["office-net"]
    body = {"accountId": "210987654321", "vpcId": vpc.vpc_id, "region": "us-east-1",
            "cidrs": [vpc.cidr]}  # fmt: skip
    before = await api.get("/api/v1/peerings")
    answer = await api.post(f"/api/v1/deployments/{dep.id}/peerings:check", json=body)
    assert answer.status_code == 200 and answer.json()["ok"] is True
    after = await api.get("/api/v1/peerings", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 304, "the check wrote nothing"
    audit = sandbox.workdir / "platform-audit.jsonl"
    assert "peerings:check" not in (audit.read_text() if audit.exists() else "")


@pytest.mark.parametrize("when", [Step.CONFIRM])
async def test_a_peering_the_platform_fails_is_final_not_resumable(start_sandbox, when):
    # The conflicting route appears after the check, while the platform waits to accept:
    # the platform fails the peering for good, and the create says so with exit 3 and what
    # to do, instead of "re-run to continue".
    box: Sandbox = await asyncio.to_thread(start_sandbox, accept_delay=1.0)
    seeded = await box.seed(demo=False)
    dep = seeded.deployments["fleet-staging"]

    async def on_progress(event: Progress) -> None:
        if event.step is when and event.state == "done":
            await route_the_vpn(box, seeded)

    async with box.client() as platform, box.customer_gateway() as customer:
        request = CreateRequest(deployment_id=dep.id, vpc_id=seeded.vpcs["office-net"].vpc_id)
        with pytest.raises(Refused) as refused:
            await create_peering(
                request, platform, customer, on_progress=on_progress, poll_interval=0.05
            )
    assert refused.value.code == "PEERING_FAILED" and refused.value.exit_code == ExitCode.REFUSED
    assert "a re-run would not help" in refused.value.message
    assert "peering-tui delete" in refused.value.message
