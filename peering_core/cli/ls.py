"""``peering-tui ls``: deployments and peerings, both sides joined, with health."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ..access import admin_tenant_names
from ..config import Connection, connected
from ..durations import age, iso
from ..errors import ExitCode
from ..health import peering_json
from ..poller import Fleet
from ..snapshot import Snapshot
from .output import Output, text_table


def render_ls(
    snapshot: Snapshot,
    deployment: str | None,
    region: str | None,
    *,
    tenants: dict[str, str] | None = None,
    tenant: str | None = None,
) -> tuple[dict[str, Any], str]:
    """The payload and the text of ``ls``; ``tenants`` (id -> name, for the admin key) adds
    a TENANT column, and ``tenant`` keeps one tenant's (by id or name)."""
    now = snapshot.taken_at
    names = tenants or {}
    deps = [
        d
        for d in snapshot.deployment_views
        if (deployment is None or d.deployment.id == deployment)
        and (region is None or d.deployment.region == region)
        and (
            tenant is None
            or tenant in (d.deployment.tenant_id, names.get(d.deployment.tenant_id or ""))
        )
    ]
    keep = {d.deployment.id for d in deps}
    owner = {d.deployment.id: d.deployment.tenant_id for d in snapshot.deployment_views}
    views = [v for v in snapshot.views if v.deployment_id in keep]

    def tenant_of(deployment_id: str) -> str:
        found = owner.get(deployment_id)
        return names.get(found, found) if found else "-"

    payload = {
        "takenAt": iso(snapshot.taken_at),
        "deployments": [
            d.deployment.model_dump(mode="json", by_alias=True)
            | {
                "vpcId": d.vpc.vpc_id if d.vpc else None,
                "cidr": d.vpc.cidr if d.vpc else None,
                "peeringCount": d.peering_count,
                "health": d.health.value,
            }
            for d in deps
        ],
        "peerings": [peering_json(v, tenant=owner.get(v.deployment_id)) for v in views],
        "sources": {
            name: {
                "fetchedAt": iso(s.fetched_at),
                "error": s.error,
                "failingSince": iso(s.failing_since),
            }
            for name, s in snapshot.sources.items()
        },
    }
    lines = ["DEPLOYMENTS"]
    lead = ["TENANT"] if tenants is not None else []
    rows = [[*lead, "ID", "NAME", "REGION", "STATUS", "CIDR", "PEERINGS", "HEALTH"]]
    rows += [
        [
            *([tenant_of(d.deployment.id)] if lead else []),
            d.deployment.id,
            d.deployment.name,
            d.deployment.region,
            d.deployment.status,
            d.vpc.cidr if d.vpc else "-",
            str(d.peering_count),
            d.health.label,
        ]
        for d in deps
    ]
    lines.append(text_table(rows))
    lines.append("")
    lines.append("PEERINGS")
    if views:
        prow = [
            [*lead, "PCX", "DEPLOYMENT", "PLATFORM", "AWS", "REQUESTER", "CIDR", "AGE", "HEALTH"]
        ]
        prow += [
            [
                *([tenant_of(v.deployment_id)] if lead else []),
                v.peering_id,
                v.deployment_name,
                v.platform_status or "unconfirmed",
                v.aws_status or "-",
                f"{v.requester_account}/{v.requester_vpc}",
                v.requester_cidr or "-",
                age(v.created_at, now),
                v.health.label + ("" if not v.problems else f": {v.summary}"),
            ]
            for v in views
        ]
        lines.append(text_table(prow))
    else:
        lines.append("(none)")
    for source in snapshot.failing:
        lines.append(f"! {source.name} stale: {source.error}")
    return payload, "\n".join(lines)


async def run_ls(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    async with connected(connection) as (platform, ec2):
        tenants, snapshot = await asyncio.gather(
            admin_tenant_names(platform), Fleet(platform, ec2).snapshot()
        )
    if not snapshot.sources.get("platform") or not snapshot.sources["platform"].ok:
        error = snapshot.sources["platform"].error if "platform" in snapshot.sources else ""
        return out.error(
            "PLATFORM_UNAVAILABLE", f"cannot read the platform: {error}", ExitCode.FAILED
        )
    if args.deployment and all(d.id != args.deployment for d in snapshot.deployments):
        return out.error(
            "DEPLOYMENT_NOT_FOUND", f"deployment {args.deployment!r} does not exist", ExitCode.USAGE
        )
    if args.tenant and tenants is None:
        return out.error(
            "FORBIDDEN", "--tenant: only the platform's admin key sees tenants", ExitCode.USAGE
        )
    payload, text = render_ls(
        snapshot, args.deployment, args.region, tenants=tenants, tenant=args.tenant
    )
    out.result(payload, text)
    return ExitCode.OK if snapshot.ok else ExitCode.FAILED
