"""Both sides of every peering, joined into one row with a health verdict in plain words.

Pure functions over models: the poller fetches, this decides. (It was ``views.py``.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from .accounts import NOT_CONFIGURED, AccountRead
from .durations import countdown, iso
from .intent import PENDING_LIFETIME_DAYS, PeeringIntent
from .models import (
    AwsPeering,
    Deployment,
    DeploymentVpc,
    PlatformPeering,
    PlatformSide,
    PlatformStatus,
)


class Health(StrEnum):
    """How bad it is, in one word and one symbol everywhere (tables, the status line, the diff
    view, ``ls``, ``watch``): ``error`` — traffic cannot flow (a missing or blackhole route, no
    allowing rule, an ACL that blocks, a pcx that is not active); ``warning`` — it works but
    needs attention (stale, too broad, a request waiting to be confirmed or expiring, a peering
    being accepted or deleted); ``ok``."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"ok": 0, "warning": 1, "error": 2}[self.value]

    @property
    def symbol(self) -> str:
        return {"ok": "✓", "warning": "!", "error": "✗"}[self.value]

    @property
    def label(self) -> str:
        """``✗ error``: the symbol and the word, as every output writes them."""
        return f"{self.symbol} {self.value}"


def worst(healths: Iterable[Health]) -> Health:
    return max(healths, key=lambda h: h.rank, default=Health.OK)


class PeeringView(BaseModel):
    """One peering as the operator sees it: platform record and AWS pcx side by side."""

    model_config = ConfigDict(frozen=True)

    peering_id: str
    deployment_id: str
    deployment_name: str
    region: str
    platform_status: str | None
    aws_status: str | None
    requester_account: str
    # The configured account that requested it ("not configured" when none did; "" unknown).
    account: str = ""
    requester_vpc: str
    requester_cidr: str | None
    health: Health
    problems: tuple[str, ...] = ()
    confirmed: bool
    created_at: datetime | None = None
    expires_at: datetime | None = None
    intent: PeeringIntent | None = None
    platform: PlatformPeering | None = None
    aws: AwsPeering | None = None

    @property
    def summary(self) -> str:
        return self.problems[0] if self.problems else "healthy"


class DeploymentView(BaseModel):
    model_config = ConfigDict(frozen=True)

    deployment: Deployment
    vpc: DeploymentVpc | None
    peering_count: int
    health: Health


# A pcx in one of these states, with no platform record, is history (deleted, rejected by the
# platform, expired unconfirmed, failed): AWS shows it for a while, nothing can be done with it.
HISTORY_AWS_STATES = frozenset({"deleted", "deleting", "rejected", "expired", "failed"})
LIVE_AWS_STATES = frozenset({"initiating-request", "pending-acceptance", "provisioning", "active"})


def expiry(pcx: AwsPeering, intent: PeeringIntent | None) -> datetime | None:
    """When AWS expires a pending request: its ExpirationTime, else 7 days after the request."""
    if pcx.expiration_time is not None:
        return pcx.expiration_time
    if intent is not None and intent.requested_at is not None:
        return intent.requested_at + timedelta(days=PENDING_LIFETIME_DAYS)
    return None


def retrying_words(record: PlatformPeering) -> str:
    """Why the platform's work on a peering is waiting, in the row's words."""
    what = "deleting" if record.status is PlatformStatus.DELETING else "accepting"
    tries = f"{record.attempts} attempt{'s' if record.attempts != 1 else ''}"
    return f"retrying: {record.last_error} ({what}; {tries} so far)"


def deployment_side_words(side: PlatformSide) -> str:
    """The deployment side as the platform last checked it: its pcx and its routes."""
    routes = {
        "ok": "routes ok",
        "repaired": "routes repaired at the last check",
        "missing": "routes missing: " + ", ".join(side.missing_routes),
    }[side.routes]
    if side.routes_repaired and side.routes != "repaired":
        routes += f" ({side.routes_repaired} restored so far)"
    return f"pcx {side.pcx_state or 'unknown'}, {routes}"


