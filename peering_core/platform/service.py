"""Platform-side logic: deployments, the operator's confirmation, acceptance and deletion.

The HTTP layer (``server.py``) only translates; every rule lives here or in ``rules.py``.
Acceptance and deletion run as background tasks that are driven from the durable state, so a
restarted platform finishes whatever the previous process left in ``pending`` or ``deleting``.

Every public method takes ``scope``: the asking key's tenant, or ``None`` for the admin.
Another tenant's deployment, peering or resource is refused exactly like a missing one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
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
    PlatformStatus,
    Resource,
)
from ..printable import shown
from .ec2 import PlatformEc2
from .errors import PlatformError, from_rule
from .store import DeploymentRow, PeeringExistsError, Store, now
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
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*"
    r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
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
    }
)
GONE_AWS_STATES = frozenset({"deleted", "deleting", "rejected", "expired", "failed"})


@functools.cache
def ec2_regions() -> frozenset[str]:
    """Every region botocore knows EC2 in, across partitions (no network)."""
    session = botocore.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    )


# Reads every IPv4 block of a requester VPC (region, account, VPC id) where EC2's answer
# about the pcx lacks them (moto reports only the first); see ``PlatformService``.
RequesterCidrs = Callable[[str, str, str], Awaitable[tuple[str, ...]]]

NAME_LENGTH = 64
HOST_LENGTH = 253


def _name(body: dict[str, Any], field: str, default: str | None = None) -> str:
    """A name from the body (``default`` when absent), or a 400 naming the field."""
    value = body.get(field, default)
    try:
        return rules.check_name(value, field, max_length=NAME_LENGTH)
    except RuleViolation as exc:
        raise from_rule(exc) from None


def _deployment_not_found(deployment_id: str) -> PlatformError:
    return PlatformError(
        404, "DEPLOYMENT_NOT_FOUND", f"deployment {shown(deployment_id)} does not exist"
    )


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
        retry_attempts: int = 5,
        requester_cidrs: RequesterCidrs | None = None,
    ) -> None:
        """``requester_cidrs``: where EC2 reports only a pcx's first requester block (moto;
        AWS reports ``CidrBlockSet``), how to read them all (the sandbox passes one)."""
        for block in reserved_cidrs:
            rules.parse_cidr(block, "reservedCidr")
        self.store = store
        self.tenancy = Tenancy(store)
        self.requester_cidrs = requester_cidrs
        self.ec2 = ec2
        self.reserved_cidrs = tuple(reserved_cidrs)
        self.accept_delay = accept_delay
        self.retry_base = retry_base
        self.retry_attempts = retry_attempts
        self.account_id = ""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, learn the platform's AWS account, finish what a previous run left."""
        await self.store.open()
        identity = await self.ec2.caller_identity()
        self.account_id = identity.account_id
        for peering in await self.store.peerings(
            statuses=[PlatformStatus.PENDING, PlatformStatus.DELETING]
        ):
            log.info("resuming %s from %s", peering.peering_id, peering.status.value)
            if peering.status is PlatformStatus.PENDING:
                self._spawn(peering.peering_id, self._accept(peering.peering_id))
            else:
                self._spawn(peering.peering_id, self._delete(peering.peering_id))

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.ec2.close()
        await self.store.close()

    async def wait_idle(self) -> None:
        """Wait until no acceptance or deletion is in flight."""
        await self._idle.wait()

    def _spawn(self, peering_id: str, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background work on %s failed", peering_id)
            finally:
                self._tasks.pop(peering_id, None)
                if not self._tasks:
                    self._idle.set()

        self._idle.clear()
        self._tasks[peering_id] = asyncio.create_task(run(), name=f"peering-{peering_id}")

    def _lock(self, deployment_id: str) -> asyncio.Lock:
        return self._locks.setdefault(deployment_id, asyncio.Lock())

    async def _retrying(self, what: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.retry_attempts):
            try:
                return await what()
            except AwsError as exc:
                if exc.code not in TRANSIENT_AWS_CODES or attempt == self.retry_attempts - 1:
                    raise
                await asyncio.sleep(self.retry_base * 2**attempt)
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
            raise PlatformError(
                400, "INVALID_ARGUMENT", f"region {region!r} is not an AWS region with EC2"
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
                raise PlatformError(
                    502,
                    "AWS_UNAVAILABLE",
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
            subnets = await self._retrying(
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
            await self._retrying(what)
        except AwsError as exc:
            if not exc.not_found:
                raise

    async def delete_deployment(self, deployment_id: str, *, scope: str | None) -> None:
        """Remove a deployment with no peerings left: its VPC on AWS, then its record (and its
        resources). A delete that stopped part-way continues when asked again."""
        async with self._lock(deployment_id):
            row = await self._deployment_row(deployment_id, scope)
            left = await self.store.peerings(deployment_id)
            if left:
                names = ", ".join(p.peering_id for p in left)
                raise PlatformError(
                    409,
                    "DEPLOYMENT_HAS_PEERINGS",
                    f"deployment {deployment_id} still has peerings: {names}; delete them first",
                )
            await self.store.set_deployment_status(row, "deleting")
            try:
                await self._remove_vpc(row.deployment.region, row.vpc_id, row.route_table_ids)
            except AwsError as exc:
                raise PlatformError(
                    502,
                    "AWS_UNAVAILABLE",
                    f"deleting the VPC {row.vpc_id} of deployment {deployment_id} stopped: "
                    f"{exc.code}: {exc.message}; delete the deployment again to continue",
                ) from None
            await self.store.remove_deployment(row)

    async def deployments(self, *, scope: str | None) -> list[Deployment]:
        return [row.deployment for row in await self.store.deployments(scope)]

    async def _deployment_row(self, deployment_id: str, scope: str | None) -> DeploymentRow:
        """The deployment, or 404: one of another tenant answers like one that does not exist."""
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
        async with self._lock(deployment_id):
            row = await self._deployment_row(deployment_id, scope)
            if row.deployment.status == "deleting":
                raise PlatformError(
                    409, "DEPLOYMENT_NOT_RUNNING", f"deployment {deployment_id} is being deleted"
                )
            await self.store.set_deployment_status(row, "running" if running else "stopped")
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
        self, deployment_id: str, peering_id: str, *, scope: str | None
    ) -> PlatformPeering:
        await self._deployment_row(deployment_id, scope)
        record = await self.store.peering(peering_id)
        if record is None or record.deployment_id != deployment_id:
            raise PlatformError(
                404,
                "PEERING_NOT_FOUND",
                f"peering {shown(peering_id)} is not recorded for deployment "
                f"{shown(deployment_id)}",
            )
        return record

    async def confirm_peering(
        self, deployment_id: str, body: dict[str, Any], *, scope: str | None
    ) -> tuple[PlatformPeering, bool]:
        """Step 4: check the operator's pcx and record it ``pending``; accept in the background.

        Returns the record and whether it was created now (``False`` for an identical repeat).
        """
        try:
            peering_id = rules.check_peering_id(body.get("peeringId"))
            account_id = rules.check_account_id(body.get("accountId"))
            vpc_id = rules.check_vpc_id(body.get("vpcId"))
        except RuleViolation as exc:
            raise from_rule(exc) from None
        await self._deployment_row(deployment_id, scope)
        async with self._lock(deployment_id):
            # Read again under the lock: a stop or a delete may have won the race.
            row = await self._deployment_row(deployment_id, scope)
            if row.deployment.status != "running":
                raise PlatformError(
                    409,
                    "DEPLOYMENT_NOT_RUNNING",
                    f"deployment {deployment_id} is {row.deployment.status}, not running",
                )
            existing = await self.store.peering(peering_id)
            if existing is not None:
                if (
                    existing.deployment_id == deployment_id
                    and existing.account_id == account_id
                    and existing.vpc_id == vpc_id
                ):
                    return existing, False
                raise _recorded_elsewhere(peering_id, existing, row)
            region = row.deployment.region
            pcx = await self._retrying(lambda: self.ec2.describe_peering(region, peering_id))
            if pcx is None:
                raise PlatformError(
                    422,
                    "PEERING_NOT_FOUND",
                    f"peering {peering_id} is not visible to the platform account "
                    f"{self.account_id} in {region}",
                )
            if pcx.accepter.vpc_id != row.vpc_id:
                raise await self._wrong_accepter(peering_id, pcx, row)
            if pcx.requester.owner_id != account_id or pcx.requester.vpc_id != vpc_id:
                raise PlatformError(
                    422,
                    "PEERING_REQUESTER_MISMATCH",
                    f"peering {peering_id} was requested by account {pcx.requester.owner_id} "
                    f"VPC {pcx.requester.vpc_id}, not account {account_id} VPC {vpc_id}",
                )
            try:
                rules.check_same_region(region, pcx.requester.region or region)
            except RuleViolation as exc:
                raise from_rule(exc) from None
            if pcx.status != "pending-acceptance":
                raise PlatformError(
                    422,
                    "PEERING_NOT_PENDING",
                    f"peering {peering_id} is {pcx.status} on AWS, not pending-acceptance",
                )
            requester_cidrs = await self._requester_cidrs(pcx)
            if not requester_cidrs:
                raise PlatformError(
                    422, "PEERING_NOT_FOUND", f"peering {peering_id} shows no requester CIDR"
                )
            others = [
                (p.peering_id, block)
                for p in await self.store.peerings(deployment_id)
                if p.status is not PlatformStatus.FAILED
                for block in p.requester_cidrs
            ]
            try:
                for cidr in requester_cidrs:
                    rules.check_peer_cidr(
                        cidr,
                        deployment_cidr=row.cidr,
                        reserved=self.reserved_cidrs,
                        other_peerings=others,
                    )
            except RuleViolation as exc:
                raise from_rule(exc) from None
            stamp = now()
            record = PlatformPeering(
                peering_id=peering_id,
                deployment_id=deployment_id,
                account_id=account_id,
                vpc_id=vpc_id,
                cidr=requester_cidrs[0],
                cidrs=requester_cidrs,
                region=region,
                status=PlatformStatus.PENDING,
                create_at=stamp,
                update_at=stamp,
                tenant_id=row.tenant_id,
            )
            try:
                await self.store.add_peering(record)
            except PeeringExistsError:
                raise PlatformError(
                    409, "PEERING_EXISTS", f"peering {peering_id} is already recorded"
                ) from None
        self._spawn(peering_id, self._accept(peering_id))
        return record, True

    async def _wrong_accepter(
        self, peering_id: str, pcx: AwsPeering, row: DeploymentRow
    ) -> PlatformError:
        """422 for a pcx addressed elsewhere; the VPC it is addressed to is named only when it
        is one of the same tenant's deployments (else it may be another tenant's)."""
        target = pcx.accepter.vpc_id
        ours = [d for d in await self.store.deployments(row.tenant_id) if d.vpc_id == target]
        where = f"{target} (deployment {ours[0].deployment.id})" if ours else "another VPC"
        return PlatformError(
            422,
            "PEERING_WRONG_ACCEPTER",
            f"peering {peering_id} is addressed to {where}, not to this deployment's VPC "
            f"{row.vpc_id}",
        )

    async def _requester_cidrs(self, pcx: AwsPeering) -> tuple[str, ...]:
        """Every IPv4 block of the pcx's requester VPC, the first as EC2 lists it first."""
        blocks = pcx.requester.cidrs or ((pcx.requester.cidr,) if pcx.requester.cidr else ())
        if self.requester_cidrs is None or not blocks:
            return blocks
        side, read = pcx.requester, self.requester_cidrs
        more = await self._retrying(lambda: read(side.region, side.owner_id, side.vpc_id))
        return tuple(dict.fromkeys((*blocks, *more)))

    async def _fail(self, peering_id: str, reason: str) -> None:
        log.warning("peering %s failed: %s", peering_id, reason)
        await self.store.set_peering_status(peering_id, PlatformStatus.FAILED, reason)

    async def _accept(self, peering_id: str) -> None:
        if self.accept_delay > 0:
            await asyncio.sleep(self.accept_delay)
        record = await self.store.peering(peering_id)
        if record is None or record.status is not PlatformStatus.PENDING:
            return
        row = await self._deployment_row(record.deployment_id, None)
        region = row.deployment.region
        try:
            pcx = await self._retrying(lambda: self.ec2.describe_peering(region, peering_id))
            if pcx is None or pcx.status in GONE_AWS_STATES:
                state = pcx.status if pcx else "not visible"
                await self._fail(peering_id, f"peering {peering_id} is {state} on AWS")
                return
            if pcx.status == "pending-acceptance":
                conflict = await self._route_conflict(row, record)
                if conflict:
                    with contextlib.suppress(AwsError):
                        await self.ec2.reject_peering(region, peering_id)
                    await self._fail(peering_id, conflict)
                    return
                await self._retrying(lambda: self.ec2.accept_peering(region, peering_id))
            await self._add_routes(row, record)
        except AwsError as exc:
            with contextlib.suppress(AwsError):
                await self._remove_routes(row, peering_id)
            await self._fail(peering_id, f"AWS refused {exc.operation}: {exc.code}: {exc.message}")
            return
        moved = await self.store.set_peering_status(
            peering_id, PlatformStatus.RUNNING, expect=PlatformStatus.PENDING
        )
        log.info("peering %s %s", peering_id, "running" if moved else "changed meanwhile")

    async def _route_conflict(self, row: DeploymentRow, record: PlatformPeering) -> str | None:
        """Why the deployment's route tables cannot route the peer's blocks via its pcx, if so."""
        tables = await self._retrying(
            lambda: self.ec2.describe_route_tables(
                row.deployment.region, route_table_ids=row.route_table_ids
            )
        )
        for table in tables:
            for route in table.routes:
                if route.target_id == record.peering_id or route.target_kind == "local":
                    continue
                for block in record.requester_cidrs:
                    if rules.overlaps(route.destination, block):
                        return (
                            f"CIDR overlap: deployment route table {table.id} already routes "
                            f"{route.destination} to {route.target_id}, which overlaps the "
                            f"peer CIDR {block}"
                        )
        return None

    async def _add_routes(self, row: DeploymentRow, record: PlatformPeering) -> None:
        """A route to each of the peer's blocks via the pcx, in every deployment route table."""
        region = row.deployment.region
        tables = await self._retrying(
            lambda: self.ec2.describe_route_tables(region, route_table_ids=row.route_table_ids)
        )
        for table in tables:
            for block in record.requester_cidrs:
                existing = table.route_to(block)
                if existing is not None and existing.target_id == record.peering_id:
                    continue  # made by an earlier, interrupted run

                async def create(table_id: str = table.id, dest: str = block) -> None:
                    await self.ec2.create_route(region, table_id, dest, record.peering_id)

                await self._retrying(create)

    async def _remove_routes(self, row: DeploymentRow, peering_id: str) -> None:
        region = row.deployment.region
        tables = await self._retrying(
            lambda: self.ec2.describe_route_tables(region, route_table_ids=row.route_table_ids)
        )
        for table in tables:
            for route in table.routes:
                if route.target_id == peering_id:

                    async def delete(
                        table_id: str = table.id, dest: str = route.destination
                    ) -> None:
                        try:
                            await self.ec2.delete_route(region, table_id, dest)
                        except AwsError as exc:
                            if not exc.not_found:
                                raise

                    await self._retrying(delete)

    async def delete_peering(
        self, deployment_id: str, peering_id: str, *, scope: str | None
    ) -> PlatformPeering:
        """Guarded delete: only ``running`` and only when no resource sits in the peer CIDR."""
        try:
            rules.check_peering_id(peering_id)
        except RuleViolation as exc:
            raise from_rule(exc) from None
        async with self._lock(deployment_id):
            record = await self.peering(deployment_id, peering_id, scope=scope)
            if record.status is not PlatformStatus.RUNNING:
                raise PlatformError(
                    409,
                    "PEERING_NOT_RUNNING",
                    f"peering {peering_id} is {record.status.value}; only a running peering "
                    "can be deleted",
                )
            dependents = [
                r
                for r in await self.store.resources(deployment_id)
                if any(rules.contains_ip(block, r.host) for block in record.requester_cidrs)
            ]
            if dependents:
                names = ", ".join(f"{r.name} ({r.host}:{r.port})" for r in dependents)
                blocks = ", ".join(record.requester_cidrs)
                raise PlatformError(
                    409,
                    "PEERING_IN_USE",
                    f"peering {peering_id} is used by resources inside {blocks}: {names}; "
                    "delete them first",
                    details=[r.model_dump(mode="json") for r in dependents],
                )
            moved = await self.store.set_peering_status(
                peering_id, PlatformStatus.DELETING, expect=PlatformStatus.RUNNING
            )
            if not moved:
                raise PlatformError(
                    409, "PEERING_NOT_RUNNING", f"peering {peering_id} is already changing"
                )
        self._spawn(peering_id, self._delete(peering_id))
        return await self.peering(deployment_id, peering_id, scope=scope)

    async def _delete(self, peering_id: str) -> None:
        record = await self.store.peering(peering_id)
        if record is None or record.status is not PlatformStatus.DELETING:
            return
        row = await self._deployment_row(record.deployment_id, None)
        region = row.deployment.region
        try:
            await self._remove_routes(row, peering_id)
            pcx = await self._retrying(lambda: self.ec2.describe_peering(region, peering_id))
            if pcx is not None and pcx.status not in ("deleted", "deleting"):
                await self._retrying(lambda: self.ec2.delete_peering(region, peering_id))
        except AwsError as exc:
            if not exc.not_found:
                await self._fail(
                    peering_id, f"delete failed: AWS refused {exc.operation}: {exc.code}"
                )
                return
        await self.store.remove_peering(peering_id)
        log.info("peering %s deleted", peering_id)

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
            raise PlatformError(
                400,
                "INVALID_ARGUMENT",
                f"type {shown(kind)} is not one of {', '.join(RESOURCE_TYPES)}",
            )
        host = body.get("host")
        if not isinstance(host, str) or not host or len(host) > HOST_LENGTH:
            raise PlatformError(
                400,
                "INVALID_ARGUMENT",
                f"host must be an IP address or a host name of at most {HOST_LENGTH} characters",
            )
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not _HOSTNAME_RE.fullmatch(host):
                raise PlatformError(
                    400,
                    "INVALID_ARGUMENT",
                    f"host {shown(host)} is neither an IP address nor a host name",
                ) from None
        port = body.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise PlatformError(400, "INVALID_ARGUMENT", f"port {shown(port)} is not in 1-65535")
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
            raise PlatformError(
                404,
                "RESOURCE_NOT_FOUND",
                f"resource {shown(resource_id)} does not exist on deployment {deployment_id}",
            )


class _MadeVpc:
    """What a deployment's creation has made on AWS so far (what a rollback removes)."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.vpc_id: str | None = None
        self.route_table_ids: list[str] = []
        self.subnet_ids: list[str] = []


def _recorded_elsewhere(
    peering_id: str, existing: PlatformPeering, row: DeploymentRow
) -> PlatformError:
    """409 for a pcx recorded with other values; the record is named only to its own tenant."""
    if existing.tenant_id != row.tenant_id:
        return PlatformError(409, "PEERING_EXISTS", f"peering {peering_id} is already recorded")
    return PlatformError(
        409,
        "PEERING_EXISTS",
        f"peering {peering_id} is already recorded for deployment {existing.deployment_id} "
        f"with account {existing.account_id} and VPC {existing.vpc_id}",
    )
