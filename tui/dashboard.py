"""What a screen may ask of the dashboard app, as a Protocol.

Screens and the command palette depend on this, not on :class:`tui.app.PeeringApp`: the app
sits above the screens (an import-linter layers contract), and a screen can be tested against
any app that offers these few things.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from peering_core.errors import PeeringError
from peering_core.health import DeploymentView, PeeringView
from peering_core.snapshot import Snapshot

from .history import StatusHistory
from .rows import FleetRows
from .session import Session

R = TypeVar("R", bound=BaseModel)


class Dashboard(Protocol):
    """The app as its screens see it."""

    snapshot: Snapshot | None
    rows: FleetRows
    read_only: bool
    session: Session | None
    history: StatusHistory
    keymap: dict[str, str]

    def now(self) -> datetime:
        """The dashboard's clock (fixed in snapshot tests)."""
        ...

    def refuse_read_only(self) -> bool:
        """True (and a notification) when read-only mode forbids changing anything."""
        ...

    def poll_now(self) -> None:
        """Poll both sides now (after a change, so the dashboard's rows catch up)."""
        ...

    async def audit(
        self,
        action: str,
        target: dict[str, str],
        *,
        error: BaseException | None = None,
        detail: dict[str, Any] | None = None,
        result: str | None = None,
    ) -> None:
        """Record a mutating action in the audit log, as the command line does."""
        ...

    def open_diff(self, peering_id: str) -> None: ...

    def open_detail(self, peering_id: str) -> None: ...

    def open_create(self, deployment: DeploymentView | None) -> None: ...

    def open_delete(self, view: PeeringView | None) -> None: ...

    def open_retry(self, view: PeeringView | None) -> None: ...

    def go_to_deployment(self, deployment_id: str) -> None: ...


async def audited_run(
    dashboard: Dashboard, action: str, target: dict[str, str], work: Awaitable[R]
) -> R | PeeringError | OSError:
    """Run a workflow and audit it however it ends; its result, or the error it stopped with
    (the library's, or the network's), for the screen to show."""
    try:
        result = await work
    except (PeeringError, OSError) as exc:
        await dashboard.audit(action, target, error=exc)
        return exc
    await dashboard.audit(action, target, detail=result.model_dump(mode="json"))
    return result
