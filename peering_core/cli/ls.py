"""``peering-tui ls``: deployments and peerings, both sides joined, with health."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ..access import admin_tenant_names
from ..accounts import account_json
from ..config import Connection, connected
from ..durations import age, iso
from ..errors import ExitCode
from ..health import peering_json
from ..poller import Fleet
from ..snapshot import Snapshot, source_account
from .output import Output, text_table


def render_ls(
    snapshot: Snapshot,
    deployment: str | None,
    region: str | None,
    *,
    tenants: dict[str, str] | None = None,
    tenant: str | None = None,
    account: str | None = None,
) -> tuple[dict[str, Any], str]:
    """The payload and the text of ``ls``; ``tenants`` (id -> name, for the admin key) adds
    a TENANT column, and ``tenant`` keeps one tenant's (by id or name); configured
    ``[[accounts]]`` add an ACCOUNT column, and ``account`` keeps one account's peerings."""
    now = snapshot.taken_at
    by_account = any(a.configured for a in snapshot.accounts)
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
    views = [
        v
        for v in snapshot.views
        if v.deployment_id in keep
        and (account is None or account in (v.account, v.requester_account))
    ]

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
        "accounts": [account_json(a) for a in snapshot.accounts],
        "failedAccounts": [a.name for a in snapshot.failed_accounts],
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
        mid = ["ACCOUNT"] if by_account else []
        head = ["DEPLOYMENT", "PLATFORM", "AWS", "REQUESTER", "CIDR", "AGE", "HEALTH"]
        prow = [[*lead, "PCX", *mid, *head]]
        prow += [
            [
                *([tenant_of(v.deployment_id)] if lead else []),
                v.peering_id,
                *([v.account or "?"] if mid else []),
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
    failed_accounts = {a.name for a in snapshot.failed_accounts if a.configured}
    for source in snapshot.failing:
        if source_account(source.name) not in failed_accounts:
            lines.append(f"! {source.name} stale: {source.error}")
    for read in snapshot.failed_accounts:
        if read.configured:
            where = "" if "" in read.failed else f" in {', '.join(sorted(read.failed))}"
            lines.append(
                f"! account {read.name} ({read.how}) could not be read{where}: "
                f"{next(iter(read.failed.values()))}" + (f"\n  fix: {read.fix}" if read.fix else "")
            )
    return payload, "\n".join(lines)


async def run_ls(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    async with connected(connection) as (platform, accounts):
        tenants, snapshot = await asyncio.gather(
            admin_tenant_names(platform), Fleet(platform, accounts).snapshot()
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
    if args.account and all(args.account != a.name for a in snapshot.accounts):
        names = ", ".join(a.name for a in snapshot.accounts)
        return out.error(
            "ACCOUNT_NOT_FOUND",
            f"--account {args.account!r} is not configured; the accounts are: {names}",
            ExitCode.USAGE,
        )
    payload, text = render_ls(
        snapshot,
        args.deployment,
        args.region,
        tenants=tenants,
        tenant=args.tenant,
        account=args.account,
    )
    out.result(payload, text)
    if snapshot.failed_accounts:
        names = ", ".join(a.name for a in snapshot.failed_accounts)
        print(f"peering-tui: account(s) not read: {names}", file=sys.stderr)
    return ExitCode.OK if snapshot.ok else ExitCode.FAILED
