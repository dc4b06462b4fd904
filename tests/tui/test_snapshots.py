"""What the operator sees, pinned: the dashboard, the create form, the delete dialog, the diff
view and the fix plan at 80x24 (an SSH session) and 120x40, on a fixed in-memory fleet so every
id, age and diff is stable.

Regenerate after an intended change with ``pytest tests/tui --snapshot-update`` and look at
the SVGs before committing them.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList

from tui.screens.create import CreatePeeringScreen
from tui.screens.delete import DeletePeeringModal

from .fixed import fixed_app, fixed_create_choices, fixed_refused_guard, fixed_snapshot, pcx_id

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.mark.parametrize("size", SIZES)
def test_main_screen(snap_compare, size):
    assert snap_compare(fixed_app(), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_create_form(snap_compare, size):
    async def open_form(pilot: Pilot) -> None:
        choices = fixed_create_choices()
        await pilot.app.push_screen(CreatePeeringScreen(choices.deployment.id, choices))
        await pilot.pause()
        # The operator has picked the first VPC (analytics); its defaults are ticked.
        pilot.app.screen.query_one("#vpcs", OptionList).highlighted = 0
        await pilot.pause()

    assert snap_compare(fixed_app(), terminal_size=size, run_before=open_form)


@pytest.mark.parametrize("size", SIZES)
def test_delete_modal_refused(snap_compare, size):
    async def open_modal(pilot: Pilot) -> None:
        view = fixed_snapshot().view(pcx_id(1))
        assert view is not None
        await pilot.app.push_screen(DeletePeeringModal(view, guard=fixed_refused_guard()))
        await pilot.pause()

    assert snap_compare(fixed_app(), terminal_size=size, run_before=open_modal)


@pytest.mark.parametrize("size", SIZES)
def test_diff_view(snap_compare, size):
    """eu-connected-cars: the main table's route and the database group's rule are missing."""

    async def open_diff(pilot: Pilot) -> None:
        pilot.app.open_diff(pcx_id(2))
        await pilot.pause()

    assert snap_compare(fixed_app(), terminal_size=size, run_before=open_diff)


@pytest.mark.parametrize("size", SIZES)
def test_fix_plan(snap_compare, size):
    """apac-sensors' pcx is gone: two route deletions, and the stale rule's revoke held back."""

    async def open_plan(pilot: Pilot) -> None:
        pilot.app.open_diff(pcx_id(3))
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()

    assert snap_compare(fixed_app(), terminal_size=size, run_before=open_plan)
