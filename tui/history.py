"""The state changes of each peering seen while the dashboard watched.

AWS and the platform only report the current state; a history of what moved when is what tells
an operator that a pcx went ``active`` → ``deleted`` five minutes ago.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

from peering_core.snapshot import Snapshot

GONE = "gone"

State = tuple[str | None, str | None]  # (platform status, AWS status)


def states(snapshot: Snapshot) -> dict[str, State]:
    """Every peering's (platform status, AWS status) in ``snapshot``."""
    return {v.peering_id: (v.platform_status, v.aws_status) for v in snapshot.views}


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
        return self.observe_states(snapshot.taken_at, states(snapshot))

    def observe_states(
        self, at: datetime, now: dict[str, State], before: dict[str, State] | None = None
    ) -> set[str]:
        """Record ``now`` (pcx → state) as of ``at``. With ``before`` (the previous tick's
        states), only the peerings whose state moved are visited: a tick of 5,000 unchanged
        peerings costs next to nothing."""
        changed: set[str] = set()
        for peering_id, state in now.items():
            if before is not None and before.get(peering_id) == state:
                continue
            if self._record(peering_id, at, state):
                changed.add(peering_id)
        gone = (before.keys() if before is not None else self._changes.keys()) - now.keys()
        for peering_id in gone:
            # A peering that left the snapshot was deleted (or its region is unreadable, in which
            # case the core keeps the last data and it does not leave).
            changes = self._changes.get(peering_id)
            if changes and changes[-1].platform_status != GONE:
                changes.append(StatusChange(at, GONE, GONE))
                changed.add(peering_id)
        return changed

    def _record(self, peering_id: str, at: datetime, state: State) -> bool:
        changes = self._changes.setdefault(peering_id, deque(maxlen=self.limit))
        if changes and (changes[-1].platform_status, changes[-1].aws_status) == state:
            return False
        changes.append(StatusChange(at, *state))
        return True

    def changes(self, peering_id: str) -> tuple[StatusChange, ...]:
        """Oldest first."""
        return tuple(self._changes.get(peering_id, ()))
