"""Drift from the dashboard: the diff view of a peering, its fix plan, and applying it.

Each test fixes a peering of the seeded story, so each gets a fresh sandbox (``seeded``). The
applied fixes are audited like the CLI's, into a log of the test's own.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Static

from peering_core.audit import read_audit
from peering_core.drift import RouteState, RuleState
from peering_core.models import AclEntry
from peering_core.sandbox.seed import SeedReport
from peering_core.sandbox.servers import Sandbox
from tui.app import PeeringApp
from tui.screens.confirm import ConfirmationModal
from tui.screens.diff import PeeringDiffScreen
from tui.screens.fix import FixPlanModal
from tui.screens.path import PathScreen
from tui.widgets.row_table import DiffTable

from ..network_builder import NetworkBuilder
from .helpers import notifications, peerings_table, plain, wait_for, wait_for_fleet


def app_on(sandbox: Sandbox) -> PeeringApp:
    return PeeringApp(sandbox=sandbox, refresh=30.0)


async def open_diff(app: PeeringApp, pilot: Pilot[None], pcx: str) -> PeeringDiffScreen:
    """From the list: the peering highlighted, then ``enter``."""
    await wait_for_fleet(pilot, 6)
    assert peerings_table(app).move_to(pcx)
    await pilot.press("enter")
    screen = app.screen
    assert isinstance(screen, PeeringDiffScreen) and screen.peering_id == pcx
    await wait_for(pilot, lambda: screen.reading is not None, what="the diff")
    return screen


def states(screen: PeeringDiffScreen) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """(table, destination, state) per route row and (group, port, state) per rule row."""
    assert screen.reading is not None
    diff = screen.reading.diff
    return (
        {(r.route_table_id, r.destination, r.state.value) for r in diff.routes},
        {(r.security_group_id, str(r.port), r.state.value) for r in diff.rules},
    )


async def apply_plan(pilot: Pilot[None], plan: FixPlanModal) -> None:
    """``a``, confirm with ``y``, and wait for the apply and its re-diff."""
    app = pilot.app
    before = plan.rediffed
    await pilot.press("a")
    assert isinstance(app.screen, ConfirmationModal)
    await pilot.press("y")
    await wait_for(
        pilot,
        lambda: not plan.running and plan.rediffed is not before,
        timeout=30,
        what="the fix applied and the peering diffed again",
    )


def text(plan: FixPlanModal, selector: str) -> str:
    return plain(plan.query_one(selector, Static))


async def test_a_drifted_peering_is_brought_back_in_sync_from_its_diff_view(
    sandbox: Sandbox, seeded: SeedReport, audit_log: Path
):
    pcx = seeded.peerings["eu-prod->eu-connected-cars"]
    vpc = seeded.vpcs["eu-prod"]
    database = vpc.security_groups["telemetry-db"]
    app = app_on(sandbox)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        screen = await open_diff(app, pilot, pcx)
        routes, rules = states(screen)
        # The main table lost its route and the database's group its rule, behind our back.
        assert (vpc.main_route_table, "10.201.0.0/16", RouteState.MISSING.value) in routes
        assert (database, "None", RuleState.MISSING.value) in rules
        shown = screen.routes_table.plain_rows()
        assert ["✗ missing", vpc.main_route_table, "10.201.0.0/16", "this pcx", "(no route)"] in (
            shown
        )
        assert any(row[:2] == ["✗ missing", database] for row in screen.rules_table.plain_rows())
        title = str(screen.query_one("#diff-title", Static).render())
        assert f"{vpc.vpc_id} → 10.201.0.0/16" in title and "✗ error: 2 rows stop traffic" in title
        assert "has no route to 10.201.0.0/16" in str(screen.query_one("#reasons", Static).render())

        await pilot.press("f")
        plan = app.screen
        assert isinstance(plan, FixPlanModal)
        actions = text(plan, "#fix-actions")
        assert "aws ec2 create-route" in actions and "authorize-security-group-ingress" in actions
        assert not plan.query_one("#apply", Button).disabled

        await apply_plan(pilot, plan)
        assert [a.ok for a in plan.applied] == [True, True]
        assert [a.action.kind for a in plan.applied] == ["create_route", "authorize_ingress"]
        assert plan.rediffed is not None and plan.rediffed.diff.in_sync
        assert "✓ ok: in sync" in text(plan, "#fix-result")
        applied = text(plan, "#fix-applied")
        assert applied.count("✓ aws ec2") == 2

        (record,) = read_audit(audit_log)
        assert record["action"] == "fix" and record["result"] == "ok"
        assert record["target"] == {
            "deploymentID": screen.reading.diff.deployment_id,
            "peeringId": pcx,
        }  # type: ignore[union-attr]
        assert record["who"]["awsAccount"] == "210987654321"
        assert len(record["detail"]["actions"]) == 2

        await pilot.press("escape")
        assert app.screen is screen
        assert screen.reading is not None and screen.reading.diff.in_sync
        assert "✓ ok: in sync" in str(screen.query_one("#diff-title", Static).render())
        assert all(row[0] == "✓ ok" for row in screen.routes_table.plain_rows())
        await wait_for(
            pilot,
            lambda: any("in sync" in n for n in notifications(app)),
            what="the operator told",
        )


async def test_a_deleted_pcx_leaves_blackholes_and_a_stale_rule_that_needs_revoke(
    sandbox: Sandbox, seeded: SeedReport, audit_log: Path
):
    pcx = seeded.peerings["apac-edge->apac-sensors"]
    vpc = seeded.vpcs["apac-edge"]
    app = app_on(sandbox)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_diff(app, pilot, pcx)
        routes, rules = states(screen)
        assert {state for *_, state in routes} == {RouteState.BLACKHOLE.value}
        assert {table for table, *_ in routes} == set(vpc.route_tables) | {vpc.main_route_table}
        assert {state for *_, state in rules} == {RuleState.STALE.value}
        assert all(row[0] == "✗ blackhole" for row in screen.routes_table.plain_rows())
        assert all(row[0] == "! stale" for row in screen.rules_table.plain_rows())

        await pilot.press("f")
        plan = app.screen
        assert isinstance(plan, FixPlanModal)
        # Revoking is never done by default: the stale rule's revoke is held back.
        assert "held back, needs --revoke" in text(plan, "#fix-actions")
        assert not plan.query_one("#revoke", Checkbox).value

        await apply_plan(pilot, plan)
        assert {a.action.kind for a in plan.applied} == {"delete_route"}
        assert plan.rediffed is not None
        left = plan.rediffed.diff
        assert not left.in_sync and not left.routes
        assert {r.state for r in left.rules} == {RuleState.STALE}
        assert "held back: 1 need --revoke" in text(plan, "#fix-result")

        await pilot.press("v")
        assert plan.query_one("#revoke", Checkbox).value
        await apply_plan(pilot, plan)
        assert [a.action.kind for a in plan.applied] == ["revoke_ingress"]
        assert plan.rediffed.diff.in_sync
        assert [r["result"] for r in read_audit(audit_log)] == ["ok", "ok"]

        await pilot.press("escape")
        assert app.screen is screen
        assert screen.reading is not None and screen.reading.diff.in_sync
        assert screen.routes_table.row_count == 0 and screen.rules_table.row_count == 0


async def test_resources_show_their_path_and_a_blocking_acl_is_fixed_with_nacl(
    sandbox: Sandbox, seeded: SeedReport, audit_log: Path
):
    """prod-data's databases are resources of factory-telemetry: each shows its path verdict;
    an ACL deny behind the tool's back blocks orders-db, ``t`` walks its path hop by hop, and
    the fix plan's ``--nacl`` lets it through again."""
    pcx = seeded.peerings["prod-data->factory-telemetry"]
    vpc = seeded.vpcs["prod-data"]
    app = app_on(sandbox)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        screen = await open_diff(app, pilot, pcx)
        await wait_for(pilot, lambda: screen.paths is not None, what="the resources' paths")
        rows = screen.resources_table.plain_rows()
        assert sorted((r[0], r[1]) for r in rows) == [
            ("✓ reachable", "events-kafka"), ("✓ reachable", "orders-db"),
        ]  # fmt: skip
        assert screen.acls_table.display and screen.acls_table.row_count >= 2
        assert {row[0] for row in screen.acls_table.plain_rows()} == {"✓ ok"}

        async def deny(ec2: NetworkBuilder) -> None:
            interfaces = await ec2.describe_network_interfaces("us-east-1", [vpc.vpc_id])
            subnet = next(
                n.subnet_id for n in interfaces if vpc.interfaces["orders-db"] in n.private_ips
            )
            acl = await ec2.acl_of("us-east-1", subnet)
            await ec2.create_network_acl_entry(
                "us-east-1",
                acl,
                AclEntry(rule_number=50, egress=False, protocol="6", allow=False,
                         cidr="10.200.0.0/16", from_port=5432, to_port=5432),
            )  # fmt: skip

        async with NetworkBuilder(sandbox.customer_aws) as builder:
            await deny(builder)
        walked = screen.paths
        await pilot.press("r")
        await wait_for(
            pilot, lambda: screen.paths is not walked and not screen.diffing, what="re-walked"
        )
        by_name = {r[1]: r for r in screen.resources_table.plain_rows()}
        assert by_name["orders-db"][0] == "✗ blocked at network-acl"
        assert by_name["events-kafka"][0] == "✓ reachable"
        assert any(row[0] == "✗ blocked" for row in screen.acls_table.plain_rows())

        table = screen.resources_table
        table.focus()
        table.move_cursor(row=[r[1] for r in table.plain_rows()].index("orders-db"))
        await pilot.press("t")
        path = app.screen
        assert isinstance(path, PathScreen)
        hops = path.query_one("#hops", DiffTable).plain_rows()
        assert [h[1] for h in hops][:4] == ["eni", "security-groups", "subnet", "network-acl"]
        assert hops[3][0] == "✗ blocked"
        why = plain(path.query_one("#path-why", Static))
        assert "replace-network-acl-entry" in why and "--rule-number 50" in why
        await pilot.press("r")
        await wait_for(pilot, lambda: path.checks == 1, what="the path walked again")
        await pilot.press("escape")
        assert app.screen is screen

        await pilot.press("f")
        plan = app.screen
        assert isinstance(plan, FixPlanModal)
        assert "held back, needs --nacl" in text(plan, "#fix-actions")
        await pilot.press("n")
        assert plan.query_one("#nacl", Checkbox).value
        await apply_plan(pilot, plan)
        assert [a.action.kind for a in plan.applied] == ["replace_acl_entry"]
        assert plan.rediffed is not None and plan.rediffed.diff.in_sync
