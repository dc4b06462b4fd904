"""Durable platform state in SQLite.

Every statement runs on one dedicated thread, so the event loop never blocks on disk and
SQLite sees a single writer per process. WAL mode and a busy timeout let a second process
(a restarted server while the old one is still exiting) wait instead of failing.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ..models import Deployment, PlatformPeering, PlatformStatus, Resource

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    deployment_type TEXT NOT NULL,
    region TEXT NOT NULL,
    status TEXT NOT NULL,
    version TEXT NOT NULL,
    project_name TEXT NOT NULL,
    cidr TEXT NOT NULL,
    vpc_id TEXT NOT NULL,
    route_table_ids TEXT NOT NULL,
    create_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS peerings (
    peering_id TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments(id),
    account_id TEXT NOT NULL,
    vpc_id TEXT NOT NULL,
    cidr TEXT NOT NULL,
    region TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    create_at TEXT NOT NULL,
    update_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS peerings_by_deployment ON peerings(deployment_id);
CREATE TABLE IF NOT EXISTS resources (
    id TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments(id),
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    create_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_by_deployment ON resources(deployment_id);
"""


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class DeploymentRow:
    """A deployment with the platform-internal fields the API does not show."""

    __slots__ = ("cidr", "deployment", "route_table_ids", "vpc_id")

    def __init__(
        self, deployment: Deployment, cidr: str, vpc_id: str, route_table_ids: tuple[str, ...]
    ) -> None:
        self.deployment = deployment
        self.cidr = cidr
        self.vpc_id = vpc_id
        self.route_table_ids = route_table_ids


class PeeringExistsError(Exception):
    """A peering with this pcx id is already recorded."""


