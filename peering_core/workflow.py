"""The customer side of the peering dance, as resumable, idempotent workflows.

Create: validate → request the pcx (tagged with its intent) → confirm on the platform → wait for
platform ``running`` and AWS ``active`` → routes → inbound rules → verify. Every step first
looks at what exists, so re-running after any interruption continues where it stopped and never
makes a second pcx, route or rule.

Delete: guard (running, no dependent resource, typed confirmation) → platform delete → wait
until gone → remove the routes and rules the peering added. Re-running a stopped delete
continues too: it waits for a peering the platform is deleting, and only cleans up after one
the platform has already deleted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from . import rules
from .aws import AwsError, Ec2Gateway
from .drift import serving_route_tables
from .intent import PeeringIntent, rule_description
from .models import (
    AwsPeering,
    Deployment,
    DeploymentVpc,
    PlatformPeering,
    PlatformStatus,
    Resource,
    SecurityGroup,
    Vpc,
)
from .platform.client import PlatformApiError, PlatformClient
from .views import LIVE_AWS_STATES


class WorkflowError(Exception):
    """A workflow stopped. ``exit_code`` follows the CLI contract (1 failed, 2 input, 3 guard)."""

    exit_code = 1

    def __init__(self, code: str, message: str, *, step: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.step = step


class InvalidInput(WorkflowError):
    """Bad input, found before anything changed."""

    exit_code = 2


class Refused(WorkflowError):
    """A guard refused the operation; nothing changed."""

    exit_code = 3


class Failed(WorkflowError):
    """The operation started and could not finish; re-running continues from here."""

    exit_code = 1


class Step(StrEnum):
    VALIDATE = "validate"
    REQUEST = "request"
    CONFIRM = "confirm"
    WAIT = "wait"
    ROUTES = "routes"
    RULES = "rules"
    VERIFY = "verify"
    GUARD = "guard"
    DELETE = "delete"
    CLEANUP = "cleanup"


class Progress(BaseModel):
    """One event of a workflow, for a progress display."""

    model_config = ConfigDict(frozen=True)

    step: Step
    state: str  # "started", "done", "skipped"
    message: str


ProgressCallback = Callable[[Progress], Awaitable[None] | None]


async def _emit(callback: ProgressCallback | None, step: Step, state: str, message: str) -> None:
    if callback is None:
        return
    result = callback(Progress(step=step, state=state, message=message))
    if result is not None:
        await result


# --- create ---------------------------------------------------------------------------------


class CreateRequest(BaseModel):
    """What the operator asks for. Empty ``route_tables``/``security_groups`` mean defaults;
    empty ``ports`` means all traffic from the deployment CIDR."""

    model_config = ConfigDict(frozen=True)

    deployment_id: str
    vpc_id: str
    route_tables: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()


class CreatePlan(BaseModel):
    """The validated request, with every default resolved."""

    model_config = ConfigDict(frozen=True)

    deployment: Deployment
    deployment_vpc: DeploymentVpc
    vpc: Vpc
    route_tables: tuple[str, ...]
    security_groups: tuple[str, ...]
    ports: tuple[int, ...]
    existing: AwsPeering | None = None

    @property
    def region(self) -> str:
        return self.deployment.region

    def intent(self) -> PeeringIntent:
        requested = self.existing and PeeringIntent.from_tags(self.existing.tags)
        return PeeringIntent(
            deployment_id=self.deployment.id,
            route_tables=self.route_tables,
            security_groups=self.security_groups,
            ports=self.ports,
            requested_at=requested.requested_at if requested else None,
        )


class ResultModel(BaseModel):
    """A workflow's outcome; camelCase in JSON like the platform API."""

    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class CreateResult(ResultModel):
    peering_id: str
    deployment_id: str = Field(alias="deploymentID")
    region: str
    vpc_id: str
    requester_cidr: str
    deployment_cidr: str
    pcx_created: bool
    confirmed_now: bool
    routes_added: tuple[str, ...]
    routes_present: tuple[str, ...]
    rules_added: tuple[str, ...]
    rules_present: tuple[str, ...]
    platform_status: str
    aws_status: str


