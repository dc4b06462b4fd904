"""Creating a peering: the customer's side of the dance, resumable and idempotent.

validate → :func:`request_pcx` (tagged with its intent) → :func:`confirm_on_platform` →
:func:`wait_until_running` → :func:`ensure_routes` → :func:`ensure_rules` → :func:`verify`.
Every step first looks at what exists, so re-running after any interruption continues where
it stopped and never makes a second pcx, route or rule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from . import rules
from .aws import Ec2Gateway
from .drift import serving_route_tables
from .errors import AwsError, Failed, InvalidInput, PlatformApiError, Refused, RuleViolation
from .health import LIVE_AWS_STATES
from .intent import TAG_REQUEST_TOKEN, PeeringIntent, request_token, rule_description
from .models import (
    AwsPeering,
    Deployment,
    DeploymentVpc,
    PlatformPeering,
    PlatformStatus,
    SecurityGroup,
    Vpc,
)
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


# Seconds before asking AWS for the pcx again (doubled per attempt; four times as long after
# a throttled attempt).
REQUEST_BACKOFF = 0.25


# --- rules both the workflow and the create form apply ---------------------------------------


def live_pcx(pcxs: Sequence[AwsPeering], accepter_vpc: str) -> AwsPeering | None:
    """The live pcx toward ``accepter_vpc`` among ``pcxs`` (an earlier run's), if any."""
    live = [p for p in pcxs if p.accepter.vpc_id == accepter_vpc and p.status in LIVE_AWS_STATES]
    live.sort(key=lambda p: (p.status != "active", p.id))
    return live[0] if live else None


def default_security_groups(groups: Sequence[SecurityGroup]) -> tuple[str, ...]:
    """The default choice of groups for the inbound rule: the VPC's ``default`` group."""
    return tuple(g.id for g in groups if g.name == "default")[:1]


def check_peer_vpc(
    vpc: Vpc, deployment_vpc: DeploymentVpc, records: Sequence[PlatformPeering]
) -> None:
    """The platform's CIDR rules for ``vpc`` as the peer: reserved ranges, the deployment CIDR,
    and the deployment's other live peerings (``records``; the VPC's own are skipped, so a
    re-run is not refused by its own peering). Raises :class:`RuleViolation`."""
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


# --- validate ---------------------------------------------------------------------------------


async def preflight(platform: PlatformClient, deployment: Deployment, vpc: Vpc) -> None:
    """Ask the platform whether it would take ``vpc`` as the peer before any pcx exists: it
    runs the confirmation's rules, its own route tables included, which only it can read. A
    refusal is final (exit 3, the platform's code): requesting the pcx would only make debris."""
    try:
        await platform.check_peering(
            deployment.id, vpc.owner_id, vpc.id, deployment.region, vpc.cidrs or (vpc.cidr,)
        )
    except PlatformApiError as exc:
        if exc.status == 404:
            raise InvalidInput(exc.code, exc.message, step=Step.VALIDATE) from None
        if exc.status in (409, 422):
            raise Refused(
                exc.code,
                f"the platform would refuse VPC {vpc.id}: {exc.message}; nothing was created",
                step=Step.VALIDATE,
            ) from None
        raise Failed(exc.code, exc.message, step=Step.VALIDATE) from None


def check_request(request: CreateRequest) -> tuple[int, ...]:
    """The ids' shapes and the ports, before any call; returns the ports sorted."""
    try:
        rules.check_vpc_id(request.vpc_id, "--vpc-id")
        for rtb in request.route_tables:
            rules.check_route_table_id(rtb, "--route-table")
        for sg in request.security_groups:
            rules.check_security_group_id(sg, "--security-group")
        return rules.parse_ports([str(p) for p in request.ports], "--port")
    except RuleViolation as exc:
        raise InvalidInput(exc.code, exc.message, step=Step.VALIDATE) from None


async def _deployment_side(
    platform: PlatformClient, deployment_id: str
) -> tuple[Deployment, DeploymentVpc]:
    try:
        deployment = await platform.deployment(deployment_id)
        info = await platform.deployment_vpc(deployment_id)
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
    return deployment, info


async def _peer_vpc(ec2: Ec2Gateway, region: str, vpc_id: str, deployment_id: str) -> Vpc:
    try:
        vpcs = await ec2.describe_vpcs(region, [vpc_id])
    except AwsError as exc:
        if not exc.not_found:
            raise Failed(exc.code, str(exc), step=Step.VALIDATE) from None
        vpcs = []
    if not vpcs:
        raise InvalidInput(
            "VPC_NOT_FOUND",
            f"VPC {vpc_id} is not in {region}, the region of deployment "
            f"{deployment_id}; peering works only inside one region (or the VPC does not exist "
            "in this AWS account)",
            step=Step.VALIDATE,
        )
    return vpcs[0]


def _known(asked: Sequence[str], found: set[str], code: str, what: str, vpc_id: str) -> None:
    unknown = sorted(set(asked) - found)
    if unknown:
        raise InvalidInput(
            code, f"{what} {', '.join(unknown)} does not belong to VPC {vpc_id}", step=Step.VALIDATE
        )


async def plan_create(
    request: CreateRequest, platform: PlatformClient, ec2: Ec2Gateway
) -> CreatePlan:
    """Validate ``request`` against both sides with reads only; resolve defaults."""
    ports = check_request(request)
    deployment, info = await _deployment_side(platform, request.deployment_id)
    region = deployment.region
    vpc = await _peer_vpc(ec2, region, request.vpc_id, deployment.id)
    try:
        check_peer_vpc(vpc, info, await platform.peerings(deployment.id))
    except RuleViolation as exc:
        raise InvalidInput(exc.code, f"VPC {vpc.id}: {exc.message}", step=Step.VALIDATE) from None
    await preflight(platform, deployment, vpc)

    pcxs, tables, subnets, groups = await asyncio.gather(
        ec2.describe_peerings(region, requester_vpc_ids=[vpc.id]),
        ec2.describe_route_tables(region, vpc_ids=[vpc.id]),
        ec2.describe_subnets(region, [vpc.id]),
        ec2.describe_security_groups(region, vpc_ids=[vpc.id]),
    )
    existing = live_pcx(pcxs, info.vpc_id)
    if request.route_tables:
        _known(request.route_tables, {t.id for t in tables}, "ROUTE_TABLE_NOT_FOUND",
               "route table", vpc.id)  # fmt: skip
        chosen = tuple(sorted(set(request.route_tables)))
    else:
        chosen = tuple(serving_route_tables(tables, [s.id for s in subnets]))
    for table in tables:
        route = table.route_to(info.cidr) if table.id in chosen else None
        if route is not None and (existing is None or route.target_id != existing.id):
            raise Refused(
                "ROUTE_CONFLICT",
                f"route table {table.id} already routes {info.cidr} to {route.target_id}; "
                "remove it (or run peering-tui fix) first, nothing was changed",
                step=Step.VALIDATE,
            )
    if request.security_groups:
        _known(request.security_groups, {g.id for g in groups}, "SECURITY_GROUP_NOT_FOUND",
               "security group", vpc.id)  # fmt: skip
        chosen_groups = tuple(sorted(set(request.security_groups)))
    else:
        chosen_groups = default_security_groups(groups)
    return CreatePlan(
        deployment=deployment,
        deployment_vpc=info,
        vpc=vpc,
        route_tables=chosen,
        security_groups=chosen_groups,
        ports=ports,
        existing=existing,
    )


# --- the steps --------------------------------------------------------------------------------


def clear_hint(plan: CreatePlan, peering_id: str) -> str:
    """What to do about a peering that cannot be resumed: clear it, then see to the cause."""
    return (
        f"this is final, a re-run would not help: clear it with `peering-tui delete "
        f"{plan.deployment.id} {peering_id} --confirm {peering_id}` (ctrl+d in the dashboard) "
        "and see to the cause first"
    )


async def request_pcx(
    plan: CreatePlan, ec2: Ec2Gateway, steps: Reporter
) -> tuple[AwsPeering, bool]:
    """The pcx, tagged with its intent so a re-run or a later delete can find it; returns it
    and whether it was requested now."""
    intent = plan.intent()
    pcx = plan.existing
    if pcx is not None:
        if PeeringIntent.from_tags(pcx.tags) != intent:
            try:
                await ec2.create_tags(plan.region, [pcx.id], intent.to_tags())
            except AwsError as exc:
                raise Failed(exc.code, str(exc), step=Step.REQUEST) from None
        await steps.skipped(Step.REQUEST, f"{pcx.id} already requested")
        return pcx, False
    await steps.started(Step.REQUEST, "requesting the peering on AWS")
    try:
        pcx = await _request_once(plan, ec2, intent)
    except AwsError as exc:
        hint = "; re-run the same command: it finds the pcx if AWS made it"
        raise Failed(
            exc.code, str(exc) + (hint if exc.outcome_unknown else ""), step=Step.REQUEST
        ) from None
    await steps.done(Step.REQUEST, f"requested {pcx.id}")
    return pcx, True


async def _request_once(plan: CreatePlan, ec2: Ec2Gateway, intent: PeeringIntent) -> AwsPeering:
    """Exactly one pcx for this request, however many attempts it takes.

    ``CreateVpcPeeringConnection`` takes no idempotency token and the gateway makes it in one
    attempt; the request carries a token of its own in its tags instead. After a failure
    that may have acted (a lost answer, a server error) the pcx with that token is looked
    for before asking again; a throttled attempt is asked again after a pause. Should a
    second pcx with the token turn up anyway (AWS's describes are eventually consistent),
    the extra one is withdrawn before anything else sees it.
    """
    token = request_token()
    tags = {"Name": f"{plan.vpc.name or plan.vpc.id} ↔ {plan.deployment.name}"}
    tags |= intent.to_tags() | {TAG_REQUEST_TOKEN: token}
    unsure = False
    for attempt in range(ec2.max_attempts):
        try:
            pcx = await ec2.create_peering(
                plan.region,
                vpc_id=plan.vpc.id,
                peer_vpc_id=plan.deployment_vpc.vpc_id,
                peer_owner_id=plan.deployment_vpc.account_id,
                tags=tags,
            )
            break
        except AwsError as exc:
            if not (exc.throttled or exc.outcome_unknown) or attempt == ec2.max_attempts - 1:
                raise
            unsure = unsure or exc.outcome_unknown
            made = await _requested(ec2, plan, token) if exc.outcome_unknown else []
            if made:
                pcx = made[0]
                break
            await asyncio.sleep(REQUEST_BACKOFF * 2**attempt * (4 if exc.throttled else 1))
    if unsure:
        for extra in await _requested(ec2, plan, token):
            if extra.id != pcx.id:
                await ec2.delete_peering(plan.region, extra.id)
    return pcx


async def _requested(ec2: Ec2Gateway, plan: CreatePlan, token: str) -> list[AwsPeering]:
    """The live pcxs of ``plan``'s VPC that carry the request ``token`` (in id order)."""
    found = await ec2.describe_peerings(plan.region, requester_vpc_ids=[plan.vpc.id])
    ours = [p for p in found if p.tags.get(TAG_REQUEST_TOKEN) == token]
    return sorted((p for p in ours if p.status in LIVE_AWS_STATES), key=lambda p: p.id)


async def confirm_on_platform(
    plan: CreatePlan, peering_id: str, platform: PlatformClient, steps: Reporter
) -> tuple[PlatformPeering, bool]:
    """Step 4: tell the platform the pcx's requester; returns the record and whether it was
    confirmed now."""
    deployment_id = plan.deployment.id
    record = await platform_record(platform, deployment_id, peering_id, step=Step.CONFIRM)
    if record is not None:
        await steps.skipped(Step.CONFIRM, f"already confirmed ({record.status.value})")
        return record, False
    await steps.started(Step.CONFIRM, f"confirming {peering_id} on the platform")
    try:
        record = await platform.confirm_peering(
            deployment_id, peering_id, plan.vpc.owner_id, plan.vpc.id
        )
    except PlatformApiError as exc:
        if exc.status in (409, 422):
            # A rule said no: the same request would be refused again, so nothing to resume.
            raise Refused(
                exc.code,
                f"the platform refused {peering_id}: {exc.message}; {clear_hint(plan, peering_id)}",
                step=Step.CONFIRM,
            ) from None
        raise Failed(
            exc.code, f"the platform refused {peering_id}: {exc.message}", step=Step.CONFIRM
        ) from None
    await steps.done(Step.CONFIRM, f"platform status {record.status.value}")
    return record, True


async def wait_until_running(
    platform: PlatformClient,
    ec2: Ec2Gateway,
    plan: CreatePlan,
    peering_id: str,
    *,
    wait_timeout: float,
    interval: float,
) -> tuple[PlatformPeering, AwsPeering]:
    """Until the platform says ``running`` and AWS says ``active`` (or either gives up)."""
    deployment_id = plan.deployment.id

    async def running() -> tuple[PlatformPeering, AwsPeering] | None:
        record = await platform_record(platform, deployment_id, peering_id, step=Step.WAIT)
        if record is None:
            raise Failed(
                "PEERING_NOT_FOUND",
                f"the platform lost {peering_id} while accepting it",
                step=Step.WAIT,
            )
        if record.status is PlatformStatus.FAILED:
            # Failed is final on the platform (AWS trouble is retried, not failed): re-running
            # would only wait on it again.
            raise Refused(
                "PEERING_FAILED",
                f"the platform could not accept {peering_id}: {record.reason}; "
                f"{clear_hint(plan, peering_id)}",
                step=Step.WAIT,
            )
        if record.status is not PlatformStatus.RUNNING:
            return None
        pcx = await ec2.describe_peering(plan.region, peering_id)
        if pcx is not None and pcx.status == "active":
            return record, pcx
        if pcx is None or pcx.status not in LIVE_AWS_STATES:
            state = pcx.status if pcx else "gone"
            raise Refused(
                "PEERING_NOT_ACTIVE",
                f"platform running but {peering_id} is {state} on AWS; "
                f"{clear_hint(plan, peering_id)}",
                step=Step.WAIT,
            )
        return None

    return await wait_for(
        running,
        within=wait_timeout,
        interval=interval,
        timed_out=Failed(
            "TIMEOUT",
            f"{peering_id} is not running after {wait_timeout:.0f}s; re-run the same command "
            "to continue",
            step=Step.WAIT,
        ),
    )


async def ensure_routes(
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
        if not dry_run:
            try:
                await ec2.create_route(region, table.id, destination, peering_id)
            except AwsError as exc:
                if exc.code != "RouteAlreadyExists":
                    raise Failed(exc.code, str(exc), step=Step.ROUTES) from None
        added.append(table.id)
    return tuple(added), tuple(present)


async def ensure_rules(
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
            if not dry_run:
                try:
                    await ec2.authorize_ingress(
                        region,
                        group,
                        cidr=cidr,
                        port=port,
                        description=rule_description(peering_id),
                    )
                except AwsError as exc:
                    if exc.code != "InvalidPermission.Duplicate":
                        raise Failed(exc.code, str(exc), step=Step.RULES) from None
            added.append(label)
    return tuple(added), tuple(present)


async def verify(ec2: Ec2Gateway, plan: CreatePlan, peering_id: str) -> None:
    """Read both routes and rules back; anything still missing stops the workflow."""
    cidr = plan.deployment_vpc.cidr
    missing_routes, _ = await ensure_routes(
        ec2, plan.region, plan.route_tables, cidr, peering_id, dry_run=True
    )
    missing_rules, _ = await ensure_rules(
        ec2, plan.region, plan.security_groups, plan.intent().rule_ports(), cidr, peering_id,
        dry_run=True,
    )  # fmt: skip
    if missing_routes or missing_rules:
        raise Failed(
            "VERIFY_FAILED",
            f"after the changes, still missing: routes {list(missing_routes)}, "
            f"rules {list(missing_rules)}; re-run to retry",
            step=Step.VERIFY,
        )


# --- the workflow -----------------------------------------------------------------------------


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
    steps = Reporter(on_progress)
    await steps.started(Step.VALIDATE, f"checking {request.vpc_id}")
    with at_step(Step.VALIDATE):
        plan = await plan_create(request, platform, ec2)
    region, cidr = plan.region, plan.deployment_vpc.cidr
    await steps.done(
        Step.VALIDATE,
        f"{plan.vpc.id} ({plan.vpc.cidr}) → {plan.deployment.name} ({cidr}) in {region}",
    )
    with at_step(Step.REQUEST):
        pcx, created = await request_pcx(plan, ec2, steps)
    peering_id = pcx.id
    with at_step(Step.CONFIRM):
        record, confirmed_now = await confirm_on_platform(plan, peering_id, platform, steps)

    await steps.started(Step.WAIT, "waiting for platform running and AWS active")
    with at_step(Step.WAIT):
        record, pcx = await wait_until_running(
            platform, ec2, plan, peering_id, wait_timeout=wait_timeout, interval=poll_interval
        )
    await steps.done(Step.WAIT, "platform running, pcx active")

    await steps.started(Step.ROUTES, f"routing {cidr} via {peering_id}")
    with at_step(Step.ROUTES):
        routes_added, routes_present = await ensure_routes(
            ec2, region, plan.route_tables, cidr, peering_id
        )
    await steps.done(Step.ROUTES, f"{len(routes_added)} added, {len(routes_present)} already there")

    await steps.started(Step.RULES, f"allowing {cidr} in")
    with at_step(Step.RULES):
        rules_added, rules_present = await ensure_rules(
            ec2, region, plan.security_groups, plan.intent().rule_ports(), cidr, peering_id
        )
    await steps.done(Step.RULES, f"{len(rules_added)} added, {len(rules_present)} already there")

    await steps.started(Step.VERIFY, "reading both sides back")
    with at_step(Step.VERIFY):
        await verify(ec2, plan, peering_id)
    await steps.done(Step.VERIFY, "routes and rules in place")
    return CreateResult(
        peering_id=peering_id,
        deployment_id=plan.deployment.id,
        region=region,
        vpc_id=plan.vpc.id,
        requester_cidr=plan.vpc.cidr,
        deployment_cidr=cidr,
        pcx_created=created,
        confirmed_now=confirmed_now,
        routes_added=routes_added,
        routes_present=routes_present,
        rules_added=rules_added,
        rules_present=rules_present,
        platform_status=record.status.value,
        aws_status=pcx.status,
    )
