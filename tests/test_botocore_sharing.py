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


# A fresh process (this one's tables are loaded already): the first client's loading of
# botocore's files must run beside the event loop, so a command's platform requests go out
# meanwhile instead of waiting a fifth of a second behind it.
_FIRST_CLIENT = """
import asyncio, sys, threading
from botocore.loaders import JSONFileLoader
from pydantic import SecretStr
from peering_core.aws import AwsAccess, Ec2Gateway

where = []  # for each read of EC2's model file: was it on the main thread?
load = JSONFileLoader.load_file
def recorded(self, file_path):
    if "/ec2/" in file_path and file_path.endswith("service-2"):
        where.append(threading.current_thread() is threading.main_thread())
    return load(self, file_path)
JSONFileLoader.load_file = recorded

async def main():
    ticks = 0
    async def tick():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)
    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    before = ticks
    access = AwsAccess(access_key_id="k", secret_access_key=SecretStr("s"),
                       endpoint_url=sys.argv[1])
    async with Ec2Gateway(access) as gateway:
        await gateway._client("ec2", "us-east-1")
    ticker.cancel()
    print(where, ticks - before > 1)

asyncio.run(main())
"""


def test_the_first_client_loads_botocore_beside_the_event_loop(moto_server: MotoServer) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _FIRST_CLIENT, moto_server.url],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    # Loaded once, not on the loop's (main) thread, and the loop ran other tasks meanwhile.
    assert done.stdout.split() == ["[False]", "True"], done.stderr


async def test_clients_share_one_tls_context_for_the_same_verification(
    moto_server: MotoServer,
) -> None:
    """Each client's HTTP session built a TLS context (reading the CA bundle) on its first
    request; the process builds one per verification setting."""
    async with (
        Ec2Gateway(_access(moto_server, "first")) as first,
        Ec2Gateway(_access(moto_server, "second")) as second,
    ):
        await first.describe_vpcs("us-east-1")
        await first.describe_vpcs("eu-west-1")
        await second.describe_vpcs("us-east-1")
        contexts = [
            (await gateway._client("ec2", region))._endpoint.http_session._sessions[None]
            for gateway, region in (
                (first, "us-east-1"),
                (first, "eu-west-1"),
                (second, "us-east-1"),
            )
        ]
        ssl = {id(session.connector._ssl) for session in contexts}
    assert len(ssl) == 1
