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
