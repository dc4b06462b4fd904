"""Waiting and reading helpers for Pilot tests: no sleeps, bounded polls of a condition."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from tui.app import PeeringApp
from tui.screens.main import MainScreen
from tui.widgets.keyed_table import KeyedTable


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], object], *, timeout: float = 20.0, what: str = ""
) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)


def main_screen(app: PeeringApp) -> MainScreen:
    return app.main_screen


def peerings_table(app: PeeringApp) -> KeyedTable:
    return app.main_screen.peerings_table


def deployments_table(app: PeeringApp) -> KeyedTable:
    return app.main_screen.deployments_table


def cell(table: KeyedTable, row: str, column: str) -> str:
    """A cell's plain text."""
    return str(table.get_cell(row, column))


def plain(widget: Static, width: int = 200) -> str:
    """What a Static shows, as plain text (tables and all), wrapped at ``width``."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def notifications(app: PeeringApp) -> list[str]:
    """Every notification's text so far (title and message)."""
    return [f"{n.title} {n.message}" for n in app._notifications]


async def wait_for_fleet(pilot: Pilot[None], peerings: int, *, timeout: float = 20.0) -> None:
    """Until the first snapshot with ``peerings`` rows is on screen."""
    app = pilot.app
    assert isinstance(app, PeeringApp)
    await wait_for(
        pilot,
        lambda: peerings_table(app).row_count == peerings,
        timeout=timeout,
        what=f"{peerings} peerings on screen",
    )
