"""The command line's grammar: every command, its arguments and their help."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import rules
from ..config import DEFAULT_REFRESH, MIN_REFRESH, refresh_interval
from ..errors import RuleViolation


def _cidr(value: str) -> str:
    try:
        return str(rules.parse_cidr(value, "--reserved-cidr"))
    except RuleViolation as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def non_negative(value: str) -> float:
    """An argparse type: a number of seconds, zero or more."""
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def add_platform_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``platform`` and its subcommands."""
    platform = commands.add_parser("platform", help="the platform control plane")
    platform_commands = platform.add_subparsers(dest="platform_command", metavar="COMMAND")
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--db", type=Path, default=None, help="SQLite file (default: user data dir)")
    store.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="postgresql://… instead of a SQLite file: any number of replicas may serve one "
        "database (default: PEERING_PLATFORM_DATABASE_URL, else --db)",
    )
    store.add_argument(
        "--audit-log",
        type=Path,
        default=None,
        metavar="PATH",
        help="the platform's audit log, JSON lines (default: platform-audit.jsonl beside --db)",
    )
    serve = platform_commands.add_parser(
        "serve",
        parents=[store],
        help="serve the platform API",
        description="Serve the platform API. The admin key comes from PEERING_PLATFORM_KEY and "
        "PEERING_PLATFORM_SECRET (tenants' keys are in the store); the platform's AWS account "
        "from the standard AWS chain (AWS_PROFILE, AWS_ENDPOINT_URL, ...).",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve HTTPS: certificate")
    serve.add_argument("--tls-key", type=Path, metavar="PEM", help="serve HTTPS: private key")
    serve.add_argument(
        "--forwarded-allow-ips",
        action="append",
        metavar="ADDRESS",
        help="a proxy whose X-Forwarded-For is believed (repeatable; default: none, so every "
        "client is its peer address)",
    )
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
        type=non_negative,
        default=0.0,
        metavar="SECONDS",
        help="wait before accepting a confirmed peering (for demos)",
    )
    serve.add_argument(
        "--lease-seconds",
        type=_positive,
        default=15.0,
        metavar="SECONDS",
        help="how long a replica holds a peering's work without renewing it: a replica that "
        "dies has its work taken over within this (default 15)",
    )
    serve.add_argument(
        "--reconcile-seconds",
        type=non_negative,
        default=60.0,
        metavar="SECONDS",
        help="how often each running peering's deployment side is checked (0: never; default 60)",
    )
    serve.add_argument(
        "--retry-max-seconds",
        type=_positive,
        default=60.0,
        metavar="SECONDS",
        help="the longest wait between two attempts at work AWS failed (default 60)",
    )
    serve.add_argument(
        "--metrics-public",
        action="store_true",
        help="serve GET /metrics (Prometheus) without a key; by default it takes the admin key",
    )
    platform_commands.add_parser(
        "openapi",
        help="print the platform API's OpenAPI document (JSON), as GET /openapi.json serves it",
        description="Print the platform API's OpenAPI document, as the server serves it at "
        "/openapi.json (nothing is started or opened): peering-tui platform openapi > "
        "docs/openapi.json",
    )
    add_admin_parsers(platform_commands, store)


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def add_admin_parsers(
    platform_commands: argparse._SubParsersAction[argparse.ArgumentParser],
    store: argparse.ArgumentParser,
) -> None:
    """``platform tenants …`` and ``platform keys …``: offline, on the store."""
    output = argparse.ArgumentParser(add_help=False, parents=[store])
    output.add_argument("--json", action="store_true", help="machine-readable output")
    tenants = platform_commands.add_parser(
        "tenants", help="the platform's tenants, on its store (offline)"
    )
    tenant_actions = tenants.add_subparsers(dest="action", metavar="ACTION")
    create_tenant = tenant_actions.add_parser("create", parents=[output], help="a new tenant")
    create_tenant.add_argument("name", metavar="NAME")
    tenant_actions.add_parser("list", parents=[output], help="every tenant")

    keys = platform_commands.add_parser(
        "keys", help="tenants' API keys, on the platform's store (offline)"
    )
    key_actions = keys.add_subparsers(dest="action", metavar="ACTION")
    create_key = key_actions.add_parser(
        "create", parents=[output], help="a new key; its secret is shown only this once"
    )
    create_key.add_argument("--tenant", required=True, metavar="NAME", help="tenant name or id")
    create_key.add_argument("--role", required=True, choices=["operator", "viewer"])
    list_keys = key_actions.add_parser("list", parents=[output], help="keys (never secrets)")
    list_keys.add_argument("--tenant", metavar="NAME", help="only this tenant's (name or id)")
    revoke = key_actions.add_parser("revoke", parents=[output], help="revoke a key at once")
    revoke.add_argument("key", metavar="KEY")


