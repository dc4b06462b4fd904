"""Platform-side logic: deployments, the operator's confirmation, acceptance and deletion.

The HTTP layer (``server.py``) only translates; every rule lives here or in ``rules.py``.
Acceptance, deletion and the reconciler's checks are background work driven from the durable
state: each replica claims due work per peering with an expiring lease (:meth:`Store.claim`),
so exactly one replica works a peering at a time, a restarted or surviving replica finishes
what a dead one left, and AWS trouble only postpones the work (retried with capped exponential
backoff, the last error shown) — only a permanent answer ends a peering in ``failed``.

Every public method takes ``scope``: the asking key's tenant, or ``None`` for the admin.
Another tenant's deployment, peering or resource is refused exactly like a missing one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import ipaddress
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar

import botocore.session

from .. import rules
from ..errors import AwsError, RuleViolation
from ..models import (
    DEFAULT_TENANT,
    AwsPeering,
    Deployment,
    DeploymentVpc,
    PlatformPeering,
    PlatformSide,
    PlatformStatus,
    Resource,
)
from ..printable import shown
from .ec2 import PlatformEc2
from .errors import (
    AWS_FAILED,
    AWS_UNREACHABLE,
    CIDR_OVERLAP,
    DEPLOYMENT_HAS_PEERINGS,
    DEPLOYMENT_NOT_FOUND,
    DEPLOYMENT_NOT_RUNNING,
    INVALID_ARGUMENT,
    PEERING_EXISTS,
    PEERING_IN_USE,
    PEERING_NOT_FAILED,
    PEERING_NOT_FOUND,
    PEERING_NOT_PENDING,
    PEERING_NOT_RUNNING,
    PEERING_NOT_VISIBLE,
    PEERING_REQUESTER_MISMATCH,
    PEERING_WRONG_ACCEPTER,
    RESOURCE_NOT_FOUND,
    PlatformError,
    from_rule,
)
from .metrics import PlatformMetrics
from .store import NEVER, DeploymentRow, PeeringExistsError, Store, now
from .tenancy import Tenancy

__all__ = ["PlatformError", "PlatformService", "RequesterCidrs"]

log = logging.getLogger("peering_core.platform")

T = TypeVar("T")

DEPLOYMENT_VERSION = "5.8.6"
RESOURCE_TYPES = (
    "kafka",
    "postgresql",
    "mysql",
    "redis",
    "mongodb",
    "http",
    "influxdb",
    "timescaledb",
    "clickhouse",
    "other",
)
# Errors worth another try: throttling and transport trouble, not a refusal.
TRANSIENT_AWS_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "Unavailable",
        "InternalError",
        "InternalFailure",
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
        "ConnectionError",
        "HTTPClientError",
        "ProxyConnectionError",
        "ResponseParserError",
    }
)
GONE_AWS_STATES = frozenset({"deleted", "deleting", "rejected", "expired", "failed"})
ERROR_LENGTH = 512


def transient(exc: AwsError) -> bool:
    """Whether AWS may answer differently later: throttling, 5xx, the network."""
    return exc.code in TRANSIENT_AWS_CODES or (exc.code.isdigit() and exc.code.startswith("5"))


def aws_unavailable(exc: AwsError, retry_after: float) -> PlatformError:
    """503 for a request that needed AWS while it failed in a way that may pass."""
    return AWS_UNREACHABLE(
        f"AWS is not answering the platform ({exc}); nothing was recorded, try again",
        retry_after=retry_after,
    )


class LeaseLost(Exception):
    """Another replica holds the peering's lease now: this one stops working it."""


# The partition of the platform's own AWS account, where every deployment VPC is made: a
# region of another partition (China, GovCloud, ISO) could never be served by it.
PLATFORM_PARTITION = "aws"


@functools.cache
def ec2_regions() -> frozenset[str]:
    """The regions of the platform's partition that botocore knows EC2 in (no network)."""
    session = botocore.session.Session()
    return frozenset(session.get_available_regions("ec2", partition_name=PLATFORM_PARTITION))


# Reads every IPv4 block of a requester VPC (region, account, VPC id) where EC2's answer
# about the pcx lacks them (moto reports only the first); see ``PlatformService``.
RequesterCidrs = Callable[[str, str, str], Awaitable[tuple[str, ...]]]

NAME_LENGTH = 64


def _name(body: dict[str, Any], field: str, default: str | None = None) -> str:
    """A name from the body (``default`` when absent), or a 400 naming the field."""
    value = body.get(field, default)
    try:
        return rules.check_name(value, field, max_length=NAME_LENGTH)
    except RuleViolation as exc:
        raise from_rule(exc) from None


def _deployment_not_found(deployment_id: str) -> PlatformError:
    return DEPLOYMENT_NOT_FOUND(f"deployment {shown(deployment_id)} does not exist")


def _split(cidr: str) -> list[str]:
    net = ipaddress.ip_network(cidr)
    if net.prefixlen >= 28:
        return [cidr]
    return [str(s) for s in net.subnets(prefixlen_diff=1)]


