"""``peering-tui create`` and ``peering-tui delete``: the whole create flow and the guarded
delete, audited."""

from __future__ import annotations

import argparse

from ..audit import AuditLog, actor, audited, identify
from ..aws import Ec2Gateway
from ..config import Connection, connected
from ..create import CreateRequest, check_request, create_peering, plan_create
from ..delete import DeleteRequest, delete_peering
from ..errors import ExitCode
from ..retry import retry_failed
from ..rules import parse_ports
from .output import Output, ask


async def audit_log(connection: Connection, ec2: Ec2Gateway) -> AuditLog:
    """The audit log, writing as the AWS caller and the platform key of this run."""
    identity, error = await identify(ec2)
    return AuditLog(actor=actor(identity, error, connection.key_id))


async def run_create(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    request = CreateRequest(
        deployment_id=args.deployment,
        vpc_id=args.vpc_id,
        route_tables=tuple(args.route_tables),
        security_groups=tuple(args.security_groups),
        ports=parse_ports(args.ports, "--port"),
    )
    check_request(request)  # a malformed id before anything else, the account included
    async with connected(connection) as (platform, accounts):
        ec2 = accounts.named(args.account).ec2
        plan = await plan_create(request, platform, ec2)
        if not args.yes:
            summary = (
                f"peer {plan.vpc.id} ({plan.vpc.cidr}) with deployment {plan.deployment.name} "
                f"({plan.deployment_vpc.cidr}, {plan.region}); routes in "
                f"{', '.join(plan.route_tables) or 'no table'}; inbound "
                f"{'all traffic' if not plan.ports else ', '.join(map(str, plan.ports))} on "
                f"{', '.join(plan.security_groups) or 'no group'}"
            )
            if not await ask(
                f"{summary}\nGo ahead? [y/N] ",
                would=summary,
                hint="pass --yes to go ahead non-interactively",
            ):
                return out.error("ABORTED", "nothing changed", ExitCode.REFUSED)
        target = {"deploymentID": request.deployment_id, "vpcId": request.vpc_id}
        if args.account:
            target["account"] = args.account
        async with audited(await audit_log(connection, ec2), "create", target) as outcome:
            result = await create_peering(request, platform, ec2, on_progress=out.progress)
            outcome["detail"] = result.model_dump(mode="json")
    text = (
        f"{result.peering_id} is running: {result.vpc_id} ({result.requester_cidr}) ↔ "
        f"{result.deployment_id} ({result.deployment_cidr}) in {result.region}\n"
        f"  routes: {len(result.routes_added)} added, {len(result.routes_present)} already there\n"
        f"  rules:  {len(result.rules_added)} added, {len(result.rules_present)} already there"
    )
    out.result({"result": result.model_dump(mode="json", by_alias=True)}, text)
    return ExitCode.OK


async def run_delete(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    request = DeleteRequest(
        deployment_id=args.deployment,
        peering_id=args.peering,
        confirmation=args.confirm,
        keep_routes=args.keep_routes,
    )
    async with connected(connection) as (platform, accounts):
        # The customer-side cleanup happens in the account that requested the pcx.
        ec2 = (await accounts.of_peering(platform, args.deployment, args.peering)).ec2
        target = {"deploymentID": request.deployment_id, "peeringId": request.peering_id}
        async with audited(await audit_log(connection, ec2), "delete", target) as outcome:
            result = await delete_peering(request, platform, ec2, on_progress=out.progress)
            outcome["detail"] = result.model_dump(mode="json")
    what = "withdrawn (it was never confirmed on the platform)" if result.withdrawn else "deleted"
    text = f"{result.peering_id} {what}" + (
        "; routes and rules kept"
        if result.kept
        else f"; removed {len(result.routes_removed)} route(s) and "
        f"{len(result.rules_removed)} rule(s)"
    )
    out.result({"result": result.model_dump(mode="json")}, text)
    return ExitCode.OK


async def run_retry(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    async with connected(connection) as (platform, accounts):
        # Only the platform acts; the actor is named as the first account knows it.
        target = {"deploymentID": args.deployment, "peeringId": args.peering}
        actor = await audit_log(connection, accounts.first.ec2)
        async with audited(actor, "retry", target) as outcome:
            result = await retry_failed(platform, args.deployment, args.peering)
            outcome["detail"] = result.model_dump(mode="json")
    text = f"{result.peering_id} is {result.platform_status} after the retry"
    out.result({"result": result.model_dump(mode="json")}, text)
    return ExitCode.OK
