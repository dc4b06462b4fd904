"""What botocore and moto would rebuild per client or per request is made once per process:
gateways of any account and region share one service model and one client class per service
(botocore built both, a method for each of EC2's 700 operations, for every client), and moto
lists a response class's actions once. Each gateway still counts only its own calls."""

from __future__ import annotations

from pydantic import SecretStr

from peering_core.aws import AwsAccess, Ec2Gateway
from peering_core.sandbox.servers import MotoServer


def _access(moto: MotoServer, key: str) -> AwsAccess:
    return AwsAccess(access_key_id=key, secret_access_key=SecretStr(key), endpoint_url=moto.url)


async def test_gateways_share_one_client_class_per_service_and_count_their_own_calls(
    moto_server: MotoServer,
) -> None:
    async with (
        Ec2Gateway(_access(moto_server, "first")) as first,
        Ec2Gateway(_access(moto_server, "second")) as second,
    ):
        clients = [
            await first._client("ec2", "us-east-1"),
            await first._client("ec2", "eu-west-1"),
            await second._client("ec2", "us-east-1"),
        ]
        sts = await first._client("sts", "us-east-1")
        await first.describe_vpcs("us-east-1")
        await first.describe_vpcs("eu-west-1")
        await second.describe_vpcs("us-east-1")
    assert len({type(client) for client in clients}) == 1
    assert len({id(client.meta.service_model) for client in clients}) == 1
    assert {client.meta.region_name for client in clients} == {"us-east-1", "eu-west-1"}
    assert type(sts) is not type(clients[0])
    assert (first.calls["DescribeVpcs"], second.calls["DescribeVpcs"]) == (2, 1)


def test_moto_lists_a_response_class_s_actions_once(moto_server: MotoServer) -> None:
    from moto.core import responses
    from moto.ec2.responses import EC2Response

    listed = responses.method_names_from_class(EC2Response)  # type: ignore[attr-defined]
    assert "describe_vpcs" in listed
    assert responses.method_names_from_class(EC2Response) is listed  # type: ignore[attr-defined]
