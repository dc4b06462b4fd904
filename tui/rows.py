"""The dashboard's rows for one snapshot, built once per tick and off the UI thread.

At 5,000 peerings, building every row's cells and filter text is most of what a tick costs.
:meth:`FleetRows.build` runs on the poll thread (see :class:`~tui.polling.PollThread`) right
after the snapshot, and reuses the previous tick's row — the very same tuple, which the table
skips by identity — for every peering whose key (everything the row shows) did not change.
The UI thread then only filters, sorts and syncs, and a filter keystroke builds no cells.
A :class:`FleetRows` is never changed after it is built, so the two threads share it safely.

With the admin key the rows carry a TENANT cell (the tenant's name) and the filter matches
the tenant's id and name. Every text that came from the platform or AWS is made harmless here,
on its way into a cell (a name can hold a terminal escape sequence).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.text import Text

from peering_core.accounts import NOT_CONFIGURED
from peering_core.durations import age, countdown
from peering_core.health import DeploymentView, PeeringView
from peering_core.printable import harmless
from peering_core.snapshot import Snapshot

from .filtering import haystack, holds_all, peering_fields, query_words
from .formatting import aws_status, health_mark, health_text, peering_health, platform_status
from .history import State, states
from .widgets.keyed_table import Cell

# id → (key, cells, filter text)
Row = tuple[tuple[Any, ...], tuple[Cell, ...], str]


def _harmless(cell: Cell) -> Cell:
    if isinstance(cell, str):
        return harmless(cell)
    if cell.plain.isprintable():
        return cell  # the common case: no new object
    return Text(harmless(cell.plain), style=cell.style)


def _harmless_cells(cells: list[Cell]) -> list[Cell]:
    return [_harmless(cell) for cell in cells]


def deployment_cells(d: DeploymentView, tenant: str | None = None) -> list[Cell]:
    """One deployments-table row, in column order (a TENANT cell when ``tenant`` is given)."""
    status = d.deployment.status
    return _harmless_cells(
        [
            d.deployment.id,
            d.deployment.name,
            *([tenant] if tenant is not None else []),
            d.deployment.region,
            Text(status, style="" if status == "running" else "yellow"),
            str(d.peering_count),
            health_text(d.health),
        ]
    )


def account_cell(v: PeeringView, by_name: bool) -> Cell:
    """The ACCOUNT cell: the configured account's name (``not configured`` when its requester
    is none of them), or the requester's account id without ``[[accounts]]``."""
    if not by_name:
        return v.requester_account or "-"
    if v.account == NOT_CONFIGURED:
        return Text(NOT_CONFIGURED, style="yellow")
    return v.account or "?"


def peering_cells(
    v: PeeringView, now: datetime, tenant: str | None = None, *, by_name: bool = False
) -> list[Cell]:
    """One peerings-table row, in column order (a TENANT cell when ``tenant`` is given; the
    account's name when ``by_name``)."""
    return _harmless_cells(
        [
            health_mark(v.health),
            v.peering_id,
            v.deployment_name,
            platform_status(v),
            aws_status(v),
            *([tenant] if tenant is not None else []),
            account_cell(v, by_name),
            v.requester_vpc or "-",
            v.requester_cidr or "-",
            age(v.created_at, now),
            countdown(v.expires_at, now) if not v.confirmed else "",
            peering_health(v),
        ]
    )


def peering_key(v: PeeringView, now: datetime) -> tuple[Any, ...]:
    """Everything :func:`peering_cells` and :func:`peering_fields` read: equal keys, equal row."""
    return (
        v.health,
        v.problems,
        v.deployment_id,
        v.deployment_name,
        v.region,
        v.platform_status,
        v.aws_status,
        v.requester_account,
        v.account,
        v.requester_vpc,
        v.requester_cidr,
        age(v.created_at, now),
        countdown(v.expires_at, now) if not v.confirmed else "",
    )


def deployment_fields(d: DeploymentView) -> list[str | None]:
    """What the filter looks at for a deployment."""
    return [
        d.deployment.id,
        d.deployment.name,
        d.deployment.region,
        d.deployment.status,
        d.vpc.vpc_id if d.vpc else None,
        d.vpc.cidr if d.vpc else None,
        d.health.value,
    ]