def _check_ports(ports: Sequence[int]) -> tuple[int, ...]:
    for port in ports:
        if not 1 <= port <= 65535:
            raise InvalidInput("INVALID_ARGUMENT", f"--port {port} is not in 1-65535")
    return tuple(sorted(set(ports)))


def _live_pcx(pcxs: Sequence[AwsPeering], accepter_vpc: str) -> AwsPeering | None:
    """The pcx a previous run made toward this deployment, if any is still alive."""
    live = [p for p in pcxs if p.accepter.vpc_id == accepter_vpc and p.status in LIVE_AWS_STATES]
    live.sort(key=lambda p: (p.status != "active", p.id))
    return live[0] if live else None


def check_peer_vpc(
    vpc: Vpc, deployment_vpc: DeploymentVpc, records: Sequence[PlatformPeering]
) -> None:
    """The platform's CIDR rules for ``vpc`` as the peer: reserved ranges, the deployment CIDR,
    and the deployment's other live peerings (``records``; the VPC's own are skipped, so a
    re-run is not refused by its own peering). Raises :class:`rules.RuleViolation`."""
    others = [
        (p.peering_id, p.cidr)
        for p in records
        if p.status is not PlatformStatus.FAILED and p.vpc_id != vpc.id
    ]
    for cidr in vpc.cidrs or (vpc.cidr,):
        rules.check_peer_cidr(
            cidr,
            deployment_cidr=deployment_vpc.cidr,
            reserved=deployment_vpc.reserved_cidrs,
            other_peerings=others,
            field="VPC CIDR",
        )


async def plan_create(
    request: CreateRequest, platform: PlatformClient, ec2: Ec2Gateway
) -> CreatePlan:
    """Validate ``request`` against both sides with reads only; resolve defaults."""
    try:
        rules.check_vpc_id(request.vpc_id, "--vpc-id")
        for rtb in request.route_tables:
            rules.check_route_table_id(rtb, "--route-table")
        for sg in request.security_groups:
            rules.check_security_group_id(sg, "--security-group")
    except rules.RuleViolation as exc:
        raise InvalidInput(exc.code, exc.message, step=Step.VALIDATE) from None
    ports = _check_ports(request.ports)
    try:
        deployment = await platform.deployment(request.deployment_id)
        info = await platform.deployment_vpc(request.deployment_id)
    except PlatformApiError as exc:
        if exc.status == 404:
            raise InvalidInput(exc.code, exc.message, step=Step.VALIDATE) from None
        raise Failed(exc.code, exc.message, step=Step.VALIDATE) from None
    if deployment.status != "running":
        raise Refused(
            "DEPLOYMENT_NOT_RUNNING",
            f"deployment {deployment.id} is {deployment.status}, not running",
            step=Step.VALIDATE,
        )
    region = deployment.region
    try:
        vpcs = await ec2.describe_vpcs(region, [request.vpc_id])
    except AwsError as exc:
        if not exc.not_found:
            raise Failed(exc.code, str(exc), step=Step.VALIDATE) from None
        vpcs = []
    if not vpcs:
        raise InvalidInput(
            "VPC_NOT_FOUND",
            f"VPC {request.vpc_id} is not in {region}, the region of deployment "
            f"{deployment.id}; peering works only inside one region (or the VPC does not exist "
            "in this AWS account)",
            step=Step.VALIDATE,
        )
    vpc = vpcs[0]
    try:
        check_peer_vpc(vpc, info, await platform.peerings(deployment.id))
    except rules.RuleViolation as exc:
        raise InvalidInput(exc.code, f"VPC {vpc.id}: {exc.message}", step=Step.VALIDATE) from None

    existing = _live_pcx(
        await ec2.describe_peerings(region, requester_vpc_ids=[vpc.id]), info.vpc_id
    )
    tables = await ec2.describe_route_tables(region, vpc_ids=[vpc.id])
    if request.route_tables:
        unknown = sorted(set(request.route_tables) - {t.id for t in tables})
        if unknown:
            raise InvalidInput(
                "ROUTE_TABLE_NOT_FOUND",
                f"route table {', '.join(unknown)} does not belong to VPC {vpc.id}",
                step=Step.VALIDATE,
            )
        chosen = tuple(sorted(set(request.route_tables)))
    else:
        subnets = await ec2.describe_subnets(region, [vpc.id])
        chosen = tuple(serving_route_tables(tables, [s.id for s in subnets]))
    for table in tables:
        if table.id not in chosen:
            continue
        route = table.route_to(info.cidr)
        if route is not None and (existing is None or route.target_id != existing.id):
            raise Refused(
                "ROUTE_CONFLICT",
                f"route table {table.id} already routes {info.cidr} to {route.target_id}; "
                "remove it (or run peering-tui fix) first, nothing was changed",
                step=Step.VALIDATE,
            )
    groups: list[SecurityGroup] = await ec2.describe_security_groups(region, vpc_ids=[vpc.id])
    if request.security_groups:
        unknown = sorted(set(request.security_groups) - {g.id for g in groups})
        if unknown:
            raise InvalidInput(
                "SECURITY_GROUP_NOT_FOUND",
                f"security group {', '.join(unknown)} does not belong to VPC {vpc.id}",
                step=Step.VALIDATE,
            )
        chosen_groups = tuple(sorted(set(request.security_groups)))
    else:
        default = [g.id for g in groups if g.name == "default"]
        chosen_groups = tuple(default[:1])
    return CreatePlan(
        deployment=deployment,
        deployment_vpc=info,
        vpc=vpc,
        route_tables=chosen,
        security_groups=chosen_groups,
        ports=ports,
        existing=existing,
    )


