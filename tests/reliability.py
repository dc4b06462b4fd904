"""Figures the reliability tests measure, printed at the end of the run (README "Reliability").

A test adds a line with :func:`report`; ``conftest.py`` prints every line after the run, so
``pytest tests/test_faults.py`` shows the numbers the README quotes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

FIGURES: list[str] = []


def report(line: str) -> None:
    """Add one line to the run's reliability summary."""
    FIGURES.append(line)


def kinds(counter: Mapping[str, int]) -> str:
    """``{"throttle": 3, "reset": 1}`` as ``"4 (throttle 3, reset 1)"``."""
    total = sum(counter.values())
    parts = ", ".join(f"{kind} {count}" for kind, count in sorted(Counter(counter).items()))
    return f"{total} ({parts})" if parts else "0"