def add_sandbox_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = commands.add_parser(
        "sandbox",
        help="run a moto server and the platform on loopback, seeded, and print exports",
    )
    sandbox.add_argument("--empty", action="store_true", help="no demo peerings")
    sandbox.add_argument(
        "--accept-delay",
        type=non_negative,
        default=3.0,
        metavar="SECONDS",
        help="how long the sandbox platform takes to accept a peering (default 3)",
    )


def _refresh_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if refresh_interval(seconds) != seconds:
        # Said, not silently raised: faster polls would overlap on a large fleet.
        raise argparse.ArgumentTypeError(
            f"{value} is under the floor: the dashboard polls every {MIN_REFRESH:g} seconds at most"
        )
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peering-tui",
        description="Operate VPC peerings between managed MQTT deployments and your AWS VPCs. "
        "Without a command: the dashboard (with nothing configured, on a sandbox it starts).",
    )
    parser.add_argument(
        "--refresh",
        type=_refresh_seconds,
        default=DEFAULT_REFRESH,
        metavar="SECONDS",
        help=f"dashboard poll interval (default {DEFAULT_REFRESH:g}, at least {MIN_REFRESH:g})",
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
    parser.add_argument(
        "--allow-http",
        action="store_true",
        dest="dashboard_allow_http",
        help="accept a plain http:// platform URL that is not on this machine",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    add_platform_parser(commands)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--platform-url", help="overrides PEERING_PLATFORM_URL")
    common.add_argument("--aws-profile", help="AWS profile of the customer account")
    common.add_argument(
        "--insecure", action="store_true", help="do not verify the platform's TLS certificate"
    )
    common.add_argument(
        "--allow-http",
        action="store_true",
        help="accept a plain http:// platform URL that is not on this machine",
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
    ls.add_argument(
        "--tenant", metavar="TENANT", help="only this tenant's, by id or name (the admin key)"
    )

    create = commands.add_parser(
        "create",
        parents=[common],
        help="peer a VPC with a deployment: request, confirm, accept, routes, rules",
    )
    create.add_argument("deployment", metavar="DEPLOYMENT")
    create.add_argument("--vpc-id", required=True, metavar="VPC")
    create.add_argument(
        "--account",
        metavar="NAME",
        help="the [[accounts]] entry the VPC is in (needed when several are configured)",
    )
    ls.add_argument("--account", metavar="NAME", help="only this account's peerings")
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

    retry = commands.add_parser(
        "retry",
        parents=[common],
        help="run a failed peering's last step again on the platform (acceptance or deletion)",
    )
    retry.add_argument("deployment", metavar="DEPLOYMENT")
    retry.add_argument("peering", metavar="PCX")

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
    fix.add_argument(
        "--format",
        choices=("aws", "terraform"),
        default="aws",
        help="with --dry-run: the plan as aws ec2 commands (default) or as Terraform for the "
        "AWS provider (aws_route, aws_vpc_security_group_ingress_rule, aws_network_acl_rule, "
        "with import blocks for what exists)",
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
    fix.add_argument(
        "--nacl",
        action="store_true",
        help="also add or replace network ACL entries (ACLs are shared by subnets: opt in)",
    )

    path = commands.add_parser(
        "path",
        parents=[common],
        help="walk one path through a peering hop by hop (exit 0 reachable, 2 blocked, 1 error)",
        description="ENI, security groups, subnet, network ACL, route table, pcx and the "
        "deployment side, and back: each hop ok or blocked, the first blocked one with why "
        "and the fix.",
    )
    path.add_argument("deployment", metavar="DEPLOYMENT")
    path.add_argument("peering", metavar="PCX")
    target = path.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--to",
        metavar="IP[:PORT]",
        help="a resource in your VPC, reached from the deployment (default port: the "
        "deployment's resource at that address)",
    )
    target.add_argument(
        "--from",
        dest="from_",
        metavar="IP[:PORT]",
        help="a client in your VPC, reaching the deployment's MQTT ports (default 1883 and 8883)",
    )

    watch = commands.add_parser(
        "watch",
        parents=[common],
        help="stream the fleet's state changes (JSON lines with --json) until interrupted",
        description="Poll like the dashboard and print one line per change: a peering "
        "appearing or disappearing, its platform or AWS status, its health (with the problems), "
        "a source failing or coming back. SIGINT or SIGTERM ends it (exit 0).",
    )
    watch.add_argument(
        "--refresh",
        type=_refresh_seconds,
        dest="watch_refresh",
        metavar="SECONDS",
        help=f"poll interval (default {DEFAULT_REFRESH:g}, at least {MIN_REFRESH:g})",
    )
    watch.add_argument(
        "--initial", action="store_true", help="first print every peering there is, as appeared"
    )
    watch.add_argument(
        "--exec",
        metavar="CMD",
        help="run CMD for each event, the event's JSON line on its standard input "
        "(PEERING_EVENT, PEERING_PEERING_ID, PEERING_DEPLOYMENT_ID, PEERING_SOURCE set; "
        "its output goes to standard error)",
    )

    add_sandbox_parser(commands)
    return parser
