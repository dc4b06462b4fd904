"""Every binding of every screen, from ``bindings.py`` so it cannot drift from the footer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .. import bindings


def key_label(binding_key: str, display: str | None) -> str:
    """How a key is written for people: ``?`` and ``/``, not their names."""
    if display:
        return display
    return binding_key.replace("question_mark", "?").replace("slash", "/")


def help_table(read_only: bool, keymap: Mapping[str, str] | None = None) -> Table:
    """Key, what it does, and for mutating keys whether read-only mode refuses it; the keys
    are those in force (``keymap`` applied)."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=True)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("does")
    for title, section in bindings.SECTIONS:
        table.add_row(Text(title, style="bold underline"), "")
        for binding in section:
            does = Text(binding.description or binding.action, style="bold")
            if binding.tooltip:
                does.append(f"  {binding.tooltip}")
            if binding.action in bindings.MUTATING_ACTIONS and read_only:
                does.append("  (refused: read-only)", style="red")
            table.add_row(shown_keys(binding, keymap or {}), does)
        table.add_row("", "")
    table.add_row(Text("Textual", style="bold underline"), "")
    for key, does_text in bindings.BUILT_IN:
        table.add_row(key, does_text)
    return table


def shown_keys(binding: Binding, keymap: Mapping[str, str]) -> str:
    """The binding's keys as written for people, remapped ones included."""
    if binding.id in keymap:
        return " ".join(key_label(key, None) for key in bindings.keys_of(binding, keymap))
    return key_label(binding.key, binding.key_display)


class HelpScreen(ModalScreen[None]):
    """``?``: the bindings, grouped by screen."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.HELP)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog", classes="dialog"):
            yield Static("Keys  (esc closes)", classes="dialog-title")
            yield Static(id="help-table")

    def on_mount(self) -> None:
        read_only = bool(getattr(self.app, "read_only", False))
        keymap = getattr(self.app, "keymap", {})
        self.query_one("#help-table", Static).update(help_table(read_only, keymap))
        self.query_one("#help-dialog").focus()

    def action_close(self) -> None:
        """``esc``: close."""
        self.dismiss(None)
