"""``peering-tui platform …``: serving the platform API, and administering its tenants and keys
offline on the store (for bootstrapping and break-glass). Their arguments are in
:mod:`peering_core.cli.parser`.

The server stack (FastAPI, uvicorn) is imported only when ``platform serve`` runs, so an
operator install without the ``platform`` extra runs every other command.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, SecretStr

from .. import rules
from ..errors import ExitCode
from ..printable import harmless, text_table
from .audit_log import PlatformAuditLog
from .errors import PlatformError
from .store import Store
from .tenancy import Tenancy


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("peering-tui")) / "platform.sqlite3"


def store_location(args: argparse.Namespace) -> tuple[str | Path, Path]:
    """Where the store is (a PostgreSQL URL or a SQLite file) and the folder of its audit log
    by default: ``--database-url``, ``PEERING_PLATFORM_DATABASE_URL``, ``--db``, the default."""
    url = getattr(args, "database_url", None) or os.environ.get("PEERING_PLATFORM_DATABASE_URL")
    if url:
        return url, args.db or default_db_path()
    db: Path = args.db or default_db_path()
    return db, db


def default_audit_path(db: Path) -> Path:
    """The platform's audit log sits beside its store, so serving and offline administration
    of one store write one log."""
    return db.parent / "platform-audit.jsonl"


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
    if args.platform_command == "serve":
        return serve(args)
    if args.platform_command == "openapi":
        return print_openapi()
    if args.platform_command in ("tenants", "keys") and getattr(args, "action", None):
        return administer(args)
    parser.parse_args(
        ["platform", *([args.platform_command] if args.platform_command else []), "--help"]
    )
    return ExitCode.USAGE


def _tls(args: argparse.Namespace) -> dict[str, str] | str:
    """uvicorn's TLS settings, or why they cannot be used."""
    cert, key = args.tls_cert, args.tls_key
    if bool(cert) != bool(key):
        return "--tls-cert and --tls-key go together"
    if not cert:
        return {}
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        if not Path(path).is_file():
            return f"{flag} {path}: no such file"
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


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

    key = os.environ.get("PEERING_PLATFORM_KEY", "")
    secret = os.environ.get("PEERING_PLATFORM_SECRET", "")
    if not key or not secret:
        print(
            "peering-tui platform serve: set PEERING_PLATFORM_KEY and PEERING_PLATFORM_SECRET "
            "to the admin credentials the platform should accept",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    tls = _tls(args)
    if isinstance(tls, str):
        print(f"peering-tui platform serve: {tls}", file=sys.stderr)
        return ExitCode.USAGE
    location, db = store_location(args)
    audit = PlatformAuditLog(args.audit_log or default_audit_path(db))
    try:
        audit.check()
    except OSError as exc:
        print(f"peering-tui platform serve: audit log: {exc.strerror or exc}", file=sys.stderr)
        return ExitCode.FAILED
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    service = PlatformService(
        Store(location),
        PlatformEc2(AwsAccess(), default_region=region),
        reserved_cidrs=args.reserved_cidrs or rules.DEFAULT_RESERVED_CIDRS,
        accept_delay=args.accept_delay,
        lease_seconds=args.lease_seconds,
        reconcile_seconds=args.reconcile_seconds,
        retry_cap=args.retry_max_seconds,
    )
    app = create_app(
        service,
        key=key,
        secret=SecretStr(secret),
        requests_per_minute=args.requests_per_minute,
        audit=audit,
        metrics_public=args.metrics_public,
    )
    trusted = ",".join(args.forwarded_allow_ips or [])
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",
        # X-Forwarded-For names the client only when a trusted proxy sent it; by default no
        # peer is trusted, so a client cannot pick the address its failures count against.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        **tls,  # type: ignore[arg-type]
    )
    return ExitCode.OK


def print_openapi() -> int:
    """``platform openapi``: the API's document on stdout (ASCII: no invisible character of
    the name patterns lands in a checked-in file as itself)."""
    try:
        from .server import openapi_document
    except ImportError as exc:
        return missing_extra("platform openapi", "platform", exc)
    print(json.dumps(openapi_document(), indent=2, ensure_ascii=True))
    return ExitCode.OK


# --- offline administration ------------------------------------------------------------


def _show(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)


