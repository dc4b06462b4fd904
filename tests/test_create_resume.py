"""An interrupted create continues where it stopped, and never doubles anything."""

from __future__ import annotations

import pytest

from peering_core.create import CreateRequest, create_peering
from peering_core.workflow import Progress, Step


class Interrupted(Exception):
    """Stands in for the operator's ctrl+c or a dropped SSH session."""


def interrupt_after(step: Step):
    def on_progress(event: Progress) -> None:
        if event.step is step and event.state == "done":
            raise Interrupted(step.value)

    return on_progress


@pytest.mark.parametrize("stop_after", [Step.REQUEST, Step.CONFIRM, Step.ROUTES])
async def test_an_interrupted_create_resumes_to_exactly_one_of_everything(
    estate, platform, customer, stop_after
):
    dep = estate.deployments["factory-telemetry"]
    vpc = estate.vpcs["prod-data"]
    groups = (vpc.security_groups["orders-db"], vpc.security_groups["events-kafka"])
    request = CreateRequest(
        deployment_id=dep.id, vpc_id=vpc.vpc_id, security_groups=groups, ports=(5432, 9092)
    )
    with pytest.raises(Interrupted):
        await create_peering(
            request, platform, customer, on_progress=interrupt_after(stop_after), poll_interval=0.05
        )

    events: list[Progress] = []
    result = await create_peering(
        request, platform, customer, on_progress=events.append, poll_interval=0.05
    )
    assert not result.pcx_created
    skipped = {e.step for e in events if e.state == "skipped"}
    assert Step.REQUEST in skipped
    if stop_after is not Step.REQUEST:
        assert Step.CONFIRM in skipped

    # Run it a third time for good measure: nothing new.
    again = await create_peering(request, platform, customer, poll_interval=0.05)
    assert again.routes_added == () and again.rules_added == ()

    pcxs = [
        p
        for p in await customer.describe_peerings("us-east-1", requester_vpc_ids=[vpc.vpc_id])
        if p.status != "deleted"
    ]
    assert [p.id for p in pcxs] == [result.peering_id]
    records = await platform.peerings(dep.id)
    assert [r.peering_id for r in records] == [result.peering_id]
    tables = await customer.describe_route_tables("us-east-1", vpc_ids=[vpc.vpc_id])
    for table in tables:
        via = [r for r in table.routes if r.target_id == result.peering_id]
        assert len(via) == (1 if table.id in vpc.route_tables else 0), table.id
    rules = await customer.describe_security_group_rules("us-east-1", list(groups))
    from_deployment = sorted(
        (r.group_id, r.from_port) for r in rules if r.cidr == "10.200.0.0/16" and not r.is_egress
    )
    assert from_deployment == sorted((g, p) for g in groups for p in (5432, 9092))
