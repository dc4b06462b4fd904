"""The audit log: one JSON line per mutating action — when, who, what, target, result.

Who is the AWS caller identity (ARN) and the platform key id; never a secret. The file lives in
the user data dir (``PEERING_AUDIT_LOG`` overrides) and is created private to its owner.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import data_dir


def audit_path() -> Path:
    override = os.environ.get("PEERING_AUDIT_LOG")
    return Path(override) if override else data_dir() / "audit.jsonl"


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")
        return entry


def read_audit(path: Path | None = None) -> list[dict[str, Any]]:
    """Every record of the log (for tests and `peering-tui audit`-style tooling)."""
    target = path or audit_path()
    if not target.exists():
        return []
    return [json.loads(line) for line in target.read_text().splitlines() if line.strip()]
