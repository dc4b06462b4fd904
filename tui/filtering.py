"""What the filter (``/``) matches: every word of the query, in any of a row's fields."""

from __future__ import annotations

from collections.abc import Iterable

from peering_core.health import PeeringView

from .formatting import platform_status


def haystack(fields: Iterable[str | None]) -> str:
    """What the filter searches: the fields, lower-cased, one string."""
    return " ".join(f.lower() for f in fields if f)


def query_words(query: str) -> list[str]:
    """The filter's words, lower-cased."""
    return query.lower().split()


def holds_all(words: Iterable[str], text: str) -> bool:
    """Whether every one of ``words`` appears in ``text`` (a :func:`haystack`)."""
    return all(word in text for word in words)


def matches(query: str, fields: Iterable[str | None]) -> bool:
    """Whether every word of ``query`` appears (case-insensitively) in one of ``fields``."""
    return holds_all(query_words(query), haystack(fields))


def peering_fields(view: PeeringView) -> list[str | None]:
    """What the filter looks at for a peering: ids, names, region, VPC, account (id and
    name), statuses, health."""
    return [
        view.peering_id,
        view.deployment_id,
        view.deployment_name,
        view.region,
        view.requester_vpc,
        view.requester_account,
        view.account,
        view.requester_cidr,
        platform_status(view),
        view.aws_status,
        view.health.value,
        *view.problems,
    ]
