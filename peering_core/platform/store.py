"""Durable platform state in SQLite.

Every statement runs on one dedicated thread, so the event loop never blocks on disk and
SQLite sees a single writer per process. WAL mode and a busy timeout let a second process
(a restarted server while the old one is still exiting) wait instead of failing.

The schema is the base tables plus numbered migrations (:data:`MIGRATIONS`), applied in order
and counted in SQLite's ``user_version``; a file from before tenants opens as their
``default`` tenant's. API key secrets are stored only as the hash :mod:`.keys` makes.
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

from ..models import (
    DEFAULT_TENANT,
    ApiKey,
    Deployment,
    PlatformPeering,
    PlatformStatus,
    Resource,
    Role,
    Tenant,
)

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

# Each entry moves the schema one version up (``PRAGMA user_version``), in one transaction.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: tenants and their API keys; every object carries its tenant (what existed belongs to
    # the default tenant); a peering keeps every IPv4 block of its requester VPC.
    (
        """CREATE TABLE tenants (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            create_at TEXT NOT NULL
        )""",
        "INSERT INTO tenants VALUES ('default', 'default', '1970-01-01T00:00:00+00:00')",
        """CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            role TEXT NOT NULL,
            secret_hash TEXT NOT NULL,
            create_at TEXT NOT NULL,
            revoked_at TEXT
        )""",
        "ALTER TABLE deployments ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default'",
        "ALTER TABLE peerings ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default'",
        "ALTER TABLE peerings ADD COLUMN cidrs TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE resources ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default'",
        "CREATE INDEX deployments_by_tenant ON deployments(tenant_id)",
        "CREATE INDEX peerings_by_tenant ON peerings(tenant_id)",
        "CREATE INDEX resources_by_tenant ON resources(tenant_id)",
        "CREATE INDEX api_keys_by_tenant ON api_keys(tenant_id)",
    ),
)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class DeploymentRow:
    """A deployment with the platform-internal fields the API does not show."""

    __slots__ = ("cidr", "deployment", "route_table_ids", "vpc_id")

    @property
    def tenant_id(self) -> str:
        return self.deployment.tenant_id or DEFAULT_TENANT

    def __init__(
        self, deployment: Deployment, cidr: str, vpc_id: str, route_table_ids: tuple[str, ...]
    ) -> None:
        self.deployment = deployment
        self.cidr = cidr
        self.vpc_id = vpc_id
        self.route_table_ids = route_table_ids


class PeeringExistsError(Exception):
    """A peering with this pcx id is already recorded."""


class TenantExistsError(Exception):
    """A tenant with this name already exists."""


def _query(select: str, clauses: dict[str, Any], order: str = "") -> tuple[str, list[Any]]:
    """``select`` with ``WHERE column=?`` for each clause whose value is not ``None`` (the
    columns are ours, the values parameters), then ``ORDER BY order``."""
    given = {column: value for column, value in clauses.items() if value is not None}
    sql = select
    if given:
        sql += " WHERE " + " AND ".join(f"{column}=?" for column in given)
    if order:
        sql += " ORDER BY " + order
    return sql, list(given.values())


class Store:
    """The platform's deployments, peerings and resources."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="platform-store")
        self._db: sqlite3.Connection | None = None
        # Bumped by every write; with a per-process boot id it makes ETags that cost no query.
        # Each tenant has its own count too, so one tenant's writes never change the ETags
        # another tenant sees (they would tell it that something happened elsewhere).
        self.generation = 0
        self._tenant_generations: dict[str, int] = {}
        self.boot_id = secrets.token_hex(4)

    def generation_of(self, tenant_id: str | None) -> int:
        """The write count of ``tenant_id``'s objects, or of everything with ``None``."""
        if tenant_id is None:
            return self.generation
        return self._tenant_generations.get(tenant_id, 0)

    def _changed(self, tenant_id: str) -> None:
        self.generation += 1
        self._tenant_generations[tenant_id] = self._tenant_generations.get(tenant_id, 0) + 1

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA foreign_keys = ON")
        db.executescript(_SCHEMA)
        _migrate(db)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def _write(self, sql: str, params: Sequence[Any], tenant_id: str) -> int:
        """Run one changing statement; a change bumps the generations. Rows changed."""

        def run() -> int:
            return self._conn().execute(sql, params).rowcount

        changed = await self._run(run)
        if changed:
            self._changed(tenant_id)
        return changed

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
            tenant_id=row["tenant_id"],
        )
        return DeploymentRow(
            dep, row["cidr"], row["vpc_id"], tuple(json.loads(row["route_table_ids"]))
        )

    async def add_deployment(self, row: DeploymentRow) -> None:
        d = row.deployment
        tenant = d.tenant_id or DEFAULT_TENANT
        await self._write(
            "INSERT INTO deployments (id, name, deployment_type, region, status, version, "
            "project_name, cidr, vpc_id, route_table_ids, create_at, tenant_id) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
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
                tenant,
            ),
            tenant,
        )

    async def deployments(self, tenant_id: str | None = None) -> list[DeploymentRow]:
        """Every deployment, or ``tenant_id``'s."""
        sql, params = _query("SELECT * FROM deployments", {"tenant_id": tenant_id}, "create_at, id")
        rows = await self._run(self._fetch, sql, params)
        return [self._deployment(r) for r in rows]

    async def deployment(
        self, deployment_id: str, tenant_id: str | None = None
    ) -> DeploymentRow | None:
        """The deployment, if it exists (and, with ``tenant_id``, belongs to that tenant)."""
        sql, params = _query(
            "SELECT * FROM deployments", {"id": deployment_id, "tenant_id": tenant_id}
        )
        rows = await self._run(self._fetch, sql, params)
        return self._deployment(rows[0]) if rows else None

    async def set_deployment_status(self, row: DeploymentRow, status: str) -> None:
        await self._write(
            "UPDATE deployments SET status=? WHERE id=?",
            (status, row.deployment.id),
            row.tenant_id,
        )

    async def remove_deployment(self, row: DeploymentRow) -> None:
        """Forget a deployment and its resources (its peerings are gone already)."""

        def delete() -> None:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM resources WHERE deployment_id=?", (row.deployment.id,))
                db.execute("DELETE FROM deployments WHERE id=?", (row.deployment.id,))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

        await self._run(delete)
        self._changed(row.tenant_id)

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
            tenant_id=row["tenant_id"],
            cidrs=tuple(json.loads(row["cidrs"])) or (row["cidr"],),
        )

    async def add_peering(self, peering: PlatformPeering) -> None:
        """Insert a new record; raises :class:`PeeringExistsError` if the pcx is recorded."""
        tenant = peering.tenant_id or DEFAULT_TENANT

        def insert() -> None:
            try:
                self._conn().execute(
                    "INSERT INTO peerings (peering_id, deployment_id, account_id, vpc_id, cidr, "
                    "region, status, reason, create_at, update_at, tenant_id, cidrs) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
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
                        tenant,
                        json.dumps(list(peering.requester_cidrs)),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise PeeringExistsError(peering.peering_id) from exc

        await self._run(insert)
        self._changed(tenant)

    async def peerings(
        self,
        deployment_id: str | None = None,
        statuses: Sequence[PlatformStatus] | None = None,
        tenant_id: str | None = None,
    ) -> list[PlatformPeering]:
        """Peerings of one deployment or all, of some statuses or all, of one tenant or all."""
        sql = "SELECT * FROM peerings"
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("deployment_id", deployment_id), ("tenant_id", tenant_id)):
            if value is not None:
                clauses.append(f"{column}=?")
                params.append(value)
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

        def update() -> str | None:
            found = self._conn().execute(sql + " RETURNING tenant_id", params).fetchall()
            return str(found[0][0]) if found else None

        tenant = await self._run(update)
        if tenant is not None:
            self._changed(tenant)
        return tenant is not None

    async def remove_peering(self, peering_id: str) -> None:
        def delete() -> str | None:
            found = (
                self._conn()
                .execute(
                    "DELETE FROM peerings WHERE peering_id=? RETURNING tenant_id", (peering_id,)
                )
                .fetchall()
            )
            return str(found[0][0]) if found else None

        tenant = await self._run(delete)
        if tenant is not None:
            self._changed(tenant)

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
            tenant_id=row["tenant_id"],
        )

    async def add_resource(self, resource: Resource) -> None:
        tenant = resource.tenant_id or DEFAULT_TENANT
        await self._write(
            "INSERT INTO resources (id, deployment_id, name, type, host, port, create_at, "
            "tenant_id) VALUES (?,?,?,?,?,?,?,?)",
            (
                resource.id,
                resource.deployment_id,
                resource.name,
                resource.type,
                resource.host,
                resource.port,
                resource.create_at.isoformat(),
                tenant,
            ),
            tenant,
        )

    async def resources(
        self, deployment_id: str | None, tenant_id: str | None = None
    ) -> list[Resource]:
        """One deployment's resources, or every deployment's with ``None``; of one tenant or all."""
        sql, params = _query(
            "SELECT * FROM resources",
            {"deployment_id": deployment_id, "tenant_id": tenant_id},
            "create_at, id",
        )
        rows = await self._run(self._fetch, sql, params)
        return [self._resource(r) for r in rows]

    async def remove_resource(self, row: DeploymentRow, resource_id: str) -> bool:
        removed = await self._write(
            "DELETE FROM resources WHERE deployment_id=? AND id=?",
            (row.deployment.id, resource_id),
            row.tenant_id,
        )
        return removed == 1

    # --- tenants and keys --------------------------------------------------------------

    @staticmethod
    def _tenant(row: sqlite3.Row) -> Tenant:
        return Tenant(
            id=row["id"], name=row["name"], create_at=datetime.fromisoformat(row["create_at"])
        )

    async def add_tenant(self, tenant: Tenant) -> None:
        """Insert a tenant; raises :class:`TenantExistsError` if the name is taken."""

        def insert() -> None:
            try:
                self._conn().execute(
                    "INSERT INTO tenants (id, name, create_at) VALUES (?,?,?)",
                    (tenant.id, tenant.name, tenant.create_at.isoformat()),
                )
            except sqlite3.IntegrityError as exc:
                raise TenantExistsError(tenant.name) from exc

        await self._run(insert)
        self._changed(tenant.id)

    async def tenants(self) -> list[Tenant]:
        rows = await self._run(self._fetch, "SELECT * FROM tenants ORDER BY create_at, id", ())
        return [self._tenant(r) for r in rows]

    async def tenant(
        self, tenant_id: str | None = None, *, name: str | None = None
    ) -> Tenant | None:
        """The tenant with this id or this name, if there is one."""
        if tenant_id is None and name is None:
            return None
        sql, params = _query("SELECT * FROM tenants", {"id": tenant_id, "name": name})
        rows = await self._run(self._fetch, sql, params)
        return self._tenant(rows[0]) if rows else None

    @staticmethod
    def _key(row: sqlite3.Row) -> ApiKey:
        revoked = row["revoked_at"]
        return ApiKey(
            key_id=row["key_id"],
            key=row["key_id"],
            role=Role(row["role"]),
            tenant_id=row["tenant_id"],
            create_at=datetime.fromisoformat(row["create_at"]),
            revoked_at=datetime.fromisoformat(revoked) if revoked else None,
        )

    async def add_key(self, key: ApiKey, secret_hash: str) -> None:
        """Record a key with the hash of its secret (never the secret)."""
        await self._write(
            "INSERT INTO api_keys (key_id, tenant_id, role, secret_hash, create_at) "
            "VALUES (?,?,?,?,?)",
            (key.key_id, key.tenant_id, key.role.value, secret_hash, key.create_at.isoformat()),
            key.tenant_id,
        )

    async def key(self, key_id: str) -> tuple[ApiKey, str] | None:
        """A key and its secret's hash, revoked or not."""
        rows = await self._run(self._fetch, "SELECT * FROM api_keys WHERE key_id=?", (key_id,))
        return (self._key(rows[0]), str(rows[0]["secret_hash"])) if rows else None

    async def keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        """Every key (revoked ones too), or ``tenant_id``'s."""
        sql, params = _query(
            "SELECT * FROM api_keys", {"tenant_id": tenant_id}, "create_at, key_id"
        )
        rows = await self._run(self._fetch, sql, params)
        return [self._key(r) for r in rows]

    async def revoke_key(self, key: ApiKey) -> bool:
        """Mark ``key`` revoked now; False when it already was."""
        changed = await self._write(
            "UPDATE api_keys SET revoked_at=? WHERE key_id=? AND revoked_at IS NULL",
            (now().isoformat(), key.key_id),
            key.tenant_id,
        )
        return changed == 1


def _migrate(db: sqlite3.Connection) -> None:
    """Bring the schema up to the last of :data:`MIGRATIONS`, one transaction per step (a
    second process opening the file at the same moment waits, then finds nothing to do)."""
    for version, statements in enumerate(MIGRATIONS, start=1):
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] < version:
                for statement in statements:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
