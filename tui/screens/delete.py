"""The guarded delete: the guard's verdict first, then the pcx id typed exactly, then the
workflow's steps live. Nothing here decides; ``check_delete_guard`` and ``delete_peering`` do."""

from __future__ import annotations

from typing import ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker

from peering_core.delete import (
    DeleteGuard,
    DeleteRequest,
    DeleteResult,
    check_delete_guard,
    delete_peering,
)
from peering_core.errors import PeeringError, Refused
from peering_core.health import LIVE_AWS_STATES, PeeringView

from .. import bindings
from ..dashboard import Dashboard, audited_run
from ..failures import report_failed_worker
from ..widgets.footer import Footer
from ..widgets.step_log import StepLog
from ..widgets.ticks import TickBox


def guard_text(guard: DeleteGuard) -> Text:
    """Each check with ✓/✗ (dependent resources one per line), then the verdict."""
    text = Text()
    for check in guard.checks:
        mark, style = ("✓", "green") if check.ok else ("✗", "bold red")
        text.append(f"{mark} {check.name:<10}", style=style)
        if check.name == "resources" and guard.dependents:
            # The core's one-line detail gets long; a list reads better in a dialog.
            text.append(
                f" {len(guard.dependents)} resource(s) of the deployment inside "
                f"{guard.record.cidr} depend on this peering:\n"
            )
            for resource in guard.dependents:
                text.append(
                    f"    {resource.name} ({resource.type}) {resource.host}:{resource.port}\n",
                    style="red",
                )
        else:
            text.append(f" {check.detail}\n")
    if guard.ok:
        text.append("the guard allows this delete; type the pcx id to confirm", style="bold")
    else:
        failed = ", ".join(c.name for c in guard.checks if not c.ok)
        text.append(f"✗ refused by the guard ({failed}): nothing will be deleted", "bold red")
    return text


def delete_result_text(result: DeleteResult) -> Text:
    """What the delete removed (or kept)."""
    what = "withdrawn (never confirmed on the platform)" if result.withdrawn else "deleted"
    text = Text(f"✓ {result.peering_id} {what}", style="bold green")
    if result.kept:
        text.append("\nroutes and inbound rules kept, as asked")
    else:
        text.append(
            f"\nremoved {len(result.routes_removed)} route(s) and "
            f"{len(result.rules_removed)} inbound rule(s)"
        )
    return text


