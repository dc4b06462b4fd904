"""The last guard between the platform's and AWS's text and the operator's terminal.

Names, tags and messages reach many screens; each cell that shows one makes it harmless on
the way in (an escape as ``\\x1b``, see :func:`peering_core.printable.harmless`). This line
filter, applied by Textual to every line the dashboard draws, takes out whatever unsafe
character is still there, so no screen can forget: a terminal acts on an escape sequence
wherever it appears. It keeps every line's width: a character that takes no cell (ESC, BEL,
bidi overrides) is dropped, one that takes a cell (a lone surrogate) becomes ``?``.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter


def _visible(text: str) -> str:
    return "".join(
        char if char.isprintable() else ("" if cell_len(char) == 0 else "?") for char in text
    )


class HarmlessLines(LineFilter):
    """Drops control and format characters from what is drawn (widths unchanged)."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if all(segment.text.isprintable() for segment in segments):
            return segments  # every line but a hostile one
        return [
            segment
            if segment.text.isprintable()
            else Segment(_visible(segment.text), segment.style, segment.control)
            for segment in segments
        ]
