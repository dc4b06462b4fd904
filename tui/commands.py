"""The command palette (ctrl+p): go to a deployment, diff, create, refresh, theme, read-only."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .app import PeeringApp


class PeeringCommands(Provider):
    """The dashboard's commands, plus one ``go to deployment`` per deployment."""

    def commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        """Name, help text and callback of every command on offer now."""
        app = cast("PeeringApp", self.app)
        found: list[tuple[str, str, Callable[[], object]]] = [
            (
                "diff peering",
                "routes and inbound rules of the selected peering",
                app.action_diff_selected,
            ),
            ("create peering", "for the selected deployment", app.action_create_peering),
            ("refresh now", "poll both sides now", app.action_refresh_now),
            ("toggle theme", "dark / light", app.action_toggle_theme),
            (
                "toggle read-only",
                "hide and refuse create, delete and fix",
                app.action_toggle_read_only,
            ),
        ]
        snapshot = app.snapshot
        for view in snapshot.deployment_views if snapshot else ():
            dep = view.deployment
            found.append(
                (
                    f"go to deployment {dep.name}",
                    f"{dep.id} · {dep.region} · {view.peering_count} peering(s)",
                    partial(app.go_to_deployment, dep.id),
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
