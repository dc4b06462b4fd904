"""``ls``, ``create`` and ``delete``: the operator's commands over the core library."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .aws import AwsError, Ec2Gateway
from .config import ConfigError, Connection, load_connection
from .platform.client import PlatformApiError, PlatformClient
from .poller import Fleet, Snapshot
from .views import PeeringView
from .workflow import (
    CreateRequest,
    DeleteRequest,
    InvalidInput,
    Progress,
    WorkflowError,
    create_peering,
    delete_peering,
    plan_create,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3


@dataclass
class Output:
    """Where results go: JSON on stdout for scripts, or words for people."""

    json: bool

    def result(self, payload: dict[str, Any], text: str) -> None:
        if self.json:
            print(json.dumps(payload, indent=2, default=str))
        else:
            print(text)

    def error(self, code: str, message: str, exit_code: int, step: str = "") -> int:
        if self.json:
            body: dict[str, Any] = {"code": code, "message": message, "exitCode": exit_code}
            if step:
                body["step"] = step
            print(json.dumps({"error": body}, indent=2))
        else:
            where = f" during {step}" if step else ""
            print(f"peering-tui: {message} [{code}{where}]", file=sys.stderr)
        return exit_code

    def progress(self, event: Progress) -> None:
        if self.json:
            return
        mark = {"started": "…", "done": "✓", "skipped": "="}.get(event.state, "·")
        print(f"  {mark} {event.step.value:<9} {event.message}", file=sys.stderr)


@asynccontextmanager
async def connect(connection: Connection) -> AsyncIterator[tuple[PlatformClient, Ec2Gateway]]:
    async with (
        PlatformClient(
            connection.platform_url,
            connection.platform_key,
            connection.platform_secret,
            verify=connection.verify_tls,
        ) as platform,
        Ec2Gateway(connection.aws) as ec2,
    ):
        yield platform, ec2


def run_command(args: argparse.Namespace) -> int:
    out = Output(json=args.json)
    try:
        connection = load_connection(
            platform_url=args.platform_url, aws_profile=args.aws_profile, insecure=args.insecure
        )
    except ConfigError as exc:
        return out.error("CONFIG", str(exc), EXIT_USAGE)
    if connection is None:
        return out.error(
            "NOT_CONFIGURED",
            "no platform configured: set PEERING_PLATFORM_URL, PEERING_PLATFORM_KEY and "
            "PEERING_PLATFORM_SECRET (or run `peering-tui sandbox` and use its exports)",
            EXIT_USAGE,
        )
    runner = {"ls": _ls, "create": _create, "delete": _delete}[args.command]
    try:
        return asyncio.run(runner(args, connection, out))
    except WorkflowError as exc:
        return out.error(exc.code, exc.message, exc.exit_code, exc.step)
    except PlatformApiError as exc:
        return out.error(exc.code, exc.message, EXIT_FAILED)
    except AwsError as exc:
        return out.error(exc.code, str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        return out.error("INTERRUPTED", "interrupted; re-run the same command to continue", 130)


# --- ls -------------------------------------------------------------------------------------


def _age(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "-"
    seconds = int((now - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _view_json(view: PeeringView) -> dict[str, Any]:
    return {
        "peeringId": view.peering_id,
        "deploymentID": view.deployment_id,
        "deploymentName": view.deployment_name,
        "region": view.region,
        "platformStatus": view.platform_status,
        "awsStatus": view.aws_status,
        "requesterAccountId": view.requester_account,
        "requesterVpcId": view.requester_vpc,
        "requesterCidr": view.requester_cidr,
        "health": view.health.value,
        "problems": list(view.problems),
        "confirmed": view.confirmed,
        "createdAt": view.created_at,
        "expiresAt": view.expires_at,
    }


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def render_ls(
    snapshot: Snapshot, deployment: str | None, region: str | None
) -> tuple[dict[str, Any], str]:
    now = snapshot.taken_at
    deps = [
        d
        for d in snapshot.deployment_views
        if (deployment is None or d.deployment.id == deployment)
        and (region is None or d.deployment.region == region)
    ]
    keep = {d.deployment.id for d in deps}
    views = [v for v in snapshot.views if v.deployment_id in keep]
    payload = {
        "takenAt": snapshot.taken_at,
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
        "peerings": [_view_json(v) for v in views],
        "sources": {
            name: {"fetchedAt": s.fetched_at, "error": s.error, "failingSince": s.failing_since}
            for name, s in snapshot.sources.items()
        },
    }
    lines = ["DEPLOYMENTS"]
    rows = [["ID", "NAME", "REGION", "STATUS", "CIDR", "PEERINGS", "HEALTH"]]
    rows += [
        [
            d.deployment.id,
            d.deployment.name,
            d.deployment.region,
            d.deployment.status,
            d.vpc.cidr if d.vpc else "-",
            str(d.peering_count),
            d.health.value,
        ]
        for d in deps
    ]
    lines.append(_table(rows))
    lines.append("")
    lines.append("PEERINGS")
    if views:
        prow = [["PCX", "DEPLOYMENT", "PLATFORM", "AWS", "REQUESTER", "CIDR", "AGE", "HEALTH"]]
        prow += [
            [
                v.peering_id,
                v.deployment_name,
                v.platform_status or "unconfirmed",
                v.aws_status or "-",
                f"{v.requester_account}/{v.requester_vpc}",
                v.requester_cidr or "-",
                _age(v.created_at, now),
                v.health.value + ("" if not v.problems else f": {v.summary}"),
            ]
            for v in views
        ]
        lines.append(_table(prow))
    else:
        lines.append("(none)")
    for source in snapshot.failing:
        lines.append(f"! {source.name} stale: {source.error}")
    return payload, "\n".join(lines)


async def _ls(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    async with connect(connection) as (platform, ec2):
        snapshot = await Fleet(platform, ec2).snapshot()
    if not snapshot.sources.get("platform") or not snapshot.sources["platform"].ok:
        error = snapshot.sources["platform"].error if "platform" in snapshot.sources else ""
        return out.error("PLATFORM_UNAVAILABLE", f"cannot read the platform: {error}", EXIT_FAILED)
    if args.deployment and all(d.id != args.deployment for d in snapshot.deployments):
        return out.error(
            "DEPLOYMENT_NOT_FOUND", f"deployment {args.deployment!r} does not exist", EXIT_USAGE
        )
    payload, text = render_ls(snapshot, args.deployment, args.region)
    out.result(payload, text)
    return EXIT_OK if snapshot.ok else EXIT_FAILED


# --- create ---------------------------------------------------------------------------------


def parse_ports(values: Sequence[str]) -> tuple[int, ...]:
    """``--port`` values: numbers, or ``all`` (which wins over any number)."""
    ports: list[int] = []
    for value in values:
        if value.strip().lower() == "all":
            return ()
        try:
            port = int(value)
        except ValueError:
            raise InvalidInput(
                "INVALID_ARGUMENT", f"--port {value!r} is not a port number or 'all'"
            ) from None
        if not 1 <= port <= 65535:
            raise InvalidInput("INVALID_ARGUMENT", f"--port {port} is not in 1-65535")
        ports.append(port)
    return tuple(sorted(set(ports)))


async def _create(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    request = CreateRequest(
        deployment_id=args.deployment,
        vpc_id=args.vpc_id,
        route_tables=tuple(args.route_tables),
        security_groups=tuple(args.security_groups),
        ports=parse_ports(args.ports),
    )
    async with connect(connection) as (platform, ec2):
        plan = await plan_create(request, platform, ec2)
        if not args.yes:
            summary = (
                f"peer {plan.vpc.id} ({plan.vpc.cidr}) with deployment {plan.deployment.name} "
                f"({plan.deployment_vpc.cidr}, {plan.region}); routes in "
                f"{', '.join(plan.route_tables) or 'no table'}; inbound "
                f"{'all traffic' if not plan.ports else ', '.join(map(str, plan.ports))} on "
                f"{', '.join(plan.security_groups) or 'no group'}"
            )
            if not sys.stdin.isatty():
                raise InvalidInput(
                    "CONFIRMATION_REQUIRED",
                    f"would {summary}; pass --yes to go ahead non-interactively",
                )
            answer = await asyncio.to_thread(input, f"{summary}\nGo ahead? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                return out.error("ABORTED", "nothing changed", EXIT_REFUSED)
        result = await create_peering(request, platform, ec2, on_progress=out.progress)
    text = (
        f"{result.peering_id} is running: {result.vpc_id} ({result.requester_cidr}) ↔ "
        f"{result.deployment_id} ({result.deployment_cidr}) in {result.region}\n"
        f"  routes: {len(result.routes_added)} added, {len(result.routes_present)} already there\n"
        f"  rules:  {len(result.rules_added)} added, {len(result.rules_present)} already there"
    )
    out.result({"result": result.model_dump(mode="json", by_alias=True)}, text)
    return EXIT_OK


# --- delete ---------------------------------------------------------------------------------


async def _delete(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    request = DeleteRequest(
        deployment_id=args.deployment,
        peering_id=args.peering,
        confirmation=args.confirm,
        keep_routes=args.keep_routes,
    )
    async with connect(connection) as (platform, ec2):
        result = await delete_peering(request, platform, ec2, on_progress=out.progress)
    text = f"{result.peering_id} deleted" + (
        "; routes and rules kept"
        if result.kept
        else f"; removed {len(result.routes_removed)} route(s) and "
        f"{len(result.rules_removed)} rule(s)"
    )
    out.result({"result": result.model_dump(mode="json")}, text)
    return EXIT_OK
