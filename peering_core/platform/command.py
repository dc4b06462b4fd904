"""``peering-tui platform …``: serving the platform API (its arguments are in
:mod:`peering_core.cli.parser`).

The server stack (FastAPI, uvicorn) is imported only when ``platform serve`` runs, so an
operator install without the ``platform`` extra runs every other command.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import platformdirs
from pydantic import SecretStr

from .. import rules
from ..errors import ExitCode


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("peering-tui")) / "platform.sqlite3"


def missing_extra(command: str, extra: str, exc: ImportError) -> int:
    """Say which extra installs what ``command`` needs; the usage exit code."""
    print(
        f"peering-tui {command}: {exc.name or 'a module it needs'} is not installed; "
        f"install peering-tui[{extra}]",
        file=sys.stderr,
    )
    return ExitCode.USAGE


def run_platform(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``platform COMMAND``."""
    if args.platform_command != "serve":
        parser.parse_args(["platform", "--help"])
        return ExitCode.USAGE
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    """``platform serve``: the API on ``--host``/``--port`` until interrupted."""
    try:
        import uvicorn

        from .server import create_app
    except ImportError as exc:
        return missing_extra("platform serve", "platform", exc)
    from ..aws import AwsAccess
    from .ec2 import PlatformEc2
    from .service import PlatformService
    from .store import Store

    key = os.environ.get("PEERING_PLATFORM_KEY", "")
    secret = os.environ.get("PEERING_PLATFORM_SECRET", "")
    if not key or not secret:
        print(
            "peering-tui platform serve: set PEERING_PLATFORM_KEY and PEERING_PLATFORM_SECRET "
            "to the API credentials the platform should accept",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    service = PlatformService(
        Store(args.db or default_db_path()),
        PlatformEc2(AwsAccess(), default_region=region),
        reserved_cidrs=args.reserved_cidrs or rules.DEFAULT_RESERVED_CIDRS,
        accept_delay=args.accept_delay,
    )
    app = create_app(
        service, key=key, secret=SecretStr(secret), requests_per_minute=args.requests_per_minute
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return ExitCode.OK