def administer(args: argparse.Namespace) -> int:
    """``platform tenants create|list`` and ``platform keys create|list|revoke`` on the store
    (made if there is none yet: bootstrapping comes before the first ``serve``)."""
    location, db = store_location(args)
    audit = PlatformAuditLog(args.audit_log or default_audit_path(db))
    work: dict[tuple[str, str], Callable[[Tenancy], Awaitable[tuple[Any, str, dict[str, str]]]]]
    work = {
        ("tenants", "create"): lambda t: _create_tenant(t, args.name),
        ("tenants", "list"): _list_tenants,
        ("keys", "create"): lambda t: _create_key(t, args.tenant, args.role),
        ("keys", "list"): lambda t: _list_keys(t, args.tenant),
        ("keys", "revoke"): lambda t: _revoke_key(t, args.key),
    }
    action = (args.platform_command, args.action)
    try:
        payload, text, made = asyncio.run(_on_store(location, work[action]))
    except PlatformError as exc:
        _record(audit, action, {}, f"refused: {exc.code}")
        return _refusal(args.json, exc)
    _record(audit, action, made, "ok")
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        print(harmless(text, keep_newlines=True))
    return ExitCode.OK


async def _on_store(
    location: str | Path, work: Callable[[Tenancy], Awaitable[tuple[Any, str, dict[str, str]]]]
) -> tuple[Any, str, dict[str, str]]:
    store = Store(location)
    await store.open()
    try:
        return await work(Tenancy(store))
    finally:
        await store.close()


def _record(
    audit: PlatformAuditLog, action: tuple[str, str], made: dict[str, str], result: str
) -> None:
    if action[1] == "list":
        return
    try:
        audit.write(
            {
                "keyId": f"offline ({getpass.getuser()})",
                "role": "admin",
                "tenantId": None,
                "address": "local",
                "action": f"platform {' '.join(action)}",
                "object": made,
                "result": result,
            }
        )
    except OSError as exc:
        print(f"peering-tui platform: audit log: {exc.strerror or exc}", file=sys.stderr)


def _refusal(as_json: bool, exc: PlatformError) -> int:
    exit_code = ExitCode.USAGE if exc.status in (400, 404, 409) else ExitCode.FAILED
    if as_json:
        body = {"code": exc.code, "message": exc.message, "exitCode": int(exit_code)}
        print(json.dumps({"error": body}, indent=2))
    else:
        print(f"peering-tui: {harmless(exc.message)} [{exc.code}]", file=sys.stderr)
    return exit_code


async def _create_tenant(tenancy: Tenancy, name: str) -> tuple[Any, str, dict[str, str]]:
    tenant = await tenancy.create_tenant({"tenantName": name})
    return _show(tenant), f"tenant {tenant.name} created: {tenant.id}", {"tenantId": tenant.id}


async def _list_tenants(tenancy: Tenancy) -> tuple[Any, str, dict[str, str]]:
    tenants = await tenancy.tenants()
    rows = [["TENANT", "NAME", "CREATED"]] + [
        [t.id, t.name, t.create_at.isoformat()] for t in tenants
    ]
    return [_show(t) for t in tenants], text_table(rows), {}


async def _create_key(tenancy: Tenancy, tenant: str, role: str) -> tuple[Any, str, dict[str, str]]:
    key = await tenancy.create_key({"tenantId": tenant, "role": role}, scope=None, by_name=True)
    text = (
        f"{key.role.value} key for tenant {key.tenant_id} (shown only now; the platform keeps "
        f"only a hash of the secret):\n"
        f"export PEERING_PLATFORM_KEY={key.key}\n"
        f"export PEERING_PLATFORM_SECRET={key.secret.get_secret_value()}"
    )
    return _show(key), text, {"keyId": key.key_id, "tenantId": key.tenant_id}


async def _list_keys(tenancy: Tenancy, tenant: str | None) -> tuple[Any, str, dict[str, str]]:
    scope = (await tenancy.tenant(tenant, scope=None, by_name=True)).id if tenant else None
    keys = await tenancy.keys(scope=scope)
    rows = [["KEY", "ROLE", "TENANT", "CREATED", "REVOKED"]] + [
        [
            k.key_id,
            k.role.value,
            k.tenant_id,
            k.create_at.isoformat(),
            k.revoked_at.isoformat() if k.revoked_at else "-",
        ]
        for k in keys
    ]
    return [_show(k) for k in keys], text_table(rows), {}


async def _revoke_key(tenancy: Tenancy, key_id: str) -> tuple[Any, str, dict[str, str]]:
    key = await tenancy.revoke_key(key_id, scope=None)
    return _show(key), f"key {key.key_id} revoked", {"keyId": key.key_id}
