"""The fix plan of one peering: the core's ordered actions, each with its reason and exact
``aws ec2`` command, the ``--replace``, ``--revoke`` and ``--nacl`` flags as checkboxes (what
they hold back stays listed), ``c`` to copy the commands for someone with write access, and Apply —
confirmed first, applied action by action with live results, audited, then diffed again.

``plan_fix`` decides the actions and ``apply_fix`` makes them; this screen only shows, asks
and records.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar, cast

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Static
from textual.worker import Worker

from peering_core.drift import FixAction, FixPlan, plan_fix
from peering_core.errors import PeeringError
from peering_core.network import AppliedAction, apply_fix, diff_one
from peering_core.terraform import plan_terraform

from .. import bindings
from ..dashboard import Dashboard
from ..drift_text import (
    FLAG_MEANS,
    FLAGS,
    DiffReading,
    after_fix_text,
    applied_text,
    confirm_lines,
    plan_counts,
    plan_script,
    plan_table,
    verdict,
)
from ..failures import describe_error, report_failed_worker
from ..formatting import clock_time
from ..widgets.footer import Footer
from ..widgets.ticks import TickBox
from .confirm import ConfirmationModal
from .copy_plan import CopyFormatModal, PlanFormat

REDIFFED = "re-diffed"


class FixPlanModal(ModalScreen[DiffReading | None]):
    """The plan for one diff; dismissed with the newest diff when an apply re-diffed it."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.FIX_PLAN)

    def __init__(self, reading: DiffReading, *, deployment_name: str) -> None:
        super().__init__()
        self.reading = reading
        self.deployment_name = deployment_name
        self.plan: FixPlan = plan_fix([reading.diff])
        self.results: dict[int, AppliedAction] = {}
        self.running_index: int | None = None
        self.running = False
        self.applied: list[AppliedAction] = []
        self.rediffed: DiffReading | None = None

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    @property
    def replace(self) -> bool:
        return self.query_one("#replace", TickBox).value

    @property
    def revoke(self) -> bool:
        return self.query_one("#revoke", TickBox).value

    @property
    def nacl(self) -> bool:
        return self.query_one("#nacl", TickBox).value

    @property
    def flags(self) -> dict[str, bool]:
        """The ticked flags, as ``plan.allowed`` takes them."""
        return {"replace": self.replace, "revoke": self.revoke, "nacl": self.nacl}

    def allowed(self) -> list[FixAction]:
        """The actions the ticked flags allow, in the plan's order."""
        return self.plan.allowed(**self.flags)

    def compose(self) -> ComposeResult:
        with Vertical(id="fix-dialog", classes="dialog"):
            yield Static(id="fix-title", classes="dialog-title")
            with Horizontal(id="fix-flags"):
                for flag in FLAGS:
                    yield TickBox(f"--{flag}", id=flag, compact=True)
            with VerticalScroll(id="fix-body"):
                yield Static(id="fix-actions")
                yield Static(id="fix-applied")
                yield Static(id="fix-result")
            with Horizontal(classes="buttons"):
                yield Button("Apply", id="apply", variant="warning", compact=True)
                yield Button("Close", id="close", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        for flag in FLAGS:
            self.query_one(f"#{flag}").tooltip = FLAG_MEANS[flag]
        self.query_one("#fix-applied").display = False
        self.watch(self.app, "read_only", self._read_only_changed, init=True)
        self.show()
        self.query_one("#fix-body").focus()

    def _read_only_changed(self, read_only: bool) -> None:
        # Read-only: the plan is there to read and copy, never to apply.
        self.query_one("#apply").display = not read_only
        self.refresh_bindings()

    # --- rendering ----------------------------------------------------------------------

    def show(self) -> None:
        """Title, flag labels, the actions (with live results while applying), Apply state."""
        diff = self.reading.diff
        title = Text(f"Fix plan · {diff.peering_id} ({self.deployment_name}, {diff.region}) · ")
        title.append_text(verdict(diff))
        title.append(f" · {self.reading.source} at {clock_time(self.reading.at)}", style="dim")
        self.query_one("#fix-title", Static).update(title)
        flags = self.flags
        count, held = plan_counts(self.plan, **flags)
        for flag, ticked in flags.items():
            # On or off in words too: the checkbox's mark differs only by colour.
            needing = sum(a.needs == flag for a in self.plan.actions)
            label = f"--{flag} {'on' if ticked else 'off'}"
            if needing:
                label += f" ({held[flag]} held back)" if held[flag] else f" ({needing} allowed)"
            self.query_one(f"#{flag}", TickBox).label = label
        actions = self.query_one("#fix-actions", Static)
        actions.update(
            plan_table(
                self.plan,
                **flags,
                results=self.results,
                running=self.running_index,
            )
        )
        actions.border_title = f"{count} action(s) to apply" + (
            f", {sum(held.values())} held back" if sum(held.values()) else ""
        )
        apply = self.query_one("#apply", Button)
        apply.disabled = self.running or count == 0
        apply.label = f"Apply {count}" if count else "Apply"
        for selector in (*(f"#{flag}" for flag in FLAGS), "#close"):
            self.query_one(selector).disabled = self.running

    @on(Checkbox.Changed)
    def _flag_changed(self) -> None:
        self.show()

    # --- keys ---------------------------------------------------------------------------

    def action_toggle_replace(self) -> None:
        """``r``: tick or untick ``--replace``."""
        self._toggle("#replace")

    def action_toggle_revoke(self) -> None:
        """``v``: tick or untick ``--revoke``."""
        self._toggle("#revoke")

    def action_toggle_nacl(self) -> None:
        """``n``: tick or untick ``--nacl``."""
        self._toggle("#nacl")

    def _toggle(self, selector: str) -> None:
        if self.running:
            self.notify("the fix is running; wait for it", severity="warning")
            return
        self.query_one(selector, TickBox).toggle()

    def action_copy_commands(self) -> None:
        """``c``: the plan to the clipboard, as ``aws ec2`` commands or as Terraform (asked)."""
        self.app.push_screen(CopyFormatModal(), self._copy)

    def _copy(self, chosen: PlanFormat | None) -> None:
        if chosen is None:
            return
        diff, flags = self.reading.diff, self.flags
        if chosen == "terraform":
            text = plan_terraform(self.plan, diff, self.deployment_name, **flags)
            what = "action(s) as Terraform"
        else:
            text = plan_script(self.plan, diff, self.deployment_name, **flags)
            what = "aws ec2 command(s)"
        self.app.copy_to_clipboard(text)
        count, held = plan_counts(self.plan, **flags)
        held_text = f" ({sum(held.values())} held back, in comments)" if any(held.values()) else ""
        self.notify(f"copied {count} {what}{held_text}", timeout=4)

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """``esc`` or Close: back to the diff, with the newest diff if an apply made one."""
        if self.running:
            self.notify("the fix is running; wait for it", severity="warning")
            return
        self.dismiss(self.rediffed)

    @on(Button.Pressed, "#apply")
    def action_apply_fix(self) -> None:
        """``a`` or Apply: confirm, then apply what the flags allow."""
        if self.dashboard.refuse_read_only():
            return
        if self.running:
            self.notify("the fix is running; wait for it", severity="warning")
            return
        chosen = self.allowed()
        if not chosen:
            _, held = plan_counts(self.plan, **self.flags)
            flags = ", ".join(f"--{flag}" for flag, count in held.items() if count)
            self.notify(
                f"nothing to apply; held back until you tick {flags}"
                if flags
                else "nothing to apply: in sync",
                severity="warning",
            )
            return
        if self.dashboard.session is None:
            self.notify(
                "not connected: the plan can be copied (c), not applied", severity="warning"
            )
            return
        diff = self.reading.diff
        self.app.push_screen(
            ConfirmationModal(
                f"Apply {len(chosen)} change(s) to {diff.peering_id}?",
                confirm_lines(chosen, diff.peering_id, diff.region),
                confirm_label=f"Apply {len(chosen)}",
            ),
            partial(self._confirmed, chosen),
        )

    def _confirmed(self, chosen: list[FixAction], yes: bool | None) -> None:
        if yes:
            self.run_fix(chosen)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Hidden from the footer in read-only mode; on_key refuses the key with a reason.
        return not (action in bindings.MUTATING_ACTIONS and self.dashboard.read_only)

    def on_key(self, event: events.Key) -> None:
        mutating = bindings.mutating_keys(bindings.FIX_PLAN, self.dashboard.keymap)
        if event.key in mutating and self.dashboard.read_only:
            event.stop()
            event.prevent_default()
            self.dashboard.refuse_read_only()

    # --- applying -----------------------------------------------------------------------

    @work(exclusive=True, group="fix-run", exit_on_error=False)
    async def run_fix(self, chosen: list[FixAction]) -> None:
        """Apply ``chosen`` in order with each result shown as it lands, audit the run, then
        diff the peering again and show the plan that is left."""
        session = self.dashboard.session
        if session is None or self.dashboard.refuse_read_only():
            return
        diff = self.reading.diff
        indices = [self.plan.actions.index(action) for action in chosen]
        self.running = True
        self.results = {}
        self.running_index = indices[0]
        self.show()

        def landed(result: AppliedAction) -> None:
            # apply_fix runs on the UI's event loop: each result is shown before the next call.
            done = len(self.results)
            self.results[indices[done]] = result
            self.running_index = indices[done + 1] if done + 1 < len(indices) else None
            self.show()

        target = {"deploymentID": diff.deployment_id, "peeringId": diff.peering_id}
        detail: dict[str, Any] = {"region": diff.region}
        try:
            ec2 = await session.gateway_for(diff.deployment_id, diff.peering_id)
            applied = await apply_fix(ec2, chosen, on_action=landed)
        except Exception as exc:  # audited however it ends, then shown, never a crash
            applied = list(self.results.values())
            await self.dashboard.audit("fix", target, error=exc, detail=detail)
            self.notify(f"fix failed: {describe_error(exc)}", severity="error", timeout=15)
        else:
            failed = [a for a in applied if not a.ok]
            await self.dashboard.audit(
                "fix",
                target,
                result="ok" if not failed else f"failed: {len(failed)} action(s)",
                detail=detail
                | {
                    "actions": [a.action.aws_cli() for a in applied],
                    "errors": [a.error for a in applied if a.error],
                },
            )
        self.applied = applied
        self.running_index = None
        panel = self.query_one("#fix-applied", Static)
        panel.display = True
        panel.border_title = f"applied at {clock_time(self.dashboard.now())}"
        panel.update(applied_text(applied))
        await self._rediff(diff.deployment_id, sum(not a.ok for a in applied))
        self.running = False
        self.show()
        self.query_one("#close", Button).focus()
        self.dashboard.poll_now()  # so the dashboard's rows catch up too

    async def _rediff(self, deployment_id: str, failed: int) -> None:
        session = self.dashboard.session
        assert session is not None
        result = self.query_one("#fix-result", Static)
        result.update(Text("re-diffing…", style="bold"))
        try:
            ec2 = await session.gateway_for(deployment_id, self.peering_id)
            diff = await diff_one(session.platform, ec2, deployment_id, self.peering_id)
        except (PeeringError, OSError) as exc:
            message = f"re-diff failed: {describe_error(exc)}"
            result.update(Text(f"✗ {message}", style="bold red"))
            self.notify(message, severity="error")
            return
        self.reading = self.rediffed = DiffReading(diff, self.dashboard.now(), REDIFFED)
        self.plan = plan_fix([diff])
        self.results = {}
        _, held = plan_counts(self.plan, **self.flags)
        result.update(after_fix_text(diff, self.plan, failed, held))
        if diff.in_sync:
            self.notify(f"{diff.peering_id} is in sync", title="fix applied", timeout=5)
        result.scroll_visible()

    @property
    def peering_id(self) -> str:
        return self.reading.diff.peering_id

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failed_worker(self, event)
