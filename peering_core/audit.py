"""The audit log: one JSON line per mutating action — when, who, what, target, result.

Who is the AWS caller identity (ARN) and the platform key id; never a secret. The file lives in
the user data dir (``PEERING_AUDIT_LOG`` overrides) and is created private to its owner.

The command line and the dashboard both record through :func:`audited`, so the actor and the
verdict are written the same way wherever a change is made; both call :func:`check_audit_log`
before changing anything, so a log that cannot be written stops the change, not its record.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .aws import Ec2Gateway
from .config import data_dir
from .errors import AuditLogUnwritable, AwsError, ExitCode, PeeringError
from .models import CallerIdentity
from .private_file import check_appendable, open_private


def audit_path() -> Path:
    override = os.environ.get("PEERING_AUDIT_LOG")
    return Path(override) if override else data_dir() / "audit.jsonl"


def check_audit_log(path: Path | None = None) -> Path:
    """Make sure the audit log can be appended to and is private (an existing file with more
    open permissions is made 0600; a missing one is made by the first record); raise
    :class:`AuditLogUnwritable` saying why not."""
    target = path or audit_path()
    try:
        check_appendable(target)
    except OSError as exc:
        raise AuditLogUnwritable(
            f"audit log: {exc.strerror or exc}; nothing changed (PEERING_AUDIT_LOG points it "
            "elsewhere)"
        ) from None
    return target


def actor(
    identity: CallerIdentity | None, identity_error: str | None, platform_key: str
) -> dict[str, str]:
    """Who changes things: the AWS caller (or why it is unknown) and the platform key id."""
    if identity is not None:
        who = {"awsArn": identity.arn, "awsAccount": identity.account_id}
    else:
        who = {"awsArn": f"unknown ({identity_error or 'not asked yet'})"}
    who["platformKey"] = platform_key
    return who


async def identify(ec2: Ec2Gateway) -> tuple[CallerIdentity | None, str | None]:
    """The AWS caller identity, or why it could not be had (kept to show, never raised)."""
    try:
        return await ec2.caller_identity(), None
    except AwsError as exc:
        return None, exc.code
    except OSError as exc:
        return None, str(exc)


def verdict(exc: BaseException) -> str:
    """How an action that raised ``exc`` ended: ``refused: CODE`` or ``failed: CODE``."""
    if isinstance(exc, PeeringError):
        refused = exc.exit_code in (ExitCode.USAGE, ExitCode.REFUSED)
        return f"{'refused' if refused else 'failed'}: {exc.code}"
    return f"failed: {type(exc).__name__}"


class AuditLog:
    """Appends audit records; a failure to write is reported, never silently dropped."""

    def __init__(self, path: Path | None = None, *, actor: dict[str, str] | None = None) -> None:
        self.path = path or audit_path()
        self.actor = dict(actor or {})

    def record(
        self,
        action: str,
        target: dict[str, Any],
        result: str,
        detail: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "who": self.actor,
            "action": action,
            "target": target,
            "result": result,
        }
        if detail:
            entry["detail"] = detail
        fd = open_private(self.path)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")
        return entry


@asynccontextmanager
async def audited(
    log: AuditLog, action: str, target: dict[str, Any], via: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Record ``action`` however it ends (written off the event loop); the caller may set the
    outcome's ``result`` and ``detail``. A log that cannot be written raises ``OSError``."""
    outcome: dict[str, Any] = {}
    extra = {"via": via} if via else {}
    try:
        yield outcome
    except BaseException as exc:
        message = exc.summary if isinstance(exc, PeeringError) else str(exc)
        await asyncio.to_thread(
            log.record, action, target, verdict(exc), {"message": message} | extra
        )
        raise
    detail = outcome.get("detail")
    await asyncio.to_thread(
        log.record,
        action,
        target,
        outcome.get("result", "ok"),
        (detail | extra) if detail is not None else (extra or None),
    )


def read_audit(path: Path | None = None) -> list[dict[str, Any]]:
    """Every record of the log (for tests and `peering-tui audit`-style tooling)."""
    target = path or audit_path()
    if not target.exists():
        return []
    return [json.loads(line) for line in target.read_text().splitlines() if line.strip()]
