"""Changing things from the dashboard, and things changing under it: each test gets a fresh
seeded sandbox (``seeded``) because each one leaves the fleet different."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from textual.widgets import Button, Checkbox, Input, OptionList, SelectionList, Static

from peering_core.audit import read_audit
from peering_core.aws import Ec2Gateway
from peering_core.errors import AwsError
from peering_core.sandbox.seed import SeedReport
from peering_core.sandbox.servers import Sandbox
from tui.app import PeeringApp
from tui.rows import FleetRows
from tui.screens.create import CreatePeeringScreen
from tui.screens.delete import DeletePeeringModal
from tui.widgets.step_log import StepLog

from .helpers import (
    cell,
    deployments_table,
    notifications,
    peerings_table,
    wait_for,
    wait_for_fleet,
)


def app_on(sandbox: Sandbox) -> PeeringApp:
    return PeeringApp(sandbox=sandbox, refresh=2.0)


async def test_a_tick_updates_a_cell_in_place_and_the_cursor_stays(
    sandbox: Sandbox, seeded: SeedReport, customer: Ec2Gateway
):
    app = app_on(sandbox)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        table = peerings_table(app)
        pcx = seeded.peerings["prod-data->factory-telemetry"]
        assert table.move_to(pcx)
        row = table.cursor_row
        added, updated = table.rows_added, table.cells_updated

        # Behind the dashboard's back, someone deletes the pcx in the AWS console.
        await customer.delete_peering("us-east-1", pcx)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: cell(table, pcx, "aws") == "deleted", what="AWS deleted")

        assert table.cursor_id == pcx and table.cursor_row == row
        assert table.rows_added == added, "rows were rebuilt instead of updated in place"
        assert table.cells_updated > updated
        assert cell(table, pcx, "mark") == "✗"
        assert [c.aws_status for c in app.history.changes(pcx)][-2:] == ["active", "deleted"]


async def pick(pilot, form: CreatePeeringScreen, vpc_id: str) -> None:
    vpcs = form.query_one("#vpcs", OptionList)
    vpcs.highlighted = vpcs.get_option_index(vpc_id)
    await pilot.pause()


async def open_create(app: PeeringApp, pilot, deployment_id: str) -> CreatePeeringScreen:
    # `n` acts on the focused table's row: the operator is on the deployments table.
    deployments_table(app).focus()
    assert deployments_table(app).move_to(deployment_id)
    await pilot.press("n")
    form = app.screen
    assert isinstance(form, CreatePeeringScreen)
    await wait_for(pilot, lambda: form.choices is not None, what="the form's choices")
    return form


async def test_create_through_the_form_to_running(
    sandbox: Sandbox, seeded: SeedReport, audit_log: Path
):
    dep = seeded.deployments["factory-telemetry"]
    vpc = seeded.vpcs["analytics"]
    app = app_on(sandbox)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        form = await open_create(app, pilot, dep.id)
        await pick(pilot, form, vpc.vpc_id)

        tables = form.query_one("#route-tables", SelectionList)
        # Default: every table that serves a subnet (the private one and the main one).
        assert sorted(tables.selected) == sorted(vpc.route_tables)
        groups = form.query_one("#security-groups", SelectionList)
        groups.deselect_all()
        groups.select(vpc.security_groups["warehouse"])
        form.query_one("#ports", Input).value = "5439"
        await pilot.pause()
        assert not form.query_one("#create", Button).disabled

        await pilot.click("#create")
        await wait_for(pilot, lambda: form.result is not None, timeout=60, what="the result")
        assert form.result is not None
        assert form.result.platform_status == "running" and form.result.aws_status == "active"
        pcx = form.result.peering_id
        steps = form.query_one("#steps", StepLog).lines()
        assert [line.split()[:2] for line in steps] == [
            ["✓", step]
            for step in ("validate", "request", "confirm", "wait", "routes", "rules", "verify")
        ]
        result = str(form.query_one("#result", Static).render())
        assert f"{pcx} is running" in result
        assert "routes: 2 added" in result
        assert f"{vpc.security_groups['warehouse']}:5439" in result

        (record,) = read_audit(audit_log)
        assert (record["action"], record["result"]) == ("create", "ok")
        assert record["target"] == {"deploymentID": dep.id, "vpcId": vpc.vpc_id}
        assert record["detail"]["peeringId"] == pcx and record["detail"]["via"] == "dashboard"
        assert record["who"]["platformKey"] == sandbox.key

        await pilot.click("#cancel")  # now labelled Close
        assert app.screen is app.main_screen
        await wait_for(pilot, lambda: pcx in peerings_table(app).ids, what="the new row")
        table = peerings_table(app)
        assert (cell(table, pcx, "platform"), cell(table, pcx, "aws")) == ("running", "active")


async def test_a_create_stopped_half_way_resumes_with_the_same_request(
    sandbox: Sandbox, seeded: SeedReport
):
    dep = seeded.deployments["factory-telemetry"]
    vpc = seeded.vpcs["analytics"]
    app = app_on(sandbox)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for_fleet(pilot, 6)
        form = await open_create(app, pilot, dep.id)
        await pick(pilot, form, vpc.vpc_id)

        # AWS throttles the inbound rule once: the pcx, the confirmation and the routes exist.
        assert app.session is not None
        ec2 = app.session.ec2
        real_authorize = ec2.authorize_ingress

        async def throttled(*args: object, **kwargs: object) -> object:
            ec2.authorize_ingress = real_authorize  # type: ignore[method-assign]
            raise AwsError("AuthorizeSecurityGroupIngress", "RequestLimitExceeded", "slow down")

        ec2.authorize_ingress = throttled  # type: ignore[method-assign]
        await pilot.click("#create")
        resume = form.query_one("#resume", Button)
        await wait_for(pilot, lambda: resume.display and not form.running, what="Resume offered")
        assert form.result is None
        assert any(line.startswith("✗ rules") for line in form.query_one(StepLog).lines())
        await wait_for(
            pilot,
            lambda: any("RequestLimitExceeded" in n for n in notifications(app)),
            what="the failure notified",
        )
        assert form.query_one("#create", Button).disabled

        await pilot.click("#resume")
        await wait_for(pilot, lambda: form.result is not None, timeout=60, what="the result")
        assert form.result is not None and not form.result.pcx_created
        lines = form.query_one(StepLog).lines()
        assert any(line.startswith("= request") for line in lines)
        assert any(line.startswith("= confirm") for line in lines)
        assert form.result.routes_added == () and len(form.result.routes_present) == 2
        assert not resume.display


async def test_delete_with_the_exact_pcx_id_removes_it_and_its_routes(
    sandbox: Sandbox, seeded: SeedReport, audit_log: Path
):
    pcx = seeded.peerings["eu-prod->eu-connected-cars"]
    app = app_on(sandbox)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        peerings_table(app).move_to(pcx)
        await pilot.press("ctrl+d")
        modal = app.screen
        assert isinstance(modal, DeletePeeringModal)
        await wait_for(pilot, lambda: modal.guard is not None, what="the guard")
        assert modal.query_one("#keep", Checkbox).value is False
        confirm = modal.query_one("#confirm", Input)
        confirm.value = pcx[:-1]
        await pilot.press(pcx[-1])  # the last character, typed
        assert confirm.value == pcx
        assert not modal.query_one("#delete", Button).disabled
        await pilot.press("enter")
        await wait_for(pilot, lambda: modal.deleted, timeout=60, what="the delete")
        lines = modal.query_one(StepLog).lines()
        assert [line.split()[:2] for line in lines] == [
            ["✓", "guard"],
            ["✓", "delete"],
            ["✓", "cleanup"],
        ]
        assert "deleted" in str(modal.query_one("#result", Static).render())
        (record,) = read_audit(audit_log)
        assert (record["action"], record["result"]) == ("delete", "ok")
        assert record["target"]["peeringId"] == pcx

        await pilot.press("escape")
        assert app.screen is app.main_screen
        await wait_for(pilot, lambda: pcx not in peerings_table(app).ids, what="the row gone")
        assert app.history.changes(pcx)[-1].platform_status == "gone"


async def test_a_platform_that_stops_answering_shows_as_stale_not_a_crash(
    sandbox: Sandbox, seeded: SeedReport
):
    app = app_on(sandbox)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for_fleet(pilot, 6)
        sandbox.platform.stop()
        await pilot.press("ctrl+r")
        await wait_for(
            pilot,
            lambda: app.snapshot is not None and not app.snapshot.ok,
            timeout=30,
            what="the platform source marked stale",
        )
        status = app.status_lines()[1].plain
        assert "✗ failing" in status and "platform stale since" in status
        # The last good data stays on screen, and the operator was told.
        assert peerings_table(app).row_count == 6
        await wait_for(
            pilot,
            lambda: any("platform is stale" in n for n in notifications(app)),
            what="the stale platform notified",
        )


async def test_a_tick_that_changes_nothing_repaints_nothing(sandbox: Sandbox, seeded: SeedReport):
    # A fixed clock, so the AGE and EXPIRES columns do not move between ticks on their own.
    now = datetime.now(UTC)
    app = PeeringApp(sandbox=sandbox, refresh=60.0, clock=lambda: now)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        tables = (peerings_table(app), deployments_table(app))
        for _ in range(10):  # the sandbox may still be accepting a peering: wait until it is not
            before_rows = app.rows
            before = [(t.repaints, t.cells_updated, t.rows_added) for t in tables]
            await pilot.press("ctrl+r")
            await wait_for(
                pilot, lambda seen=before_rows: app.rows is not seen, what="the next tick"
            )
            await pilot.pause()
            same = _row_keys(app.rows) == _row_keys(before_rows)
            if same:
                break
        else:
            raise AssertionError("the fleet never held still for one tick")
        assert [(t.repaints, t.cells_updated, t.rows_added) for t in tables] == before
        # ...and the rows are the very same objects: nothing was rebuilt either.
        assert all(
            app.rows.peering_rows[pcx][1] is before_rows.peering_rows[pcx][1]
            for pcx in app.rows.peering_rows
        )


def _row_keys(rows: FleetRows) -> tuple[dict[str, object], dict[str, object]]:
    """What every row shows (its key), for both tables."""
    return (
        {pcx: row[0] for pcx, row in rows.peering_rows.items()},
        {dep: row[0] for dep, row in rows.deployment_rows.items()},
    )


async def test_a_failed_peering_and_an_unconfirmed_request_are_cleared_from_the_dashboard(
    sandbox: Sandbox, audit_log: Path
):
    # Issue 17 (2): a failed peering could not be deleted, nor an unconfirmed request
    # withdrawn: the debris stayed red, and so did its deployment.
    from ..test_clearing_debris import _failed_peering, _request

    estate = await sandbox.seed(demo=False)
    failed = await _failed_peering(sandbox, estate)
    unconfirmed = await _request(sandbox, estate, "eu-connected-cars", "eu-dr")
    staging = estate.deployments["fleet-staging"].id
    cars = estate.deployments["eu-connected-cars"].id
    app = app_on(sandbox)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 2)
        table = deployments_table(app)
        assert cell(table, staging, "health") == "✗ error"
        assert cell(table, cars, "health") == "! warning"

        for pcx in (failed, unconfirmed):
            peerings_table(app).focus()
            peerings_table(app).move_to(pcx)
            await pilot.press("ctrl+d")
            modal = app.screen
            assert isinstance(modal, DeletePeeringModal)
            await wait_for(pilot, lambda m=modal: m.guard is not None or m.withdraw, what="guard")
            modal.query_one("#confirm", Input).value = pcx
            await pilot.pause()
            await pilot.press("enter")
            await wait_for(pilot, lambda m=modal: m.deleted, timeout=60, what="cleared")
            await pilot.press("escape")
            await wait_for(pilot, lambda p=pcx: p not in peerings_table(app).ids, what="row gone")

        await wait_for(pilot, lambda: cell(table, staging, "health") == "✓ ok", what="staging ok")
        assert cell(table, cars, "health") == "✓ ok"
        assert [r["result"] for r in read_audit(audit_log)] == ["ok", "ok"]
