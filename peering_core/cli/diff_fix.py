"""``peering-tui diff`` and ``peering-tui fix``: route tables, inbound rules and network ACLs
against what each peering needs, and the plan that brings them in sync."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ..audit import audited
from ..config import Connection, connected
from ..drift import PeeringDiff, plan_fix, state_health
from ..errors import EXIT_DRIFT, ExitCode
from ..network import apply_fix, diff_all, diff_one
from ..terraform import plan_terraform
from .create_delete import audit_log
from .output import Output, ask, text_table


def render_diff(diff: PeeringDiff) -> str:
    verdict = diff.verdict()
    lines = [
        f"{diff.peering_id}  deployment {diff.deployment_id}  {diff.vpc_id} → "
        f"{diff.deployment_cidr}  {diff.region}: {verdict}"
    ]
    rows = [["", "KIND", "ID", "DESTINATION/PORT", "EXPECTED", "ACTUAL", "STATE"]]
    for r in diff.routes:
        rows.append(
            [state_health(r.state).symbol, "route", r.route_table_id, r.destination,
             r.expected or "(none)", r.actual or "(none)", r.state.value]
        )  # fmt: skip
    for q in diff.rules:
        port = "all" if q.port is None else str(q.port)
        rows.append(
            [state_health(q.state).symbol, "inbound", q.security_group_id, f"{q.cidr} {port}",
             q.expected, q.actual, q.state.value]
        )  # fmt: skip
    for a in diff.network_acls:
        way = "to" if a.direction == "outbound" else "from"
        rows.append(
            [state_health(a.state).symbol, "nacl", a.network_acl_id, f"{a.direction} {a.ports}",
             f"allow {way} {a.cidr}", a.entry, a.state.value]
        )  # fmt: skip
    if len(rows) > 1:
        lines.append(text_table(rows))
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


async def run_diff(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    async with connected(connection) as (platform, accounts):
        if args.all:
            # Every pcx toward a deployment VPC that AWS still shows, pending and rejected ones
            # with why nothing is checked; a deleted one only while it leaves something behind.
            diffs, failed = await diff_all(platform, accounts)
            shown = [d for d in diffs if d.routes or d.rules or d.network_acls or not d.gone]
        else:
            ec2 = (await accounts.of_peering(platform, args.deployment, args.peering)).ec2
            diffs, failed = [await diff_one(platform, ec2, args.deployment, args.peering)], {}
            shown = diffs
    text = "\n\n".join(render_diff(d) for d in shown) or "no peerings"
    for region, error in failed.items():
        text += f"\n! {region} could not be read: {error}"
    out.result(_diff_json(shown, failed), text)
    if failed:
        return ExitCode.FAILED
    return ExitCode.OK if all(d.in_sync for d in diffs) else EXIT_DRIFT


async def run_fix(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    async with connected(connection) as (platform, accounts):
        # The fix acts in the account that requested the pcx.
        ec2 = (await accounts.of_peering(platform, args.deployment, args.peering)).ec2
        diff = await diff_one(platform, ec2, args.deployment, args.peering)
        plan = plan_fix([diff])
        flags = {"replace": args.replace, "revoke": args.revoke, "nacl": args.nacl}
        chosen = plan.allowed(**flags)
        held = plan.held_back(**flags)
        plan_lines = [f"{i}. {a.reason}\n   {a.aws_cli()}" for i, a in enumerate(chosen, 1)]
        held_lines = [f"- needs --{a.needs}: {a.reason}\n   {a.aws_cli()}" for a in held]
        plan_json = {
            "actions": [a.model_dump(mode="json") | {"awsCli": a.aws_cli()} for a in chosen],
            "heldBack": [a.model_dump(mode="json") | {"awsCli": a.aws_cli()} for a in held],
        }
        if args.dry_run and args.format == "terraform":
            terraform = plan_terraform(plan, diff, args.deployment, **flags)
            # Only the file on stdout, so `> fix.tf` keeps it; the exit code says drift.
            out.result({"plan": plan_json, "terraform": terraform}, terraform.rstrip("\n"))
            return ExitCode.OK if diff.in_sync else EXIT_DRIFT
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
            return ExitCode.OK if diff.in_sync else EXIT_DRIFT
        if not args.yes:
            if sys.stdin.isatty():
                print("\n".join(plan_lines), file=sys.stderr)
            if not await ask(
                f"Apply {len(chosen)} change(s)? [y/N] ",
                would=f"apply {len(chosen)} change(s)",
                hint="pass --yes (or --dry-run)",
            ):
                return out.error("ABORTED", "nothing changed", ExitCode.REFUSED)
        target = {"deploymentID": args.deployment, "peeringId": args.peering}
        async with audited(await audit_log(connection, ec2), "fix", target) as outcome:
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
        return ExitCode.FAILED
    return ExitCode.OK if after.in_sync else EXIT_DRIFT