def deployment_key(d: DeploymentView) -> tuple[Any, ...]:
    """Everything :func:`deployment_cells` and :func:`deployment_fields` read."""
    return (
        d.deployment.name,
        d.deployment.region,
        d.deployment.status,
        d.vpc.vpc_id if d.vpc else None,
        d.vpc.cidr if d.vpc else None,
        d.peering_count,
        d.health,
    )


def _rows(
    keys: dict[str, tuple[Any, ...]],
    previous: dict[str, Row],
    build: Callable[[str], tuple[list[Cell], list[str | None]]],
) -> dict[str, Row]:
    """Rows for ``keys`` (id → key): the previous row where the key is unchanged, else built."""
    rows: dict[str, Row] = {}
    for row_id, key in keys.items():
        known = previous.get(row_id)
        if known is not None and known[0] == key:
            rows[row_id] = known
        else:
            cells, fields = build(row_id)
            rows[row_id] = (key, tuple(cells), haystack(fields))
    return rows


def _matching(rows: dict[str, Row], ids: Iterable[str], query: str) -> list[str]:
    words = query_words(query)
    if not words:
        return list(ids)
    return [i for i in ids if holds_all(words, rows[i][2])]


@dataclass(frozen=True)
class FleetRows:
    """Both tables' rows for one snapshot (all of them: the filter picks on the UI thread)."""

    snapshot: Snapshot | None = None
    views: dict[str, PeeringView] = field(default_factory=dict)
    deployments: dict[str, DeploymentView] = field(default_factory=dict)
    peering_rows: dict[str, Row] = field(default_factory=dict)
    deployment_rows: dict[str, Row] = field(default_factory=dict)
    states: dict[str, State] = field(default_factory=dict)  # for the status history

    @classmethod
    def build(
        cls,
        snapshot: Snapshot,
        now: datetime,
        previous: FleetRows | None,
        tenants: dict[str, str] | None = None,
    ) -> FleetRows:
        """This snapshot's rows, reusing ``previous``'s wherever nothing shown changed;
        ``tenants`` (id -> name, the admin's) adds the TENANT cells."""
        views = {v.peering_id: v for v in snapshot.views}
        deployments = {d.deployment.id: d for d in snapshot.deployment_views}
        before = previous or cls()
        by_name = any(a.configured for a in snapshot.accounts)

        def tenant(deployment_id: str) -> tuple[str, ...]:
            """The TENANT cell and what the filter matches of it (nothing without tenants)."""
            if tenants is None:
                return ()
            view = deployments.get(deployment_id)
            found = view.deployment.tenant_id if view is not None else None
            return (tenants.get(found, found), found) if found else ("-", "")

        def peering_row(pcx: str) -> tuple[list[Cell], list[str | None]]:
            view, owner = views[pcx], tenant(views[pcx].deployment_id)
            cells = peering_cells(view, now, owner[0] if owner else None, by_name=by_name)
            return cells, [*peering_fields(view), *owner]

        def deployment_row(d: str) -> tuple[list[Cell], list[str | None]]:
            owner = tenant(d)
            cells = deployment_cells(deployments[d], owner[0] if owner else None)
            return cells, [*deployment_fields(deployments[d]), *owner]

        peering_rows = _rows(
            {
                pcx: (*peering_key(v, now), tenant(v.deployment_id), by_name)
                for pcx, v in views.items()
            },
            before.peering_rows,
            peering_row,
        )
        deployment_rows = _rows(
            {d: (*deployment_key(view), tenant(d)) for d, view in deployments.items()},
            before.deployment_rows,
            deployment_row,
        )
        return cls(snapshot, views, deployments, peering_rows, deployment_rows, states(snapshot))

    def peering_cells(self, pcx: str) -> tuple[Cell, ...]:
        return self.peering_rows[pcx][1]

    def deployment_cells(self, deployment_id: str) -> tuple[Cell, ...]:
        return self.deployment_rows[deployment_id][1]

    def matching_peerings(self, query: str) -> list[str]:
        """Peering ids whose filter text holds every word of ``query`` (case-insensitively)."""
        return _matching(self.peering_rows, self.views, query)

    def matching_deployments(self, query: str) -> list[str]:
        return _matching(self.deployment_rows, self.deployments, query)
