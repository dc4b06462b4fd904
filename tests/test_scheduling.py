"""How ``make test`` deals the suite to its workers (:mod:`tests.scheduling`)."""

from __future__ import annotations

from typing import Any

import pytest

from .scheduling import HeavyFirstScheduling, order


class Item:
    """What :func:`order` reads of a collected test: its node id, name and markers."""

    def __init__(self, nodeid: str, *, heavy: bool = False) -> None:
        self.nodeid = nodeid
        self.name = nodeid.rsplit("::", 1)[1]
        self.markers: list[Any] = [pytest.mark.heavy.mark] if heavy else []

    def get_closest_marker(self, name: str) -> Any:
        return next((m for m in self.markers if m.name == name), None)

    def add_marker(self, marker: Any) -> None:
        self.markers.append(marker.mark)


def test_heavy_tests_come_first_each_in_a_group_then_the_largest_modules() -> None:
    items = [
        Item("tests/test_a.py::test_one"),
        Item("tests/test_b.py::test_one"),
        Item("tests/test_b.py::test_slow", heavy=True),
        Item("tests/test_b.py::test_two"),
        Item("tests/test_c.py::test_slow[1]", heavy=True),
    ]
    order(items)  # type: ignore[arg-type]
    assert [i.nodeid for i in items] == [
        "tests/test_b.py::test_slow",
        "tests/test_c.py::test_slow[1]",
        "tests/test_b.py::test_one",
        "tests/test_b.py::test_two",
        "tests/test_a.py::test_one",
    ]
    groups = [m.args for i in items for m in i.markers if m.name == "xdist_group"]
    assert groups == [("heavy-0",), ("heavy-1",)]


def test_a_heavy_test_is_a_unit_of_its_own_and_any_other_test_goes_with_its_module() -> None:
    split = HeavyFirstScheduling._split_scope
    heavy = "tests/test_b.py::test_slow[x@y]@heavy-12"
    assert split(None, heavy) == heavy  # type: ignore[arg-type]
    assert split(None, "tests/test_b.py::test_one[a@heavy-1]") == "tests/test_b.py"  # type: ignore[arg-type]
    assert split(None, "tests/tui/test_c.py::test_two") == "tests/tui/test_c.py"  # type: ignore[arg-type]
