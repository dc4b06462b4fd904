"""The dashboard over several customer accounts: an ACCOUNT column (filterable, sortable, kept
at 80 columns), each account's state in the header, and one account that fails (an SSO profile
whose token is gone) named with its fix without losing the others' rows.

One seeded sandbox with the staging account; nothing here changes either side.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from peering_core.accounts import Account
from peering_core.aws import AwsAccess
from peering_core.config import Connection
from peering_core.sandbox.servers import Sandbox
from tui.app import PeeringApp
from tui.screens.main import SORTS

from ..expired_sso import use_expired_sso_profile
from .helpers import cell, main_screen, peerings_table, wait_for


def three_accounts_app(box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PeeringApp:
    legacy = use_expired_sso_profile(tmp_path, monkeypatch)
    connection = Connection(
        platform_url=box.platform_url,
        platform_key=box.key,
        platform_secret=box.secret,
        aws=box.customer_aws,
        accounts=(
            *box.accounts(),
            Account("legacy", AwsAccess(profile=legacy, endpoint_url=box.moto.url)),
        ),
    )
    return PeeringApp(connection=connection, refresh=30.0)


async def test_both_accounts_show_and_the_failing_one_says_why_and_how_to_fix(
    two_accounts, tmp_path, monkeypatch
):
    box, report = two_accounts
    app = three_accounts_app(box, tmp_path, monkeypatch)
    prod_pcx = report.peerings["prod-data->factory-telemetry"]
    staging_pcx = report.peerings["staging-app->factory-telemetry"]
    async with app.run_test(size=(120, 40)) as pilot:
        table = peerings_table(app)
        await wait_for(pilot, lambda: staging_pcx in table.ids and prod_pcx in table.ids)
        assert cell(table, prod_pcx, "account") == "prod"
        assert cell(table, staging_pcx, "account") == "staging"
        assert cell(table, staging_pcx, "health").endswith("ok")

        status = app.status_lines()[1].plain
        assert "accounts ✓ prod ✓ staging ✗ legacy" in status
        assert "account legacy could not be read" in status
        assert "run `aws sso login --profile legacy-admin`" in status
        assert app.snapshot is not None
        rows = len(app.snapshot.views)
        assert table.row_count == rows

        # The filter matches the account's name; every row left is that account's.
        await pilot.press("slash", *"prod", "enter")
        await wait_for(pilot, lambda: table.row_count < rows)
        assert {cell(table, pcx, "account") for pcx in table.ids} == {"prod"}
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == rows)

        # Sorting by account puts prod's rows before staging's.
        screen = main_screen(app)
        while SORTS[screen.sort_index][0] != "account":
            await pilot.press("s")
        await wait_for(pilot, lambda: cell(table, table.ids[0], "account") == "prod")
        names = [cell(table, pcx, "account") for pcx in table.ids]
        assert names == sorted(names)


@pytest.mark.parametrize("width", [80, 120])
async def test_account_gives_way_last_and_the_line_under_the_table_names_it(
    two_accounts, tmp_path, monkeypatch, width
):
    """At 80 columns the triage columns fill the table (ACCOUNT has given way, last of the
    optional ones, and the line under the table names the account); at 120 ACCOUNT shows
    while the VPC, CIDR and age have given way."""
    box, report = two_accounts
    app = three_accounts_app(box, tmp_path, monkeypatch)
    staging_pcx = report.peerings["staging-app->factory-telemetry"]
    async with app.run_test(size=(width, 24 if width == 80 else 40)) as pilot:
        table = peerings_table(app)
        await wait_for(pilot, lambda: staging_pcx in table.ids)
        await pilot.pause()
        shown = table.shown_columns
        assert {"mark", "pcx", "deployment", "platform", "aws", "health"} <= set(shown)
        if width == 80:
            assert "account" not in shown
        else:
            assert "account" in shown and "vpc" not in shown
        table.move_to(staging_pcx)
        line = main_screen(app).query_one("#peering-line")
        await wait_for(pilot, lambda: f"{staging_pcx} staging · " in str(line.render()))
