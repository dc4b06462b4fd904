"""moto's threaded server walks the set of every EC2 backend to file a pcx between two accounts;
a request meanwhile making its account's or region's first backend grew the set under the walk
("Set changed size during iteration", a 500 seen in CI while the sandbox seeded two accounts).
The sandbox's moto walks a copy (``patch_moto``)."""

from __future__ import annotations

from moto.ec2.models import ec2_backends

from peering_core.sandbox.moto_process import patch_moto


def test_a_backend_made_during_the_walk_does_not_break_it():
    patch_moto()
    backend = ec2_backends["111111111111"]["us-east-1"]
    ec2_backends["111111111112"]["us-east-1"]
    walk = backend.get_vpc_pcx_refs()
    first = next(walk)
    ec2_backends["111111111113"]["eu-north-1"]  # another request's first backend
    rest = list(walk)  # without the patch: RuntimeError: Set changed size during iteration
    assert first not in rest and len(rest) >= 1


async def test_moto_finds_a_hosts_backend_once(moto_server, monkeypatch):
    """moto listed its package folder and tried every service's URL patterns for each request;
    the sandbox's moto does it once per host."""
    import moto.backends
    from pydantic import SecretStr

    from peering_core.aws import AwsAccess, Ec2Gateway

    listed = 0
    list_modules = moto.backends.list_of_moto_modules

    def counted():
        nonlocal listed
        listed += 1
        return list_modules()

    monkeypatch.setattr(moto.backends, "list_of_moto_modules", counted)
    access = AwsAccess(
        access_key_id="k", secret_access_key=SecretStr("s"), endpoint_url=moto_server.url
    )
    async with Ec2Gateway(access) as gateway:
        for _ in range(5):
            await gateway.describe_vpcs("ap-southeast-4")
    assert gateway.calls["DescribeVpcs"] == 5
    assert listed <= 1  # the host's first request, if this process had not seen it yet
