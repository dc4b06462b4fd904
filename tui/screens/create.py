"""The create form: steps 2 to 6 of the dance from one screen, validated as the operator types,
then the workflow's steps live, and a Resume when it stopped half-way."""

from __future__ import annotations

from typing import ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, SelectionList, Static
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection
from textual.worker import Worker

from peering_core.create import CreateRequest, CreateResult, create_peering
from peering_core.create_choices import CreateChoices, VpcChoice, load_create_choices
from peering_core.errors import ExitCode, PeeringError, RuleViolation
from peering_core.models import RouteTable
from peering_core.rules import parse_ports

from .. import bindings
from ..dashboard import Dashboard, audited_run
from ..failures import report_failed_worker
from ..widgets.footer import Footer
from ..widgets.step_log import StepLog
from ..widgets.ticks import TickList


def deployment_summary(choices: CreateChoices) -> Text:
    """The deployment's side (step 1): region, VPC, CIDR, account, reserved ranges."""
    dep, info = choices.deployment, choices.deployment_vpc
    text = Text()
    rows = [
        ("deployment", f"{dep.name} ({dep.id}) · {dep.status}"),
        ("region", info.region),
        ("vpc", f"{info.vpc_id}  {info.cidr}"),
        ("account", info.account_id),
        ("reserved", ", ".join(info.reserved_cidrs) or "none"),
    ]
    for index, (key, value) in enumerate(rows):
        if index:
            text.append("\n")
        text.append(f"{key:<10} ", style="dim")
        text.append(value)
    return text


def vpc_prompt(choice: VpcChoice) -> Text:
    """``✓ prod-data vpc-… 172.20.0.0/16`` or ``✗ … — why not`` (``staging: `` first when
    several accounts are configured)."""
    vpc = choice.vpc
    text = Text()
    if choice.allowed:
        text.append("✓ ", style="green")
    else:
        text.append("✗ ", style="red")
    if choice.account:
        text.append(f"{choice.account}: ", style="cyan")
    text.append(f"{vpc.name or '(no name)'}  ", style="bold")
    text.append(f"{vpc.id}  {', '.join(vpc.cidrs or (vpc.cidr,))}", style="not bold")
    if vpc.is_default:
        text.append("  default VPC", style="dim")
    if choice.refusal:
        text.append(f" — {choice.refusal}", style="red")
    elif choice.peered_by:
        text.append(f" — already peered by {choice.peered_by}; creating resumes it", style="yellow")
    return text


def route_table_prompt(table: RouteTable, conflict: str | None) -> Text:
    """``rtb-…  prod-data-private  2 subnets`` with a warning when the route is taken."""
    label = Text(table.id)
    name = table.tags.get("Name")
    if name:
        label.append(f"  {name}", style="bold")
    if table.main:
        label.append("  main table (subnets without their own)", style="dim")
    if table.subnet_ids:
        label.append(f"  {len(table.subnet_ids)} subnet(s)", style="dim")
    if conflict:
        label.append(f"  ⚠ already routes there via {conflict}", style="yellow")
    return label


def validation_problems(
    choices: CreateChoices | None,
    vpc_id: str | None,
    route_tables: list[str],
    security_groups: list[str],
    ports_text: str,
) -> list[str]:
    """What stops the form from being submitted, in the operator's words (empty: ready)."""
    if choices is None:
        return ["loading both sides…"]
    problems = []
    if choices.deployment.status != "running":
        problems.append(f"deployment is {choices.deployment.status}, not running")
    choice = choices.choice(vpc_id) if vpc_id else None
    if choice is None:
        problems.append("pick the customer VPC (↑/↓ in the list above)")
    elif choice.refusal:
        problems.append(choice.refusal)
    else:
        if not route_tables:
            problems.append("pick at least one route table for the route to the deployment")
        for table in choice.route_tables:
            target = choices.route_conflict(table, choice.peered_by)
            if table.id in route_tables and target:
                problems.append(
                    f"{table.id} already routes {choices.deployment_vpc.cidr} to {target}; "
                    "remove that route first"
                )
        if not security_groups:
            problems.append("pick at least one security group for the inbound rule")
    try:
        parse_ports(ports_text)
    except RuleViolation as exc:
        problems.append(str(exc))
    return problems


