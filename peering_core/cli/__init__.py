"""The ``peering-tui`` command line: one contract for people and scripts.

Exit codes are :class:`peering_core.errors.ExitCode`: 0 done; 1 the operation failed; 2 bad
usage or invalid input (nothing changed; ``diff``/``fix``: drift); 3 refused by a guard.

The operator's commands (``ls``, ``create``, ``delete``, ``diff``, ``fix``, ``path``,
``watch``) import no server code, and each imports only its own module when it runs (a
command's first request leaves sooner); ``platform serve`` and ``sandbox`` import theirs only
when they run, and the
dashboard is imported by name so that ``peering_core`` never imports the UI.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ..access import check_may_change
from ..audit import check_audit_log
from ..aws import warm_up
from ..config import Connection, load_connection, read_only_requested
from ..errors import ExitCode, PeeringError
from .output import Output
from .parser import build_parser

Runner = Callable[[argparse.Namespace, Connection, Output], Coroutine[Any, Any, int]]
# command → (module of this package, its runner)
OPERATOR_COMMANDS: dict[str, tuple[str, str]] = {
    "ls": ("ls", "run_ls"),
    "create": ("create_delete", "run_create"),
    "delete": ("create_delete", "run_delete"),
    "retry": ("create_delete", "run_retry"),
    "diff": ("diff_fix", "run_diff"),
    "fix": ("diff_fix", "run_fix"),
    "path": ("path", "run_path"),
    "watch": ("watch", "run_watch"),
}


def runner(command: str) -> Runner:
    """The coroutine function that runs ``command``, its module imported now."""
    module, name = OPERATOR_COMMANDS[command]
    found: Runner = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader left (`... --json | head`): no traceback, and none again when Python
        # flushes stdout on exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.PIPE_CLOSED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return run_dashboard(args)
    if hasattr(args, "read_only"):
        # `peering-tui --read-only delete …` must be as read-only as `delete … --read-only`.
        args.read_only = args.read_only or args.dashboard_read_only
        args.insecure = args.insecure or args.dashboard_insecure
        args.allow_http = args.allow_http or args.dashboard_allow_http
        args.platform_url = args.platform_url or args.dashboard_platform_url
        args.aws_profile = args.aws_profile or args.dashboard_aws_profile
    elif (
        args.dashboard_read_only
        or args.dashboard_platform_url
        or args.dashboard_aws_profile
        or args.dashboard_allow_http
    ):
        parser.error(
            f"--read-only, --platform-url, --aws-profile and --allow-http do not apply to "
            f"{args.command}"
        )
    if args.command == "platform":
        from ..platform.command import run_platform

        return run_platform(args, parser)
    if args.command == "sandbox":
        from ..sandbox.command import run_sandbox

        return run_sandbox(args)
    if args.command == "diff" and not args.all and not (args.deployment and args.peering):
        parser.error("diff needs DEPLOYMENT PCX, or --all")
    if args.command == "fix" and args.format == "terraform" and not args.dry_run:
        parser.error("fix --format terraform writes the plan for Terraform to apply: add --dry-run")
    return run_command(args)


def run_dashboard(args: argparse.Namespace) -> int:
    """The dashboard. With nothing configured, its sandbox process starts before the dashboard
    loads, so the sandbox starts and seeds on the other core meanwhile."""
    try:
        connection = load_connection(
            platform_url=args.dashboard_platform_url,
            aws_profile=args.dashboard_aws_profile,
            insecure=args.dashboard_insecure,
            allow_http=args.dashboard_allow_http,
        )
    except PeeringError as exc:
        print(f"peering-tui: {exc.summary}", file=sys.stderr)
        return int(exc.exit_code)
    sandbox = None
    if connection is None:
        from ..sandbox.process import SandboxProcess

        sandbox = SandboxProcess.spawn()
    warm_up()  # botocore and EC2's model load while the dashboard (and its sandbox) start
    try:
        # By name: peering_core never imports the UI.
        return int(importlib.import_module("tui.app").run(args, connection, sandbox))
    finally:
        if sandbox is not None:
            sandbox.stop()


def run_command(args: argparse.Namespace) -> int:
    """One of the operator's commands, with the configured connection."""
    out = Output(json=args.json)
    try:
        connection = load_connection(
            platform_url=args.platform_url,
            aws_profile=args.aws_profile,
            insecure=args.insecure,
            allow_http=args.allow_http,
        )
    except PeeringError as exc:
        return out.failure(exc)
    if connection is None:
        return out.error(
            "NOT_CONFIGURED",
            "no platform configured: set PEERING_PLATFORM_URL, PEERING_PLATFORM_KEY and "
            "PEERING_PLATFORM_SECRET (or run `peering-tui sandbox` and use its exports)",
            ExitCode.USAGE,
        )
    mutating = args.command in ("create", "delete", "retry") or (
        args.command == "fix" and not args.dry_run
    )
    if mutating and read_only_requested(args.read_only):
        return out.error(
            "READ_ONLY",
            f"read-only mode: {args.command} changes AWS and the platform; nothing changed",
            ExitCode.REFUSED,
        )
    try:
        return asyncio.run(_run(args, connection, out, mutating=mutating))
    except PeeringError as exc:
        return out.failure(exc)
    except KeyboardInterrupt:
        return out.error(
            "INTERRUPTED",
            "interrupted; re-run the same command to continue",
            ExitCode.INTERRUPTED,
        )


async def _run(
    args: argparse.Namespace, connection: Connection, out: Output, *, mutating: bool
) -> int:
    if mutating:
        # Before any AWS call: a viewer key, or an audit log that cannot be written, stops
        # the command here, with nothing changed.
        await asyncio.to_thread(check_audit_log)
        async with connection.platform_client() as platform:
            await check_may_change(platform, args.command)
    return await runner(args.command)(args, connection, out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
