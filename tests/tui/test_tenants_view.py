"""The dashboard per key: a viewer's is read-only and says why, the admin's shows whose each
deployment is (TENANT, filterable), an operator's shows its tenant's alone; and no name from
the platform or AWS reaches the terminal as an escape sequence.

The keys are made on one seeded sandbox (``demo_fleet``); nothing here changes either side.
"""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePath
from typing import Any, ClassVar

from rich.console import RenderableType
from textual.screen import Screen

import tui.app
from peering_core.config import Connection
from peering_core.models import NewApiKey, Role
from tui.app import PeeringApp
from tui.screens.detail import PeeringDetailScreen

from .conftest import DemoFleet
from .fixed import clock, fixed_snapshot
from .helpers import (
    cell,
    deployments_table,
    notifications,
    peerings_table,
    wait_for,
    wait_for_fleet,
)

HOSTILE = "cars\x1b]0;pwned\x07\x1b[6n"


async def new_key(fleet: DemoFleet, tenant: str, role: Role) -> NewApiKey:
    async with fleet.sandbox.client() as admin:
        return await admin.create_key(fleet.report.tenants[tenant].id, role)


def app_as(fleet: DemoFleet, key: NewApiKey) -> PeeringApp:
    box = fleet.sandbox
    connection = Connection(
        platform_url=box.platform_url,
        platform_key=key.key,
        platform_secret=key.secret,
        aws=box.customer_aws,
    )
    return PeeringApp(connection=connection, refresh=30.0)


async def test_a_viewer_key_makes_the_dashboard_read_only_and_the_badge_says_why(
    demo_fleet: DemoFleet,
) -> None:
    app = app_as(demo_fleet, await new_key(demo_fleet, "acme", Role.VIEWER))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 5)
        assert app.read_only
        assert app.status_lines()[0].plain.startswith(" READ-ONLY: viewer key ")
        await pilot.press("n")
        await pilot.press("ctrl+d")
        await wait_for(
            pilot,
            lambda: sum("viewer key" in n for n in notifications(app)) >= 3,
            what="the refusals, each naming the viewer key",
        )
        app.action_toggle_read_only()
        assert app.read_only
        assert len(app.screen_stack) == 1  # neither the form nor the dialog opened


async def test_the_admin_sees_each_deployments_tenant_and_filters_by_it(
    demo_fleet: DemoFleet,
) -> None:
    app = PeeringApp(sandbox=demo_fleet.sandbox, refresh=30.0)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for_fleet(pilot, 6)
        deployments, peerings = deployments_table(app), peerings_table(app)
        assert "tenant" in deployments.column_keys and "tenant" in peerings.column_keys
        apac = demo_fleet.deployment_id("apac-sensors")
        assert cell(deployments, apac, "tenant") == "globex"
        assert cell(deployments, demo_fleet.deployment_id("fleet-staging"), "tenant") == "acme"
        assert cell(peerings, demo_fleet.pcx("apac-edge->apac-sensors"), "tenant") == "globex"

        await pilot.press("slash", *"globex")
        await wait_for(pilot, lambda: peerings.row_count == 1, what="globex's peering alone")
        assert deployments.ids == [apac]
        assert peerings.ids == [demo_fleet.pcx("apac-edge->apac-sensors")]


async def test_an_operator_sees_its_tenants_deployments_without_a_tenant_column(
    demo_fleet: DemoFleet,
) -> None:
    app = app_as(demo_fleet, await new_key(demo_fleet, "acme", Role.OPERATOR))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_fleet(pilot, 5)
        assert not app.read_only
        assert "tenant" not in peerings_table(app).column_keys
        assert demo_fleet.pcx("apac-edge->apac-sensors") not in peerings_table(app).ids
        assert demo_fleet.deployment_id("apac-sensors") not in deployments_table(app).ids


class RecordingApp(PeeringApp):
    """The dashboard writing its frames somewhere a test can read: what a terminal gets."""

    # Textual reads CSS_PATH beside the class's own module: the app's files, by full path.
    CSS_PATH: ClassVar[list[str | PurePath]] = [
        Path(tui.app.__file__).parent / str(name) for name in PeeringApp.CSS_PATH
    ]

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.written: list[str] = []

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        encode = getattr(renderable, "render_segments", None)
        if encode is not None and not self._batch_count:
            self.written.append(encode(self.console))


def hostile_snapshot() -> Any:
    """The fixed fleet, with an escape sequence in a deployment's name and a problem."""
    snapshot = fixed_snapshot()
    first = snapshot.deployment_views[0]
    target = first.deployment.id
    deployment_views = tuple(
        d.model_copy(update={"deployment": d.deployment.model_copy(update={"name": HOSTILE})})
        if d.deployment.id == target
        else d
        for d in snapshot.deployment_views
    )
    views = tuple(
        v.model_copy(update={"deployment_name": HOSTILE, "problems": (f"a {HOSTILE} problem",)})
        if v.deployment_id == target
        else v
        for v in snapshot.views
    )
    return snapshot.model_copy(update={"deployment_views": deployment_views, "views": views})


async def test_an_escape_sequence_in_a_name_never_reaches_the_terminal(
    monkeypatch: Any,
) -> None:
    snapshot = hostile_snapshot()
    hostile = next(v for v in snapshot.views if v.deployment_name == HOSTILE)
    app = RecordingApp(snapshot=snapshot, clock=clock)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        assert any("cars\\x1b]0;pwned" in cell(peerings_table(app), v, "deployment")
                   for v in peerings_table(app).ids)  # fmt: skip
        app.push_screen(PeeringDetailScreen(hostile.peering_id))
        await wait_for(pilot, lambda: isinstance(app.screen, PeeringDetailScreen))
        await pilot.pause()
        app.notify(f"platform says: {HOSTILE}")
        await pilot.pause()
        await asyncio.sleep(0)
    written = "".join(app.written)
    assert "pwned" in written  # the name was drawn...
    for sequence in ("\x1b]0;", "\x07", "\x1b[6n"):
        assert sequence not in written  # ...but nothing a terminal acts on
