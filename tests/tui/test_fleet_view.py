"""Looking at the demo fleet: states, keys, filter, help, palette, detail, refusals, read-only.

Nothing here changes either side, so every test runs on one seeded sandbox (``demo_fleet``).
Tests poll rarely (``refresh=30``) and refresh with ``ctrl+r`` when they need a tick.
"""

from __future__ import annotations

import io
import re

import hcl2
from rich.console import Console
from textual.command import CommandList, CommandPalette
from textual.widgets import Button, Checkbox, Input, Static
from textual.widgets._footer import FooterKey

from peering_core.audit import read_audit
from peering_core.errors import AwsError, DriftError
from tui import bindings
from tui.app import PeeringApp
from tui.formatting import console_url
from tui.screens.confirm import ConfirmationModal
from tui.screens.copy_plan import CopyFormatModal
from tui.screens.create import CreatePeeringScreen
from tui.screens.delete import DeletePeeringModal
from tui.screens.detail import PeeringDetailScreen
from tui.screens.diff import PeeringDiffScreen
from tui.screens.fix import FixPlanModal
from tui.screens.help import HelpScreen, help_table
from tui.status import PollState
from tui.widgets.footer import Footer

from .conftest import DemoFleet
from .helpers import (
    cell,
    deployments_table,
    notifications,
    peerings_table,
    plain,
    wait_for,
    wait_for_fleet,
)


def app_on(fleet: DemoFleet, **settings: object) -> PeeringApp:
    return PeeringApp(sandbox=fleet.sandbox, refresh=30.0, **settings)  # type: ignore[arg-type]


