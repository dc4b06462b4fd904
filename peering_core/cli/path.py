"""``peering-tui path DEPLOYMENT PCX --to IP[:PORT] | --from IP[:PORT]``: one path through the
peering, hop by hop; exit 0 reachable, 2 blocked, 1 error."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import Connection, connected
from ..errors import EXIT_DRIFT, ExitCode
from ..path import HopState, PathReport, check_path
from .output import Output, text_table

MARKS = {HopState.OK: "✓", HopState.BLOCKED: "✗", HopState.UNKNOWN: "?"}


def render_path(report: PathReport) -> str:
    """The hops as a table, then the first blocked hop's why and fix, then the notes."""
    ports = ",".join(str(p) for p in report.ports)
    if report.direction == "to":
        way = f"deployment {report.deployment_id} ({report.deployment_cidr}) → {report.address}"
    else:
        way = f"{report.address} → deployment {report.deployment_id} ({report.deployment_cidr})"
    lines = [f"{way} tcp/{ports} via {report.peering_id}, {report.region}: {report.verdict()}"]
    rows = [["", "HOP", "ID", "DETAIL"]]
    rows += [[MARKS[h.state], h.hop, h.id or "-", h.detail] for h in report.hops]
    lines.append(text_table(rows))
    first = report.blocked_at
    if first is not None:
        lines.append(f"\n{first.state.value} at {first.hop}: {first.detail}")
        if first.fix:
            lines.append("fix:")
            lines += [f"  {step}" for step in first.fix]
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def path_json(report: PathReport) -> dict[str, Any]:
    first = report.blocked_at
    return report.model_dump(mode="json") | {
        "reachable": report.reachable,
        "blockedAt": first.hop if first else None,
    }


async def run_path(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    async with connected(connection) as (platform, accounts):
        ec2 = (await accounts.of_peering(platform, args.deployment, args.peering)).ec2
        report = await check_path(
            platform, ec2, args.deployment, args.peering, to=args.to, from_=args.from_
        )
    out.result(path_json(report), render_path(report))
    return ExitCode.OK if report.reachable else EXIT_DRIFT
