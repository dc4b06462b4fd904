"""The platform's own audit log: one JSON line per change asked of it, however it ended.

``at``, ``keyId``, ``role``, ``tenantId``, ``address`` (the peer that asked), ``action`` (the
method and route, or the offline command), ``object`` (the ids it named or made), ``result``
(``ok``, ``refused: CODE``, ``failed: CODE``) and the HTTP ``status``. Never a secret: keys
are named by id, and a new key's secret is not part of what was made.

The file is created private to its owner (0600); an existing one is made so, or refused.
Lines are appended on a thread of their own, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..private_file import check_appendable, open_private

log = logging.getLogger("peering_core.platform")


class PlatformAuditLog:
    """Appends the platform's audit records to ``path`` (``None``: records go nowhere)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="platform-audit")

    def check(self) -> None:
        """Raise ``OSError`` now, at start-up, if the log cannot be written."""
        if self.path is not None:
            check_appendable(self.path)

    def write(self, entry: dict[str, Any]) -> None:
        """Append one record (blocking)."""
        if self.path is None:
            return
        line = json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds")} | entry)
        fd = open_private(self.path)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    async def record(self, **entry: Any) -> None:
        """Append one record off the event loop; a failure is logged, not raised (the change
        it records has been made)."""
        if self.path is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._writer, self.write, entry)
        except OSError as exc:
            log.error("audit log %s: %s", self.path, exc)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
