"""How ``make test`` deals the suite to pytest-xdist's workers (``--dist loadgroup``).

xdist's ``load`` mode sends tests in batches of consecutive items: the first batch of 40 went to
one worker and held every heavy test, which then ran one after another for five minutes while
the other workers had finished. Here the units of work are each heavy test on its own and every
other module whole (its module-scoped sandbox is built once), handed out one unit at a time to
whichever worker is free: the heavy tests first, then the modules, the largest first, so what is
left for the end is small.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from xdist.scheduler import LoadScopeScheduling

HEAVY_GROUP = "heavy"
_HEAVY_SUFFIX = re.compile(rf"@{HEAVY_GROUP}-\d+$")


def order(items: list[pytest.Item]) -> None:
    """Heavy tests first (each in an ``xdist_group`` of its own, which ``--dist loadgroup``
    appends to its node id), then the modules, the ones with the most tests first; pytest's
    order within a module is kept."""
    sizes = Counter(item.nodeid.split("::", 1)[0] for item in items)
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(item.nodeid.split("::", 1)[0], index)
    heavy = {item.nodeid for item in items if item.get_closest_marker("heavy") is not None}
    for number, item in enumerate(item for item in items if item.nodeid in heavy):
        # A number, not the test's name: a parametrized name's "[…]" would hide the suffix.
        item.add_marker(pytest.mark.xdist_group(f"{HEAVY_GROUP}-{number}"))

    def key(item: pytest.Item) -> tuple[int, int, int]:
        module = item.nodeid.split("::", 1)[0]
        return (0 if item.nodeid in heavy else 1, -sizes[module], first_seen[module])

    items.sort(key=key)  # stable: a module's tests keep their order


class HeavyFirstScheduling(LoadScopeScheduling):
    """Units: a heavy test alone (its node id ends ``@heavy-<n>``), any other test with its
    module; dealt in collection order (see :func:`order`), one unit to each free worker."""

    def __init__(self, config: pytest.Config, log: object = None) -> None:
        super().__init__(config, log)  # type: ignore[arg-type]
        # The order is :func:`order`'s; xdist would sort the units by their number of tests.
        config.option.loadscopereorder = False

    def _split_scope(self, nodeid: str) -> str:
        if _HEAVY_SUFFIX.search(nodeid):
            return nodeid
        return nodeid.split("::", 1)[0]
