"""The header's status line: live, paused, failing (which source, since when)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from enum import StrEnum

from rich.text import Text

from peering_core.durations import age
from peering_core.health import Health
from peering_core.snapshot import Snapshot, source_account

from .formatting import HEALTH_STYLE, clock_time


class PollState(StrEnum):
    """What the poller is doing, as the header says it."""

    STARTING = "starting"
    LIVE = "live"
    PAUSED = "paused"
    DIALOG = "dialog"
    FIXED = "fixed"
    DOWN = "down"


def status_line(
    state: PollState,
    snapshot: Snapshot | None,
    now: datetime,
    interval: float,
    stage: str = "",
) -> Text:
    """The header's second line: live / paused / failing (which source, since when)."""
    line = Text()
    failing = snapshot.failing if snapshot is not None else []
    if state is PollState.STARTING:
        line.append(f"… {stage or 'connecting'}", style="bold")
    elif state is PollState.DOWN:
        line.append(f"✗ not polling: {stage}", style="bold red")
    elif state is PollState.FIXED:
        line.append("■ fixed snapshot (not polling)", style="bold")
    elif state is PollState.PAUSED:
        line.append("‖ paused (p resumes)", style="bold yellow")
    elif state is PollState.DIALOG:
        line.append("‖ paused while the dialog is open", style="yellow")
    elif failing:
        line.append("✗ failing", style="bold red")
    else:
        line.append("● live", style="bold green")
    if snapshot is not None:
        # The fleet's health in the words and symbols of the tables: what triage starts from.
        counts = Counter(view.health for view in snapshot.views)
        for health in (Health.ERROR, Health.WARNING, Health.OK):
            if counts[health]:
                line.append(" · ")
                line.append(
                    f"{health.symbol} {counts[health]} {health.value}", style=HEALTH_STYLE[health]
                )
        line.append(f" · refreshed {age(snapshot.taken_at, now)} ago")
        if state in (PollState.LIVE, PollState.PAUSED, PollState.DIALOG):
            line.append(f" · every {interval:g}s")
    if stage and state not in (PollState.STARTING, PollState.DOWN):
        line.append(f" · {stage}", style="italic")
    accounts = [a for a in snapshot.accounts if a.configured] if snapshot is not None else []
    if accounts:
        # Each account's state; a failed one once, with why and the fix, not once per region.
        line.append(" · accounts")
        for account in accounts:
            mark, style = ("✓", "green") if account.ok else ("✗", "bold red")
            line.append(f" {mark} {account.name}", style=style)
    failed = {a.name for a in accounts if not a.ok}
    for account in accounts:
        if not account.ok:
            line.append(f" · {account.problem(next(iter(account.failed)))}", style="red")
    for source in failing:
        if source_account(source.name) in failed:
            continue
        since = clock_time(source.failing_since)
        line.append(f" · {source.name} stale since {since}", style="red")
        if source.error:
            line.append(f": {source.error}", style="red")
    return line