class PlatformService:
    """The managed cloud's control plane for deployment VPCs and their peerings."""

    def __init__(
        self,
        store: Store,
        ec2: PlatformEc2,
        *,
        reserved_cidrs: Sequence[str] = rules.DEFAULT_RESERVED_CIDRS,
        accept_delay: float = 0.0,
        retry_base: float = 0.5,
        retry_cap: float = 60.0,
        retry_attempts: int = 3,
        lease_seconds: float = 15.0,
        reconcile_seconds: float = 60.0,
        claim_seconds: float = 1.0,
        concurrency: int = 16,
        requester_cidrs: RequesterCidrs | None = None,
        replica_id: str | None = None,
        metrics: PlatformMetrics | None = None,
    ) -> None:
        """``requester_cidrs``: where EC2 reports only a pcx's first requester block (moto;
        AWS reports ``CidrBlockSet``), how to read them all (the sandbox passes one).

        Background work: a replica looks for due work every ``claim_seconds`` (and at once
        after a change of its own), works up to ``concurrency`` peerings at a time, each under
        a lease of ``lease_seconds`` it renews while working; a failed attempt is tried again
        after ``retry_base`` doubled per attempt, at most ``retry_cap``; a running peering's
        deployment side is checked every ``reconcile_seconds`` (0: never).
        """
        for block in reserved_cidrs:
            rules.parse_cidr(block, "reservedCidr")
        self.store = store
        self.tenancy = Tenancy(store)
        self.requester_cidrs = requester_cidrs
        self.ec2 = ec2
        self.reserved_cidrs = tuple(reserved_cidrs)
        self.accept_delay = accept_delay
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.retry_attempts = retry_attempts
        self.lease_seconds = lease_seconds
        self.reconcile_seconds = reconcile_seconds
        self.claim_seconds = claim_seconds
        self.concurrency = concurrency
        self.replica_id = replica_id or "r-" + secrets.token_hex(6)
        self.metrics = metrics or PlatformMetrics(self.replica_id)
        ec2.count_errors(self.metrics.aws_error)
        self.account_id = ""
        self._working: dict[str, asyncio.Task[None]] = {}
        self._lost: set[str] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._aws_problem: str | None = None
        self._probing: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and start working; AWS being unreachable does not stop the start
        (reads are served, ``/healthz`` says why it is degraded, the work waits for AWS)."""
        await self.store.open()
        self.account_id = await self.store.meta("aws_account_id") or ""
        await self._learn_account()
        self._loop = asyncio.create_task(self._work_loop(), name="platform-work")

    async def _learn_account(self) -> bool:
        """Ask AWS which account the platform is (kept in the store for starts without AWS)."""
        try:
            identity = await self.ec2.caller_identity()
        except AwsError as exc:
            self._aws_trouble(exc)
            return False
        self._aws_fine()
        if identity.account_id != self.account_id:
            self.account_id = identity.account_id
            await self.store.set_meta("aws_account_id", identity.account_id)
        return True

    async def stop(self) -> None:
        working = dict(self._working)
        tasks = [t for t in (self._loop, self._probing) if t is not None]
        tasks += list(working.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # Stopped, not dead: give the leases back, so another replica (or the next start)
        # takes the work over at once instead of when the leases run out.
        for peering_id in working:
            with contextlib.suppress(Exception):
                await self.store.hand_back(peering_id, self.replica_id)
        await self.ec2.close()
        await self.store.close()

    @property
    def view_tag(self) -> str:
        """What the answers depend on besides the store (the account id, the reserved ranges),
        short: part of every ETag, so a replica configured otherwise never answers 304."""
        seen = f"{self.account_id}|{','.join(self.reserved_cidrs)}"
        return hashlib.sha256(seen.encode()).hexdigest()[:8]

    async def metrics_exposition(self) -> tuple[bytes, str]:
        """Every figure in Prometheus's text format (and its content type); the peerings by
        state and tenant read now from the database, the same on every replica."""
        try:
            self.metrics.set_peerings(await self.store.peering_counts())
            self.metrics.store_up.set(1)
        except Exception:
            log.exception("counting peerings for /metrics failed")
            self.metrics.store_up.set(0)
        self.metrics.aws_degraded.set(0 if self._aws_problem is None else 1)
        return self.metrics.exposition()

    def health(self) -> tuple[str, str | None]:
        """``("ok", None)``, or ``("degraded", why)`` while AWS fails in a way that may pass."""
        if self._aws_problem is None:
            return "ok", None
        return "degraded", self._aws_problem

    def _aws_trouble(self, exc: AwsError) -> None:
        if not transient(exc):
            self._aws_fine()  # AWS answered: it is reachable
            return
        if self._aws_problem is None:
            log.warning("AWS is failing: %s", exc)
        self._aws_problem = f"AWS unreachable or failing: {exc}"[:ERROR_LENGTH]
        if self._probing is None or self._probing.done():
            self._probing = asyncio.create_task(self._probe_aws(), name="aws-probe")

    def _aws_fine(self) -> None:
        if self._aws_problem is not None:
            log.info("AWS answers again")
        self._aws_problem = None

    async def _probe_aws(self) -> None:
        """While AWS is failing, ask it who we are now and then, so health comes back by
        itself even when no work is due."""
        delay = self.retry_base
        while self._aws_problem is not None:
            await asyncio.sleep(delay)
            if await self._learn_account():
                self._wake.set()
            delay = min(self.retry_cap, delay * 2, 5.0)

    def wake(self) -> None:
        """Look for due work now (after a change that made some)."""
        self._wake.set()

    async def _work_loop(self) -> None:
        while True:
            self._wake.clear()
            free = self.concurrency - len(self._working)
            if free > 0:
                try:
                    claimed = await self.store.claim(
                        self.replica_id,
                        at=time.time(),
                        lease_seconds=self.lease_seconds,
                        limit=free,
                        accept_delay=self.accept_delay,
                    )
                except Exception:
                    log.exception("looking for due work failed")
                    claimed = []
                for claim in claimed:
                    record = claim.peering
                    self.metrics.claimed(record.status, expired=claim.expired)
                    self._working[record.peering_id] = asyncio.create_task(
                        self._work(record), name=f"peering-{record.peering_id}"
                    )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.claim_seconds):
                    await self._wake.wait()

    async def _work(self, record: PlatformPeering) -> None:
        """One claimed peering's due work, under a lease kept alive while it runs."""
        peering_id = record.peering_id
        task = asyncio.current_task()
        assert task is not None
        keeper = asyncio.create_task(self._keep_lease(peering_id, task))
        started, outcome = time.monotonic(), "done"
        try:
            if record.status is PlatformStatus.PENDING:
                await self._accept(record)
            elif record.status is PlatformStatus.DELETING:
                await self._delete(record)
            else:
                await self._reconcile(record)
        except asyncio.CancelledError:
            outcome = "lost" if peering_id in self._lost else "stopped"
            if peering_id not in self._lost:
                raise
            log.warning("lease on %s lost: another replica works it now", peering_id)
        except LeaseLost:
            outcome = "lost"
            self.metrics.lost.inc()
            log.warning("lease on %s lost: another replica works it now", peering_id)
        except AwsError as exc:
            outcome = "retry"
            self._aws_trouble(exc)
            await self._retry_later(record, f"{exc.operation}: {exc.code}: {exc.message}")
        except Exception as exc:
            outcome = "retry"
            log.exception("work on %s failed", peering_id)
            await self._retry_later(record, f"{type(exc).__name__}: {exc}")
        finally:
            self.metrics.worked(record.status, outcome, time.monotonic() - started)
            keeper.cancel()
            self._lost.discard(peering_id)
            self._working.pop(peering_id, None)
            self._wake.set()

    async def _keep_lease(self, peering_id: str, work: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            until = time.time() + self.lease_seconds
            try:
                held = await self.store.renew(peering_id, self.replica_id, until)
            except Exception:
                log.exception("renewing the lease on %s failed", peering_id)
                continue
            if not held:
                self.metrics.lost.inc()
                self._lost.add(peering_id)
                work.cancel()
                return

    def _backoff(self, attempts: int) -> float:
        return float(min(self.retry_cap, self.retry_base * 2 ** min(attempts, 30)))

    async def _retry_later(self, record: PlatformPeering, error: str) -> None:
        due = time.time() + self._backoff(record.attempts)
        try:
            if record.status is PlatformStatus.RUNNING:
                # The reconciler's check failed: it is only postponed, nothing to show.
                await self.store.release(
                    record.peering_id, self.replica_id, status=record.status, due_at=due
                )
                return
            log.info("%s: %s; trying again in %.1f s", record.peering_id, error, due - time.time())
            await self.store.retry_later(
                record.peering_id,
                self.replica_id,
                status=record.status,
                error=error[:ERROR_LENGTH],
                due_at=due,
            )
        except Exception:
            # The lease runs out by itself and another attempt follows.
            log.exception("recording the failed attempt on %s failed", record.peering_id)

    async def _call_retried(self, what: Callable[[], Awaitable[T]]) -> T:
        """An AWS call on a request's path, retried a few times if it may pass."""
        for attempt in range(self.retry_attempts):
            try:
                result = await what()
            except AwsError as exc:
                self._aws_trouble(exc)
                if not transient(exc) or attempt == self.retry_attempts - 1:
                    raise
                await asyncio.sleep(self.retry_base * 2**attempt)
                continue
            self._aws_fine()
            return result
        raise AssertionError("unreachable")

    # --- deployments ---------------------------------------------------------------------

    async def create_deployment(self, body: dict[str, Any], *, scope: str | None) -> Deployment:
        """Create a deployment and its VPC (two subnets, a route table) in the platform account,
        in the asking key's tenant (the admin names ``tenantId``, else ``default``). Every value
        is checked before the first AWS call; a failure after it removes what was made."""
        name = _name(body, "deploymentName")
        project = _name(body, "projectName", "default")
        try:
            region = rules.check_region(body.get("region"))
            cidr = str(rules.check_vpc_cidr(body.get("cidr")))
        except RuleViolation as exc:
            raise from_rule(exc) from None
        if region not in ec2_regions():
            raise INVALID_ARGUMENT(
                f"region {region!r} is not an AWS region with EC2 in the platform's partition",
            )
        given = body.get("tenantId", scope or DEFAULT_TENANT)
        tenant = await self.tenancy.tenant(given, scope=scope)
        deployment_id = "d" + secrets.token_hex(4)[:7]
        tags = {"Name": f"deployment-{name}", "platform:deployment": deployment_id}
        made = _MadeVpc(region)
        try:
            made.vpc_id = await self.ec2.create_vpc(region, cidr, tags)
            rtb = await self.ec2.create_route_table(region, made.vpc_id, tags)
            made.route_table_ids.append(rtb)
            for i, block in enumerate(_split(cidr)):
                subnet = await self.ec2.create_subnet(
                    region, made.vpc_id, block, {"Name": f"deployment-{name}-{i}"}
                )
                made.subnet_ids.append(subnet)
                await self.ec2.associate_route_table(region, rtb, subnet)
            deployment = Deployment(
                id=deployment_id,
                name=name,
                region=region,
                status="running",
                version=DEPLOYMENT_VERSION,
                create_at=now(),
                project_name=project,
                tenant_id=tenant.id,
            )
            await self.store.add_deployment(DeploymentRow(deployment, cidr, made.vpc_id, (rtb,)))
        except BaseException as exc:
            await asyncio.shield(self._roll_back(made))
            if isinstance(exc, AwsError):
                raise AWS_FAILED(
                    f"could not build the deployment's VPC in {region} (nothing was left "
                    f"behind): {exc.code}: {exc.message}",
                ) from None
            raise
        return deployment

    async def _roll_back(self, made: _MadeVpc) -> None:
        """Remove what a failed creation made (each step retried; what is gone is skipped)."""
        if made.vpc_id is None:
            return
        try:
            await self._remove_vpc(made.region, made.vpc_id, made.route_table_ids, made.subnet_ids)
        except AwsError as exc:
            log.error("could not roll back %s in %s: %s", made.vpc_id, made.region, exc)

    async def _remove_vpc(
        self,
        region: str,
        vpc_id: str,
        route_table_ids: Sequence[str],
        subnet_ids: Sequence[str] | None = None,
    ) -> None:
        """Delete a deployment VPC: its route tables' associations, its subnets, its route
        tables, then the VPC; each retried, and one that is already gone skipped."""
        if subnet_ids is None:
            subnets = await self._call_retried(
                lambda: self.ec2.describe_subnets(region, vpc_ids=[vpc_id])
            )
            subnet_ids = [s.id for s in subnets]
        ec2 = self.ec2
        for table in route_table_ids:
            await self._gone_or_retried(
                functools.partial(ec2.disassociate_route_table, region, table)
            )
        for subnet in subnet_ids:
            await self._gone_or_retried(functools.partial(ec2.delete_subnet, region, subnet))
        for table in route_table_ids:
            await self._gone_or_retried(functools.partial(ec2.delete_route_table, region, table))
        await self._gone_or_retried(functools.partial(ec2.delete_vpc, region, vpc_id))

    async def _gone_or_retried(self, what: Callable[[], Awaitable[None]]) -> None:
        try:
            await self._call_retried(what)
        except AwsError as exc:
            if not exc.not_found:
                raise

    async def delete_deployment(self, deployment_id: str, *, scope: str | None) -> None:
        """Remove a deployment with no peerings left: its VPC on AWS, then its record (and its
        resources). A delete that stopped part-way continues when asked again."""
        async with self.store.transaction() as tx:
            # The row stays locked until the status is written: a confirmation on any replica
            # waits, then finds the deployment deleting.
            row = await self._deployment_row(deployment_id, scope, tx)
            left = await tx.peerings(deployment_id)
            if left:
                names = ", ".join(p.peering_id for p in left)
                raise DEPLOYMENT_HAS_PEERINGS(
                    f"deployment {deployment_id} still has peerings: {names}; delete them first",
                )
            await tx.set_deployment_status(row, "deleting")
        try:
            await self._remove_vpc(row.deployment.region, row.vpc_id, row.route_table_ids)
        except AwsError as exc:
            raise AWS_FAILED(
                f"deleting the VPC {row.vpc_id} of deployment {deployment_id} stopped: "
                f"{exc.code}: {exc.message}; delete the deployment again to continue",
            ) from None
        await self.store.remove_deployment(row)

    async def deployments(self, *, scope: str | None) -> list[Deployment]:
        return [row.deployment for row in await self.store.deployments(scope)]

    async def _deployment_row(
        self, deployment_id: str, scope: str | None, tx: Store | None = None
    ) -> DeploymentRow:
        """The deployment, or 404: one of another tenant answers like one that does not exist.
        In a transaction ``tx``, its row stays locked until the transaction ends."""
        if tx is not None:
            row = await tx.deployment(deployment_id, scope, lock=True)
        else:
            row = await self.store.deployment(deployment_id, scope)
        if row is None:
            raise _deployment_not_found(deployment_id)
        return row

    async def deployment(self, deployment_id: str, *, scope: str | None) -> Deployment:
        return (await self._deployment_row(deployment_id, scope)).deployment

    async def set_deployment_running(
        self, deployment_id: str, running: bool, *, scope: str | None
    ) -> Deployment:
        """Stop or start a deployment (a stopped deployment takes no new peerings)."""
        async with self.store.transaction() as tx:
            row = await self._deployment_row(deployment_id, scope, tx)
            if row.deployment.status == "deleting":
                raise DEPLOYMENT_NOT_RUNNING(f"deployment {deployment_id} is being deleted")
            await tx.set_deployment_status(row, "running" if running else "stopped")
        return await self.deployment(deployment_id, scope=scope)

    async def deployment_vpcs(self, *, scope: str | None) -> list[DeploymentVpc]:
        """Every deployment's VPC info in one answer (what a poller needs to join both sides)."""
        return [self._vpc(row) for row in await self.store.deployments(scope)]

    async def deployment_vpc(self, deployment_id: str, *, scope: str | None) -> DeploymentVpc:
        return self._vpc(await self._deployment_row(deployment_id, scope))

    def _vpc(self, row: DeploymentRow) -> DeploymentVpc:
        deployment_id = row.deployment.id
        return DeploymentVpc(
            deployment_id=deployment_id,
            region=row.deployment.region,
            vpc_id=row.vpc_id,
            cidr=row.cidr,
            account_id=self.account_id,
            reserved_cidrs=self.reserved_cidrs,
            route_table_ids=row.route_table_ids,
        )

    # --- peerings ------------------------------------------------------------------------

    async def peerings(
        self, deployment_id: str | None = None, *, scope: str | None
    ) -> list[PlatformPeering]:
        if deployment_id is not None:
            await self._deployment_row(deployment_id, scope)
        return await self.store.peerings(deployment_id, tenant_id=scope)

    async def peering(
        self, deployment_id: str, peering_id: str, *, scope: str | None, tx: Store | None = None
    ) -> PlatformPeering:
        store = tx or self.store
        if await store.deployment(deployment_id, scope) is None:
            raise _deployment_not_found(deployment_id)
        record = await store.peering(peering_id)
        if record is None or record.deployment_id != deployment_id:
            raise _peering_not_found(deployment_id, peering_id)
        return record

    async def confirm_peering(
        self, deployment_id: str, body: dict[str, Any], *, scope: str | None
    ) -> tuple[PlatformPeering, bool]:
        """Step 4: check the operator's pcx and record it ``pending``; accept in the background.

        Returns the record and whether it was created now (``False`` for an identical repeat,
        on this replica or another). While AWS cannot be asked, 503 and nothing is recorded.
        """
        try:
            peering_id = rules.check_peering_id(body.get("peeringId"))
            account_id = rules.check_account_id(body.get("accountId"))
            vpc_id = rules.check_vpc_id(body.get("vpcId"))
        except RuleViolation as exc:
            raise from_rule(exc) from None
        row = await self._deployment_row(deployment_id, scope)
        self._check_running(row)
        existing = await self.store.peering(peering_id)
        if existing is not None:
            return _same_or_refused(existing, row, account_id, vpc_id), False
        region = row.deployment.region
        try:
            pcx = await self.ec2.describe_peering(region, peering_id)
            self._aws_fine()
        except AwsError as exc:
            self._aws_trouble(exc)
            if transient(exc):
                raise aws_unavailable(exc, self.retry_base * 4) from None
            raise
        if pcx is None:
            raise PEERING_NOT_VISIBLE(
                f"peering {peering_id} is not visible to the platform account "
                f"{self.account_id} in {region}",
            )
        if pcx.accepter.vpc_id != row.vpc_id:
            raise await self._wrong_accepter(peering_id, pcx, row)
        if pcx.requester.owner_id != account_id or pcx.requester.vpc_id != vpc_id:
            raise PEERING_REQUESTER_MISMATCH(
                f"peering {peering_id} was requested by account {pcx.requester.owner_id} "
                f"VPC {pcx.requester.vpc_id}, not account {account_id} VPC {vpc_id}",
            )
        try:
            rules.check_same_region(region, pcx.requester.region or region)
        except RuleViolation as exc:
            raise from_rule(exc) from None
        if pcx.status != "pending-acceptance":
            raise PEERING_NOT_PENDING(
                f"peering {peering_id} is {pcx.status} on AWS, not pending-acceptance",
            )
        try:
            requester_cidrs = await self._requester_cidrs(pcx)
        except AwsError as exc:
            if transient(exc):
                raise aws_unavailable(exc, self.retry_base * 4) from None
            raise
        if not requester_cidrs:
            raise PEERING_NOT_VISIBLE(f"peering {peering_id} shows no requester CIDR")
        try:
            record, created = await self._record_confirmation(
                row, peering_id, account_id, vpc_id, requester_cidrs
            )
        except PeeringExistsError:
            # Recorded meanwhile, for another deployment, by a replica holding its lock.
            existing = await self.store.peering(peering_id)
            if existing is None:
                raise
            return _same_or_refused(existing, row, account_id, vpc_id), False
        if created:
            self.wake()
        return record, created

    async def check_peering(
        self, deployment_id: str, body: dict[str, Any], *, scope: str | None
    ) -> dict[str, Any]:
        """The pre-flight check: the rules a confirmation of the requester VPC would meet
        (the deployment running, one region, reserved and overlapping blocks, the deployment's
        own route tables), run before any pcx exists, and nothing stored. Refuses exactly as
        the confirm (or the acceptance) would."""
        try:
            account_id = rules.check_account_id(body.get("accountId"))
            vpc_id = rules.check_vpc_id(body.get("vpcId"))
            region = rules.check_region(body.get("region"))
            given = body.get("cidrs")
            if not isinstance(given, list) or not given:
                raise RuleViolation(
                    "INVALID_ARGUMENT", "cidrs: give the VPC's IPv4 blocks", "cidrs"
                )
            # A VPC's blocks, as AWS allows them (/16 to /28): what the document says too.
            blocks = tuple(str(rules.check_vpc_cidr(c, "cidrs")) for c in given)
        except RuleViolation as exc:
            raise from_rule(exc) from None
        row = await self._deployment_row(deployment_id, scope)
        self._check_running(row)
        try:
            rules.check_same_region(row.deployment.region, region)
        except RuleViolation as exc:
            raise from_rule(exc) from None
        peerings = await self.store.peerings(deployment_id)
        # The VPC's own peerings are skipped: re-running a create is not refused by its pcx.
        own = {p.peering_id for p in peerings if p.vpc_id == vpc_id and p.account_id == account_id}
        self._check_peer_blocks(row, blocks, [p for p in peerings if p.peering_id not in own])
        try:
            conflict = await self._route_conflict(row, blocks, own)
        except AwsError as exc:
            if transient(exc):
                raise aws_unavailable(exc, self.retry_base * 4) from None
            raise
        if conflict:
            raise CIDR_OVERLAP(conflict)
        return {"deploymentID": deployment_id, "vpcId": vpc_id, "cidrs": list(blocks), "ok": True}

    def _check_peer_blocks(
        self, row: DeploymentRow, blocks: Sequence[str], peerings: Sequence[PlatformPeering]
    ) -> None:
        """Refuse (422) a requester block that is reserved, overlaps the deployment or
        overlaps a block of one of ``peerings`` that has not failed."""
        others = [
            (p.peering_id, block)
            for p in peerings
            if p.status is not PlatformStatus.FAILED
            for block in p.requester_cidrs
        ]
        try:
            for block in blocks:
                rules.check_peer_cidr(
                    block,
                    deployment_cidr=row.cidr,
                    reserved=self.reserved_cidrs,
                    other_peerings=others,
                )
        except RuleViolation as exc:
            raise from_rule(exc) from None

    def _check_running(self, row: DeploymentRow) -> None:
        if row.deployment.status != "running":
            raise DEPLOYMENT_NOT_RUNNING(
                f"deployment {row.deployment.id} is {row.deployment.status}, not running",
            )

    async def _record_confirmation(
        self,
        row: DeploymentRow,
        peering_id: str,
        account_id: str,
        vpc_id: str,
        requester_cidrs: tuple[str, ...],
    ) -> tuple[PlatformPeering, bool]:
        """Record the peering ``pending``, with the deployment's row locked: confirmations of
        one deployment take turns on every replica, so two overlapping peers cannot both pass
        the overlap check, and one pcx confirmed twice at once is recorded once."""
        deployment_id = row.deployment.id
        async with self.store.transaction() as tx:
            # Read again under the lock: a stop or a delete may have won the race.
            row = await self._deployment_row(deployment_id, row.deployment.tenant_id, tx)
            self._check_running(row)
            existing = await tx.peering(peering_id)
            if existing is not None:
                return _same_or_refused(existing, row, account_id, vpc_id), False
            self._check_peer_blocks(row, requester_cidrs, await tx.peerings(deployment_id))
            stamp = now()
            record = PlatformPeering(
                peering_id=peering_id,
                deployment_id=deployment_id,
                account_id=account_id,
                vpc_id=vpc_id,
                cidr=requester_cidrs[0],
                cidrs=requester_cidrs,
                region=row.deployment.region,
                status=PlatformStatus.PENDING,
                create_at=stamp,
                update_at=stamp,
                tenant_id=row.tenant_id,
            )
            await tx.add_peering(record, due_at=time.time())
        return record, True

    async def _wrong_accepter(
        self, peering_id: str, pcx: AwsPeering, row: DeploymentRow
    ) -> PlatformError:
        """422 for a pcx addressed elsewhere; the VPC it is addressed to is named only when it
        is one of the same tenant's deployments (else it may be another tenant's)."""
        target = pcx.accepter.vpc_id
        ours = [d for d in await self.store.deployments(row.tenant_id) if d.vpc_id == target]
        where = f"{target} (deployment {ours[0].deployment.id})" if ours else "another VPC"
        return PEERING_WRONG_ACCEPTER(
            f"peering {peering_id} is addressed to {where}, not to this deployment's VPC "
            f"{row.vpc_id}",
        )

    async def _requester_cidrs(self, pcx: AwsPeering) -> tuple[str, ...]:
        """Every IPv4 block of the pcx's requester VPC, the first as EC2 lists it first."""
        blocks = pcx.requester.cidrs or ((pcx.requester.cidr,) if pcx.requester.cidr else ())
        if self.requester_cidrs is None or not blocks:
            return blocks
        side, read = pcx.requester, self.requester_cidrs
        more = await self._call_retried(lambda: read(side.region, side.owner_id, side.vpc_id))
        return tuple(dict.fromkeys((*blocks, *more)))

    # --- background work: accept, delete, reconcile ---------------------------------------

    async def _fail(self, record: PlatformPeering, reason: str, *, step: str) -> None:
        """A permanent answer: ``failed`` with the reason; a retry re-runs ``step``."""
        log.warning("peering %s failed: %s", record.peering_id, reason)
        moved = await self.store.set_peering_status(
            record.peering_id,
            PlatformStatus.FAILED,
            reason,
            expect=record.status,
            owner=self.replica_id,
            due_at=NEVER,
            failed_step=step,
        )
        if not moved:
            raise LeaseLost(record.peering_id)
        self.metrics.failed.labels(step).inc()

    async def _deployment_of(self, record: PlatformPeering) -> DeploymentRow:
        row = await self.store.deployment(record.deployment_id)
        if row is None:  # the deployment is deleted only once it has no peering: not reached
            raise RuntimeError(f"deployment {record.deployment_id} is gone")
        return row

    async def _accept(self, record: PlatformPeering) -> None:
        """Accept the pcx with the platform's account and route the peer's blocks via it."""
        peering_id = record.peering_id
        row = await self._deployment_of(record)
        region = row.deployment.region
        pcx = await self.ec2.describe_peering(region, peering_id)
        self._aws_fine()
        if pcx is None or pcx.status in GONE_AWS_STATES:
            state = pcx.status if pcx else "not visible"
            await self._fail(record, f"peering {peering_id} is {state} on AWS", step="accept")
            return
        state = pcx.status
        if state == "pending-acceptance":
            conflict = await self._route_conflict(row, record.requester_cidrs, {record.peering_id})
            if conflict:
                with contextlib.suppress(AwsError):
                    await self.ec2.reject_peering(region, peering_id)
                with contextlib.suppress(AwsError):
                    await self._remove_routes(row, peering_id)
                await self._fail(record, conflict, step="accept")
                return
            state = await self.ec2.accept_peering(region, peering_id)
        await self._add_routes(row, record)
        moved = await self.store.set_peering_status(
            peering_id,
            PlatformStatus.RUNNING,
            expect=PlatformStatus.PENDING,
            owner=self.replica_id,
            due_at=self._next_check(),
            platform_side=PlatformSide(pcx_state=state, routes="ok"),
        )
        if not moved:
            raise LeaseLost(peering_id)
        self.metrics.accepted.observe(max(0.0, time.time() - record.create_at.timestamp()))
        log.info("peering %s running", peering_id)

    def _next_check(self) -> float:
        if self.reconcile_seconds <= 0:
            return NEVER
        return time.time() + self.reconcile_seconds

    async def _route_conflict(
        self, row: DeploymentRow, blocks: Sequence[str], own: Collection[str]
    ) -> str | None:
        """Why the deployment's route tables cannot route the peer's ``blocks`` via its pcx, if
        so (routes via the peer's ``own`` pcxs do not count)."""
        tables = await self.ec2.describe_route_tables(
            row.deployment.region, route_table_ids=row.route_table_ids
        )
        for table in tables:
            for route in table.routes:
                if route.target_id in own or route.target_kind == "local":
                    continue
                for block in blocks:
                    if rules.overlaps(route.destination, block):
                        return (
                            f"CIDR overlap: deployment route table {table.id} already routes "
                            f"{route.destination} to {route.target_id}, which overlaps the "
                            f"peer CIDR {block}"
                        )
        return None

    async def _add_routes(self, row: DeploymentRow, record: PlatformPeering) -> list[str]:
        """A route to each of the peer's blocks via the pcx, in every deployment route table
        that lacks one; ``table:block`` of each made. One routed elsewhere is left alone (and
        is what the reconciler reports as missing)."""
        region = row.deployment.region
        tables = await self.ec2.describe_route_tables(region, route_table_ids=row.route_table_ids)
        made = []
        for table in tables:
            for block in record.requester_cidrs:
                if table.route_to(block) is not None:
                    continue  # ours from an earlier, interrupted run, or another's
                await self.ec2.create_route(region, table.id, block, record.peering_id)
                made.append(f"{table.id}:{block}")
        return made

    async def _remove_routes(self, row: DeploymentRow, peering_id: str) -> None:
        region = row.deployment.region
        tables = await self.ec2.describe_route_tables(region, route_table_ids=row.route_table_ids)
        for table in tables:
            for route in table.routes:
                if route.target_id != peering_id:
                    continue
                try:
                    await self.ec2.delete_route(region, table.id, route.destination)
                except AwsError as exc:
                    if not exc.not_found:
                        raise

    async def _delete(self, record: PlatformPeering) -> None:
        """Remove the routes via the pcx and the pcx itself (whatever of them exists), then
        the record."""
        peering_id = record.peering_id
        row = await self._deployment_of(record)
        region = row.deployment.region
        await self._remove_routes(row, peering_id)
        pcx = await self.ec2.describe_peering(region, peering_id)
        self._aws_fine()
        try:
            if pcx is not None and pcx.status == "pending-acceptance":
                await self.ec2.reject_peering(region, peering_id)  # the accepter's way out
            elif pcx is not None and pcx.status not in GONE_AWS_STATES:
                await self.ec2.delete_peering(region, peering_id)
        except AwsError as exc:
            if not exc.not_found:
                raise
        if not await self.store.remove_peering(peering_id, owner=self.replica_id):
            raise LeaseLost(peering_id)
        log.info("peering %s deleted", peering_id)

    async def _reconcile(self, record: PlatformPeering) -> None:
        """Check a running peering's deployment side: its pcx still active, every reverse
        route in place (a missing one is restored and counted)."""
        peering_id = record.peering_id
        row = await self._deployment_of(record)
        pcx = await self.ec2.describe_peering(row.deployment.region, peering_id)
        self._aws_fine()
        if pcx is None or pcx.status in GONE_AWS_STATES:
            state = pcx.status if pcx else "gone"
            self.metrics.reconciled("gone", 0)
            await self._fail(
                record,
                f"pcx {peering_id} is {state} on AWS: it was deleted or rejected outside the "
                "platform",
                step="accept",
            )
            return
        region = row.deployment.region
        tables = await self.ec2.describe_route_tables(region, route_table_ids=row.route_table_ids)
        repaired, missing = 0, []
        for table in tables:
            for block in record.requester_cidrs:
                route = table.route_to(block)
                if route is None:
                    log.warning("restoring %s's route to %s in %s", peering_id, block, table.id)
                    await self.ec2.create_route(region, table.id, block, peering_id)
                    repaired += 1
                elif route.target_id != peering_id:
                    missing.append(f"{table.id}:{block} (routed to {route.target_id})")
        before = record.platform_side or PlatformSide()
        side = PlatformSide(
            pcx_state=pcx.status,
            routes="missing" if missing else "repaired" if repaired else "ok",
            routes_repaired=before.routes_repaired + repaired,
            missing_routes=tuple(missing),
        )
        await self.store.set_platform_side(peering_id, self.replica_id, side)
        self.metrics.reconciled(side.routes, repaired)
        await self.store.release(
            peering_id, self.replica_id, status=PlatformStatus.RUNNING, due_at=self._next_check()
        )

    # --- the operator's changes to a peering --------------------------------------------

    @contextlib.asynccontextmanager
    async def _changing(
        self, deployment_id: str, peering_id: str, scope: str | None
    ) -> AsyncIterator[tuple[Store, PlatformPeering]]:
        """A transaction holding the deployment's row, and the peering's record read in it
        (400 for a malformed id, 404 for an unknown or another tenant's)."""
        try:
            rules.check_peering_id(peering_id)
        except RuleViolation as exc:
            raise from_rule(exc) from None
        await self._deployment_row(deployment_id, scope)
        async with self.store.transaction() as tx:
            await self._deployment_row(deployment_id, scope, tx)
            yield tx, await self.peering(deployment_id, peering_id, scope=scope, tx=tx)

    async def delete_peering(
        self, deployment_id: str, peering_id: str, *, scope: str | None
    ) -> PlatformPeering:
        """Guarded delete: only ``running`` or ``failed``, and only when no resource sits in
        the peer's blocks. Whatever of it exists on AWS is removed in the background."""
        async with self._changing(deployment_id, peering_id, scope) as (tx, record):
            if record.status not in (PlatformStatus.RUNNING, PlatformStatus.FAILED):
                raise PEERING_NOT_RUNNING(
                    f"peering {peering_id} is {record.status.value}; only a running or failed "
                    "peering can be deleted",
                )
            dependents = [
                r
                for r in await tx.resources(deployment_id)
                if any(rules.contains_ip(block, r.host) for block in record.requester_cidrs)
            ]
            if dependents:
                names = ", ".join(f"{r.name} ({r.host}:{r.port})" for r in dependents)
                blocks = ", ".join(record.requester_cidrs)
                raise PEERING_IN_USE(
                    f"peering {peering_id} is used by resources inside {blocks}: {names}; "
                    "delete them first",
                    details=[r.model_dump(mode="json") for r in dependents],
                )
            await tx.set_peering_status(
                peering_id,
                PlatformStatus.DELETING,
                record.reason if record.status is PlatformStatus.FAILED else None,
                expect=record.status,
                due_at=time.time(),
                failed_step="delete",
            )
        self.wake()
        return await self.peering(deployment_id, peering_id, scope=scope)

    async def retry_peering(
        self, deployment_id: str, peering_id: str, *, scope: str | None
    ) -> PlatformPeering:
        """Run a ``failed`` peering's last step again: acceptance (back to ``pending``) or
        deletion (back to ``deleting``)."""
        async with self._changing(deployment_id, peering_id, scope) as (tx, record):
            if record.status is not PlatformStatus.FAILED:
                raise PEERING_NOT_FAILED(
                    f"peering {peering_id} is {record.status.value}; only a failed peering "
                    "can be retried",
                )
            step = await tx.failed_step(peering_id)
            status = PlatformStatus.DELETING if step == "delete" else PlatformStatus.PENDING
            await tx.set_peering_status(
                peering_id,
                status,
                expect=PlatformStatus.FAILED,
                due_at=time.time(),
                failed_step=step,
            )
        self.wake()
        return await self.peering(deployment_id, peering_id, scope=scope)

    # --- resources -----------------------------------------------------------------------

    async def all_resources(self, *, scope: str | None) -> list[Resource]:
        """Every deployment's resources in one answer (for drift checks across the fleet)."""
        return await self.store.resources(None, scope)

    async def resources(self, deployment_id: str, *, scope: str | None) -> list[Resource]:
        await self._deployment_row(deployment_id, scope)
        return await self.store.resources(deployment_id)

    async def create_resource(
        self, deployment_id: str, body: dict[str, Any], *, scope: str | None
    ) -> Resource:
        name = _name(body, "name")
        kind = body.get("type")
        if kind not in RESOURCE_TYPES:
            raise INVALID_ARGUMENT(
                f"type {shown(kind)} is not one of {', '.join(RESOURCE_TYPES)}",
            )
        try:
            host = rules.check_host(body.get("host"))
        except RuleViolation as exc:
            raise from_rule(exc) from None
        port = body.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise INVALID_ARGUMENT(f"port {shown(port)} is not in 1-65535")
        row = await self._deployment_row(deployment_id, scope)
        resource = Resource(
            id="r" + secrets.token_hex(4)[:7],
            deployment_id=deployment_id,
            name=name,
            type=kind,
            host=host,
            port=port,
            create_at=now(),
            tenant_id=row.tenant_id,
        )
        await self.store.add_resource(resource)
        return resource

    async def delete_resource(
        self, deployment_id: str, resource_id: str, *, scope: str | None
    ) -> None:
        row = await self._deployment_row(deployment_id, scope)
        if not await self.store.remove_resource(row, resource_id):
            raise RESOURCE_NOT_FOUND(
                f"resource {shown(resource_id)} does not exist on deployment {deployment_id}",
            )


class _MadeVpc:
    """What a deployment's creation has made on AWS so far (what a rollback removes)."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.vpc_id: str | None = None
        self.route_table_ids: list[str] = []
        self.subnet_ids: list[str] = []


def _peering_not_found(deployment_id: str, peering_id: str) -> PlatformError:
    return PEERING_NOT_FOUND(
        f"peering {shown(peering_id)} is not recorded for deployment {shown(deployment_id)}",
    )


def _same_or_refused(
    existing: PlatformPeering, row: DeploymentRow, account_id: str, vpc_id: str
) -> PlatformPeering:
    """An identical repeat of a confirmation gets the record; any other, 409."""
    if (
        existing.deployment_id == row.deployment.id
        and existing.account_id == account_id
        and existing.vpc_id == vpc_id
    ):
        return existing
    raise _recorded_elsewhere(existing.peering_id, existing, row)


def _recorded_elsewhere(
    peering_id: str, existing: PlatformPeering, row: DeploymentRow
) -> PlatformError:
    """409 for a pcx recorded with other values; the record is named only to its own tenant."""
    if existing.tenant_id != row.tenant_id:
        return PEERING_EXISTS(f"peering {peering_id} is already recorded")
    return PEERING_EXISTS(
        f"peering {peering_id} is already recorded for deployment {existing.deployment_id} "
        f"with account {existing.account_id} and VPC {existing.vpc_id}",
    )