async def create_peering(
    request: CreateRequest,
    platform: PlatformClient,
    ec2: Ec2Gateway,
    *,
    on_progress: ProgressCallback | None = None,
    wait_timeout: float = 300.0,
    poll_interval: float = 0.5,
) -> CreateResult:
    """Run the whole create flow (steps 2 to 6 of the dance) and verify the result."""
    await _emit(on_progress, Step.VALIDATE, "started", f"checking {request.vpc_id}")
    plan = await plan_create(request, platform, ec2)
    region = plan.region
    info = plan.deployment_vpc
    await _emit(
        on_progress,
        Step.VALIDATE,
        "done",
        f"{plan.vpc.id} ({plan.vpc.cidr}) → {plan.deployment.name} ({info.cidr}) in {region}",
    )
    intent = plan.intent()

    # Step 2: the pcx, tagged with its intent so a re-run or a later delete can find it.
    pcx = plan.existing
    created = False
    if pcx is None:
        await _emit(on_progress, Step.REQUEST, "started", "requesting the peering on AWS")
        try:
            pcx = await ec2.create_peering(
                region,
                vpc_id=plan.vpc.id,
                peer_vpc_id=info.vpc_id,
                peer_owner_id=info.account_id,
                tags={"Name": f"{plan.vpc.name or plan.vpc.id} ↔ {plan.deployment.name}"}
                | intent.to_tags(),
            )
        except AwsError as exc:
            raise Failed(exc.code, str(exc), step=Step.REQUEST) from None
        created = True
        await _emit(on_progress, Step.REQUEST, "done", f"requested {pcx.id}")
    else:
        existing_intent = PeeringIntent.from_tags(pcx.tags)
        if existing_intent != intent:
            try:
                await ec2.create_tags(region, [pcx.id], intent.to_tags())
            except AwsError as exc:
                raise Failed(exc.code, str(exc), step=Step.REQUEST) from None
        await _emit(on_progress, Step.REQUEST, "skipped", f"{pcx.id} already requested")
    peering_id = pcx.id

    # Step 4: confirm on the platform.
    confirmed_now = False
    record = await _platform_record(platform, plan.deployment.id, peering_id)
    if record is None:
        await _emit(
            on_progress, Step.CONFIRM, "started", f"confirming {peering_id} on the platform"
        )
        try:
            record = await platform.confirm_peering(
                plan.deployment.id, peering_id, plan.vpc.owner_id, plan.vpc.id
            )
        except PlatformApiError as exc:
            raise Failed(
                exc.code,
                f"the platform refused {peering_id}: {exc.message}",
                step=Step.CONFIRM,
            ) from None
        confirmed_now = True
        await _emit(on_progress, Step.CONFIRM, "done", f"platform status {record.status.value}")
    else:
        await _emit(
            on_progress, Step.CONFIRM, "skipped", f"already confirmed ({record.status.value})"
        )

    # Wait for both sides.
    await _emit(on_progress, Step.WAIT, "started", "waiting for platform running and AWS active")
    record, pcx = await _wait_running(
        platform, ec2, plan.deployment.id, region, peering_id, wait_timeout, poll_interval
    )
    await _emit(on_progress, Step.WAIT, "done", "platform running, pcx active")

    # Step 5: routes for the deployment CIDR via the pcx.
    await _emit(on_progress, Step.ROUTES, "started", f"routing {info.cidr} via {peering_id}")
    routes_added, routes_present = await _ensure_routes(
        ec2, region, plan.route_tables, info.cidr, peering_id
    )
    await _emit(
        on_progress,
        Step.ROUTES,
        "done",
        f"{len(routes_added)} added, {len(routes_present)} already there",
    )

    # Step 6: inbound rules from the deployment CIDR.
    await _emit(on_progress, Step.RULES, "started", f"allowing {info.cidr} in")
    rules_added, rules_present = await _ensure_rules(
        ec2, region, plan.security_groups, intent.rule_ports(), info.cidr, peering_id
    )
    await _emit(
        on_progress,
        Step.RULES,
        "done",
        f"{len(rules_added)} added, {len(rules_present)} already there",
    )

    await _emit(on_progress, Step.VERIFY, "started", "reading both sides back")
    missing_routes, _present = await _ensure_routes(
        ec2, region, plan.route_tables, info.cidr, peering_id, dry_run=True
    )
    missing_rules, _ = await _ensure_rules(
        ec2, region, plan.security_groups, intent.rule_ports(), info.cidr, peering_id, dry_run=True
    )
    if missing_routes or missing_rules:
        raise Failed(
            "VERIFY_FAILED",
            f"after the changes, still missing: routes {list(missing_routes)}, "
            f"rules {list(missing_rules)}; re-run to retry",
            step=Step.VERIFY,
        )
    await _emit(on_progress, Step.VERIFY, "done", "routes and rules in place")
    return CreateResult(
        peering_id=peering_id,
        deployment_id=plan.deployment.id,
        region=region,
        vpc_id=plan.vpc.id,
        requester_cidr=plan.vpc.cidr,
        deployment_cidr=info.cidr,
        pcx_created=created,
        confirmed_now=confirmed_now,
        routes_added=routes_added,
        routes_present=routes_present,
        rules_added=rules_added,
        rules_present=rules_present,
        platform_status=record.status.value,
        aws_status=pcx.status,
    )


