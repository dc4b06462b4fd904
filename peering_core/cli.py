"""The ``peering-tui`` command line: one contract for people and scripts.

Exit codes: 0 done; 1 the operation failed; 2 bad usage or invalid input (nothing changed);
3 refused by a guard.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import platformdirs
from pydantic import SecretStr

from . import rules

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("peering-tui")) / "platform.sqlite3"


def _cidr(value: str) -> str:
    try:
        return str(rules.parse_cidr(value, "--reserved-cidr"))
    except rules.RuleViolation as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _non_negative(value: str) -> float:
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def _refresh_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    return max(2.0, seconds)  # the floor: faster polls would overlap on a large fleet


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peering-tui",
        description="Operate VPC peerings between managed MQTT deployments and your AWS VPCs. "
        "Without a command: the dashboard (with nothing configured, on a sandbox it starts).",
    )
    parser.add_argument(
        "--refresh",
        type=_refresh_seconds,
        default=5.0,
        metavar="SECONDS",
        help="dashboard poll interval (default 5, at least 2)",
    )
    # The dashboard's own dests: a command's options of the same name would overwrite these
    # (argparse copies a subcommand's defaults over the top level's values).
    parser.add_argument(
        "--read-only",
        action="store_true",
        dest="dashboard_read_only",
        help="dashboard without create, delete and applying fixes (also PEERING_READ_ONLY=1)",
    )
    parser.add_argument(
        "--platform-url", dest="dashboard_platform_url", help="overrides PEERING_PLATFORM_URL"
    )
    parser.add_argument(
        "--aws-profile", dest="dashboard_aws_profile", help="AWS profile of the customer account"
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        dest="dashboard_insecure",
        help="do not verify the platform's TLS certificate",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    platform = commands.add_parser("platform", help="the platform control plane")
    platform_commands = platform.add_subparsers(dest="platform_command", metavar="COMMAND")
    serve = platform_commands.add_parser(
        "serve",
        help="serve the platform API",
        description="Serve the platform API. Credentials come from PEERING_PLATFORM_KEY and "
        "PEERING_PLATFORM_SECRET; the platform's AWS account from the standard AWS chain "
        "(AWS_PROFILE, AWS_ENDPOINT_URL, ...).",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--db", type=Path, default=None, help="SQLite file (default: user data dir)")
    serve.add_argument(
        "--reserved-cidr",
        action="append",
        type=_cidr,
        dest="reserved_cidrs",
        metavar="CIDR",
        help="a range refused for peer VPCs (repeatable; default 100.0.0.0/8 and 101.0.0.0/8)",
    )
    serve.add_argument(
        "--requests-per-minute",
        type=int,
        default=1200,
        help="request budget per API key before 429 (0: unlimited)",
    )
    serve.add_argument(
        "--accept-delay",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="wait before accepting a confirmed peering (for demos)",
    )

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--platform-url", help="overrides PEERING_PLATFORM_URL")
    common.add_argument("--aws-profile", help="AWS profile of the customer account")
    common.add_argument(
        "--insecure", action="store_true", help="do not verify the platform's TLS certificate"
    )
    common.add_argument(
        "--read-only",
        action="store_true",
        help="refuse every command that changes AWS or the platform (also PEERING_READ_ONLY=1)",
    )

    ls = commands.add_parser(
        "ls", parents=[common], help="deployments and their peerings, both sides joined"
    )
    ls.add_argument("--deployment", metavar="ID", help="only this deployment")
    ls.add_argument("--region", metavar="REGION", help="only this region")

    create = commands.add_parser(
        "create",
        parents=[common],
        help="peer a VPC with a deployment: request, confirm, accept, routes, rules",
    )
    create.add_argument("deployment", metavar="DEPLOYMENT")
    create.add_argument("--vpc-id", required=True, metavar="VPC")
    create.add_argument(
        "--route-table",
        action="append",
        default=[],
        dest="route_tables",
        metavar="RTB",
        help="repeatable; default: every route table that serves a subnet of the VPC",
    )
    create.add_argument(
        "--security-group",
        action="append",
        default=[],
        dest="security_groups",
        metavar="SG",
        help="repeatable; default: the VPC's default security group",
    )
    create.add_argument(
        "--port",
        action="append",
        default=[],
        dest="ports",
        metavar="PORT|all",
        help="repeatable; default: all traffic from the deployment CIDR",
    )
    create.add_argument("--yes", action="store_true", help="do not ask before changing anything")

    delete = commands.add_parser(
        "delete", parents=[common], help="guarded delete of a peering and its routes and rules"
    )
    delete.add_argument("deployment", metavar="DEPLOYMENT")
    delete.add_argument("peering", metavar="PCX")
    delete.add_argument(
        "--confirm", required=True, metavar="PCX", help="the pcx id again, typed exactly"
    )
    delete.add_argument(
        "--keep-routes", action="store_true", help="leave the customer-side routes and rules"
    )

    diff = commands.add_parser(
        "diff",
        parents=[common],
        help="route tables and inbound rules against what the peering needs "
        "(exit 0 in sync, 2 drift, 1 error)",
    )
    diff.add_argument("deployment", metavar="DEPLOYMENT", nargs="?")
    diff.add_argument("peering", metavar="PCX", nargs="?")
    diff.add_argument("--all", action="store_true", help="every peering of every deployment")

    fix = commands.add_parser(
        "fix", parents=[common], help="bring route tables and inbound rules in sync"
    )
    fix.add_argument("deployment", metavar="DEPLOYMENT")
    fix.add_argument("peering", metavar="PCX")
    fix.add_argument(
        "--dry-run", action="store_true", help="print the plan with its aws ec2 commands"
    )
    fix.add_argument("--yes", action="store_true", help="do not ask before changing anything")
    fix.add_argument(
        "--replace",
        action="store_true",
        help="also replace routes that send the deployment CIDR elsewhere (wrong target, shadowed)",
    )
    fix.add_argument(
        "--revoke", action="store_true", help="also revoke stale and too-broad inbound rules"
    )

    sandbox = commands.add_parser(
        "sandbox",
        help="run a moto server and the platform on loopback, seeded, and print exports",
    )
    sandbox.add_argument("--empty", action="store_true", help="no demo peerings")
    sandbox.add_argument(
        "--accept-delay",
        type=_non_negative,
        default=3.0,
        metavar="SECONDS",
        help="how long the sandbox platform takes to accept a peering (default 3)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        # The dashboard; imported by name so peering_core never imports the UI.
        return int(importlib.import_module("tui.app").run(args))
    if hasattr(args, "read_only"):
        # `peering-tui --read-only delete …` must be as read-only as `delete … --read-only`.
        args.read_only = args.read_only or args.dashboard_read_only
        args.insecure = args.insecure or args.dashboard_insecure
        args.platform_url = args.platform_url or args.dashboard_platform_url
        args.aws_profile = args.aws_profile or args.dashboard_aws_profile
    elif args.dashboard_read_only or args.dashboard_platform_url or args.dashboard_aws_profile:
        parser.error(
            f"--read-only, --platform-url and --aws-profile do not apply to {args.command}"
        )
    if args.command == "platform":
        if args.platform_command != "serve":
            parser.parse_args(["platform", "--help"])
            return EXIT_USAGE
        return run_platform(args)
    if args.command == "sandbox":
        return run_sandbox(empty=args.empty, accept_delay=args.accept_delay)
    if args.command == "diff" and not args.all and not (args.deployment and args.peering):
        parser.error("diff needs DEPLOYMENT PCX, or --all")
    if args.command in ("ls", "create", "delete", "diff", "fix"):
        from .commands import run_command

        return run_command(args)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE  # pragma: no cover


def run_platform(args: argparse.Namespace) -> int:
    import uvicorn

    from .aws import AwsAccess, Ec2Gateway
    from .platform.server import create_app
    from .platform.service import PlatformService
    from .platform.store import Store

    key = os.environ.get("PEERING_PLATFORM_KEY", "")
    secret = os.environ.get("PEERING_PLATFORM_SECRET", "")
    if not key or not secret:
        print(
            "peering-tui platform serve: set PEERING_PLATFORM_KEY and PEERING_PLATFORM_SECRET "
            "to the API credentials the platform should accept",
            file=sys.stderr,
        )
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    service = PlatformService(
        Store(args.db or default_db_path()),
        Ec2Gateway(AwsAccess(), default_region=region),
        reserved_cidrs=args.reserved_cidrs or rules.DEFAULT_RESERVED_CIDRS,
        accept_delay=args.accept_delay,
    )
    app = create_app(
        service, key=key, secret=SecretStr(secret), requests_per_minute=args.requests_per_minute
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return EXIT_OK


def run_sandbox(*, empty: bool, accept_delay: float) -> int:
    from .sandbox import Sandbox

    print("starting the sandbox: a moto server and the platform on loopback...", file=sys.stderr)
    sandbox = Sandbox.start(accept_delay=accept_delay)
    try:
        report = asyncio.run(sandbox.seed(demo=not empty))
        print(
            f"sandbox ready: {len(report.deployments)} deployments, "
            f"{len(report.vpcs)} customer VPCs, {len(report.peerings)} peerings",
            file=sys.stderr,
        )
        for name, value in sandbox.environment().items():
            print(f"export {name}={value}")
        sys.stdout.flush()
        print("press ctrl+c to stop", file=sys.stderr)
        _wait_for_signal()
    finally:
        sandbox.stop()
    return EXIT_OK


def _wait_for_signal() -> None:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
