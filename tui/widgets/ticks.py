"""Checkboxes and pick lists whose state reads as text: ``[x]`` ticked, ``[ ]`` not.

Textual draws both states as the same ``▐X▌`` and tells them apart by colour alone, which
``NO_COLOR`` (and many a colour-blind operator) cannot see.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from textual.content import Content
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList

TICKED = "[x]"
UNTICKED = "[ ]"


def tick(value: bool) -> str:
    """The state as text."""
    return TICKED if value else UNTICKED


class TickBox(Checkbox):
    """A checkbox that shows ``[x]`` or ``[ ]``."""

    @property
    def _button(self) -> Content:
        return Content.styled(tick(self.value), self.get_visual_style("toggle--button"))


class TickList(SelectionList[str]):
    """A selection list whose every option starts with ``[x]`` or ``[ ]``."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        if len(segments) < 3:
            return strip
        meta: dict[str, Any] = segments[0].style.meta if segments[0].style else {}
        index = meta.get("option")
        if index is None:
            return strip
        value = self.get_option_at_index(index).value
        state = tick(value in self.selected)
        # The first three segments are Textual's button (left side, inner mark, right side);
        # the sides are drawn in the button's colour on the background, so all three take the
        # inner mark's style (its meta, which routes clicks, included).
        button = [Segment(char, segments[1].style) for char in state]
        return Strip([*button, *segments[3:]])