def ready_text(choices: CreateChoices | None, ports_text: str) -> Text:
    """What Create will do, said before it does it (an empty ports field is all traffic)."""
    cidr = choices.deployment_vpc.cidr if choices else "the deployment CIDR"
    ports = parse_ports(ports_text)
    allowed = "all traffic" if not ports else "tcp " + ", ".join(map(str, ports))
    return Text(
        f"✓ ready: Create requests the pcx, confirms it, routes {cidr} and allows {allowed} "
        f"from {cidr} in",
        style="green",
    )


def result_text(result: CreateResult, deployment_name: str) -> Text:
    """What was made, in one paragraph."""
    text = Text()
    verb = "is" if result.pcx_created else "was already there and is"
    text.append(f"✓ {result.peering_id} {verb} {result.platform_status}", style="bold green")
    text.append(
        f"\n{result.vpc_id} ({result.requester_cidr}) ↔ {deployment_name} "
        f"({result.deployment_cidr}) in {result.region}"
    )
    text.append(
        f"\npcx {'requested now' if result.pcx_created else 'already there, reused'}; "
        f"{'confirmed now' if result.confirmed_now else 'already confirmed'} on the platform"
    )
    text.append(
        f"\nroutes: {len(result.routes_added)} added"
        + (f" ({', '.join(result.routes_added)})" if result.routes_added else "")
        + f", {len(result.routes_present)} already there"
    )
    text.append(
        f"\ninbound rules: {len(result.rules_added)} added"
        + (f" ({', '.join(result.rules_added)})" if result.rules_added else "")
        + f", {len(result.rules_present)} already there"
    )
    return text


