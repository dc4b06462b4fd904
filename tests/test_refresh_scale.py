"""A refresh costs the same API calls for 50 peerings as for 5,000 (500 in ``make test``)."""

from __future__ import annotations

import asyncio

import pytest

from peering_core.poller import Fleet
from peering_core.sandbox.servers import Sandbox

from .bench.fleet import seed_fleet


def _refresh_calls(sandbox: Sandbox) -> tuple[int, int]:
    async def tick() -> tuple[int, int]:
        async with sandbox.client() as platform, sandbox.customer_gateway() as ec2:
            snapshot = await Fleet(platform, ec2).snapshot()
            assert snapshot.ok
            return snapshot.calls, len(snapshot.views)

    return asyncio.run(tick())


@pytest.mark.parametrize("large", [500, pytest.param(5000, marks=pytest.mark.slow)])
def test_one_refresh_costs_the_same_calls_for_50_and_for_5000_peerings(moto_server, large):
    counts = {}
    for deployments in (10, large // 5):
        sandbox = Sandbox.start(moto=moto_server, requests_per_minute=0)
        try:
            seed_fleet(sandbox, deployments, 5)
            counts[deployments * 5] = _refresh_calls(sandbox)
        finally:
            sandbox.stop()
    (calls_50, rows_50), (calls_large, rows_large) = counts[50], counts[large]
    assert (rows_50, rows_large) == (50, large)
    assert calls_50 == calls_large
