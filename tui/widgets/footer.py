"""Textual's footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    """Textual's footer rebuilds every key it shows (23 on the main screen) whenever the
    screen's bindings change — on every focus change, even when the keys shown stay the same:
    the filter's ``/`` paid it at each press (a fifth of the key's time at 5,000 peerings).
    This one rebuilds only when what it would show differs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple[tuple[object, ...], ...] | None = None
        self.rebuilds = 0  # counted for the tests

    @staticmethod
    def _keys(screen: Screen[Any]) -> tuple[tuple[object, ...], ...]:
        return tuple(
            (binding.key, binding.key_display, binding.description, binding.action,
             binding.group, enabled, tooltip)
            for _node, binding, enabled, tooltip in screen.active_bindings.values()
            if binding.show or binding.action == "command_palette"
        )  # fmt: skip

    def bindings_changed(self, screen: Screen[Any]) -> None:
        # Textual's own conditions for a rebuild: the shown keys are recorded only when one
        # is made, so a change seen while the app had no focus still rebuilds later.
        if not (screen.app.app_focus and self.is_attached and screen is self.screen):
            self._bindings_ready = True
            return
        keys = self._keys(screen)
        if self._bindings_ready and keys == self._shown:
            return
        self._shown = keys
        self.rebuilds += 1
        super().bindings_changed(screen)
