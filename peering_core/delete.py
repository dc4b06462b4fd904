"""Deleting a peering: the guard, the platform's delete, then the customer-side cleanup.

:func:`check_delete_guard` (running, no dependent resource, typed confirmation) →
:func:`delete_on_platform` (and wait until it is gone) → :func:`cleanup_customer_side` (the
routes and rules the peering added). Re-running a stopped delete continues too: it waits for
a peering the platform is deleting, and only cleans up after one the platform has already
deleted.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from . import rules
from .aws import Ec2Gateway
from .errors import AwsError, Failed, InvalidInput, PlatformApiError, Refused, RuleViolation
from .health import LIVE_AWS_STATES
from .intent import PeeringIntent, rule_description
from .models import AwsPeering, DeploymentVpc, PlatformPeering, PlatformStatus, Resource
from .platform_client import PlatformClient
from .workflow import (
    ProgressCallback,
    Reporter,
    ResultModel,
    Step,
    at_step,
    platform_record,
    wait_for,
)


class GuardCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    ok: bool
    detail: str


class DeleteGuard(BaseModel):
    """The guard's verdict, check by check (the dashboard shows it before the typed confirm)."""

    model_config = ConfigDict(frozen=True)

    record: PlatformPeering
    dependents: tuple[Resource, ...]
    checks: tuple[GuardCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def refusal(self) -> str:
        return "; ".join(c.detail for c in self.checks if not c.ok)


async def check_delete_guard(
    platform: PlatformClient, deployment_id: str, peering_id: str, confirmation: str | None
) -> DeleteGuard:
    """Evaluate every guard; raise :class:`InvalidInput` only when the peering is unknown."""
    try:
        rules.check_peering_id(peering_id, "PCX")
    except RuleViolation as exc:
        raise InvalidInput(exc.code, exc.message, step=Step.GUARD) from None
    try:
        record = await platform.peering(deployment_id, peering_id)
        resources = await platform.resources(deployment_id)
    except PlatformApiError as exc:
        if exc.status == 404:
            raise InvalidInput(exc.code, exc.message, step=Step.GUARD) from None
        raise Failed(exc.code, exc.message, step=Step.GUARD) from None
    dependents = tuple(r for r in resources if rules.contains_ip(record.cidr, r.host))
    deletable = record.status in (PlatformStatus.RUNNING, PlatformStatus.FAILED)
    checks = [
        GuardCheck(
            name="status",
            ok=deletable,
            detail=f"platform status is {record.status.value}"
            + (
                "; the platform cleans up what the failure left on AWS"
                if record.status is PlatformStatus.FAILED
                else ""
                if deletable
                else "; only a running or failed peering can be deleted"
            ),
        ),
        GuardCheck(
            name="resources",
            ok=not dependents,
            detail=(
                f"no resource of {deployment_id} inside {record.cidr}"
                if not dependents
                else f"{len(dependents)} resource(s) inside {record.cidr}: "
                + ", ".join(f"{r.name} ({r.host}:{r.port})" for r in dependents)
            ),
        ),
    ]
    if confirmation is not None:
        checks.append(
            GuardCheck(
                name="confirmation",
                ok=confirmation == peering_id,
                detail="confirmation matches"
                if confirmation == peering_id
                else f"confirmation {confirmation!r} does not match {peering_id}",
            )
        )
    return DeleteGuard(record=record, dependents=dependents, checks=tuple(checks))


class DeleteRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    deployment_id: str
    peering_id: str
    confirmation: str
    keep_routes: bool = False


class DeleteResult(ResultModel):
    peering_id: str
    deployment_id: str = Field(alias="deploymentID")
    routes_removed: tuple[str, ...]
    rules_removed: tuple[str, ...]
    kept: bool
    # An unconfirmed request, withdrawn on AWS (the platform never had it).
    withdrawn: bool = False


async def delete_peering(
    request: DeleteRequest,
    platform: PlatformClient,
    ec2: Ec2Gateway,
    *,
    on_progress: ProgressCallback | None = None,
    wait_timeout: float = 300.0,
    poll_interval: float = 0.5,
) -> DeleteResult:
    """Guarded delete on the platform, then the customer-side cleanup.

    Re-running after a stop continues: a peering the platform is already deleting is waited
    for, and one it has already deleted (its pcx ``deleted`` on AWS) only gets the cleanup.
    A request never confirmed on the platform (a pcx toward the deployment that the platform
    has no record of) is withdrawn: the pcx is deleted on AWS, with the same typed
    confirmation; nothing changes on the platform.
    """
    steps = Reporter(on_progress)
    await steps.started(Step.GUARD, f"checking {request.peering_id}")
    try:
        with at_step(Step.GUARD):
            guard = await check_delete_guard(
                platform, request.deployment_id, request.peering_id, request.confirmation
            )
    except InvalidInput as exc:
        if exc.code != "PEERING_NOT_FOUND":
            raise
        # Not on the platform: never confirmed (withdraw the request), or an earlier run
        # deleted it and stopped before the cleanup (the pcx shows deleted on AWS).
        with at_step(Step.GUARD):
            info, found = await _unrecorded_pcx(platform, ec2, request, steps, exc)
        withdrawn = found.status in LIVE_AWS_STATES
        if withdrawn:
            with at_step(Step.DELETE):
                await withdraw_request(ec2, info.region, found, steps)
        pcx: AwsPeering | None = found
        region, vpc_id = info.region, found.requester.vpc_id
    else:
        withdrawn = False
        with at_step(Step.DELETE):
            info, pcx = await delete_on_platform(
                guard, request, platform, ec2, steps, wait_timeout=wait_timeout,
                interval=poll_interval,
            )  # fmt: skip
        region, vpc_id = guard.record.region, guard.record.vpc_id
    if request.keep_routes:
        await steps.skipped(Step.CLEANUP, "routes and rules kept as asked")
        return DeleteResult(
            peering_id=request.peering_id,
            deployment_id=request.deployment_id,
            routes_removed=(),
            rules_removed=(),
            kept=True,
            withdrawn=withdrawn,
        )
    await steps.started(Step.CLEANUP, "removing the routes and rules it added")
    intent = PeeringIntent.from_tags(pcx.tags) if pcx else None
    try:
        routes_removed, rules_removed = await cleanup_customer_side(
            ec2, region, vpc_id, request.peering_id, info.cidr, intent
        )
    except AwsError as exc:
        raise Failed(
            exc.code,
            f"{request.peering_id} is deleted, but removing its routes and rules stopped: {exc}; "
            "re-run the same command to finish",
            step=Step.CLEANUP,
        ) from None
    await steps.done(
        Step.CLEANUP, f"{len(routes_removed)} route(s), {len(rules_removed)} rule(s) removed"
    )
    return DeleteResult(
        peering_id=request.peering_id,
        deployment_id=request.deployment_id,
        routes_removed=routes_removed,
        rules_removed=rules_removed,
        kept=False,
        withdrawn=withdrawn,
    )


async def delete_on_platform(
    guard: DeleteGuard,
    request: DeleteRequest,
    platform: PlatformClient,
    ec2: Ec2Gateway,
    steps: Reporter,
    *,
    wait_timeout: float,
    interval: float,
) -> tuple[DeploymentVpc, AwsPeering | None]:
    """Ask the platform to delete the peering the guard passed (or wait for a delete it
    already started) until it is gone; returns the deployment's VPC and the pcx as it was."""
    # The platform already passed its own guard when it started deleting.
    resuming = guard.record.status is PlatformStatus.DELETING and all(
        c.ok for c in guard.checks if c.name == "confirmation"
    )
    if not guard.ok and not resuming:
        raise Refused("DELETE_REFUSED", guard.refusal(), step=Step.GUARD)
    status = guard.record.status.value  # running, or failed: debris being cleared
    await steps.done(
        Step.GUARD, "confirmed; already deleting" if resuming else f"{status}, unused, confirmed"
    )
    record = guard.record
    info = await platform.deployment_vpc(request.deployment_id)
    pcx = await ec2.describe_peering(record.region, record.peering_id)
    if resuming:
        await steps.skipped(Step.DELETE, "the platform is already deleting it")
    else:
        await steps.started(Step.DELETE, "asking the platform to delete it")
        await _ask_platform_to_delete(platform, request)
    await _wait_deleted(platform, request, wait_timeout, interval)
    await steps.done(Step.DELETE, "gone from the platform")
    return info, pcx


async def _ask_platform_to_delete(platform: PlatformClient, request: DeleteRequest) -> None:
    """``DELETE`` the peering. A refusal that only says it is already being deleted (or is
    gone) is the answer to the client's retry of a ``DELETE`` whose first answer was lost."""
    try:
        await platform.delete_peering(request.deployment_id, request.peering_id)
    except PlatformApiError as exc:
        if exc.status in (404, 409):
            now = await platform_record(
                platform, request.deployment_id, request.peering_id, step=Step.DELETE
            )
            if now is None or now.status is PlatformStatus.DELETING:
                return
        if exc.status == 409:
            raise Refused(exc.code, exc.message, step=Step.DELETE) from None
        raise Failed(exc.code, exc.message, step=Step.DELETE) from None


async def _unrecorded_pcx(
    platform: PlatformClient,
    ec2: Ec2Gateway,
    request: DeleteRequest,
    steps: Reporter,
    not_found: InvalidInput,
) -> tuple[DeploymentVpc, AwsPeering]:
    """A pcx toward the deployment that the platform has no record of: a request never
    confirmed, or one an earlier run deleted (deleted on AWS). Refused without the typed
    confirmation; ``not_found`` when AWS shows no such pcx toward this deployment either."""
    try:
        info = await platform.deployment_vpc(request.deployment_id)
    except PlatformApiError as exc:
        if exc.status == 404:
            raise InvalidInput(exc.code, exc.message, step=Step.GUARD) from None
        raise Failed(exc.code, exc.message, step=Step.GUARD) from None
    pcx = await ec2.describe_peering(info.region, request.peering_id)
    if pcx is None or pcx.accepter.vpc_id != info.vpc_id:
        raise not_found
    if request.confirmation != request.peering_id:
        raise Refused(
            "DELETE_REFUSED",
            f"confirmation {request.confirmation!r} does not match {request.peering_id}",
            step=Step.GUARD,
        )
    if pcx.status in LIVE_AWS_STATES:
        await steps.done(Step.GUARD, "never confirmed on the platform: withdrawing the request")
    else:
        await steps.skipped(Step.GUARD, "not on the platform (any more)")
        await steps.skipped(Step.DELETE, f"{pcx.id} is {pcx.status} on AWS")
    return info, pcx


async def withdraw_request(ec2: Ec2Gateway, region: str, pcx: AwsPeering, steps: Reporter) -> None:
    """Delete a peering request the platform never confirmed (the customer's own pcx)."""
    await steps.started(Step.DELETE, f"withdrawing {pcx.id} on AWS ({pcx.status})")
    try:
        await ec2.delete_peering(region, pcx.id)
    except AwsError as exc:
        if not exc.not_found:
            raise Failed(exc.code, str(exc), step=Step.DELETE) from None
    await steps.done(Step.DELETE, "request withdrawn; nothing was on the platform")


async def _wait_deleted(
    platform: PlatformClient, request: DeleteRequest, wait_timeout: float, interval: float
) -> None:
    async def gone() -> bool | None:
        current = await platform_record(
            platform, request.deployment_id, request.peering_id, step=Step.DELETE
        )
        if current is None:
            return True
        if current.status is PlatformStatus.FAILED:
            raise Failed(
                "DELETE_FAILED",
                f"the platform could not delete {request.peering_id}: {current.reason}",
                step=Step.DELETE,
            )
        return None

    await wait_for(
        gone,
        within=wait_timeout,
        interval=interval,
        timed_out=Failed(
            "TIMEOUT",
            f"{request.peering_id} still deleting after {wait_timeout:.0f}s; re-run the same "
            "command to continue",
            step=Step.DELETE,
        ),
    )


async def cleanup_customer_side(
    ec2: Ec2Gateway,
    region: str,
    vpc_id: str,
    peering_id: str,
    deployment_cidr: str,
    intent: PeeringIntent | None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Remove routes via the pcx, and the inbound rules the tool added for it."""
    tables = await ec2.describe_route_tables(region, vpc_ids=[vpc_id])
    routes_removed: list[str] = []
    for table in tables:
        for route in table.routes:
            if route.target_id != peering_id:
                continue
            try:
                await ec2.delete_route(region, table.id, route.destination)
            except AwsError as exc:
                if not exc.not_found:
                    raise Failed(exc.code, str(exc), step=Step.CLEANUP) from None
            routes_removed.append(f"{table.id}:{route.destination}")
    if intent is not None and intent.security_groups:
        group_ids: Sequence[str] = intent.security_groups
    else:
        group_ids = [g.id for g in await ec2.describe_security_groups(region, vpc_ids=[vpc_id])]
    rules_removed: list[str] = []
    description = rule_description(peering_id)
    found = await ec2.describe_security_group_rules(region, group_ids) if group_ids else []
    ours: dict[str, list[str]] = {}
    for rule in found:
        if not rule.is_egress and rule.cidr == deployment_cidr and rule.description == description:
            ours.setdefault(rule.group_id, []).append(rule.id)
    for group, rule_ids in ours.items():
        try:
            await ec2.revoke_ingress(region, group, rule_ids)
        except AwsError as exc:
            if not exc.not_found:
                raise Failed(exc.code, str(exc), step=Step.CLEANUP) from None
        rules_removed.extend(f"{group}:{rid}" for rid in rule_ids)
    return tuple(routes_removed), tuple(rules_removed)
