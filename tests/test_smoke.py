from peering_core.models import PlatformStatus
from peering_core.sandbox.seed import CUSTOMER_ACCOUNT_ID, wait_for_platform


async def test_a_confirmed_peering_is_accepted_and_routed_back(
    estate, platform, customer, platform_ec2
):
    dep = estate.deployments["factory-telemetry"]
    vpc = estate.vpcs["prod-data"]
    info = await platform.deployment_vpc(dep.id)
    pcx = await customer.create_peering(
        "us-east-1", vpc_id=vpc.vpc_id, peer_vpc_id=info.vpc_id, peer_owner_id=info.account_id
    )
    record = await platform.confirm_peering(dep.id, pcx.id, CUSTOMER_ACCOUNT_ID, vpc.vpc_id)
    assert record.status is PlatformStatus.PENDING
    done = await wait_for_platform(platform, dep.id, pcx.id)
    assert done.status is PlatformStatus.RUNNING
    tables = await platform_ec2.describe_route_tables(
        "us-east-1", route_table_ids=info.route_table_ids
    )
    assert all(t.route_to(vpc.cidr).target_id == pcx.id for t in tables)