async def _platform_record(
    platform: PlatformClient, deployment_id: str, peering_id: str, *, step: Step = Step.CONFIRM
) -> PlatformPeering | None:
    try:
        return await platform.peering(deployment_id, peering_id)
    except PlatformApiError as exc:
        if exc.status == 404:
            return None
        raise Failed(exc.code, exc.message, step=step) from None


async def _wait_running(
    platform: PlatformClient,
    ec2: Ec2Gateway,
    deployment_id: str,
    region: str,
    peering_id: str,
    wait_timeout: float,
    interval: float,
) -> tuple[PlatformPeering, AwsPeering]:
    try:
        async with asyncio.timeout(wait_timeout):
            while True:
                record = await _platform_record(platform, deployment_id, peering_id, step=Step.WAIT)
                if record is None:
                    raise Failed(
                        "PEERING_NOT_FOUND",
                        f"the platform lost {peering_id} while accepting it",
                        step=Step.WAIT,
                    )
                if record.status is PlatformStatus.FAILED:
                    raise Failed(
                        "PEERING_FAILED",
                        f"the platform could not accept {peering_id}: {record.reason}",
                        step=Step.WAIT,
                    )
                if record.status is PlatformStatus.RUNNING:
                    pcx = await ec2.describe_peering(region, peering_id)
                    if pcx is not None and pcx.status == "active":
                        return record, pcx
                    if pcx is None or pcx.status not in LIVE_AWS_STATES:
                        state = pcx.status if pcx else "gone"
                        raise Failed(
                            "PEERING_NOT_ACTIVE",
                            f"platform running but {peering_id} is {state} on AWS",
                            step=Step.WAIT,
                        )
                await asyncio.sleep(interval)
    except TimeoutError:
        raise Failed(
            "TIMEOUT",
            f"{peering_id} is not running after {wait_timeout:.0f}s; re-run the same command to "
            "continue",
            step=Step.WAIT,
        ) from None