class Store:
    """The platform's deployments, peerings and resources."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="platform-store")
        self._db: sqlite3.Connection | None = None
        # Bumped by every write; with a per-process boot id it makes ETags that cost no query.
        self.generation = 0
        self.boot_id = secrets.token_hex(4)

    def _changed(self) -> None:
        self.generation += 1

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA foreign_keys = ON")
        db.executescript(_SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    # --- deployments ---------------------------------------------------------------------

    @staticmethod
    def _deployment(row: sqlite3.Row) -> DeploymentRow:
        dep = Deployment(
            id=row["id"],
            name=row["name"],
            deployment_type=row["deployment_type"],
            region=row["region"],
            status=row["status"],
            version=row["version"],
            create_at=datetime.fromisoformat(row["create_at"]),
            project_name=row["project_name"],
        )
        return DeploymentRow(
            dep, row["cidr"], row["vpc_id"], tuple(json.loads(row["route_table_ids"]))
        )

    async def add_deployment(self, row: DeploymentRow) -> None:
        d = row.deployment
        await self._run(
            self._conn().execute,
            "INSERT INTO deployments VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                d.id,
                d.name,
                d.deployment_type,
                d.region,
                d.status,
                d.version,
                d.project_name,
                row.cidr,
                row.vpc_id,
                json.dumps(list(row.route_table_ids)),
                d.create_at.isoformat(),
            ),
        )
        self._changed()

    async def deployments(self) -> list[DeploymentRow]:
        rows = await self._run(self._fetch, "SELECT * FROM deployments ORDER BY create_at, id", ())
        return [self._deployment(r) for r in rows]

    async def deployment(self, deployment_id: str) -> DeploymentRow | None:
        rows = await self._run(
            self._fetch, "SELECT * FROM deployments WHERE id=?", (deployment_id,)
        )
        return self._deployment(rows[0]) if rows else None

    async def set_deployment_status(self, deployment_id: str, status: str) -> None:
        await self._run(
            self._conn().execute,
            "UPDATE deployments SET status=? WHERE id=?",
            (status, deployment_id),
        )
        self._changed()

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        return list(self._conn().execute(sql, params).fetchall())

    # --- peerings ------------------------------------------------------------------------

    @staticmethod
    def _peering(row: sqlite3.Row) -> PlatformPeering:
        return PlatformPeering(
            peering_id=row["peering_id"],
            deployment_id=row["deployment_id"],
            account_id=row["account_id"],
            vpc_id=row["vpc_id"],
            cidr=row["cidr"],
            region=row["region"],
            status=PlatformStatus(row["status"]),
            reason=row["reason"],
            create_at=datetime.fromisoformat(row["create_at"]),
            update_at=datetime.fromisoformat(row["update_at"]),
        )

    async def add_peering(self, peering: PlatformPeering) -> None:
        """Insert a new record; raises :class:`PeeringExistsError` if the pcx is recorded."""

        def insert() -> None:
            try:
                self._conn().execute(
                    "INSERT INTO peerings VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        peering.peering_id,
                        peering.deployment_id,
                        peering.account_id,
                        peering.vpc_id,
                        peering.cidr,
                        peering.region,
                        peering.status.value,
                        peering.reason,
                        peering.create_at.isoformat(),
                        peering.update_at.isoformat(),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise PeeringExistsError(peering.peering_id) from exc

        await self._run(insert)
        self._changed()

    async def peerings(
        self, deployment_id: str | None = None, statuses: Sequence[PlatformStatus] | None = None
    ) -> list[PlatformPeering]:
        sql = "SELECT * FROM peerings"
        clauses: list[str] = []
        params: list[Any] = []
        if deployment_id is not None:
            clauses.append("deployment_id=?")
            params.append(deployment_id)
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(s.value for s in statuses)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY create_at, peering_id"
        rows = await self._run(self._fetch, sql, params)
        return [self._peering(r) for r in rows]

    async def peering(self, peering_id: str) -> PlatformPeering | None:
        rows = await self._run(
            self._fetch, "SELECT * FROM peerings WHERE peering_id=?", (peering_id,)
        )
        return self._peering(rows[0]) if rows else None

    async def set_peering_status(
        self,
        peering_id: str,
        status: PlatformStatus,
        reason: str | None = None,
        *,
        expect: PlatformStatus | None = None,
    ) -> bool:
        """Move a record to ``status``; with ``expect``, only from that status (compare-and-set)."""
        sql = "UPDATE peerings SET status=?, reason=?, update_at=? WHERE peering_id=?"
        params: list[Any] = [status.value, reason, now().isoformat(), peering_id]
        if expect is not None:
            sql += " AND status=?"
            params.append(expect.value)

        def update() -> int:
            return self._conn().execute(sql, params).rowcount

        changed = await self._run(update) == 1
        if changed:
            self._changed()
        return changed

    async def remove_peering(self, peering_id: str) -> None:
        await self._run(
            self._conn().execute, "DELETE FROM peerings WHERE peering_id=?", (peering_id,)
        )
        self._changed()

    # --- resources -----------------------------------------------------------------------

    @staticmethod
    def _resource(row: sqlite3.Row) -> Resource:
        return Resource(
            id=row["id"],
            deployment_id=row["deployment_id"],
            name=row["name"],
            type=row["type"],
            host=row["host"],
            port=row["port"],
            create_at=datetime.fromisoformat(row["create_at"]),
        )

    async def add_resource(self, resource: Resource) -> None:
        await self._run(
            self._conn().execute,
            "INSERT INTO resources VALUES (?,?,?,?,?,?,?)",
            (
                resource.id,
                resource.deployment_id,
                resource.name,
                resource.type,
                resource.host,
                resource.port,
                resource.create_at.isoformat(),
            ),
        )
        self._changed()

    async def resources(self, deployment_id: str | None) -> list[Resource]:
        """One deployment's resources, or every deployment's with ``None``."""
        if deployment_id is None:
            rows = await self._run(
                self._fetch, "SELECT * FROM resources ORDER BY create_at, id", ()
            )
        else:
            rows = await self._run(
                self._fetch,
                "SELECT * FROM resources WHERE deployment_id=? ORDER BY create_at, id",
                (deployment_id,),
            )
        return [self._resource(r) for r in rows]

    async def remove_resource(self, deployment_id: str, resource_id: str) -> bool:
        def delete() -> int:
            return (
                self._conn()
                .execute(
                    "DELETE FROM resources WHERE deployment_id=? AND id=?",
                    (deployment_id, resource_id),
                )
                .rowcount
            )

        removed = await self._run(delete) == 1
        if removed:
            self._changed()
        return removed
