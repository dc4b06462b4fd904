"""What changed between two snapshots of the fleet, as events for ``peering-tui watch``.

Pure: two :class:`~peering_core.snapshot.Snapshot` in, a list of :class:`FleetChange` out.
A peering can appear, disappear, change its platform or AWS status, or change its health
(the verdict or its problems); a source (the platform, an AWS region) can start failing or
come back. A countdown that merely ticks ("AWS expires the request in 6d 22h") is not a
change; the request expiring is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from .durations import countdown
from .health import PeeringView
from .snapshot import Snapshot, SourceState


class ChangeKind(StrEnum):
    APPEARED = "appeared"
    DISAPPEARED = "disappeared"
    PLATFORM_STATUS = "platform-status"
    AWS_STATUS = "aws-status"
    HEALTH = "health"
    SOURCE_FAILING = "source-failing"
    SOURCE_RECOVERED = "source-recovered"


class FleetChange(BaseModel):
    """One change: when, what kind, which peering (or source), and the state before and after
    (``None`` for a peering that was not there)."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    kind: ChangeKind
    peering_id: str | None = None
    deployment_id: str | None = None
    deployment_name: str | None = None
    region: str | None = None
    account: str | None = None
    source: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as ``watch --json`` prints it (camelCase, nothing unknown)."""
        body: dict[str, Any] = {"time": self.at.isoformat(), "event": self.kind.value}
        names = {
            "peeringId": self.peering_id,
            "deploymentID": self.deployment_id,
            "deploymentName": self.deployment_name,
            "region": self.region,
            "account": self.account,
            "source": self.source,
        }
        body |= {k: v for k, v in names.items() if v is not None}
        return body | {"before": self.before, "after": self.after}

    def to_text(self) -> str:
        """The event as one readable line."""
        when = self.at.strftime("%Y-%m-%d %H:%M:%S")
        if self.source is not None:
            error = (self.after or {}).get("error")
            what = f"failing: {error}" if error else "back"
            return f"{when}  {self.kind.value:<16}  {self.source}  {what}"
        where = f"{self.deployment_name} ({self.deployment_id})"
        return f"{when}  {self.kind.value:<16}  {self.peering_id}  {where}  {_transition(self)}"


def _transition(change: FleetChange) -> str:
    before, after = change.before, change.after
    if change.kind is ChangeKind.APPEARED and after is not None:
        return _state_text(after)
    if change.kind is ChangeKind.DISAPPEARED and before is not None:
        return f"was {_state_text(before)}"
    key = {
        ChangeKind.PLATFORM_STATUS: "platformStatus",
        ChangeKind.AWS_STATUS: "awsStatus",
        ChangeKind.HEALTH: "health",
    }[change.kind]
    old, new = (before or {}).get(key), (after or {}).get(key)
    line = f"{old or '-'} → {new or '-'}"
    if change.kind is ChangeKind.HEALTH and after and after.get("problems"):
        line += ": " + "; ".join(after["problems"])
    return line


def _state_text(state: Mapping[str, Any]) -> str:
    problems = state.get("problems") or []
    return (
        f"platform {state.get('platformStatus') or 'unconfirmed'}, "
        f"AWS {state.get('awsStatus') or '-'}, {state.get('health')}"
        + (f": {'; '.join(problems)}" if problems else "")
    )


def peering_state(view: PeeringView) -> dict[str, Any]:
    """What a peering's events carry as ``before``/``after``."""
    return {
        "platformStatus": view.platform_status,
        "awsStatus": view.aws_status,
        "health": view.health.value,
        "problems": list(view.problems),
    }


def _steady_problems(view: PeeringView, now: datetime) -> tuple[str, ...]:
    """The problems without the countdown that changes as time passes."""
    if view.expires_at is None:
        return view.problems
    left = countdown(view.expires_at, now)
    if left == "expired":
        return view.problems
    return tuple(p.replace(f" in {left}", " in …") for p in view.problems)


def _peering_changes(
    before: PeeringView | None, after: PeeringView | None, previous_at: datetime, now: datetime
) -> list[FleetChange]:
    view = after or before
    assert view is not None

    def change(
        kind: ChangeKind, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> FleetChange:
        return FleetChange(
            at=now,
            kind=kind,
            peering_id=view.peering_id,
            deployment_id=view.deployment_id,
            deployment_name=view.deployment_name,
            region=view.region,
            account=view.requester_account or None,
            before=old,
            after=new,
        )

    if before is None:
        return [change(ChangeKind.APPEARED, None, peering_state(view))]
    if after is None:
        return [change(ChangeKind.DISAPPEARED, peering_state(view), None)]
    old, new = peering_state(before), peering_state(after)
    changes = [
        change(kind, {key: old[key]}, {key: new[key]})
        for kind, key in (
            (ChangeKind.PLATFORM_STATUS, "platformStatus"),
            (ChangeKind.AWS_STATUS, "awsStatus"),
        )
        if old[key] != new[key]
    ]
    if before.health != after.health or _steady_problems(before, previous_at) != _steady_problems(
        after, now
    ):
        changes.append(
            change(
                ChangeKind.HEALTH,
                {"health": old["health"], "problems": old["problems"]},
                {"health": new["health"], "problems": new["problems"]},
            )
        )
    return changes


def _source_changes(
    before: Mapping[str, SourceState], after: Mapping[str, SourceState], now: datetime
) -> list[FleetChange]:
    changes = []
    for name, state in sorted(after.items()):
        was = before.get(name)
        was_ok = was is None or was.ok
        if was_ok and not state.ok and state.error is not None:
            kind = ChangeKind.SOURCE_FAILING
        elif not was_ok and state.ok:
            kind = ChangeKind.SOURCE_RECOVERED
        else:
            continue
        changes.append(
            FleetChange(
                at=now,
                kind=kind,
                source=name,
                before={"ok": was_ok, "error": was.error if was else None},
                after={"ok": state.ok, "error": state.error},
            )
        )
    return changes


def fleet_changes(before: Snapshot | None, after: Snapshot) -> list[FleetChange]:
    """Every change from ``before`` to ``after``; with no ``before``, every peering of
    ``after`` as appeared (and every failing source as failing)."""
    now = after.taken_at
    previous_at = before.taken_at if before is not None else now
    old = {v.peering_id: v for v in before.views} if before is not None else {}
    new = {v.peering_id: v for v in after.views}
    changes = _source_changes(before.sources if before is not None else {}, after.sources, now)
    for peering_id, view in new.items():
        was = old.get(peering_id)
        if was is view:
            continue  # the tick kept the very same object: nothing changed
        changes += _peering_changes(was, view, previous_at, now)
    for peering_id in sorted(old.keys() - new.keys()):
        changes += _peering_changes(old[peering_id], None, previous_at, now)
    return changes