def static_text(app: PeeringApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


# --- the main screen ----------------------------------------------------------------------


async def test_the_seeded_peerings_appear_in_their_states(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        table = peerings_table(app)

        healthy = demo_fleet.pcx("prod-data->factory-telemetry")
        assert (cell(table, healthy, "platform"), cell(table, healthy, "aws")) == (
            "running",
            "active",
        )
        assert cell(table, healthy, "mark") == "✓"
        assert cell(table, healthy, "health") == "✓ ok"

        orphaned = demo_fleet.pcx("apac-edge->apac-sensors")
        assert (cell(table, orphaned, "platform"), cell(table, orphaned, "aws")) == (
            "running",
            "deleted",
        )
        assert cell(table, orphaned, "health").startswith("✗ error: platform running but pcx")

        failed = demo_fleet.pcx("office-net->fleet-staging")
        assert (cell(table, failed, "platform"), cell(table, failed, "aws")) == (
            "failed",
            "rejected",
        )
        assert "CIDR overlap" in cell(table, failed, "health")

        unconfirmed = demo_fleet.pcx("eu-dr->eu-connected-cars")
        assert cell(table, unconfirmed, "platform") == "unconfirmed"
        assert cell(table, unconfirmed, "aws") == "pending-acceptance"
        assert cell(table, unconfirmed, "expires") == "6d 23h"
        assert cell(table, unconfirmed, "mark") == "!"

        # Drifted behind the tool's back: running on both sides, but a route is missing.
        drifted = demo_fleet.pcx("eu-prod->eu-connected-cars")
        # Issue 17 (5): a missing route and a missing rule stop traffic: an error.
        assert cell(table, drifted, "health").startswith("✗ error: ")

        deployments = deployments_table(app)
        health = {
            cell(deployments, d, "name"): cell(deployments, d, "health") for d in deployments.ids
        }
        assert health == {
            "apac-sensors": "✗ error",
            "eu-connected-cars": "✗ error",  # its drifted peering stops traffic
            "factory-telemetry": "✓ ok",
            "fleet-staging": "✗ error",
        }

        first, second = (line.plain for line in app.status_lines())
        assert "sandbox" in first and "AWS 210987654321 (operator)" in first
        assert "● live" in second and "every 30s" in second


async def test_pause_stops_polling_and_resume_polls_at_once(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        await pilot.press("p")
        assert app.poller is not None and app.poller.paused
        assert app.poll_state is PollState.PAUSED
        assert "paused" in app.status_lines()[1].plain

        before = app.snapshot
        await pilot.press("p")
        assert not app.poller.paused and app.poll_state is PollState.LIVE
        # Resuming polls at once, not after the 30 s interval.
        await wait_for(pilot, lambda: app.snapshot is not before, timeout=10, what="a new tick")


async def test_ctrl_r_polls_now_even_while_paused(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        await pilot.press("p")
        before = app.snapshot
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.snapshot is not before, timeout=10, what="a new tick")
        assert app.poll_state is PollState.PAUSED


async def test_polling_pauses_while_a_dialog_is_open(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert app.poller is not None and app.poller.paused
        assert app.poll_state is PollState.DIALOG
        await pilot.press("escape")
        assert not app.poller.paused and app.poll_state is PollState.LIVE


async def test_the_filter_narrows_both_tables_live_and_esc_clears_it(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        screen = app.main_screen
        line = screen.query_one("#peering-line")
        sizes = (deployments_table(app).size, peerings_table(app).size)
        at = line.region.y
        await pilot.press("slash")
        assert app.focused is screen.filter_input
        # The filter takes the peering line's place: the tables keep their size (showing it
        # re-renders no table row: the / key was the slowest at 5,000 peerings).
        assert screen.filter_input.region.y == at and not line.display
        assert (deployments_table(app).size, peerings_table(app).size) == sizes
        await pilot.press("e", "u")
        assert screen.filter_text == "eu"
        # The rest of the typing, at once (each key press waits for the process to idle).
        screen.filter_input.insert_text_at_cursor("-connected")
        await pilot.pause()
        assert peerings_table(app).row_count == 2
        names = [cell(deployments_table(app), d, "name") for d in deployments_table(app).ids]
        assert names == ["eu-connected-cars"]

        # Health and status words match too, and every word must match.
        # (The drifted eu-prod peering is an error too now, and running: "deleted" tells.)
        screen.filter_input.value = "error deleted"
        await pilot.pause()
        assert peerings_table(app).ids == [demo_fleet.pcx("apac-edge->apac-sensors")]

        # A requester VPC id finds its peering.
        vpc = demo_fleet.report.vpcs["analytics"].vpc_id
        screen.filter_input.value = vpc
        await pilot.pause()
        assert peerings_table(app).ids == [demo_fleet.pcx("analytics->fleet-staging")]

        # Enter keeps the filter, hides its input and brings the peering line back; / edits it.
        await pilot.press("enter")
        assert screen.filter_text == vpc and line.display and not screen.filter_input.display
        assert "filter" in str(peerings_table(app).border_title)
        await pilot.press("slash")
        assert app.focused is screen.filter_input and screen.filter_input.value == vpc

        await pilot.press("escape")
        assert screen.filter_text == ""
        assert peerings_table(app).row_count == 6
        assert deployments_table(app).row_count == 4
        assert not screen.filter_input.display and line.display
        assert app.focused is peerings_table(app)


async def test_the_footer_is_rebuilt_only_when_the_keys_it_shows_change(demo_fleet: DemoFleet):
    """Textual's footer rebuilt all its keys on every change of focus or bindings; ours only
    when what it shows differs, and then it shows the new keys."""
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        screen = app.main_screen
        footer = screen.query_one(Footer)
        await pilot.pause()
        built, shown = footer.rebuilds, footer._shown
        assert built >= 1 and shown
        await pilot.press("tab", "tab")
        await pilot.pause()
        assert footer.rebuilds == built  # the focus moved twice, the same keys shown
        # In the filter, letters are typed, not keys: the footer drops them, and shows them
        # again after esc.
        await pilot.press("slash")
        assert app.focused is screen.filter_input
        await wait_for(pilot, lambda: footer.rebuilds == built + 1)
        assert "n" not in {key.key for key in footer.query(FooterKey)}
        await pilot.press("escape")
        await wait_for(pilot, lambda: footer.rebuilds == built + 2)
        assert "n" in {key.key for key in footer.query(FooterKey)}

        # Read-only hides the mutating keys: the footer is rebuilt without them.
        app.read_only = True
        screen.refresh_bindings()
        await wait_for(pilot, lambda: footer.rebuilds == built + 3)
        await pilot.pause()
        keys = {key.key for key in footer.query(FooterKey)}
        assert keys and not keys & bindings.mutating_keys(bindings.MAIN, app.keymap)


async def test_a_toggles_between_all_and_the_selected_deployment(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        assert deployments_table(app).move_to(demo_fleet.deployment_id("fleet-staging"))
        await pilot.press("a")
        assert sorted(peerings_table(app).ids) == sorted(
            [
                demo_fleet.pcx("office-net->fleet-staging"),
                demo_fleet.pcx("analytics->fleet-staging"),
            ]
        )
        assert "fleet-staging" in str(peerings_table(app).border_title)
        await pilot.press("a")
        assert peerings_table(app).row_count == 6


async def test_s_cycles_the_sort_and_the_cursor_stays_on_its_peering(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        table = peerings_table(app)
        healthy = demo_fleet.pcx("prod-data->factory-telemetry")
        table.move_to(healthy)
        await pilot.press("s")  # by health: errors first, the one healthy peering last
        assert table.ids[-1] == healthy
        assert table.cursor_id == healthy
        assert "sort: health" in str(table.border_subtitle)


async def test_help_lists_every_binding(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(help_table(read_only=False))
        plain = console.export_text()
        for _title, section in bindings.SECTIONS:
            for binding in section:
                assert binding.description in plain
        assert "command palette" in plain
        await pilot.press("escape")
        assert app.screen is app.main_screen


async def test_the_command_palette_goes_to_a_deployment(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")
        app.screen.query_one(Input).value = "go to deployment apac"
        commands = app.screen.query_one(CommandList)
        await wait_for(
            pilot,
            lambda: commands.option_count == 1 and commands.highlighted == 0,
            what="one hit, highlighted",
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.main_screen.all_deployments, what="deployment chosen")
        assert app.main_screen.selected_deployment_id() == demo_fleet.deployment_id("apac-sensors")
        assert peerings_table(app).ids == [demo_fleet.pcx("apac-edge->apac-sensors")]


async def test_it_fits_an_80x24_ssh_session(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_fleet(pilot, 6)
        await pilot.pause()  # the rows are in; let the layout that follows them run
        screen = app.main_screen
        assert screen.query_one("StatusHeader").region.height == 2
        deployments, peerings = deployments_table(app), peerings_table(app)
        # All four deployments and all six peerings show without scrolling down...
        assert deployments.region.height >= 4 + 3
        assert peerings.region.height >= 6 + 3
        # The sandbox's key is the admin's (a TENANT column), and the deployments table still
        # fits, HEALTH and all: the count of peerings gives way first.
        assert deployments.max_scroll_x == 0, deployments.shown_columns
        assert {"name", "tenant", "status", "health"} <= set(deployments.shown_columns)
        # ...and the health mark, the pcx, the deployment and both statuses without scrolling
        # right; the highlighted peering's verdict is spelled out under the table.
        shown = sum(peerings.column_widths[:5])
        assert shown <= peerings.scrollable_content_region.width
        line = str(screen.query_one("#peering-line", Static).render())
        assert peerings.cursor_id is not None and peerings.cursor_id in line
        assert screen.query_one("Footer").region.y == 23


async def test_the_platform_secret_never_reaches_the_screen(demo_fleet: DemoFleet):
    secret = demo_fleet.sandbox.secret.get_secret_value()
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        assert secret not in app.export_screenshot()
        await pilot.press("d", "y")
        assert isinstance(app.screen, PeeringDetailScreen)
        assert secret not in app.export_screenshot()
        assert secret not in app.screen.raw_json()


# --- the detail screen --------------------------------------------------------------------


async def test_d_opens_the_peering_with_both_sides_path_history_and_json(
    demo_fleet: DemoFleet,
):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        pcx = demo_fleet.pcx("prod-data->factory-telemetry")
        peerings_table(app).move_to(pcx)
        await pilot.press("d")
        screen = app.screen
        assert isinstance(screen, PeeringDetailScreen) and screen.peering_id == pcx

        assert "running" in static_text(app, "#platform-side")
        assert "active" in static_text(app, "#aws-side")
        assert "healthy" in static_text(app, "#problems")
        path = static_text(app, "#path")
        vpc = demo_fleet.report.vpcs["prod-data"]
        assert "10.200.0.0/16" in path and pcx in path and vpc.vpc_id in path
        assert all(table in path for table in vpc.route_tables)
        assert "ports 5432, 9092" in path
        assert "platform running" in static_text(app, "#history")

        raw = screen.query_one("#raw")
        assert not raw.display
        await pilot.press("y")
        # Issue 17 (8): one naming in the raw JSON, the platform API's camelCase.
        assert raw.display and f'"peeringId": "{pcx}"' in screen.raw_json()
        assert "_" not in "".join(re.findall(r'"(\w+)":', screen.raw_json()))

        await pilot.press("c")
        assert app.clipboard == pcx
        await pilot.press("b")
        assert app.clipboard == console_url("us-east-1", pcx)
        assert app.clipboard == (
            "https://console.aws.amazon.com/vpcconsole/home?region=us-east-1"
            f"#PeeringConnectionDetails:VpcPeeringConnectionId={pcx}"
        )

        await pilot.press("escape")
        assert app.screen is app.main_screen


async def test_an_unconfirmed_peering_says_so_on_the_platform_side(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_fleet(pilot, 6)
        app.open_detail(demo_fleet.pcx("eu-dr->eu-connected-cars"))
        await pilot.pause()
        assert "never confirmed" in static_text(app, "#platform-side")
        assert "pending-acceptance" in static_text(app, "#aws-side")
        assert "expires" in static_text(app, "#aws-side")


# --- the diff view -----------------------------------------------------------------------


async def test_enter_opens_the_diff_view_and_d_and_x_switch_to_the_detail_and_back(
    demo_fleet: DemoFleet,
):
    app = app_on(demo_fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_fleet(pilot, 6)
        pcx = demo_fleet.pcx("eu-prod->eu-connected-cars")
        vpc = demo_fleet.report.vpcs["eu-prod"]
        peerings_table(app).move_to(pcx)
        await pilot.press("enter")
        diff = app.screen
        assert isinstance(diff, PeeringDiffScreen) and diff.peering_id == pcx
        # Straight from the last poll: no wait, no extra call.
        assert diff.reading is not None and diff.reading.source == "last poll"
        rows = diff.routes_table.plain_rows()
        assert any(row[:2] == ["✗ missing", vpc.main_route_table] for row in rows)
        assert "✗ error: 2 rows stop traffic" in static_text(app, "#diff-title")
        # The state word stays in sight at 80 columns, and so does the table's id.
        assert diff.routes_table.fixed_columns == 2

        await pilot.press("d")
        assert isinstance(app.screen, PeeringDetailScreen) and app.screen.peering_id == pcx
        await pilot.press("x")
        assert app.screen is diff, "x went back to the diff view instead of stacking another"
        await pilot.press("escape")
        assert app.screen is app.main_screen

        await pilot.press("x")
        assert isinstance(app.screen, PeeringDiffScreen)
        await pilot.press("escape", "d", "x")
        assert isinstance(app.screen, PeeringDiffScreen)
        assert len(app.screen_stack) == 3  # dashboard, detail, diff
        await pilot.press("escape", "escape")
        app.action_diff_selected()  # the palette's "diff peering"
        await pilot.pause()
        assert isinstance(app.screen, PeeringDiffScreen) and app.screen.peering_id == pcx


async def test_the_diff_view_re_diffs_on_r(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        app.open_diff(demo_fleet.pcx("prod-data->factory-telemetry"))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PeeringDiffScreen)
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.rediffs == 1 and not screen.diffing, what="re-diff")
        assert screen.reading is not None and screen.reading.source == "re-diffed"
        assert screen.reading.diff.in_sync
        assert "✓ ok: in sync" in static_text(app, "#diff-title")
        assert "every route and inbound rule" in static_text(app, "#reasons")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.rediffs == 2, what="ctrl+r re-diffs too")


async def test_cancelling_the_confirmation_applies_nothing(demo_fleet: DemoFleet, audit_log):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        app.open_diff(demo_fleet.pcx("eu-prod->eu-connected-cars"))
        await pilot.pause()
        await pilot.press("f", "a")
        assert isinstance(app.screen, ConfirmationModal)
        assert "aws ec2 create-route" in plain(app.screen.query_one("#confirm-body", Static))
        await pilot.press("n")
        plan = app.screen
        assert isinstance(plan, FixPlanModal) and not plan.running and plan.applied == []
        await pilot.press("escape", "r")
        diff = app.screen
        assert isinstance(diff, PeeringDiffScreen)
        await wait_for(pilot, lambda: diff.rediffs == 1, what="the re-diff")
        assert diff.reading is not None and len(diff.reading.diff.drift) == 2
        assert not audit_log.exists()


async def test_a_failing_action_is_shown_audited_and_left_to_retry(
    demo_fleet: DemoFleet, audit_log, monkeypatch
):
    app = app_on(demo_fleet)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for_fleet(pilot, 6)
        assert app.session is not None
        ec2 = app.session.ec2

        async def denied(*args: object, **kwargs: object) -> None:
            raise AwsError("CreateRoute", "UnauthorizedOperation", "not allowed")

        monkeypatch.setattr(ec2, "create_route", denied)
        monkeypatch.setattr(ec2, "authorize_ingress", denied)
        app.open_diff(demo_fleet.pcx("eu-prod->eu-connected-cars"))
        await pilot.pause()
        await pilot.press("f", "a", "y")
        plan = app.screen
        assert isinstance(plan, FixPlanModal)
        await wait_for(
            pilot, lambda: plan.rediffed is not None and not plan.running, what="apply and re-diff"
        )
        assert [a.ok for a in plan.applied] == [False, False]
        assert "UnauthorizedOperation" in plain(plan.query_one("#fix-applied", Static))
        result = plain(plan.query_one("#fix-result", Static))
        assert "✗ error: 2 rows stop traffic" in result and "2 action(s) failed" in result
        assert not plan.query_one("#apply", Button).disabled, "the operator can try again"
        (record,) = read_audit(audit_log)
        assert record["result"] == "failed: 2 action(s)"
        assert len(record["detail"]["errors"]) == 2


async def test_a_diff_that_cannot_be_read_is_a_notification_not_a_crash(
    demo_fleet: DemoFleet, monkeypatch
):
    async def unreadable(*args: object) -> None:
        raise DriftError("pcx-x is not visible to this AWS account in eu-west-1")

    async def broken(*args: object) -> None:
        raise RuntimeError("the unexpected")

    app = app_on(demo_fleet)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for_fleet(pilot, 6)
        app.open_diff(demo_fleet.pcx("eu-prod->eu-connected-cars"))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PeeringDiffScreen)
        monkeypatch.setattr("tui.screens.diff.diff_one", unreadable)
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.error is not None, what="the error kept")
        assert "re-diff failed: pcx-x is not visible" in static_text(app, "#diff-title")
        assert screen.reading is not None, "the last diff stays on screen"
        monkeypatch.setattr("tui.screens.diff.diff_one", broken)
        await pilot.press("r")
        await wait_for(
            pilot,
            lambda: any("RuntimeError: the unexpected" in n for n in notifications(app)),
            what="the unexpected error notified",
        )
        assert app.is_running and app.screen is screen


async def test_read_only_shows_and_copies_the_fix_plan_but_never_applies_it(
    demo_fleet: DemoFleet, audit_log
):
    app = app_on(demo_fleet, read_only=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for_fleet(pilot, 6)
        pcx = demo_fleet.pcx("eu-prod->eu-connected-cars")
        peerings_table(app).move_to(pcx)
        await pilot.press("x", "f")
        plan = app.screen
        assert isinstance(plan, FixPlanModal)
        assert "aws ec2 create-route" in plain(plan.query_one("#fix-actions", Static))
        assert not plan.query_one("#apply", Button).display
        assert "apply_fix" not in {b.binding.action for b in app.active_bindings.values()}

        await pilot.press("a")
        assert app.screen is plan, "no confirmation: read-only refuses before asking"
        await wait_for(
            pilot,
            lambda: any("read-only" in n and "fix" in n for n in notifications(app)),
            what="apply refused with a reason",
        )
        plan.action_apply_fix()  # the button's handler, called anyway
        assert app.screen is plan and plan.applied == []

        # An operator without write access hands the plan on: as aws ec2 commands, or as
        # Terraform for a team whose network is in Terraform.
        await pilot.press("c")
        assert isinstance(app.screen, CopyFormatModal)
        await pilot.press("a")
        assert app.screen is plan
        script = app.clipboard
        assert script.startswith(f"# peering-tui fix plan for {pcx}")
        assert "\naws ec2 create-route --route-table-id" in script
        assert "\naws ec2 authorize-security-group-ingress --group-id" in script
        await pilot.press("c", "t")
        terraform = app.clipboard
        assert terraform.startswith(f"# peering-tui fix plan for {pcx}")
        parsed = hcl2.loads(terraform)
        kinds = sorted(kind.strip('"') for r in parsed["resource"] for kind in r)
        assert kinds == ["aws_route", "aws_vpc_security_group_ingress_rule"]
        assert "import" not in parsed  # a missing route and rule: nothing exists to import
        await pilot.press("c", "escape")
        assert app.screen is plan and app.clipboard == terraform
        assert not audit_log.exists()


# --- refusals -----------------------------------------------------------------------------


async def open_delete(app: PeeringApp, pilot, pcx: str) -> DeletePeeringModal:
    peerings_table(app).move_to(pcx)
    await pilot.press("ctrl+d")
    screen = app.screen
    assert isinstance(screen, DeletePeeringModal)
    await wait_for(
        pilot,
        lambda: screen.guard is not None or screen.guard_error or screen.withdraw,
        what="the guard verdict",
    )
    return screen


async def test_a_failed_peering_can_be_cleared_with_the_typed_confirmation(demo_fleet: DemoFleet):
    # Issues 14 and 17 (2): a failed peering could not be deleted; its debris stayed red.
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        pcx = demo_fleet.pcx("office-net->fleet-staging")
        modal = await open_delete(app, pilot, pcx)
        guard = static_text(app, "#guard")
        assert "✓ status" in guard and "platform status is failed" in guard
        assert "the guard allows this delete" in guard
        assert modal.query_one("#delete", Button).disabled  # until the pcx id is typed
        modal.query_one("#confirm", Input).value = pcx
        await pilot.pause()
        assert not modal.query_one("#delete", Button).disabled
        await pilot.press("escape")
        assert app.screen is app.main_screen


async def test_delete_is_refused_while_a_resource_sits_inside_the_peer_cidr(
    demo_fleet: DemoFleet,
):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        modal = await open_delete(app, pilot, demo_fleet.pcx("prod-data->factory-telemetry"))
        guard = static_text(app, "#guard")
        assert "✓ status" in guard
        assert "✗ resources" in guard and "orders-db" in guard and "events-kafka" in guard
        assert modal.query_one("#delete", Button).disabled


async def test_wrong_confirmation_text_keeps_delete_disabled(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        pcx = demo_fleet.pcx("eu-prod->eu-connected-cars")
        modal = await open_delete(app, pilot, pcx)
        assert "the guard allows this delete" in static_text(app, "#guard")
        confirm, delete = modal.query_one("#confirm", Input), modal.query_one("#delete", Button)
        assert app.focused is confirm and delete.disabled
        for wrong in (pcx[:-1], pcx + " ", pcx.upper(), f" {pcx}"):
            confirm.value = wrong
            await pilot.pause()
            assert delete.disabled, wrong
        confirm.value = pcx
        await pilot.pause()
        assert not delete.disabled
        # Changing one's mind: nothing was deleted.
        await pilot.press("escape")
        assert app.screen is app.main_screen
        assert peerings_table(app).row_count == 6


async def test_an_unconfirmed_request_is_withdrawn_after_the_typed_confirmation(
    demo_fleet: DemoFleet,
):
    # Issue 17 (2): an unconfirmed request could not be withdrawn from the dashboard.
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        pcx = demo_fleet.pcx("eu-dr->eu-connected-cars")
        modal = await open_delete(app, pilot, pcx)
        await wait_for(pilot, lambda: modal.withdraw, what="the withdrawal offered")
        assert modal.guard is None
        guard = static_text(app, "#guard")
        assert "never confirmed on the platform" in guard and "withdraws the request" in guard
        assert modal.query_one("#delete", Button).disabled
        modal.query_one("#confirm", Input).value = pcx
        await pilot.pause()
        assert not modal.query_one("#delete", Button).disabled


async def test_the_create_form_shows_why_a_vpc_is_refused_and_validates_as_you_type(
    demo_fleet: DemoFleet,
):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        deployments_table(app).focus()  # `n` acts on the focused table's row
        deployments_table(app).move_to(demo_fleet.deployment_id("fleet-staging"))
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, CreatePeeringScreen)
        await wait_for(pilot, lambda: form.choices is not None, what="the form's choices")
        assert form.choices is not None
        assert form.choices.deployment_vpc.cidr == "10.203.0.0/16"
        info = static_text(app, "#deployment-info")
        assert "10.203.0.0/16" in info and "100.0.0.0/8, 101.0.0.0/8" in info
        choices = {c.vpc.name: c for c in form.choices.vpcs}
        # Only us-east-1 VPCs are offered: peering stays inside one region.
        assert set(choices) == {"prod-data", "analytics", "office-net", ""}
        # analytics is fleet-staging's own peer (allowed, resumable); prod-data's CIDR is free.
        assert choices["analytics"].allowed and choices["analytics"].peered_by
        assert choices["prod-data"].allowed
        assert form.query_one("#create", Button).disabled
        assert "pick the customer VPC" in static_text(app, "#validation")

        form.query_one("#vpcs").highlighted = list(choices).index("prod-data")  # type: ignore[attr-defined]
        await pilot.pause()
        assert "ready" in static_text(app, "#validation")
        assert not form.query_one("#create", Button).disabled

        ports = form.query_one("#ports", Input)
        for bad, why in (("54x", "not a port number"), ("70000", "not in 1-65535")):
            ports.value = bad
            await pilot.pause()
            assert why in static_text(app, "#validation")
            assert form.query_one("#create", Button).disabled
        ports.value = "5432, 9092"
        await pilot.pause()
        assert not form.query_one("#create", Button).disabled
        await pilot.press("escape")
        assert app.screen is app.main_screen


# --- read-only ----------------------------------------------------------------------------


async def test_read_only_hides_and_refuses_every_mutating_key(demo_fleet: DemoFleet):
    app = app_on(demo_fleet, read_only=True)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for_fleet(pilot, 6)
        assert app.status_lines()[0].plain.startswith(" READ-ONLY ")
        shown = {b.binding.action for b in app.active_bindings.values()}
        assert not shown & bindings.MUTATING_ACTIONS

        for key in ("n", "ctrl+d"):
            await pilot.press(key)
            assert app.screen is app.main_screen, key
        await wait_for(
            pilot,
            lambda: sum("read-only" in n for n in notifications(app)) == 2,
            what="both keys refused with a reason",
        )

        # The same from the detail screen, and from the command palette.
        await pilot.press("d")
        assert isinstance(app.screen, PeeringDetailScreen)
        assert not {b.binding.action for b in app.active_bindings.values()} & {"delete"}
        await pilot.press("ctrl+d")
        assert isinstance(app.screen, PeeringDetailScreen)
        app.action_create_peering()
        await pilot.pause()
        assert isinstance(app.screen, PeeringDetailScreen)
        await wait_for(
            pilot,
            lambda: sum("read-only" in n for n in notifications(app)) == 4,
            what="the detail key and the palette command refused",
        )

        # Started with --read-only, it cannot be switched off from inside.
        app.action_toggle_read_only()
        assert app.read_only

        # And the help screen marks them.
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(help_table(read_only=True))
        assert (
            console.export_text().count("refused: read-only") == 5
        )  # n, ctrl+d, r; ctrl+d on the detail; a


async def test_toggling_read_only_on_takes_effect_at_once(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        assert "create" in {b.binding.action for b in app.active_bindings.values()}
        app.action_toggle_read_only()
        await pilot.pause()
        assert "create" not in {b.binding.action for b in app.active_bindings.values()}
        await pilot.press("n")
        assert app.screen is app.main_screen
        app.action_toggle_read_only()
        await pilot.pause()
        await pilot.press("n")
        assert isinstance(app.screen, CreatePeeringScreen)


async def test_the_keep_routes_checkbox_is_there_and_off_by_default(demo_fleet: DemoFleet):
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        modal = await open_delete(app, pilot, demo_fleet.pcx("eu-prod->eu-connected-cars"))
        assert modal.query_one("#keep", Checkbox).value is False


async def test_an_unexpected_error_in_a_worker_is_a_notification_not_a_crash(
    demo_fleet: DemoFleet, monkeypatch
):
    async def broken(*args: object) -> None:
        raise RuntimeError("the unexpected")

    monkeypatch.setattr("tui.screens.create.load_create_choices", broken)
    app = app_on(demo_fleet)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for_fleet(pilot, 6)
        await pilot.press("n")
        await wait_for(
            pilot,
            lambda: any("RuntimeError: the unexpected" in n for n in notifications(app)),
            what="the error notified",
        )
        assert app.is_running and isinstance(app.screen, CreatePeeringScreen)
        await pilot.press("escape")
        assert app.screen is app.main_screen