def _judge(
    record: PlatformPeering | None,
    pcx: AwsPeering | None,
    aws_unknown: str | None,
    expires: datetime | None,
    now: datetime,
) -> tuple[Health, list[str]]:
    """``aws_unknown`` says why AWS's side could not be seen (None when it was read)."""
    problems: list[str] = []
    if record is None:
        assert pcx is not None
        if pcx.status == "pending-acceptance":
            left = countdown(expires, now)
            when = (
                "AWS expires requests 7 days after they are made"
                if expires is None
                else "AWS has expired the request"
                if left == "expired"
                else f"AWS expires the request in {left}"
            )
            problems.append(f"requested on AWS but never confirmed on the platform; {when}")
            return Health.WARNING, problems
        if pcx.status in LIVE_AWS_STATES:
            problems.append(f"pcx is {pcx.status} on AWS but the platform has no record of it")
            return Health.ERROR, problems
        problems.append(f"pcx is {pcx.status} on AWS and was never confirmed on the platform")
        return Health.WARNING, problems

    status = record.status
    if status is PlatformStatus.FAILED:
        problems.append(f"failed on the platform: {record.reason or 'no reason given'}")
        return Health.ERROR, problems
    if pcx is None:
        if aws_unknown is not None:
            problems.append(aws_unknown)
            return Health.WARNING, problems
        problems.append(f"the platform says {status.value} but AWS no longer shows the pcx")
        return Health.ERROR, problems
    if record.retrying:
        problems.append(retrying_words(record))
        return Health.WARNING, problems
    if status is PlatformStatus.RUNNING:
        side = record.platform_side
        if side is not None and side.routes == "missing":
            # The deployment's replies have no way back: traffic cannot flow.
            problems.append(f"deployment side: {deployment_side_words(side)}")
            return Health.ERROR, problems
        if pcx.status == "active":
            return Health.OK, problems
        if pcx.status in ("deleted", "deleting"):
            problems.append(f"platform running but pcx {pcx.status} on AWS")
            return Health.ERROR, problems
        problems.append(f"platform running but pcx {pcx.status} on AWS")
        # Traffic cannot flow through a pcx that is not active, whatever its way there.
        return Health.ERROR, problems
    if status is PlatformStatus.PENDING:
        if pcx.status in LIVE_AWS_STATES:
            problems.append("confirmed; the platform is accepting it")
            return Health.WARNING, problems
        problems.append(f"confirmed, but pcx is {pcx.status} on AWS")
        return Health.ERROR, problems
    problems.append("being deleted by the platform")
    return Health.WARNING, problems


def build_views(
    deployments: Sequence[Deployment],
    vpcs: Sequence[DeploymentVpc],
    records: Sequence[PlatformPeering],
    pcxs: Sequence[AwsPeering],
    *,
    now: datetime,
    aws_regions_read: Iterable[str] | None = None,
    drift: Mapping[str, Sequence[tuple[Health, str]]] | None = None,
    accounts: Sequence[AccountRead] | None = None,
) -> list[PeeringView]:
    """Join platform records and AWS pcxs. pcxs toward a deployment VPC that the platform does
    not know are listed as unconfirmed; ones gone on AWS (deleted, rejected, expired, failed)
    without a record are history and hidden.

    ``drift`` adds per-peering drift problems with their severity (``PeeringDiff.problems``
    from :mod:`peering_core.drift`); the view's health is the worst of them and its own.
    ``accounts`` (how each customer account was read) names each peering's account by its
    requester and says why AWS's side is unknown (the account failed, or is not configured);
    without them, ``aws_regions_read`` lists the regions whose AWS side is known.
    """
    by_deployment = {d.id: d for d in deployments}
    by_vpc = {v.vpc_id: v for v in vpcs}
    by_pcx = {p.id: p for p in pcxs}
    regions_read = set(aws_regions_read) if aws_regions_read is not None else None
    views: list[PeeringView] = []
    seen: set[str] = set()

    def reach(requester: str, region: str) -> tuple[str, str | None]:
        if accounts is None:
            if regions_read is None or region in regions_read:
                return "", None
            return "", "AWS status unknown: the region could not be read"
        return account_reach(accounts, requester, region)

    def add(record: PlatformPeering | None, pcx: AwsPeering | None, deployment_id: str) -> None:
        dep = by_deployment.get(deployment_id)
        region = record.region if record else pcx.accepter.region if pcx else ""
        intent = PeeringIntent.from_tags(pcx.tags) if pcx else None
        expires = expiry(pcx, intent) if pcx and pcx.status == "pending-acceptance" else None
        requester = record.account_id if record else pcx.requester.owner_id if pcx else ""
        account, unknown = reach(requester, region)
        health, problems = _judge(record, pcx, unknown, expires, now)
        peering_id = record.peering_id if record else pcx.id if pcx else ""
        found = (drift or {}).get(peering_id, ())
        # What stops traffic is said first, whichever side it is on.
        stops = [text for level, text in found if level is Health.ERROR]
        notes = [text for level, text in found if level is not Health.ERROR]
        if health is Health.ERROR:
            problems = [*problems, *stops, *notes]
        else:
            problems = [*stops, *problems, *notes]
        health = worst([health, *(level for level, _ in found)])
        views.append(
            PeeringView(
                peering_id=peering_id,
                deployment_id=deployment_id,
                deployment_name=dep.name if dep else "?",
                region=region,
                platform_status=record.status.value if record else None,
                aws_status=pcx.status if pcx else None,
                requester_account=requester,
                account=account,
                requester_vpc=record.vpc_id if record else pcx.requester.vpc_id if pcx else "",
                requester_cidr=record.cidr if record else pcx.requester.cidr if pcx else None,
                health=health,
                problems=tuple(problems),
                confirmed=record is not None,
                created_at=record.create_at if record else intent.requested_at if intent else None,
                expires_at=expires,
                intent=intent,
                platform=record,
                aws=pcx,
            )
        )

    for record in records:
        seen.add(record.peering_id)
        add(record, by_pcx.get(record.peering_id), record.deployment_id)
    for pcx in pcxs:
        if pcx.id in seen:
            continue
        vpc = by_vpc.get(pcx.accepter.vpc_id)
        if vpc is None or pcx.status in HISTORY_AWS_STATES:
            continue
        seen.add(pcx.id)
        add(None, pcx, vpc.deployment_id)
    views.sort(key=lambda v: (v.deployment_name, v.region, v.peering_id))
    return views