class CreatePeeringScreen(ModalScreen[CreateResult | None]):
    """Peer a customer VPC with one deployment; dismissed with the result (or None)."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.CREATE)

    def __init__(
        self, deployment_id: str, choices: CreateChoices | None = None, *, name: str | None = None
    ) -> None:
        super().__init__()
        self.deployment_id = deployment_id
        self.deployment_name = name or (choices.deployment.name if choices else deployment_id)
        self._shown_problems: list[str] = []
        self.choices = choices
        self.request: CreateRequest | None = None
        self.result: CreateResult | None = None
        self.running = False

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        with Vertical(id="create-dialog", classes="dialog"):
            yield Static(
                Text(f"New peering → {self.deployment_name}"),
                id="create-title",
                classes="dialog-title",
            )
            with VerticalScroll(id="create-body"):
                yield Static("reading the deployment and your VPCs…", id="deployment-info")
                yield OptionList(id="vpcs")
                yield TickList(id="route-tables", classes="picks")
                yield TickList(id="security-groups", classes="picks")
                with Horizontal(id="ports-row"):
                    yield Label("inbound ports", id="ports-label")
                    yield Input("all", placeholder="all, or 5432, 9092", id="ports")
                yield Static(id="validation")
                yield StepLog(id="steps")
                yield Static(id="result")
            with Horizontal(classes="buttons"):
                yield Button("Create", id="create", variant="primary", disabled=True, compact=True)
                yield Button("Resume", id="resume", variant="warning", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#deployment-info").border_title = "deployment (platform side)"
        self.query_one("#vpcs").border_title = "customer VPC"
        self.query_one("#resume").display = False
        if self.choices is None:
            self.load_choices()
        else:
            self.show_choices(self.choices)

    # --- loading ------------------------------------------------------------------------

    @work(exclusive=True, group="create-load", exit_on_error=False)
    async def load_choices(self) -> None:
        """Read both sides for the form, in the background."""
        session = self.dashboard.session
        if session is None:
            return
        try:
            choices = await load_create_choices(
                session.platform, session.accounts, self.deployment_id
            )
        except (PeeringError, OSError) as exc:
            self.query_one("#deployment-info", Static).update(
                Text(f"cannot read both sides: {exc}", style="red")
            )
            self.notify(f"create form: {exc}", severity="error")
            return
        self.show_choices(choices)

    def show_choices(self, choices: CreateChoices) -> None:
        """Fill the form from ``choices``."""
        self.choices = choices
        info = choices.deployment_vpc
        self.query_one("#create-title", Static).update(
            Text(f"New peering → {choices.deployment.name} ({info.region})")
        )
        self.query_one("#deployment-info", Static).update(deployment_summary(choices))
        vpcs = self.query_one("#vpcs", OptionList)
        vpcs.border_title = f"customer VPC in {info.region} (peering stays inside one region)"
        vpcs.clear_options()
        vpcs.add_options(
            Option(vpc_prompt(c), id=c.vpc.id, disabled=not c.allowed) for c in choices.vpcs
        )
        self.query_one(
            "#route-tables"
        ).border_title = f"route tables: route {info.cidr} via the pcx (space toggles)"
        self.query_one(
            "#security-groups"
        ).border_title = f"security groups: allow {info.cidr} in (space toggles)"
        if choices.failed_accounts:
            # The other accounts' VPCs are still offered; the failed ones say why.
            vpcs.border_subtitle = f"not read: {', '.join(choices.failed_accounts)}"
            failed = "; ".join(f"{k}: {v}" for k, v in choices.failed_accounts.items())
            self.notify(f"accounts not read: {failed}", severity="warning", timeout=15)
        if not choices.vpcs:
            self.query_one("#validation", Static).update(
                Text(f"no VPC of this AWS account in {info.region}", style="red")
            )
        vpcs.focus()
        self.validate()

    # --- picking ------------------------------------------------------------------------

    @property
    def vpc_id(self) -> str | None:
        """The highlighted customer VPC (the operator's pick)."""
        vpcs = self.query_one("#vpcs", OptionList)
        if vpcs.highlighted is None:
            return None
        return vpcs.get_option_at_index(vpcs.highlighted).id

    @on(OptionList.OptionHighlighted, "#vpcs")
    def _vpc_highlighted(self) -> None:
        choice = self.choices.choice(self.vpc_id) if self.choices and self.vpc_id else None
        tables = self.query_one("#route-tables", SelectionList)
        groups = self.query_one("#security-groups", SelectionList)
        tables.clear_options()
        groups.clear_options()
        if choice is not None and self.choices is not None:
            for table in choice.route_tables:
                tables.add_option(
                    Selection(
                        route_table_prompt(
                            table, self.choices.route_conflict(table, choice.peered_by)
                        ),
                        table.id,
                        table.id in choice.default_route_tables,
                    )
                )
            for group in choice.security_groups:
                label = Text(group.id)
                label.append(f"  {group.name}", style="bold")
                if group.description and group.description != group.name:
                    label.append(f"  {group.description}", style="dim")
                groups.add_option(
                    Selection(label, group.id, group.id in choice.default_security_groups)
                )
        self.validate()

    @on(SelectionList.SelectedChanged)
    @on(Input.Changed, "#ports")
    def _changed(self) -> None:
        self.validate()

    def problems(self) -> list[str]:
        """What the form's current values lack (see :func:`validation_problems`)."""
        return validation_problems(
            self.choices,
            self.vpc_id,
            list(self.query_one("#route-tables", SelectionList).selected),
            list(self.query_one("#security-groups", SelectionList).selected),
            self.query_one("#ports", Input).value,
        )

    def validate(self) -> bool:
        """Show what is missing; enable Create only when nothing is."""
        problems = self.problems()
        text = Text()
        if problems:
            for index, problem in enumerate(problems):
                text.append(("\n" if index else "") + f"✗ {problem}", style="red")
        else:
            text.append(ready_text(self.choices, self.query_one("#ports", Input).value))
        if self.result is None and not self.running:
            validation = self.query_one("#validation", Static)
            validation.update(text)
            if problems and problems != self._shown_problems:
                # On an 80x24 terminal the reasons sit below the fold: bring them up.
                validation.scroll_visible(animate=False)
        self._shown_problems = problems
        self.query_one("#create", Button).disabled = bool(problems) or self.running
        return not problems

    # --- running ------------------------------------------------------------------------

    def build_request(self) -> CreateRequest:
        """The workflow request from the form (call only when it validates)."""
        assert self.vpc_id is not None
        return CreateRequest(
            deployment_id=self.deployment_id,
            vpc_id=self.vpc_id,
            route_tables=tuple(self.query_one("#route-tables", SelectionList).selected),
            security_groups=tuple(self.query_one("#security-groups", SelectionList).selected),
            ports=parse_ports(self.query_one("#ports", Input).value),
        )

    def action_submit(self) -> None:
        """``ctrl+s`` or Create: run the workflow when the form is valid."""
        if self.running or self.result is not None:
            return
        if not self.validate():
            self.notify("; ".join(self.problems()), title="cannot create yet", severity="warning")
            return
        if self.dashboard.refuse_read_only():
            return
        self.request = self.build_request()
        self.run_create(self.request)

    @on(Button.Pressed, "#create")
    def _create_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#resume")
    def _resume_pressed(self) -> None:
        # The workflow is idempotent: the same request continues where it stopped.
        if self.request is not None and not self.running:
            self.run_create(self.request)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        """``esc`` or Cancel/Close: leave with the result, if any."""
        if self.running:
            self.notify(
                "the create is running; wait for it (an interrupted create can be resumed)",
                severity="warning",
            )
            return
        self.dismiss(self.result)

    def _lock_form(self, locked: bool) -> None:
        for selector in ("#vpcs", "#route-tables", "#security-groups", "#ports"):
            self.query_one(selector).disabled = locked

    @work(exclusive=True, group="create-run", exit_on_error=False)
    async def run_create(self, request: CreateRequest) -> None:
        """Run :func:`create_peering` with its steps shown live; offer Resume if it stops."""
        session = self.dashboard.session
        if session is None:
            self.notify("not connected", severity="error")
            return
        self.running = True
        self._lock_form(True)
        steps = self.query_one("#steps", StepLog)
        steps.clear()
        steps.border_title = "create"
        # The workflow runs on the UI's event loop, so its events update the log directly
        # and in order: the log is complete when the result is shown.
        self.query_one("#resume").display = False
        self.query_one("#create", Button).disabled = True
        self.query_one("#validation", Static).update("")
        self.query_one("#cancel", Button).disabled = True

        target = {"deploymentID": request.deployment_id, "vpcId": request.vpc_id}
        choice = self.choices.choice(request.vpc_id) if self.choices else None
        ec2 = session.gateway_named(choice.account if choice else "")
        if choice is not None and choice.account:
            target["account"] = choice.account  # the audit record names where it was made
        work = create_peering(request, session.platform, ec2, on_progress=steps.record)
        try:
            result = await audited_run(self.dashboard, "create", target, work)
            if isinstance(result, PeeringError):
                self._failed(
                    result.step, result.summary, resumable=result.exit_code == ExitCode.FAILED
                )
                return
            if isinstance(result, OSError):
                self._failed("", str(result), resumable=True)
                return
            self.result = result
            deployment = self.choices.deployment.name if self.choices else self.deployment_id
            self.query_one("#result", Static).update(result_text(result, deployment))
            self.query_one("#create").display = False
            self.query_one("#cancel", Button).label = "Close"
            self.notify(
                f"{result.peering_id} is {result.platform_status}",
                title="peering created" if result.pcx_created else "peering resumed",
            )
        finally:
            self.running = False
            self.query_one("#cancel", Button).disabled = False
            self.query_one("#result").scroll_visible()

    def _failed(self, step: str, message: str, *, resumable: bool) -> None:
        self.query_one("#steps", StepLog).fail(step, message)
        self.notify(message, title=f"create stopped at {step or 'a step'}", severity="error")
        if resumable:
            self.query_one("#resume").display = True
            self.query_one("#validation", Static).update(
                Text("stopped half-way: Resume re-runs the same request and continues", "yellow")
            )
        else:
            # Nothing changed (bad input or a guard): let the operator fix the form.
            self._lock_form(False)
            self.validate()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failed_worker(self, event)
