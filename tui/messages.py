"""Messages that workers post back to the UI (harlequin habit: all of them in one place)."""

from __future__ import annotations

from textual.message import Message

from peering_core.snapshot import Snapshot

from .rows import FleetRows
from .session import Session


class SessionOpened(Message):
    """Both clients are ready and the AWS identity is known (or known to be unknown)."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session


class SessionFailed(Message):
    """The sandbox could not start or seed; the dashboard has nothing to poll."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class SandboxStage(Message):
    """The embedded sandbox moved on (starting, seeding); shown in the header. ``made``: it
    made something worth polling for."""

    def __init__(self, stage: str, *, made: bool = False) -> None:
        super().__init__()
        self.stage = stage
        self.made = made


class SnapshotArrived(Message):
    """One tick of the poller: both sides as of ``snapshot.taken_at``."""

    def __init__(self, snapshot: Snapshot, rows: FleetRows | None = None) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.rows = rows  # built on the poll thread; None: the app builds them

    def can_replace(self, message: Message) -> bool:
        # A newer tick holds everything an older, still queued one would have shown.
        return isinstance(message, SnapshotArrived)


class PollingFailed(Message):
    """The poller itself broke (not one source: those arrive as stale snapshots)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error
