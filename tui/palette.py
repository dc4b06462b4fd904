"""The command palette (ctrl+p): go to a deployment, diff, create, refresh, theme, read-only."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .dashboard import Dashboard

# Name, help text and the app action each command runs.
ACTIONS: list[tuple[str, str, str]] = [
    ("diff peering", "routes and inbound rules of the selected peering", "diff_selected"),
    ("create peering", "for the selected deployment", "create_peering"),
    ("refresh now", "poll both sides now", "refresh_now"),
    ("toggle theme", "dark / light", "toggle_theme"),
    ("toggle read-only", "hide and refuse create, delete and fix", "toggle_read_only"),
]


class PeeringCommands(Provider):
    """The dashboard's commands, plus one ``go to deployment`` per deployment."""

    def commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        """Name, help text and callback of every command on offer now."""
        dashboard = cast("Dashboard", self.app)
        found: list[tuple[str, str, Callable[[], object]]] = [
            (name, help_text, partial(self.app.run_action, action))
            for name, help_text, action in ACTIONS
        ]
        snapshot = dashboard.snapshot
        for view in snapshot.deployment_views if snapshot else ():
            dep = view.deployment
            found.append(
                (
                    f"go to deployment {dep.name}",
                    f"{dep.id} · {dep.region} · {view.peering_count} peering(s)",
                    partial(dashboard.go_to_deployment, dep.id),
                )
            )
        return found

    async def discover(self) -> Hits:
        """Every command, before anything is typed."""
        for name, help_text, command in self.commands():
            yield DiscoveryHit(name, command, help=help_text)

    async def search(self, query: str) -> Hits:
        """Commands whose name fuzzily matches ``query``."""
        matcher = self.matcher(query)
        for name, help_text, command in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), command, text=name, help=help_text)
