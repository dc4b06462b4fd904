"""Times as an operator reads them (``12s``, ``4m``, ``6d 23h``) and as JSON writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def age(when: datetime | None, now: datetime) -> str:
    """A short age like ``12s``, ``4m``, ``3h``, ``2d``; ``-`` when unknown."""
    if when is None:
        return "-"
    seconds = int((now - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def countdown(until: datetime | None, now: datetime) -> str:
    """Time left until ``until``: ``6d 23h``, ``5h 10m``, ``42m``, ``expired``; ``-`` when none."""
    if until is None:
        return "-"
    seconds = int((until - now).total_seconds())
    if seconds <= 0:
        return "expired"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{max(minutes, 1)}m"


def iso(when: datetime | None) -> str | None:
    """A timestamp for JSON: ISO 8601 in UTC with ``Z``, as the platform API writes them."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
