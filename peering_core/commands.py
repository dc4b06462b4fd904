"""``ls``, ``create`` and ``delete``: the operator's commands over the core library."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from .audit import AuditLog
from .aws import AwsError, Ec2Gateway
from .config import ConfigError, Connection, load_connection
from .drift import PeeringDiff, RouteState, RuleState, plan_fix
from .estate import DriftError, UnknownPeering, apply_fix, diff_all, diff_one
from .platform.client import PlatformApiError, PlatformClient
from .poller import Fleet, Snapshot
from .views import PeeringView, age
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
async def audited(
    connection: Connection, ec2: Ec2Gateway, action: str, target: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """Record the action in the audit log however it ends; the caller fills in the outcome."""
    try:
        identity = await ec2.caller_identity()
        actor = {"awsArn": identity.arn, "awsAccount": identity.account_id}
    except AwsError as exc:
        actor = {"awsArn": f"unknown ({exc.code})"}
    actor["platformKey"] = connection.key_id
    log = AuditLog(actor=actor)
    outcome: dict[str, Any] = {}
    try:
        yield outcome
    except WorkflowError as exc:
        verdict = "refused" if exc.exit_code in (EXIT_USAGE, EXIT_REFUSED) else "failed"
        log.record(action, target, f"{verdict}: {exc.code}", {"message": exc.message})
        raise
    except BaseException as exc:
        log.record(action, target, f"failed: {type(exc).__name__}", {"message": str(exc)})
        raise
    else:
        log.record(action, target, outcome.get("result", "ok"), outcome.get("detail"))


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
    mutating = args.command in ("create", "delete") or (args.command == "fix" and not args.dry_run)
    if mutating and (args.read_only or os.environ.get("PEERING_READ_ONLY") in ("1", "true")):
        return out.error(
            "READ_ONLY",
            f"read-only mode: {args.command} changes AWS and the platform; nothing changed",
            EXIT_REFUSED,
        )
    runner = {"ls": _ls, "create": _create, "delete": _delete, "diff": _diff, "fix": _fix}[
        args.command
    ]
    try:
        return asyncio.run(runner(args, connection, out))
    except WorkflowError as exc:
        return out.error(exc.code, exc.message, exc.exit_code, exc.step)
    except PlatformApiError as exc:
        return out.error(exc.code, exc.message, EXIT_FAILED)
    except AwsError as exc:
        return out.error(exc.code, str(exc), EXIT_FAILED)
    except UnknownPeering as exc:
        return out.error(exc.code, str(exc), EXIT_USAGE)
    except DriftError as exc:
        return out.error("DIFF_FAILED", str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        return out.error("INTERRUPTED", "interrupted; re-run the same command to continue", 130)


# --- ls -------------------------------------------------------------------------------------


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
                age(v.created_at, now),
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
        target = {"deploymentID": request.deployment_id, "vpcId": request.vpc_id}
        async with audited(connection, ec2, "create", target) as outcome:
            result = await create_peering(request, platform, ec2, on_progress=out.progress)
            outcome["detail"] = result.model_dump(mode="json")
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
        target = {"deploymentID": request.deployment_id, "peeringId": request.peering_id}
        async with audited(connection, ec2, "delete", target) as outcome:
            result = await delete_peering(request, platform, ec2, on_progress=out.progress)
            outcome["detail"] = result.model_dump(mode="json")
    text = f"{result.peering_id} deleted" + (
        "; routes and rules kept"
        if result.kept
        else f"; removed {len(result.routes_removed)} route(s) and "
        f"{len(result.rules_removed)} rule(s)"
    )
    out.result({"result": result.model_dump(mode="json")}, text)
    return EXIT_OK


# --- diff and fix ---------------------------------------------------------------------------

EXIT_DRIFT = 2
SYMBOLS = {
    RouteState.OK: "✓", RouteState.MISSING: "✗", RouteState.BLACKHOLE: "✗",
    RouteState.WRONG_TARGET: "✗", RouteState.SHADOWED: "!", RouteState.STALE: "!",
    RuleState.MISSING: "✗", RuleState.STALE: "!", RuleState.TOO_BROAD: "!",
}  # fmt: skip


def render_diff(diff: PeeringDiff) -> str:
    verdict = "in sync" if diff.in_sync else f"{len(diff.drift)} drift"
    if diff.warnings:
        verdict += f", {len(diff.warnings)} warning(s)"
    lines = [
        f"{diff.peering_id}  deployment {diff.deployment_id}  {diff.vpc_id} → "
        f"{diff.deployment_cidr}  {diff.region}: {verdict}"
    ]
    rows = [["", "KIND", "ID", "DESTINATION/PORT", "EXPECTED", "ACTUAL", "STATE"]]
    for r in diff.routes:
        rows.append(
            [SYMBOLS.get(r.state, "✓"), "route", r.route_table_id, r.destination,
             r.expected or "(none)", r.actual or "(none)", r.state.value]
        )  # fmt: skip
    for q in diff.rules:
        port = "all" if q.port is None else str(q.port)
        rows.append(
            [SYMBOLS.get(q.state, "✓"), "inbound", q.security_group_id, f"{q.cidr} {port}",
             q.expected, q.actual, q.state.value]
        )  # fmt: skip
    if len(rows) > 1:
        lines.append(_table(rows))
    for row in diff.drift + list(diff.warnings):
        lines.append(f"  - {row.reason}")
    for note in diff.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def _diff_json(
    diffs: Sequence[PeeringDiff], failed: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "inSync": all(d.in_sync for d in diffs) and not failed,
        "peerings": [
            d.model_dump(mode="json") | {"inSync": d.in_sync, "drift": len(d.drift)} for d in diffs
        ],
        "failedRegions": dict(failed or {}),
    }


async def _diff(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    async with connect(connection) as (platform, ec2):
        if args.all:
            diffs, failed = await diff_all(platform, ec2)
            shown = [d for d in diffs if d.routes or d.rules or d.notes]
        else:
            diffs, failed = [await diff_one(platform, ec2, args.deployment, args.peering)], {}
            shown = diffs
    text = "\n\n".join(render_diff(d) for d in shown) or "no peerings"
    for region, error in failed.items():
        text += f"\n! {region} could not be read: {error}"
    out.result(_diff_json(shown, failed), text)
    if failed:
        return EXIT_FAILED
    return EXIT_OK if all(d.in_sync for d in diffs) else EXIT_DRIFT


async def _fix(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    async with connect(connection) as (platform, ec2):
        diff = await diff_one(platform, ec2, args.deployment, args.peering)
        plan = plan_fix([diff])
        chosen = plan.allowed(replace=args.replace, revoke=args.revoke)
        held = plan.held_back(replace=args.replace, revoke=args.revoke)
        plan_lines = [f"{i}. {a.reason}\n   {a.aws_cli()}" for i, a in enumerate(chosen, 1)]
        held_lines = [f"- needs --{a.needs}: {a.reason}\n   {a.aws_cli()}" for a in held]
        plan_json = {
            "actions": [a.model_dump(mode="json") | {"awsCli": a.aws_cli()} for a in chosen],
            "heldBack": [a.model_dump(mode="json") | {"awsCli": a.aws_cli()} for a in held],
        }
        if args.dry_run or not chosen:
            text = render_diff(diff) + "\n\nplan:\n" + ("\n".join(plan_lines) or "(nothing to do)")
            if held_lines:
                text += "\nheld back:\n" + "\n".join(held_lines)
            out.result(
                {"plan": plan_json, "heldBack": plan_json["heldBack"], "applied": [],
                 "diff": _diff_json([diff])},
                text,
            )  # fmt: skip
            # Like diff: 0 in sync, 2 drift (so a dry run doubles as a check in scripts).
            return EXIT_OK if diff.in_sync else EXIT_DRIFT
        if not args.yes:
            if not sys.stdin.isatty():
                raise InvalidInput(
                    "CONFIRMATION_REQUIRED",
                    f"would apply {len(chosen)} change(s); pass --yes (or --dry-run)",
                )
            print("\n".join(plan_lines), file=sys.stderr)
            answer = await asyncio.to_thread(input, f"Apply {len(chosen)} change(s)? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                return out.error("ABORTED", "nothing changed", EXIT_REFUSED)
        target = {"deploymentID": args.deployment, "peeringId": args.peering}
        async with audited(connection, ec2, "fix", target) as outcome:
            applied = await apply_fix(ec2, chosen)
            failed_actions = sum(not a.ok for a in applied)
            outcome["result"] = (
                "ok" if not failed_actions else f"failed: {failed_actions} action(s)"
            )
            outcome["detail"] = {
                "actions": [a.action.aws_cli() for a in applied],
                "errors": [a.error for a in applied if a.error],
            }
        after = await diff_one(platform, ec2, args.deployment, args.peering)
    failures = [a for a in applied if not a.ok]
    lines = [
        f"{'✓' if a.ok else '✗'} {a.action.aws_cli()}" + (f"\n   {a.error}" if a.error else "")
        for a in applied
    ]
    lines.append("")
    lines.append(render_diff(after))
    if held_lines:
        lines.append("held back:\n" + "\n".join(held_lines))
    out.result(
        {
            "applied": [
                a.action.model_dump(mode="json") | {"ok": a.ok, "error": a.error} for a in applied
            ],
            "plan": plan_json,
            "heldBack": plan_json["heldBack"],
            "diff": _diff_json([after]),
        },
        "\n".join(lines),
    )
    if failures:
        return EXIT_FAILED
    return EXIT_OK if after.in_sync else EXIT_DRIFT
