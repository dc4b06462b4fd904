"""``peering-tui sandbox``: moto and the platform on loopback, seeded, until interrupted (its
arguments are in :mod:`peering_core.cli.parser`)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading

from ..errors import ExitCode
from ..platform.command import missing_extra


def run_sandbox(args: argparse.Namespace) -> int:
    """Start, seed, print the exports on stdout, and wait for ctrl+c or SIGTERM."""
    try:
        from .seed import OPERATOR_TENANT
        from .servers import Sandbox
    except ImportError as exc:
        return missing_extra("sandbox", "sandbox", exc)
    print("starting the sandbox: a moto server and the platform on loopback...", file=sys.stderr)
    sandbox = Sandbox.start(accept_delay=args.accept_delay, second_account=True)
    try:
        report = asyncio.run(sandbox.seed(demo=not args.empty))
        print(
            f"sandbox ready: {len(report.deployments)} deployments, "
            f"{len(report.vpcs)} customer VPCs, {len(report.peerings)} peerings",
            file=sys.stderr,
        )
        if not args.empty:
            print(
                "  the demo shows every state on purpose: office-net -> fleet-staging is failed "
                "(its CIDR overlaps a route of the deployment), apac-edge's pcx is deleted "
                "behind the platform's back, eu-prod's routes and rules drifted",
                file=sys.stderr,
            )
        print("# the platform's admin key: every tenant, and the tenants and keys themselves")
        for name, value in sandbox.environment().items():
            print(f"export {name}={value}")
        block = sandbox.accounts_config()
        if block and sandbox.workdir is not None:
            # The customer's two accounts, as a config file names them (no credentials: prod
            # is the keys above, staging a role assumed with them).
            path = sandbox.workdir / "config.toml"
            path.write_text(block)
            print(f"# the customer's AWS accounts ({path}):")
            for line in block.splitlines():
                print(f"#   {line}")
            print(f"export PEERING_CONFIG={path}")
        tenant = OPERATOR_TENANT
        print(f"# an operator key of tenant {tenant} (its deployments only): to act as it,")
        print("# run these two lines after the block above")
        for name, value in sandbox.operator_environment().items():
            print(f"# export {name}={value}")
        sys.stdout.flush()
        print("press ctrl+c to stop", file=sys.stderr)
        _wait_for_signal()
    finally:
        sandbox.stop()
    return ExitCode.OK


def _wait_for_signal() -> None:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
