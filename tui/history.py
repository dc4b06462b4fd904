"""The state changes of each peering seen while the dashboard watched.

AWS and the platform only report the current state; a history of what moved when is what tells
an operator that a pcx went ``active`` → ``deleted`` five minutes ago.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

from peering_core.poller import Snapshot

GONE = "gone"


@dataclass(frozen=True)
class StatusChange:
    """One observed state of a peering, from the tick where it first appeared."""

    at: datetime
    platform_status: str | None
    aws_status: str | None


class StatusHistory:
    """Per-pcx list of ``(time, platform status, AWS status)``, appended only on change."""

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self._changes: dict[str, deque[StatusChange]] = {}

    def observe(self, snapshot: Snapshot) -> set[str]:
        """Record the snapshot's states; return the pcx ids whose state changed."""
        changed: set[str] = set()
        seen: set[str] = set()
        for view in snapshot.views:
            seen.add(view.peering_id)
            state = (view.platform_status, view.aws_status)
            if self._record(view.peering_id, snapshot.taken_at, state):
                changed.add(view.peering_id)
        for peering_id, changes in self._changes.items():
            # A peering that left the snapshot was deleted (or its region is unreadable, in which
            # case the core keeps the last data and it does not leave).
            if peering_id not in seen and changes[-1].platform_status != GONE:
                changes.append(StatusChange(snapshot.taken_at, GONE, GONE))
                changed.add(peering_id)
        return changed

    def _record(self, peering_id: str, at: datetime, state: tuple[str | None, str | None]) -> bool:
        changes = self._changes.setdefault(peering_id, deque(maxlen=self.limit))
        if changes and (changes[-1].platform_status, changes[-1].aws_status) == state:
            return False
        changes.append(StatusChange(at, *state))
        return True

    def changes(self, peering_id: str) -> tuple[StatusChange, ...]:
        """Oldest first."""
        return tuple(self._changes.get(peering_id, ()))
