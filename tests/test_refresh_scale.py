"""A refresh costs the same API calls for 50 peerings as for 5,000 (500 in ``make test``), in two
accounts as in one: accounts times regions times a constant, never a call per peering."""

from __future__ import annotations

import asyncio

import pytest

from peering_core.accounts import Accounts
from peering_core.poller import Fleet
from peering_core.sandbox.servers import Sandbox

from .bench.fleet import REGIONS, seed_fleet


def _refresh(sandbox: Sandbox) -> tuple[int, int, int, set[str]]:
    """The calls of a first and of a second tick, the rows, and the rows' accounts."""

    async def tick() -> tuple[int, int, int, set[str]]:
        async with sandbox.client() as platform, Accounts.open(sandbox.accounts()) as accounts:
            fleet = Fleet(platform, accounts)
            first = await fleet.snapshot()
            assert first.ok, first.failing
            second = await fleet.snapshot(first)
            return first.calls, second.calls, len(first.views), {v.account for v in first.views}

    return asyncio.run(tick())


@pytest.mark.parametrize("large", [500, pytest.param(5000, marks=pytest.mark.slow)])
def test_one_refresh_costs_the_same_calls_for_50_and_for_5000_peerings_in_two_accounts(
    moto_server, large
):
    counts = {}
    for deployments in (10, large // 5):
        sandbox = Sandbox.start(moto=moto_server, requests_per_minute=0, second_account=True)
        try:
            seed_fleet(sandbox, deployments, 5, accounts=2)
            counts[deployments * 5] = _refresh(sandbox)
        finally:
            sandbox.stop()
    (first_50, steady_50, rows_50, names_50) = counts[50]
    (first_large, steady_large, rows_large, names_large) = counts[large]
    assert (rows_50, rows_large) == (50, large)
    assert names_50 == names_large == {"prod", "staging"}
    assert (first_50, steady_50) == (first_large, steady_large)
    # 4 platform GETs + 8 describes per account and region; the first tick also asks each
    # account who it is and assumes staging's role.
    assert steady_50 == 4 + 2 * len(REGIONS) * 8
    assert first_50 == steady_50 + 2 + 1