class DeletePeeringModal(ModalScreen[bool]):
    """Delete one peering; dismissed with True when it is gone."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.DELETE)

    def __init__(self, view: PeeringView, guard: DeleteGuard | None = None) -> None:
        super().__init__()
        self.view = view
        self.guard = guard
        self.guard_error: str | None = None
        self.withdraw = False
        self.running = False
        self.deleted = False

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    @property
    def peering_id(self) -> str:
        return self.view.peering_id

    def compose(self) -> ComposeResult:
        # One scroll container sized to its content: small on a big terminal, scrolling on
        # an 80x24 one.
        with VerticalScroll(id="delete-dialog", classes="dialog"):
            yield Static(
                Text(f"Delete {self.peering_id} ({self.view.deployment_name}, {self.view.region})"),
                id="delete-title",
                classes="dialog-title",
            )
            yield Static("checking the guard…", id="guard")
            yield TickBox(
                "keep routes and rules (only remove the peering)", id="keep", compact=True
            )
            yield Label(f"type {self.peering_id} to confirm", id="confirm-label")
            yield Input(placeholder="the pcx id, exactly", id="confirm")
            with Horizontal(classes="buttons"):
                yield Button("Delete", id="delete", variant="error", disabled=True, compact=True)
                yield Button("Cancel", id="cancel", compact=True)
            yield StepLog(id="steps")
            yield Static(id="result")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#guard").border_title = "guard"
        if self.guard is None:
            self.load_guard()
        else:
            self.show_guard(self.guard)
        self.query_one("#confirm", Input).focus()

    @work(exclusive=True, group="delete-guard", exit_on_error=False)
    async def load_guard(self) -> None:
        """Ask the core's guard (without a confirmation) in the background."""
        session = self.dashboard.session
        if session is None:
            return
        try:
            guard = await check_delete_guard(
                session.platform, self.view.deployment_id, self.peering_id, None
            )
        except PeeringError as exc:
            if exc.code == "PEERING_NOT_FOUND" and self.withdrawable:
                self.show_withdraw()
                return
            self._no_guard(exc.summary)
            return
        except OSError as exc:
            self._no_guard(str(exc))
            self.notify(f"delete guard: {exc}", severity="error")
            return
        self.show_guard(guard)

    @property
    def withdrawable(self) -> bool:
        """A request the platform never had, still live on AWS: deleting withdraws it."""
        return not self.view.confirmed and self.view.aws_status in LIVE_AWS_STATES

    def show_withdraw(self) -> None:
        """An unconfirmed request: what delete does to it, and the typed confirmation."""
        self.withdraw = True
        self.query_one("#keep").display = False
        self.query_one("#guard", Static).update(
            Text(
                f"never confirmed on the platform: deleting withdraws the request on AWS "
                f"({self.view.aws_status}); nothing changes on the platform\n"
                "type the pcx id to confirm",
                style="bold",
            )
        )
        self.update_button()

    def _no_guard(self, message: str) -> None:
        self.guard_error = message
        reason = message
        if not self.view.confirmed:
            reason = f"{message} (the pcx was never confirmed on the platform)"
        self.query_one("#guard", Static).update(Text(f"✗ refused: {reason}", style="bold red"))
        self._refused()

    def _refused(self) -> None:
        # Typing the id cannot help any more: take the form away and leave only Cancel.
        for selector in ("#confirm", "#confirm-label", "#keep", "#delete"):
            self.query_one(selector).display = False
        self.query_one("#confirm").disabled = True
        self.query_one("#keep").disabled = True
        self.update_button()
        self.query_one("#cancel").focus()

    def show_guard(self, guard: DeleteGuard) -> None:
        """Show the guard's verdict; lock the form when it refuses."""
        self.guard = guard
        self.query_one("#guard", Static).update(guard_text(guard))
        if guard.ok:
            self.update_button()
        else:
            self._refused()

    @property
    def can_delete(self) -> bool:
        """Guard passed, pcx id typed exactly, and nothing running or done."""
        return (
            ((self.guard is not None and self.guard.ok) or self.withdraw)
            and self.query_one("#confirm", Input).value == self.peering_id
            and not self.running
            and not self.deleted
        )

    def update_button(self) -> None:
        """Enable Delete exactly when :attr:`can_delete`."""
        self.query_one("#delete", Button).disabled = not self.can_delete

    @on(Input.Changed, "#confirm")
    def _typed(self) -> None:
        self.update_button()

    @on(Input.Submitted, "#confirm")
    @on(Button.Pressed, "#delete")
    def _delete(self) -> None:
        if not self.can_delete:
            typed = self.query_one("#confirm", Input).value
            if self.guard is not None and not self.guard.ok:
                self.notify(self.guard.refusal(), title="delete refused", severity="error")
            elif (
                (self.guard is not None or self.withdraw)
                and typed != self.peering_id
                and not self.running
            ):
                self.notify(
                    f"type {self.peering_id} exactly to confirm"
                    + (f" (not {typed!r})" if typed else ""),
                    title="not confirmed",
                    severity="warning",
                )
            return
        if self.dashboard.refuse_read_only():
            return
        self.run_delete(
            DeleteRequest(
                deployment_id=self.view.deployment_id,
                peering_id=self.peering_id,
                confirmation=self.query_one("#confirm", Input).value,
                keep_routes=self.query_one("#keep", TickBox).value,
            )
        )

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        """``esc`` or Cancel/Close: leave, saying whether it was deleted."""
        if self.running:
            self.notify("the delete is running; wait for it", severity="warning")
            return
        self.dismiss(self.deleted)

    @work(exclusive=True, group="delete-run", exit_on_error=False)
    async def run_delete(self, request: DeleteRequest) -> None:
        """Run :func:`delete_peering` with its steps shown live."""
        session = self.dashboard.session
        if session is None:
            return
        self.running = True
        self.update_button()
        for selector in ("#confirm", "#keep", "#cancel"):
            self.query_one(selector).disabled = True
        steps = self.query_one("#steps", StepLog)
        steps.border_title = "delete"
        # On the UI's event loop, like the create: events update the log directly, in order.
        target = {"deploymentID": request.deployment_id, "peeringId": request.peering_id}

        async def work_in_its_account() -> DeleteResult:
            # The customer-side cleanup happens in the account that requested the pcx.
            ec2 = await session.gateway_for(request.deployment_id, request.peering_id)
            return await delete_peering(request, session.platform, ec2, on_progress=steps.record)

        work = work_in_its_account()
        try:
            result = await audited_run(self.dashboard, "delete", target, work)
            if isinstance(result, PeeringError | OSError):
                step, message = (
                    (result.step, result.summary)
                    if isinstance(result, PeeringError)
                    else ("", str(result))
                )
                steps.fail(step, message)
                title = "delete refused" if isinstance(result, Refused) else "delete failed"
                self.notify(message, title=title, severity="error")
                return
            self.deleted = True
            self.query_one("#result", Static).update(delete_result_text(result))
            self.query_one("#delete").display = False
            self.query_one("#cancel", Button).label = "Close"
            self.notify(f"{result.peering_id} deleted", title="peering deleted")
        finally:
            self.running = False
            self.query_one("#cancel").disabled = False
            self.query_one("#confirm").disabled = self.deleted
            self.query_one("#keep").disabled = self.deleted
            self.update_button()
            self.query_one("#cancel").focus()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failed_worker(self, event)
