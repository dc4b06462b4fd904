"""The Textual app: one keyboard-driven dashboard over both sides of every peering.

Connection: a configured platform (``Connection``), an injected sandbox (tests), a fixed
in-memory snapshot (snapshot tests), or — with nothing configured — a sandbox started here in a
worker. Polling runs on a thread of its own (:class:`~tui.polling.PollThread`) that posts
:class:`SnapshotArrived`; it pauses on ``p`` and while a modal is open (dolphie habit), and
``ctrl+r`` polls now.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import App
from textual.binding import BindingType
from textual.filter import LineFilter
from textual.notifications import SeverityLevel
from textual.reactive import var
from textual.screen import ModalScreen, Screen
from textual.worker import Worker

from peering_core.audit import AuditLog, actor, verdict
from peering_core.config import (
    DEFAULT_REFRESH,
    Connection,
    config_path,
    load_keymap,
    read_only_requested,
    refresh_interval,
)
from peering_core.create import CreateResult
from peering_core.errors import ExitCode, PeeringError
from peering_core.health import DeploymentView, PeeringView
from peering_core.printable import harmless
from peering_core.retry import retry_failed
from peering_core.snapshot import Snapshot

from . import bindings
from .dashboard import audited_run
from .failures import describe_error, report_failed_worker
from .formatting import clock_time
from .harmless_lines import HarmlessLines
from .history import StatusHistory
from .messages import (
    PollingFailed,
    SandboxStage,
    SessionFailed,
    SessionOpened,
    SnapshotArrived,
)
from .palette import PeeringCommands
from .polling import PollThread
from .rows import FleetRows
from .screens.confirm import ConfirmationModal
from .screens.create import CreatePeeringScreen
from .screens.delete import DeletePeeringModal
from .screens.detail import PeeringDetailScreen
from .screens.diff import PeeringDiffScreen
from .screens.help import HelpScreen
from .screens.main import MainScreen
from .session import Session, spawn_sandbox
from .status import PollState, status_line

if TYPE_CHECKING:
    # The sandbox's code is imported only when a sandbox starts: a dashboard on a configured
    # platform does without it (and the platform server behind it, ~10 MiB).
    from peering_core.sandbox.process import SandboxProcess
    from peering_core.sandbox.servers import Sandbox


class PeeringApp(App[None]):
    """Deployments and peerings, live from the platform and AWS."""

    TITLE = "peering-tui"
    CSS_PATH = ["app.tcss", "detail.tcss", "diff.tcss", "dialogs.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = list(bindings.APP)
    COMMANDS = App.COMMANDS | {PeeringCommands}
    # Narrow terminals (an 80-column SSH session) stack side-by-side panels.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    snapshot: var[Snapshot | None] = var(None, always_update=True)
    read_only: var[bool] = var(False)
    poll_state: var[PollState] = var(PollState.STARTING)

    def __init__(
        self,
        *,
        connection: Connection | None = None,
        sandbox: Sandbox | None = None,
        snapshot: Snapshot | None = None,
        refresh: float = DEFAULT_REFRESH,
        read_only: bool = False,
        clock: Callable[[], datetime] | None = None,
        sandbox_process: SandboxProcess | None = None,
        keymap: Mapping[str, str] | None = None,
    ) -> None:
        """With neither ``connection``, ``sandbox`` nor ``snapshot``, the dashboard runs on the
        sandbox process ``sandbox_process`` (the command line starts it early), or starts one."""
        super().__init__()
        # Binding id → keys from the config file's [keys]; the footer shows the keys in force.
        self.keymap: dict[str, str] = dict(keymap or {})
        self.set_keymap(self.keymap)
        self.connection = connection
        self.injected_sandbox = sandbox
        self.fixed_snapshot = snapshot
        self.refresh_interval = refresh_interval(refresh)
        self.started_read_only = read_only
        self.set_reactive(PeeringApp.read_only, read_only)
        # Read-only because of what the session found (a viewer key, an unwritable audit
        # log): the badge's words and the full reason. It cannot be toggled off.
        self.forced_read_only: tuple[str, str] | None = None
        # Tenant id -> name with the admin key: the tables then show a TENANT column.
        self.tenants: dict[str, str] | None = None
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sandbox_process = sandbox_process
        self.session: Session | None = None
        self.poller: PollThread | None = None
        # The rows of the snapshot on screen; _prepared is the poll thread's latest.
        self.rows = FleetRows()
        self._prepared: FleetRows | None = None
        self.history = StatusHistory()
        self.user_paused = False
        self.dialog_open = False
        self.stage = ""
        self.failing_sources: set[str] = set()
        self.main_screen = MainScreen()
        self._harmless_lines = HarmlessLines()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Notify without markup, and harmless: messages carry AWS and platform text, brackets
        and escape sequences included."""
        super().notify(
            harmless(message, keep_newlines=True),
            title=harmless(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, then :class:`HarmlessLines` on every line drawn."""
        return [*super().get_line_filters(), self._harmless_lines]

    def get_default_screen(self) -> Screen[None]:
        return self.main_screen

    def now(self) -> datetime:
        """The dashboard's clock (fixed in snapshot tests)."""
        return self.clock()

    # --- startup ------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.screen_change_signal.subscribe(self, self._screen_changed)
        if self.fixed_snapshot is not None:
            self.poll_state = PollState.FIXED
            self.rows = FleetRows.build(self.fixed_snapshot, self.now(), None)
            self.history.observe_states(self.fixed_snapshot.taken_at, self.rows.states)
            self.snapshot = self.fixed_snapshot
        elif self.injected_sandbox is not None:
            self.open_session(Session.for_sandbox(self.injected_sandbox))
        elif self.connection is not None:
            self.open_session(Session.for_connection(self.connection))
        else:
            self.start_own_sandbox()

    @work(exclusive=True, group="session", exit_on_error=False)
    async def start_own_sandbox(self) -> None:
        """Nothing configured: poll the sandbox process as soon as it serves, and again each
        time its seeding makes something, so rows show as they are made."""
        self.post_message(SandboxStage("starting the sandbox (moto + platform on loopback)…"))
        try:
            process = self.sandbox_process
            if process is None:
                process = self.sandbox_process = await asyncio.to_thread(spawn_sandbox)
            connection = await asyncio.to_thread(process.connection)
        except Exception as exc:  # any failure to start is shown, never a crash
            self.post_message(SessionFailed(f"sandbox did not start: {describe_error(exc)}"))
            return
        session = Session.for_sandbox_process(process, connection)
        self.session = session  # from here on, quitting stops the sandbox
        # Asking who the key and the AWS side are takes less than the first thing seeding makes.
        await self._open(session)
        self.post_message(SandboxStage("seeding the demo deployments and peerings…"))
        try:
            await asyncio.to_thread(self._follow_seeding, process)
        except Exception as exc:  # a half-seeded sandbox is still worth showing
            self.notify(f"sandbox seeding: {describe_error(exc)}", severity="error")
        self.post_message(SandboxStage(""))

    def _follow_seeding(self, process: SandboxProcess) -> None:
        """On a thread: each stage the sandbox finishes, in the header, and a poll."""
        for stage in process.stages():
            self.post_message(SandboxStage(stage, made=True))

    @work(exclusive=True, group="session", exit_on_error=False)
    async def open_session(self, session: Session) -> None:
        """Connect to a configured platform (or an injected sandbox) and start polling."""
        self.session = session
        await self._open(session)

    async def _open(self, session: Session) -> None:
        self.post_message(SandboxStage("asking AWS who we are…"))
        await session.identify()
        if session.identity_error:
            self.notify(f"AWS identity: {session.identity_error}", severity="warning")
        self.post_message(SessionOpened(session))

    def on_sandbox_stage(self, message: SandboxStage) -> None:
        self.stage = message.stage
        self.refresh_header()
        if message.made:
            self.poll_now()

    def on_session_opened(self, message: SessionOpened) -> None:
        self.stage = ""
        session = message.session
        if session.read_only_label and session.read_only_reason:
            self.forced_read_only = (session.read_only_label, session.read_only_reason)
            self.read_only = True
            self.notify(f"read-only: {session.read_only_reason}", severity="warning", timeout=10)
        if session.access_error:
            self.notify(f"platform key: {session.access_error}", severity="warning")
        if session.tenants is not None:
            self.tenants = session.tenants
            self.main_screen.show_tenant_column()
        self.poll_state = PollState.LIVE
        self.poller = PollThread(
            message.session.clients,
            interval=self.refresh_interval,
            clock=self.clock,
            deliver=self._deliver,
            failed=lambda error: self.post_message(PollingFailed(error)),
        )
        self._apply_pause()
        self.poller.start()

    def on_session_failed(self, message: SessionFailed) -> None:
        self.stage = message.error
        self.poll_state = PollState.DOWN
        self.notify(message.error, severity="error", timeout=30)

    # --- polling ------------------------------------------------------------------------

    def _deliver(self, snapshot: Snapshot) -> None:
        """On the poll thread: build the rows there (the costly part), then hand both over."""
        self._prepared = FleetRows.build(snapshot, self.now(), self._prepared, self.tenants)
        self.post_message(SnapshotArrived(snapshot, self._prepared))

    def on_snapshot_arrived(self, message: SnapshotArrived) -> None:
        snapshot = message.snapshot
        before = self.rows
        rows = message.rows or FleetRows.build(snapshot, self.now(), before, self.tenants)
        self.history.observe_states(
            snapshot.taken_at, rows.states, before.states if before.snapshot else None
        )
        self._announce_sources(snapshot)
        self.rows = rows
        self.snapshot = snapshot
        self.refresh_header()
        if self.poller is not None:
            # The last references to the previous tick (a million objects at 5,000 peerings)
            # go to the poll thread, so freeing them costs the keyboard nothing.
            self.poller.dispose(before)

    def on_polling_failed(self, message: PollingFailed) -> None:
        self.notify(f"polling failed: {message.error}", severity="error")

    def _announce_sources(self, snapshot: Snapshot) -> None:
        """Notify when a source starts failing or recovers (not on every stale tick)."""
        failing = {s.name: s for s in snapshot.failing}
        for name in sorted(failing.keys() - self.failing_sources):
            self.notify(f"{name} is stale: {failing[name].error}", severity="error", timeout=10)
        for name in sorted(self.failing_sources - failing.keys()):
            self.notify(f"{name} is back", timeout=4)
        self.failing_sources = set(failing)

    def _screen_changed(self, screen: Screen[object]) -> None:
        dialog = isinstance(screen, ModalScreen)
        if dialog != self.dialog_open:
            self.dialog_open = dialog
            self._apply_pause()

    def _apply_pause(self) -> None:
        if self.poller is None:
            return
        if self.user_paused or self.dialog_open:
            self.poller.pause()
        elif self.poller.paused:
            # Resuming also polls at once, so closing a dialog shows fresh data.
            self.poller.resume()
        if self.poll_state in (PollState.LIVE, PollState.PAUSED, PollState.DIALOG):
            self.poll_state = (
                PollState.PAUSED
                if self.user_paused
                else PollState.DIALOG
                if self.dialog_open
                else PollState.LIVE
            )
        self.refresh_header()

    # --- header -------------------------------------------------------------------------

    def status_lines(self) -> tuple[Text, Text]:
        """The header's two lines (see :class:`~tui.widgets.status_header.StatusHeader`)."""
        first = Text()
        if self.read_only:
            why = f": {self.forced_read_only[0]}" if self.forced_read_only else ""
            first.append(f" READ-ONLY{why} ", style="bold reverse red")
            first.append(" ")
        first.append("peering-tui", style="bold")
        first.append("  ")
        if self.session is not None:
            first.append(self.session.describe())
        elif self.fixed_snapshot is not None:
            first.append("fixed snapshot")
        elif self.connection is not None:
            first.append(f"platform {self.connection.platform_url}")
        else:
            first.append("sandbox (starting…)")
        second = status_line(
            self.poll_state, self.snapshot, self.now(), self.refresh_interval, self.stage
        )
        return first, second

    def refresh_header(self) -> None:
        """Re-render every header on the screen stack (state changed between ticks)."""
        for screen in self.screen_stack:
            for header in screen.query("StatusHeader"):
                header.refresh()

    def watch_read_only(self) -> None:
        self.refresh_bindings()
        self.refresh_header()

    def watch_poll_state(self) -> None:
        self.refresh_header()

    # --- actions ------------------------------------------------------------------------

    def action_help(self) -> None:
        """``?``: the help screen."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_pause(self) -> None:
        """``p``: pause or resume polling."""
        if self.poller is None:
            self.notify("not polling yet", severity="warning")
            return
        self.user_paused = not self.user_paused
        self._apply_pause()
        self.notify("polling paused" if self.user_paused else "polling resumed", timeout=2)

    def action_show_status(self) -> None:
        """``i``: the header's status line in full, with each source's error."""
        _, line = self.status_lines()
        lines = [line.plain]
        for name, source in self.snapshot.sources.items() if self.snapshot else ():
            state = "ok" if source.ok else f"stale since {clock_time(source.failing_since)}"
            lines.append(f"{name}: {state}" + (f" — {source.error}" if source.error else ""))
        self.notify("\n".join(lines), title="status", timeout=20)

    def action_refresh_now(self) -> None:
        """``ctrl+r``: poll both sides now."""
        if self.poller is None:
            self.notify("not polling yet", severity="warning")
            return
        self.poller.refresh()

    def action_toggle_theme(self) -> None:
        """Palette: dark or light."""
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_toggle_read_only(self) -> None:
        """Palette: read-only on or off (not off when started with ``--read-only``, nor when
        the session forbids changes)."""
        if self.read_only and self.forced_read_only is not None:
            self.notify(f"read-only: {self.forced_read_only[1]}", severity="warning")
            return
        if self.read_only and self.started_read_only:
            self.notify(
                "started with --read-only; restart without it to make changes",
                severity="warning",
            )
            return
        self.read_only = not self.read_only
        self.notify("read-only: on" if self.read_only else "read-only: off", timeout=3)

    def action_create_peering(self) -> None:
        """Palette: the create form for the dashboard's selected deployment."""
        self.open_create(self.main_screen.focused_deployment())

    def refuse_read_only(self) -> bool:
        """True (and a notification) when read-only mode forbids changing anything."""
        if not self.read_only:
            return False
        if self.forced_read_only is not None:
            self.notify(
                f"read-only: create, delete and fix are off: {self.forced_read_only[1]}",
                severity="warning",
            )
            return True
        how = "started with --read-only" if self.started_read_only else "toggle with ctrl+p"
        self.notify(f"read-only: create, delete and fix are off ({how})", severity="warning")
        return True

    async def audit(
        self,
        action: str,
        target: dict[str, str],
        *,
        error: BaseException | None = None,
        detail: dict[str, Any] | None = None,
        result: str | None = None,
    ) -> None:
        """Record a mutating action like the CLI does (the verdict from ``error``, if any); a
        log that cannot be written is said, never raised."""
        if self.session is None:
            return
        session = self.session
        log = AuditLog(actor=actor(session.identity, session.identity_error, session.platform_key))
        outcome = dict(detail or {})
        if error is not None:
            message = error.summary if isinstance(error, PeeringError) else str(error)
            outcome["message"] = message
        outcome["via"] = "dashboard"
        try:
            await asyncio.to_thread(
                log.record, action, target, result or (verdict(error) if error else "ok"), outcome
            )
        except OSError as exc:
            self.notify(f"audit log {log.path}: {exc}", severity="error", timeout=15)

    def poll_now(self) -> None:
        """Poll both sides now (a no-op before polling starts)."""
        if self.poller is not None:
            self.poller.refresh()

    def go_to_deployment(self, deployment_id: str) -> None:
        """Back to the dashboard with ``deployment_id`` selected and its peerings shown."""
        while len(self.screen_stack) > 1 and self.screen is not self.main_screen:
            self.pop_screen()
        self.main_screen.go_to_deployment(deployment_id)

    def open_detail(self, peering_id: str) -> None:
        """The detail screen of one peering (back to it if it is the screen below)."""
        if not self._back_to(PeeringDetailScreen, peering_id):
            self.push_screen(PeeringDetailScreen(peering_id))

    def open_diff(self, peering_id: str) -> None:
        """The diff view of one peering (back to it if it is the screen below)."""
        if self._back_to(PeeringDiffScreen, peering_id):
            return
        view = self.snapshot.view(peering_id) if self.snapshot else None
        self.push_screen(PeeringDiffScreen(peering_id, view.deployment_id if view else None))

    def _back_to(self, kind: type[Screen[None]], peering_id: str) -> bool:
        # Detail and diff open each other: going back instead of stacking them keeps `esc`
        # one step from the dashboard.
        stack = self.screen_stack
        below = stack[-2] if len(stack) > 1 else None
        if isinstance(below, kind) and getattr(below, "peering_id", None) == peering_id:
            self.pop_screen()
            return True
        return False

    def action_diff_selected(self) -> None:
        """Palette: the diff view of the dashboard's selected peering."""
        view = self.main_screen.selected_peering()
        if view is None:
            self.notify("select a peering first", severity="warning")
            return
        self.open_diff(view.peering_id)

    def open_create(self, deployment: DeploymentView | None) -> None:
        """Push the create form for ``deployment`` unless read-only or not connected."""
        if self.refuse_read_only():
            return
        if self.session is None:
            self.notify("not connected yet", severity="warning")
            return
        if deployment is None:
            self.notify("select a deployment first", severity="warning")
            return
        self.push_screen(
            CreatePeeringScreen(deployment.deployment.id, name=deployment.deployment.name),
            self._created,
        )

    def _created(self, result: CreateResult | None) -> None:
        if result is not None and self.poller is not None:
            self.poller.refresh()

    def open_delete(self, view: PeeringView | None) -> None:
        """Push the guarded delete of ``view`` unless read-only or not connected."""
        if self.refuse_read_only():
            return
        if self.session is None:
            self.notify("not connected yet", severity="warning")
            return
        if view is None:
            self.notify("select a peering first", severity="warning")
            return
        self.push_screen(DeletePeeringModal(view), self._deleted)

    def open_retry(self, view: PeeringView | None) -> None:
        """Ask, then have the platform run a failed peering's last step again."""
        if self.refuse_read_only():
            return
        if self.session is None:
            self.notify("not connected yet", severity="warning")
            return
        if view is None or view.platform_status != "failed":
            self.notify(
                "only a peering that failed on the platform can be retried", severity="warning"
            )
            return
        reason = view.platform.reason if view.platform else None
        self.push_screen(
            ConfirmationModal(
                f"Retry {view.peering_id}?",
                f"the platform runs its last step again (it failed: {reason or 'no reason'});\n"
                "retry once the cause is gone, or clear it with ctrl+d",
                confirm_label="Retry",
            ),
            partial(self._retry_confirmed, view),
        )

    def _retry_confirmed(self, view: PeeringView, yes: bool | None) -> None:
        if yes:
            self.run_retry(view)

    @work(group="retry", exit_on_error=False)
    async def run_retry(self, view: PeeringView) -> None:
        """The retry, audited like the command line's; its outcome as a notification."""
        session = self.session
        if session is None:
            return
        target = {"deploymentID": view.deployment_id, "peeringId": view.peering_id}
        work = retry_failed(session.platform, view.deployment_id, view.peering_id)
        result = await audited_run(self, "retry", target, work)
        if isinstance(result, PeeringError | OSError):
            self.notify(describe_error(result), title="retry", severity="error", timeout=15)
        else:
            self.notify(f"{result.peering_id} is {result.platform_status}", title="retried")
        self.poll_now()

    def _deleted(self, deleted: bool | None) -> None:
        if deleted and self.poller is not None:
            self.poller.refresh()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failed_worker(self, event)

    async def on_unmount(self) -> None:
        if self.poller is not None:
            await asyncio.to_thread(self.poller.stop)
        if self.session is not None:
            await self.session.close()


def run(
    args: argparse.Namespace,
    connection: Connection | None,
    sandbox_process: SandboxProcess | None = None,
) -> int:
    """``peering-tui`` with no command: the dashboard (the command line calls this with the
    configured ``connection``, or with nothing configured the sandbox process it started)."""
    try:
        keymap = bindings.check_keymap(load_keymap())
    except PeeringError as exc:
        print(f"peering-tui: {exc.summary}", file=sys.stderr)
        return int(exc.exit_code)
    except ValueError as exc:
        print(f"peering-tui: {config_path()}: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    app = PeeringApp(
        connection=connection,
        refresh=getattr(args, "refresh", None) or DEFAULT_REFRESH,
        # The same switch as the CLI's commands: the flag or PEERING_READ_ONLY=1.
        read_only=read_only_requested(getattr(args, "dashboard_read_only", False)),
        keymap=keymap,
        sandbox_process=sandbox_process,
    )
    app.run()
    return app.return_code or 0
