"""One tick of both sides: what the dashboard, ``ls`` and ``watch`` show, and how fresh each
source of it is."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from .accounts import AccountRead
from .drift import PeeringDiff
from .health import DeploymentView, PeeringView
from .models import AwsPeering, Deployment, DeploymentVpc, PlatformPeering, Resource

PLATFORM = "platform"


def aws_source(region: str, account: str | None = None) -> str:
    """A region's source name: ``aws:us-east-1``, or ``aws:staging/us-east-1`` for a
    configured account."""
    return f"aws:{account}/{region}" if account else f"aws:{region}"


def source_account(name: str) -> str | None:
    """The configured account a source name belongs to (``aws:staging/us-east-1`` →
    ``staging``), None for the platform and the standard chain's regions."""
    where = name.removeprefix("aws:")
    return where.split("/", 1)[0] if name.startswith("aws:") and "/" in where else None


class SourceState(BaseModel):
    """How fresh one source's data is, and what went wrong if it is stale."""

    model_config = ConfigDict(frozen=True)

    name: str
    fetched_at: datetime | None = None
    error: str | None = None
    failing_since: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.fetched_at is not None

    def age(self, now: datetime) -> float | None:
        return (now - self.fetched_at).total_seconds() if self.fetched_at else None


class Snapshot(BaseModel):
    """Everything the dashboard shows, as of ``taken_at``."""

    model_config = ConfigDict(frozen=True)

    taken_at: datetime
    deployments: tuple[Deployment, ...] = ()
    vpcs: tuple[DeploymentVpc, ...] = ()
    records: tuple[PlatformPeering, ...] = ()
    resources: tuple[Resource, ...] = ()
    # Source name (account and region) -> the pcxs read there.
    pcxs: dict[str, tuple[AwsPeering, ...]] = Field(default_factory=dict)
    diffs: dict[str, PeeringDiff] = Field(default_factory=dict)
    views: tuple[PeeringView, ...] = ()
    deployment_views: tuple[DeploymentView, ...] = ()
    sources: dict[str, SourceState] = Field(default_factory=dict)
    # Each customer account, who it is and whether it could be read.
    accounts: tuple[AccountRead, ...] = ()
    calls: int = 0

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sources.values())

    @property
    def failed_accounts(self) -> list[AccountRead]:
        return [a for a in self.accounts if not a.ok]

    @property
    def failing(self) -> list[SourceState]:
        return [s for s in self.sources.values() if not s.ok]

    def view(self, peering_id: str) -> PeeringView | None:
        return next((v for v in self.views if v.peering_id == peering_id), None)
