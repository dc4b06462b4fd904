"""The header: what the dashboard is connected to, how fresh the data is, and whether it is
read-only. Two lines, never more, so it fits an 80x24 SSH session."""

from __future__ import annotations

from typing import Protocol, cast

from rich.text import Text
from textual.widget import Widget


class StatusSource(Protocol):
    """What the header asks the app for (the app knows the session and the poller)."""

    def status_lines(self) -> tuple[Text, Text]: ...


class StatusHeader(Widget):
    """Connected-to line and polling line; re-rendered every second for the refresh age."""

    DEFAULT_CSS = """
    StatusHeader {
        height: 2;
        dock: top;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    def on_mount(self) -> None:
        # The age ("refreshed 3s ago") moves on its own between ticks.
        self.set_interval(1.0, self.refresh)

    def render(self) -> Text:
        first, second = cast(StatusSource, self.app).status_lines()
        width = self.content_region.width
        text = Text(no_wrap=True)
        for index, line in enumerate((first, second)):
            # A line that does not fit ends with "…"; `i` shows it whole.
            line = line.copy()
            if width > 0:
                line.truncate(width, overflow="ellipsis")
            if index:
                text.append("\n")
            text.append_text(line)
        return text
