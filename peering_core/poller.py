"""Live status: one snapshot of both sides per tick, at a cost independent of the fleet size.

A tick makes four platform GETs (deployments, VPC info, all peerings, all resources — 304s
when nothing changed) and, per customer account and region, one paginated
``DescribeVpcPeeringConnections`` — plus, with drift checks on, seven more describes (subnets,
route tables, security groups, their rules, network interfaces, network ACLs, prefix lists)
over every requester VPC at once; each account is asked who it is once (``GetCallerIdentity``)
and a role's credentials are renewed about hourly. Accounts and regions are read concurrently.
A source that fails keeps its last good data, marked stale with the error and since when, so
one bad region or account never blanks the dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from .accounts import AccountLink, AccountRead, Accounts
from .aws import Ec2Gateway
from .drift import PeeringDiff
from .errors import AwsError, PeeringError
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
    """Both sides of every peering, read through the platform client and each customer
    account's EC2 gateway (one gateway: the standard chain's account)."""

    def __init__(
        self,
        platform: PlatformClient,
        ec2: Ec2Gateway | Accounts,
        *,
        drift: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.platform = platform
        self.accounts = ec2 if isinstance(ec2, Accounts) else Accounts.single(ec2)
        self.drift = drift
        self.clock = clock or (lambda: datetime.now(UTC))

    @property
    def ec2(self) -> Ec2Gateway:
        """The first account's gateway."""
        return self.accounts.first.ec2

    def call_count(self) -> int:
        return sum(self.platform.calls.values()) + self.accounts.call_count()

    async def snapshot(self, previous: Snapshot | None = None) -> Snapshot:
        """Read both sides once; failed sources keep ``previous`` data, marked stale."""
        before = self.call_count()
        now = self.clock()
        sources = dict(previous.sources) if previous else {}
        errors: dict[str, Exception] = {}

        def failed(name: str, exc: Exception) -> None:
            errors[name] = exc
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
            (deployments_, vpcs_, records_, resources_), _ = await asyncio.gather(
                asyncio.gather(
                    self.platform.deployments(),
                    self.platform.deployment_vpcs(),
                    self.platform.all_peerings(),
                    self.platform.all_resources() if self.drift else _nothing(),
                ),
                # Who each account is, asked once (an account that fails is asked again).
                self.accounts.identify(),
            )
            deployments, vpcs, records = tuple(deployments_), tuple(vpcs_), tuple(records_)
            resources = tuple(resources_)
            sources[PLATFORM] = SourceState(name=PLATFORM, fetched_at=now)
        except SOURCE_ERRORS as exc:
            failed(PLATFORM, exc)

        regions = sorted({d.region for d in deployments})
        reads = [(x, r) for x in self.accounts.links for r in regions if x.account.reads(r)]
        pcxs: dict[str, tuple[AwsPeering, ...]] = {}
        diffs: dict[str, PeeringDiff] = {}
        deployment_vpcs = {v.vpc_id for v in vpcs}

        def source(link: AccountLink, region: str) -> str:
            return aws_source(region, link.name if link.account.configured else None)

        async def read_region(link: AccountLink, region: str) -> None:
            name = source(link, region)
            kept = previous.pcxs.get(name, ()) if previous else ()
            known = {p.id: p for p in kept}
            try:
                if link.error is not None:
                    raise link.error  # who it is could not be asked: its reads would fail too
                if self.drift:
                    estate = await load_region(link.ec2, region)
                    found: Sequence[AwsPeering] = estate.peerings
                else:
                    found = await link.ec2.describe_peerings(region)
            except SOURCE_ERRORS as exc:
                failed(name, exc)
                pcxs[name] = kept
                if previous:
                    old = previous.diffs
                    diffs.update({p.id: old[p.id] for p in kept if p.id in old})
                return
            mine = [
                p
                for p in found
                if p.accepter.vpc_id in deployment_vpcs
                and (link.account_id is None or p.requester.owner_id == link.account_id)
            ]
            pcxs[name] = tuple(unchanged(known, p.id, p) for p in mine)
            if self.drift:
                before = previous.diffs if previous else None
                ids = [p.id for p in mine]
                diffs.update(diff_region(estate, vpcs, resources, peering_ids=ids, previous=before))
            sources[name] = SourceState(name=name, fetched_at=now)

        await asyncio.gather(*(read_region(link, r) for link, r in reads))
        current = {source(link, r) for link, r in reads}
        for name in list(sources):
            if name.startswith("aws:") and name not in current:
                del sources[name]
        accounts = tuple(
            self._account_read(link, [r for l_, r in reads if l_ is link], sources, errors, source)
            for link in self.accounts.links
        )
        all_pcxs = [p for name in sorted(pcxs) for p in pcxs[name]]
        known_views = {v.peering_id: v for v in previous.views} if previous else {}
        views = build_views(
            deployments,
            vpcs,
            records,
            all_pcxs,
            now=now,
            drift={pcx: d.problems() for pcx, d in diffs.items()},
            accounts=accounts,
        )
        views = [unchanged(known_views, v.peering_id, v) for v in views]
        known_deployments = (
            {d.deployment.id: d for d in previous.deployment_views} if previous else {}
        )
        dep_views = [
            unchanged(known_deployments, d.deployment.id, d)
            for d in deployment_views(deployments, vpcs, views)
        ]
        known_accounts = {a.name: a for a in previous.accounts} if previous else {}
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
            accounts=tuple(unchanged(known_accounts, a.name, a) for a in accounts),
            calls=self.call_count() - before,
        )

    @staticmethod
    def _account_read(
        link: AccountLink,
        regions: Sequence[str],
        sources: dict[str, SourceState],
        errors: dict[str, Exception],
        source: Callable[[AccountLink, str], str],
    ) -> AccountRead:
        failed: dict[str, str] = {}
        first: Exception | None = link.error
        if link.error is not None:
            failed[""] = str(link.error)
        else:
            for region in regions:
                state = sources.get(source(link, region))
                if state is not None and not state.ok:
                    failed[region] = state.error or "not read"
                    first = first or errors.get(state.name)
        fix = None
        if first is not None:
            fix = link.account.fix(first if isinstance(first, AwsError) else str(first))
        return AccountRead(
            name=link.name,
            account_id=link.account_id,
            how=link.account.how(),
            configured=link.account.configured,
            regions=tuple(regions),
            failed=failed,
            fix=fix,
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
