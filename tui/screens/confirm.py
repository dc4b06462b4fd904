"""A yes/no question before a change (posting's ``ConfirmationModal``): ``y`` or the confirm
button says yes; ``n``, ``esc`` or Cancel says no. Cancel has the focus, so a stray ``enter``
changes nothing."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from .. import bindings
from ..widgets.footer import Footer


class ConfirmationModal(ModalScreen[bool]):
    """Ask ``title`` with ``body`` under it; dismissed with True only on an explicit yes."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.CONFIRM)

    def __init__(self, title: str, body: Text | str, *, confirm_label: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="confirm-dialog", classes="dialog"):
            yield Static(Text(self.title_text), classes="dialog-title")
            yield Static(self.body, id="confirm-body")
            with Horizontal(classes="buttons"):
                yield Button(self.confirm_label, id="yes", variant="warning", compact=True)
                yield Button("Cancel", id="no", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def action_confirm(self) -> None:
        """``y``: yes."""
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        """``n`` or ``esc``: no."""
        self.dismiss(False)