async def _ensure_routes(
    ec2: Ec2Gateway,
    region: str,
    table_ids: Sequence[str],
    destination: str,
    peering_id: str,
    *,
    dry_run: bool = False,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Route ``destination`` via the pcx in each table. Returns (added or missing, present)."""
    if not table_ids:
        return (), ()
    tables = await ec2.describe_route_tables(region, route_table_ids=table_ids)
    added: list[str] = []
    present: list[str] = []
    for table in tables:
        route = table.route_to(destination)
        if route is not None and route.target_id == peering_id:
            present.append(table.id)
            continue
        if route is not None:
            raise Failed(
                "ROUTE_CONFLICT",
                f"route table {table.id} routes {destination} to {route.target_id}; "
                "not replacing it silently (see peering-tui fix --replace)",
                step=Step.ROUTES,
            )
        if dry_run:
            added.append(table.id)
            continue
        try:
            await ec2.create_route(region, table.id, destination, peering_id)
        except AwsError as exc:
            if exc.code != "RouteAlreadyExists":
                raise Failed(exc.code, str(exc), step=Step.ROUTES) from None
        added.append(table.id)
    return tuple(added), tuple(present)


async def _ensure_rules(
    ec2: Ec2Gateway,
    region: str,
    group_ids: Sequence[str],
    ports: Sequence[int | None],
    cidr: str,
    peering_id: str,
    *,
    dry_run: bool = False,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Allow ``cidr`` in on each port of each group. Returns (added or missing, present) as
    ``sg-…:port`` labels."""
    if not group_ids:
        return (), ()
    existing = await ec2.describe_security_group_rules(region, group_ids)
    added: list[str] = []
    present: list[str] = []
    for group in group_ids:
        for port in ports:
            label = f"{group}:{'all' if port is None else port}"
            if any(
                not r.is_egress and r.group_id == group and r.cidr == cidr and r.covers_port(port)
                for r in existing
            ):
                present.append(label)
                continue
            if dry_run:
                added.append(label)
                continue
            try:
                await ec2.authorize_ingress(
                    region, group, cidr=cidr, port=port, description=rule_description(peering_id)
                )
            except AwsError as exc:
                if exc.code != "InvalidPermission.Duplicate":
                    raise Failed(exc.code, str(exc), step=Step.RULES) from None
            added.append(label)
    return tuple(added), tuple(present)


# --- delete ---------------------------------------------------------------------------------

# AWS states of a pcx whose platform side an earlier delete already finished.
_DELETED = frozenset({"deleted", "deleting"})


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
    except rules.RuleViolation as exc:
        raise InvalidInput(exc.code, exc.message, step=Step.GUARD) from None
    try:
        record = await platform.peering(deployment_id, peering_id)
        resources = await platform.resources(deployment_id)
    except PlatformApiError as exc:
        if exc.status == 404:
            raise InvalidInput(exc.code, exc.message, step=Step.GUARD) from None
        raise Failed(exc.code, exc.message, step=Step.GUARD) from None
    dependents = tuple(r for r in resources if rules.contains_ip(record.cidr, r.host))
    checks = [
        GuardCheck(
            name="status",
            ok=record.status is PlatformStatus.RUNNING,
            detail=f"platform status is {record.status.value}"
            + ("" if record.status is PlatformStatus.RUNNING else "; only running can be deleted"),
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
    """
    await _emit(on_progress, Step.GUARD, "started", f"checking {request.peering_id}")
    try:
        guard: DeleteGuard | None = await check_delete_guard(
            platform, request.deployment_id, request.peering_id, request.confirmation
        )
    except InvalidInput as exc:
        if exc.code != "PEERING_NOT_FOUND":
            raise
        guard, not_found = None, exc
    if guard is None:
        # Not on the platform (any more): an earlier run may have deleted it and stopped
        # before the cleanup. Only a pcx of this deployment that AWS shows deleted qualifies.
        info, pcx = await _deleted_pcx(platform, ec2, request)
        if pcx is None:
            raise not_found
        if request.confirmation != request.peering_id:
            raise Refused(
                "DELETE_REFUSED",
                f"confirmation {request.confirmation!r} does not match {request.peering_id}",
                step=Step.GUARD,
            )
        await _emit(on_progress, Step.GUARD, "skipped", "already deleted on the platform")
        await _emit(on_progress, Step.DELETE, "skipped", f"{pcx.id} is {pcx.status} on AWS")
        region, vpc_id = info.region, pcx.requester.vpc_id
    else:
        # The platform already passed its own guard when it started deleting.
        resuming = guard.record.status is PlatformStatus.DELETING and all(
            c.ok for c in guard.checks if c.name == "confirmation"
        )
        if not guard.ok and not resuming:
            raise Refused("DELETE_REFUSED", guard.refusal(), step=Step.GUARD)
        await _emit(
            on_progress,
            Step.GUARD,
            "done",
            "confirmed; already deleting" if resuming else "running, unused, confirmed",
        )
        record = guard.record
        info = await platform.deployment_vpc(request.deployment_id)
        pcx = await ec2.describe_peering(record.region, record.peering_id)
        region, vpc_id = record.region, record.vpc_id
        if resuming:
            await _emit(on_progress, Step.DELETE, "skipped", "the platform is already deleting it")
        else:
            await _emit(on_progress, Step.DELETE, "started", "asking the platform to delete it")
            try:
                await platform.delete_peering(request.deployment_id, request.peering_id)
            except PlatformApiError as exc:
                if exc.status == 409:
                    raise Refused(exc.code, exc.message, step=Step.DELETE) from None
                raise Failed(exc.code, exc.message, step=Step.DELETE) from None
        await _wait_deleted(platform, request, wait_timeout, poll_interval)
        await _emit(on_progress, Step.DELETE, "done", "gone from the platform")
    intent = PeeringIntent.from_tags(pcx.tags) if pcx else None

    if request.keep_routes:
        await _emit(on_progress, Step.CLEANUP, "skipped", "routes and rules kept as asked")
        return DeleteResult(
            peering_id=request.peering_id,
            deployment_id=request.deployment_id,
            routes_removed=(),
            rules_removed=(),
            kept=True,
        )
    await _emit(on_progress, Step.CLEANUP, "started", "removing the routes and rules it added")
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
    await _emit(
        on_progress,
        Step.CLEANUP,
        "done",
        f"{len(routes_removed)} route(s), {len(rules_removed)} rule(s) removed",
    )
    return DeleteResult(
        peering_id=request.peering_id,
        deployment_id=request.deployment_id,
        routes_removed=routes_removed,
        rules_removed=rules_removed,
        kept=False,
    )


async def _deleted_pcx(
    platform: PlatformClient, ec2: Ec2Gateway, request: DeleteRequest
) -> tuple[DeploymentVpc, AwsPeering | None]:
    """The deployment's VPC info, and the pcx if AWS shows it deleted toward that VPC."""
    try:
        info = await platform.deployment_vpc(request.deployment_id)
    except PlatformApiError as exc:
        if exc.status == 404:
            raise InvalidInput(exc.code, exc.message, step=Step.GUARD) from None
        raise Failed(exc.code, exc.message, step=Step.GUARD) from None
    pcx = await ec2.describe_peering(info.region, request.peering_id)
    if pcx is None or pcx.accepter.vpc_id != info.vpc_id or pcx.status not in _DELETED:
        return info, None
    return info, pcx


async def _wait_deleted(
    platform: PlatformClient, request: DeleteRequest, wait_timeout: float, interval: float
) -> None:
    try:
        async with asyncio.timeout(wait_timeout):
            while True:
                current = await _platform_record(
                    platform, request.deployment_id, request.peering_id, step=Step.DELETE
                )
                if current is None:
                    return
                if current.status is PlatformStatus.FAILED:
                    raise Failed(
                        "DELETE_FAILED",
                        f"the platform could not delete {request.peering_id}: {current.reason}",
                        step=Step.DELETE,
                    )
                await asyncio.sleep(interval)
    except TimeoutError:
        raise Failed(
            "TIMEOUT",
            f"{request.peering_id} still deleting after {wait_timeout:.0f}s; re-run the same "
            "command to continue",
            step=Step.DELETE,
        ) from None


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