def account_reach(
    accounts: Sequence[AccountRead], requester: str, region: str
) -> tuple[str, str | None]:
    """The name of the account that requested a peering in ``region``, and why its AWS side
    is unknown (None when that account was read there)."""
    read = next((a for a in accounts if a.account_id and a.account_id == requester), None)
    if read is not None:
        problem = read.problem(region)
        if problem is None and region not in read.regions:
            shown = ", ".join(read.regions) or "none"
            problem = f"account {read.name} is not read in {region} (its regions: {shown})"
        return read.name, None if problem is None else f"AWS status unknown: {problem}"
    unidentified = [a for a in accounts if a.account_id is None]
    if unidentified:
        why = "; ".join(a.problem("") or a.name for a in unidentified)
        return "?", f"AWS status unknown: account {requester} is none of those read; {why}"
    names = ", ".join(f"{a.name} {a.account_id}" for a in accounts)
    return NOT_CONFIGURED, (
        f"account not configured: the pcx was requested by AWS account {requester}, which is "
        f"not among the accounts read ({names}); add it under [[accounts]]"
    )


def deployment_views(
    deployments: Sequence[Deployment], vpcs: Sequence[DeploymentVpc], views: Sequence[PeeringView]
) -> list[DeploymentView]:
    by_vpc = {v.deployment_id: v for v in vpcs}
    by_deployment: dict[str, list[PeeringView]] = {}
    for view in views:
        by_deployment.setdefault(view.deployment_id, []).append(view)
    result = []
    for dep in deployments:
        mine = by_deployment.get(dep.id, [])
        result.append(
            DeploymentView(
                deployment=dep,
                vpc=by_vpc.get(dep.id),
                peering_count=len(mine),
                health=worst(v.health for v in mine),
            )
        )
    return result


def peering_json(
    view: PeeringView, *, tenant: str | None = None, sides: bool = False
) -> dict[str, Any]:
    """One peering as JSON, camelCase like the platform API (``ls --json``); with ``sides``,
    also the platform's record, the pcx as EC2 describes it and the intent (the detail
    screen's raw JSON)."""
    body: dict[str, Any] = {
        "peeringId": view.peering_id,
        "deploymentID": view.deployment_id,
        "tenantId": tenant,
        "deploymentName": view.deployment_name,
        "region": view.region,
        "platformStatus": view.platform_status,
        "awsStatus": view.aws_status,
        "requesterAccountId": view.requester_account,
        "account": view.account or None,
        "requesterVpcId": view.requester_vpc,
        "requesterCidr": view.requester_cidr,
        "health": view.health.value,
        "problems": list(view.problems),
        "confirmed": view.confirmed,
        "createdAt": iso(view.created_at),
        "expiresAt": iso(view.expires_at),
    }
    if sides:
        body["platform"] = view.platform.model_dump(mode="json") if view.platform else None
        body["aws"] = camel_json(asdict(view.aws)) if view.aws else None
        body["intent"] = camel_json(view.intent.model_dump(mode="json")) if view.intent else None
    return body


def camel_json(value: Any) -> Any:
    """``value`` with every field name in camelCase (tags' keys untouched) and every datetime
    as :func:`iso` text."""
    if isinstance(value, dict):
        # Tags are the customer's data: their keys stay as written.
        return {
            to_camel(str(k)) if "_" in str(k) else k: v if k == "tags" else camel_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [camel_json(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    return value
