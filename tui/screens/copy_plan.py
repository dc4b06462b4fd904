"""Which format to copy a fix plan in: ``a`` the ``aws ec2`` commands as a shell script, ``t``
Terraform for the AWS provider (for a team whose network is in Terraform); ``esc`` copies
nothing."""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from .. import bindings
from ..widgets.footer import Footer

PlanFormat = Literal["aws", "terraform"]


class CopyFormatModal(ModalScreen[PlanFormat | None]):
    """Dismissed with the format chosen, or ``None``."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.COPY_PLAN)

    def compose(self) -> ComposeResult:
        with Vertical(id="copy-dialog", classes="dialog"):
            yield Static(Text("Copy the fix plan as"), classes="dialog-title")
            yield Static(
                "aws ec2 commands: a shell script for someone with write access.\n"
                "Terraform: aws_route, aws_vpc_security_group_ingress_rule and "
                "aws_network_acl_rule resources, with import blocks for what exists, for "
                "your own pipeline.",
                id="copy-body",
            )
            with Horizontal(classes="buttons"):
                yield Button("aws ec2 commands", id="aws", compact=True)
                yield Button("Terraform", id="terraform", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#aws", Button).focus()

    @on(Button.Pressed, "#aws")
    def action_copy_aws(self) -> None:
        """``a``: the aws ec2 commands."""
        self.dismiss("aws")

    @on(Button.Pressed, "#terraform")
    def action_copy_terraform(self) -> None:
        """``t``: Terraform."""
        self.dismiss("terraform")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """``esc``: copy nothing."""
        self.dismiss(None)
