"""A workflow's steps shown live, one line per step, updated in place as events arrive."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from peering_core.workflow import Progress

MARKS: dict[str, tuple[str, str]] = {
    "started": ("…", "bold"),
    "done": ("✓", "green"),
    "skipped": ("=", "dim"),
    "failed": ("✗", "bold red"),
}


class StepLog(Static):
    """``✓ request   requested pcx-…`` lines, keyed by step."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self._steps: dict[str, tuple[str, str]] = {}

    def clear(self) -> None:
        """Forget every step (before a resume re-runs them)."""
        self._steps.clear()
        self.remove_class("-active")
        self.update("")

    def record(self, progress: Progress) -> None:
        """Show ``progress`` on its step's line (a later event of a step replaces it)."""
        self._steps[progress.step.value] = (progress.state, progress.message)
        self._show()

    def fail(self, step: str, message: str) -> None:
        """Mark ``step`` failed (the workflow raised there)."""
        self._steps[step or "error"] = ("failed", message)
        self._show()

    def lines(self) -> list[str]:
        """The plain text of each line, for tests and screen readers."""
        return [f"{MARKS[s][0]} {step} {m}" for step, (s, m) in self._steps.items()]

    def _show(self) -> None:
        self.add_class("-active")
        text = Text()
        for index, (step, (state, message)) in enumerate(self._steps.items()):
            mark, style = MARKS.get(state, ("·", ""))
            if index:
                text.append("\n")
            text.append(f"{mark} ", style=style)
            text.append(f"{step:<9}", style=style)
            text.append(f" {message}")
        self.update(text)
