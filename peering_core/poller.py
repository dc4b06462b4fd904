"""Live status: one snapshot of both sides per tick, at a cost independent of the fleet size.

A tick makes four platform GETs (deployments, VPC info, all peerings, all resources — 304s
when nothing changed) and, per region, one paginated ``DescribeVpcPeeringConnections`` — plus,
with drift checks on, five more describes per region (subnets, route tables, security groups,
their rules, network interfaces) over every requester VPC at once. A source that fails
keeps its last good data, marked stale with the error and since when, so one bad region never
blanks the dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from .aws import Ec2Gateway
from .drift import PeeringDiff
from .errors import PeeringError
from .health import build_views, deployment_views
from .models import AwsPeering, Resource, unchanged
from .network import diff_region, load_region
from .platform_client import PlatformClient
from .snapshot import PLATFORM, Snapshot, SourceState, aws_source

# What one source can throw at a tick: refusals, transport trouble, and answers that do not
# parse (a proxy's HTML error page, a truncated body). Each makes that source stale, never
# the whole snapshot fail.
SOURCE_ERRORS = (PeeringError, OSError, httpx.HTTPError, ValidationError, ValueError)


def _describe(exc: Exception) -> str:
    if isinstance(exc, PeeringError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class Fleet:
    """Both sides of every peering, read through the platform client and the EC2 gateway."""

    def __init__(
        self,
        platform: PlatformClient,
        ec2: Ec2Gateway,
        *,
        drift: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.platform = platform
        self.ec2 = ec2
        self.drift = drift
        self.clock = clock or (lambda: datetime.now(UTC))

    def call_count(self) -> int:
        return sum(self.platform.calls.values()) + sum(self.ec2.calls.values())

    async def snapshot(self, previous: Snapshot | None = None) -> Snapshot:
        """Read both sides once; failed sources keep ``previous`` data, marked stale."""
        before = self.call_count()
        now = self.clock()
        sources = dict(previous.sources) if previous else {}

        def failed(name: str, exc: Exception) -> None:
            old = sources.get(name, SourceState(name=name))
            sources[name] = SourceState(
                name=name,
                fetched_at=old.fetched_at,
                error=_describe(exc),
                failing_since=old.failing_since or now,
            )

        deployments = previous.deployments if previous else ()
        vpcs = previous.vpcs if previous else ()
        records = previous.records if previous else ()
        resources = previous.resources if previous else ()
        try:
            deployments_, vpcs_, records_, resources_ = await asyncio.gather(
                self.platform.deployments(),
                self.platform.deployment_vpcs(),
                self.platform.all_peerings(),
                self.platform.all_resources() if self.drift else _nothing(),
            )
            deployments, vpcs, records = tuple(deployments_), tuple(vpcs_), tuple(records_)
            resources = tuple(resources_)
            sources[PLATFORM] = SourceState(name=PLATFORM, fetched_at=now)
        except SOURCE_ERRORS as exc:
            failed(PLATFORM, exc)

        regions = sorted({d.region for d in deployments})
        pcxs: dict[str, tuple[AwsPeering, ...]] = {}
        diffs: dict[str, PeeringDiff] = {}
        deployment_vpcs = {v.vpc_id for v in vpcs}

        async def read_region(region: str) -> None:
            name = aws_source(region)
            known = {p.id: p for p in previous.pcxs.get(region, ())} if previous else {}
            try:
                if self.drift:
                    estate = await load_region(self.ec2, region)
                    found: Sequence[AwsPeering] = estate.peerings
                else:
                    found = await self.ec2.describe_peerings(region)
            except SOURCE_ERRORS as exc:
                failed(name, exc)
                pcxs[region] = previous.pcxs.get(region, ()) if previous else ()
                if previous:
                    diffs.update({k: d for k, d in previous.diffs.items() if d.region == region})
                return
            pcxs[region] = tuple(
                unchanged(known, p.id, p) for p in found if p.accepter.vpc_id in deployment_vpcs
            )
            if self.drift:
                before = previous.diffs if previous else None
                diffs.update(diff_region(estate, vpcs, resources, previous=before))
            sources[name] = SourceState(name=name, fetched_at=now)

        await asyncio.gather(*(read_region(r) for r in regions))
        for name in list(sources):
            if name.startswith("aws:") and name.removeprefix("aws:") not in regions:
                del sources[name]
        all_pcxs = [p for region in regions for p in pcxs.get(region, ())]
        known_views = {v.peering_id: v for v in previous.views} if previous else {}
        views = build_views(
            deployments,
            vpcs,
            records,
            all_pcxs,
            now=now,
            aws_regions_read=[r for r in regions if sources[aws_source(r)].ok],
            drift={pcx: d.problems() for pcx, d in diffs.items()},
        )
        views = [unchanged(known_views, v.peering_id, v) for v in views]
        known_deployments = (
            {d.deployment.id: d for d in previous.deployment_views} if previous else {}
        )
        dep_views = [
            unchanged(known_deployments, d.deployment.id, d)
            for d in deployment_views(deployments, vpcs, views)
        ]
        return Snapshot(
            taken_at=now,
            deployments=deployments,
            vpcs=vpcs,
            records=records,
            resources=resources,
            pcxs=pcxs,
            diffs=diffs,
            views=tuple(views),
            deployment_views=tuple(dep_views),
            sources=sources,
            calls=self.call_count() - before,
        )


async def _nothing() -> list[Resource]:
    return []


class StatusPoller:
    """An async iterator of snapshots. The next poll starts ``interval`` seconds after the last
    one finished (never overlapping); :meth:`refresh` polls now; failures back off."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        interval: float = 5.0,
        max_backoff: float = 60.0,
    ) -> None:
        self.fleet = fleet
        self.interval = interval
        self.max_backoff = max_backoff
        self.paused = False
        self.failures = 0
        self._wake = asyncio.Event()
        self._resume = asyncio.Event()
        self._resume.set()
        self.last: Snapshot | None = None

    def refresh(self) -> None:
        """Poll now, even while paused or backing off."""
        self._wake.set()

    def pause(self) -> None:
        self.paused = True
        self._resume.clear()

    def resume(self) -> None:
        self.paused = False
        self._resume.set()
        self._wake.set()

    def next_delay(self) -> float:
        if self.failures == 0:
            return self.interval
        return float(min(self.max_backoff, self.interval * 2**self.failures))

    async def __aiter__(self) -> AsyncIterator[Snapshot]:
        while True:
            self._wake.clear()
            snapshot = await self.fleet.snapshot(self.last)
            self.failures = 0 if snapshot.ok else self.failures + 1
            self.last = snapshot
            yield snapshot
            await self._sleep(self.next_delay())

    async def _sleep(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)
        while self.paused and not self._wake.is_set():
            waiters: list[Any] = [
                asyncio.ensure_future(self._resume.wait()),
                asyncio.ensure_future(self._wake.wait()),
            ]
            _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
