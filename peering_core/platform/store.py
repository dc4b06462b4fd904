"""Durable platform state, on SQLite (one process) or PostgreSQL (any number of replicas).

The SQL is written once here; :mod:`.database` runs it on either. The schema is the base
tables plus numbered migrations (:data:`MIGRATIONS`), applied in order at start; a file from
before tenants opens as their ``default`` tenant's. API key secrets are stored only as the hash
:mod:`.keys` makes.

Background work on a peering (acceptance, deletion, the reconciler's check) is claimed with an
expiring lease (:meth:`Store.claim`): exactly one replica works a peering at a time, and a
replica that dies has its work taken over once its lease runs out.

ETags come from the database: every write bumps its tenant's generation in the same
transaction, so any replica can answer "unchanged" from one row, without reading the records.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..models import (
    DEFAULT_TENANT,
    ApiKey,
    Deployment,
    PlatformPeering,
    PlatformSide,
    PlatformStatus,
    Resource,
    Role,
    Tenant,
)
from .database import Backend, Conflict, Database, open_backend

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS deployments (
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
)""",
    """CREATE TABLE IF NOT EXISTS peerings (
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
)""",
    "CREATE INDEX IF NOT EXISTS peerings_by_deployment ON peerings(deployment_id)",
    """CREATE TABLE IF NOT EXISTS resources (
    id TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments(id),
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    create_at TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS resources_by_deployment ON resources(deployment_id)",
)

# Each entry moves the schema one version up, in one transaction.
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
    # 2: replicas. Work on a peering is due at ``due_at`` (epoch seconds) and leased by one
    # replica until ``lease_until``; failed attempts are counted with the last error; a failed
    # peering remembers which step failed (what a retry re-runs); the reconciler's view of the
    # deployment side; per-tenant write generations (ETags) and the store's own identity.
    (
        "ALTER TABLE peerings ADD COLUMN due_at DOUBLE PRECISION NOT NULL DEFAULT 0",
        "ALTER TABLE peerings ADD COLUMN lease_owner TEXT",
        "ALTER TABLE peerings ADD COLUMN lease_until DOUBLE PRECISION NOT NULL DEFAULT 0",
        "ALTER TABLE peerings ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE peerings ADD COLUMN last_error TEXT",
        "ALTER TABLE peerings ADD COLUMN failed_step TEXT",
        "ALTER TABLE peerings ADD COLUMN platform_side TEXT",
        "CREATE INDEX peerings_due ON peerings(due_at)",
        "CREATE TABLE generations (tenant_id TEXT PRIMARY KEY, generation BIGINT NOT NULL)",
        "CREATE TABLE store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
)

# Due work no replica holds: a lease given back has no owner, one that ran out still names the
# replica that never gave it back.
_DUE = (
    "SELECT peering_id, lease_owner FROM peerings WHERE status IN (?,?,?) AND due_at <= ? "
    "AND lease_until <= ? AND (status <> 'pending' OR attempts > 0 OR due_at <= ?) "
    "ORDER BY due_at LIMIT ?{skip_locked}"
)
# A due time that never comes (a failed peering waits for the operator).
NEVER = 1e18
# The statuses whose peerings have work: accept, delete, reconcile.
_WORKED = ("pending", "deleting", "running")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _stamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A peering whose work a replica now leases; ``expired``: the lease it took had run out
    on a replica that never gave it back (it died, or stalled past its lease)."""

    peering: PlatformPeering
    expired: bool


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


async def _bump(db: Database, tenant_id: str) -> None:
    """One more write to ``tenant_id``'s objects, in the writing transaction."""
    await db.execute(
        "INSERT INTO generations (tenant_id, generation) VALUES (?, 1) "
        "ON CONFLICT (tenant_id) DO UPDATE SET generation = generations.generation + 1",
        (tenant_id,),
    )


class Store:
    """The platform's tenants, keys, deployments, peerings and resources, on a SQLite file
    or a ``postgresql://`` database."""

    def __init__(self, location: Path | str, *, pool_size: int = 10) -> None:
        self.location = str(location)
        self._backend: Backend = open_backend(location, pool_size=pool_size)
        self._db: Database = self._backend
        self.store_id = ""

    @property
    def shared(self) -> bool:
        """Whether other processes may serve this store too (PostgreSQL)."""
        return bool(self._backend.for_update)

    async def open(self) -> None:
        await self._backend.open(SCHEMA, MIGRATIONS)
        await self._db.execute(
            "INSERT INTO store_meta (name, value) VALUES ('store_id', ?) "
            "ON CONFLICT (name) DO NOTHING",
            (secrets.token_hex(4),),
        )
        self.store_id = await self.meta("store_id") or ""

    async def close(self) -> None:
        await self._backend.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Store]:
        """This store, with every call inside one transaction (committed at the end)."""
        async with self._db.transaction() as tx:
            bound = object.__new__(Store)
            bound.location, bound._backend, bound._db = self.location, self._backend, tx
            bound.store_id = self.store_id
            yield bound

    async def meta(self, name: str) -> str | None:
        rows = await self._db.fetch("SELECT value FROM store_meta WHERE name=?", (name,))
        return str(rows[0]["value"]) if rows else None

    async def set_meta(self, name: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO store_meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    async def generation_of(self, tenant_id: str | None) -> int:
        """The write count of ``tenant_id``'s objects, or of everything with ``None``.

        Every committed write adds one, so an unchanged count means nothing changed since.
        """
        if tenant_id is None:
            rows = await self._db.fetch("SELECT sum(generation) AS g FROM generations")
        else:
            rows = await self._db.fetch(
                "SELECT generation AS g FROM generations WHERE tenant_id=?", (tenant_id,)
            )
        return int(rows[0]["g"] or 0) if rows else 0

    async def _write(self, sql: str, params: Sequence[Any], tenant_id: str) -> int:
        """Run one changing statement; a change bumps the tenant's generation. Rows changed."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(sql, params)
            if changed:
                await _bump(tx, tenant_id)
        return changed

    async def _write_returning(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """Run one changing statement ending in ``RETURNING tenant_id, …``; bumps the
        generation of every tenant it touched. The rows returned."""
        async with self._db.transaction() as tx:
            rows = await tx.fetch(sql, params)
            for tenant in sorted({str(r["tenant_id"]) for r in rows}):
                await _bump(tx, tenant)
        return rows

    # --- deployments ---------------------------------------------------------------------

    @staticmethod
    def _deployment(row: Any) -> DeploymentRow:
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
        return [self._deployment(r) for r in await self._db.fetch(sql, params)]

    async def deployment(
        self, deployment_id: str, tenant_id: str | None = None, *, lock: bool = False
    ) -> DeploymentRow | None:
        """The deployment, if it exists (and, with ``tenant_id``, belongs to that tenant);
        ``lock``: held until the transaction ends, so changes to its peerings take turns."""
        sql, params = _query(
            "SELECT * FROM deployments", {"id": deployment_id, "tenant_id": tenant_id}
        )
        if lock:
            sql += self._db.for_update
        rows = await self._db.fetch(sql, params)
        return self._deployment(rows[0]) if rows else None

    async def set_deployment_status(self, row: DeploymentRow, status: str) -> None:
        await self._write(
            "UPDATE deployments SET status=? WHERE id=?",
            (status, row.deployment.id),
            row.tenant_id,
        )

    async def remove_deployment(self, row: DeploymentRow) -> None:
        """Forget a deployment and its resources (its peerings are gone already)."""
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM resources WHERE deployment_id=?", (row.deployment.id,))
            await tx.execute("DELETE FROM deployments WHERE id=?", (row.deployment.id,))
            await _bump(tx, row.tenant_id)

    # --- peerings ------------------------------------------------------------------------

    @staticmethod
    def _peering(row: Any) -> PlatformPeering:
        status = PlatformStatus(row["status"])
        side = row["platform_side"]
        last_error = row["last_error"]
        retrying = last_error is not None and status in (
            PlatformStatus.PENDING,
            PlatformStatus.DELETING,
        )
        return PlatformPeering(
            peering_id=row["peering_id"],
            deployment_id=row["deployment_id"],
            account_id=row["account_id"],
            vpc_id=row["vpc_id"],
            cidr=row["cidr"],
            region=row["region"],
            status=status,
            reason=row["reason"],
            create_at=datetime.fromisoformat(row["create_at"]),
            update_at=datetime.fromisoformat(row["update_at"]),
            tenant_id=row["tenant_id"],
            cidrs=tuple(json.loads(row["cidrs"])) or (row["cidr"],),
            last_error=last_error,
            attempts=int(row["attempts"]),
            next_attempt_at=_stamp(float(row["due_at"])) if retrying else None,
            platform_side=PlatformSide.model_validate_json(side) if side else None,
        )

    async def add_peering(self, peering: PlatformPeering, *, due_at: float = 0.0) -> None:
        """Insert a new record, its work due at ``due_at``; raises :class:`PeeringExistsError`
        if the pcx is recorded."""
        tenant = peering.tenant_id or DEFAULT_TENANT
        try:
            await self._write(
                "INSERT INTO peerings (peering_id, deployment_id, account_id, vpc_id, cidr, "
                "region, status, reason, create_at, update_at, tenant_id, cidrs, due_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    float(due_at),
                ),
                tenant,
            )
        except Conflict as exc:
            raise PeeringExistsError(peering.peering_id) from exc

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
        return [self._peering(r) for r in await self._db.fetch(sql, params)]

    async def peering(self, peering_id: str) -> PlatformPeering | None:
        rows = await self._db.fetch("SELECT * FROM peerings WHERE peering_id=?", (peering_id,))
        return self._peering(rows[0]) if rows else None

    async def failed_step(self, peering_id: str) -> str | None:
        """The step a failed peering stopped at (``accept`` or ``delete``), if recorded."""
        rows = await self._db.fetch(
            "SELECT failed_step FROM peerings WHERE peering_id=?", (peering_id,)
        )
        return str(rows[0]["failed_step"]) if rows and rows[0]["failed_step"] else None

    async def set_peering_status(
        self,
        peering_id: str,
        status: PlatformStatus,
        reason: str | None = None,
        *,
        expect: PlatformStatus | Sequence[PlatformStatus] | None = None,
        owner: str | None = None,
        due_at: float | None = None,
        failed_step: str | None = None,
        platform_side: PlatformSide | None = None,
    ) -> bool:
        """Move a record to ``status`` (its attempts and last error start over); with
        ``expect``, only from that status (compare-and-set); with ``owner``, only while that
        replica holds its lease, which it gives up. ``due_at``: when its next work is due."""
        sets = [
            "status=?",
            "reason=?",
            "update_at=?",
            "attempts=0",
            "last_error=NULL",
            "failed_step=?",
        ]
        params: list[Any] = [status.value, reason, now().isoformat(), failed_step]
        if due_at is not None:
            sets.append("due_at=?")
            params.append(float(due_at))
        if platform_side is not None:
            sets.append("platform_side=?")
            params.append(platform_side.model_dump_json())
        if owner is not None:
            sets.append("lease_owner=NULL")
            sets.append("lease_until=0")
        # The columns and clauses are ours; every value is a parameter.
        sql = f"UPDATE peerings SET {', '.join(sets)} WHERE peering_id=?"  # noqa: S608
        params.append(peering_id)
        if expect is not None:
            expected = [expect] if isinstance(expect, PlatformStatus) else list(expect)
            sql += f" AND status IN ({','.join('?' * len(expected))})"
            params.extend(s.value for s in expected)
        if owner is not None:
            sql += " AND lease_owner=?"
            params.append(owner)
        return bool(await self._write_returning(sql + " RETURNING tenant_id", params))

    async def remove_peering(self, peering_id: str, *, owner: str | None = None) -> bool:
        """Forget a record (with ``owner``: only while that replica holds its lease)."""
        sql = "DELETE FROM peerings WHERE peering_id=?"
        params = [peering_id]
        if owner is not None:
            sql += " AND lease_owner=?"
            params.append(owner)
        return bool(await self._write_returning(sql + " RETURNING tenant_id", params))

    # --- background work: leases -------------------------------------------------------

    async def claim(
        self,
        owner: str,
        *,
        at: float,
        lease_seconds: float,
        limit: int,
        accept_delay: float = 0.0,
    ) -> list[Claimed]:
        """Lease up to ``limit`` peerings whose work is due at ``at`` and that no replica
        holds, to ``owner`` for ``lease_seconds``. A new confirmation waits ``accept_delay``
        before it is first taken. Rows another replica is claiming are skipped, not waited on."""
        async with self._db.transaction() as tx:
            # The clauses are ours; every value is a parameter.
            due = await tx.fetch(
                _DUE.replace("{skip_locked}", tx.skip_locked),
                (*_WORKED, at, at, at - accept_delay, limit),
            )
            if not due:
                return []
            before = {str(r["peering_id"]): r["lease_owner"] for r in due}
            marks = ",".join("?" * len(before))
            rows = await tx.fetch(
                f"UPDATE peerings SET lease_owner=?, lease_until=? "  # noqa: S608
                f"WHERE peering_id IN ({marks}) RETURNING *",
                (owner, at + lease_seconds, *before),
            )
        claimed = [self._peering(r) for r in rows]
        claimed.sort(key=lambda p: list(before).index(p.peering_id))
        return [Claimed(p, before[p.peering_id] is not None) for p in claimed]

    async def peering_counts(self) -> list[tuple[str, str, str | None, int]]:
        """How many peerings each tenant has in each state: ``(tenant id, tenant name,
        status, count)``, a tenant without peerings once with ``None`` and 0."""
        rows = await self._db.fetch(
            "SELECT t.id AS tenant_id, t.name AS tenant_name, p.status AS status, "
            "count(p.peering_id) AS n FROM tenants t "
            "LEFT JOIN peerings p ON p.tenant_id = t.id GROUP BY t.id, t.name, p.status"
        )
        return [
            (str(r["tenant_id"]), str(r["tenant_name"]), r["status"], int(r["n"])) for r in rows
        ]

    async def renew(self, peering_id: str, owner: str, until: float) -> bool:
        """Extend ``owner``'s lease; False when it no longer holds it."""
        changed = await self._db.execute(
            "UPDATE peerings SET lease_until=? WHERE peering_id=? AND lease_owner=?",
            (float(until), peering_id, owner),
        )
        return changed == 1

    async def release(
        self, peering_id: str, owner: str, *, status: PlatformStatus, due_at: float
    ) -> None:
        """Give up ``owner``'s lease; the next work is due at ``due_at`` if the peering is
        still ``status`` (a change made meanwhile keeps the due time it set)."""
        await self._db.execute(
            "UPDATE peerings SET lease_owner=NULL, lease_until=0, "
            "due_at=CASE WHEN status=? THEN ? ELSE due_at END "
            "WHERE peering_id=? AND lease_owner=?",
            (status.value, float(due_at), peering_id, owner),
        )

    async def hand_back(self, peering_id: str, owner: str) -> None:
        """Give up ``owner``'s lease with the work still due (a replica stopping)."""
        await self._db.execute(
            "UPDATE peerings SET lease_owner=NULL, lease_until=0 "
            "WHERE peering_id=? AND lease_owner=?",
            (peering_id, owner),
        )

    async def retry_later(
        self, peering_id: str, owner: str, *, status: PlatformStatus, error: str, due_at: float
    ) -> bool:
        """Count a failed attempt at ``status``'s work, with its error, and give the lease up
        until ``due_at``. False when the lease or the status was lost meanwhile."""
        rows = await self._write_returning(
            "UPDATE peerings SET attempts=attempts+1, last_error=?, due_at=?, update_at=?, "
            "lease_owner=NULL, lease_until=0 "
            "WHERE peering_id=? AND lease_owner=? AND status=? RETURNING tenant_id",
            (error, float(due_at), now().isoformat(), peering_id, owner, status.value),
        )
        return bool(rows)

    async def set_platform_side(self, peering_id: str, owner: str, side: PlatformSide) -> bool:
        """Record what the reconciler found, if it differs from what was recorded."""
        text = side.model_dump_json()
        rows = await self._write_returning(
            "UPDATE peerings SET platform_side=?, update_at=? WHERE peering_id=? "
            "AND lease_owner=? AND status='running' AND COALESCE(platform_side, '') <> ? "
            "RETURNING tenant_id",
            (text, now().isoformat(), peering_id, owner, text),
        )
        return bool(rows)

    async def wake(self, peering_id: str, status: PlatformStatus, *, due_at: float) -> None:
        """Make ``status``'s work on the peering due at ``due_at`` (sooner than scheduled)."""
        await self._db.execute(
            "UPDATE peerings SET due_at=? WHERE peering_id=? AND status=? AND due_at > ?",
            (float(due_at), peering_id, status.value, float(due_at)),
        )

    # --- resources -----------------------------------------------------------------------

    @staticmethod
    def _resource(row: Any) -> Resource:
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
        return [self._resource(r) for r in await self._db.fetch(sql, params)]

    async def remove_resource(self, row: DeploymentRow, resource_id: str) -> bool:
        removed = await self._write(
            "DELETE FROM resources WHERE deployment_id=? AND id=?",
            (row.deployment.id, resource_id),
            row.tenant_id,
        )
        return removed == 1

    # --- tenants and keys --------------------------------------------------------------

    @staticmethod
    def _tenant(row: Any) -> Tenant:
        return Tenant(
            id=row["id"], name=row["name"], create_at=datetime.fromisoformat(row["create_at"])
        )

    async def add_tenant(self, tenant: Tenant) -> None:
        """Insert a tenant; raises :class:`TenantExistsError` if the name is taken."""
        try:
            await self._write(
                "INSERT INTO tenants (id, name, create_at) VALUES (?,?,?)",
                (tenant.id, tenant.name, tenant.create_at.isoformat()),
                tenant.id,
            )
        except Conflict as exc:
            raise TenantExistsError(tenant.name) from exc

    async def tenants(self) -> list[Tenant]:
        rows = await self._db.fetch("SELECT * FROM tenants ORDER BY create_at, id")
        return [self._tenant(r) for r in rows]

    async def tenant(
        self, tenant_id: str | None = None, *, name: str | None = None
    ) -> Tenant | None:
        """The tenant with this id or this name, if there is one."""
        if tenant_id is None and name is None:
            return None
        sql, params = _query("SELECT * FROM tenants", {"id": tenant_id, "name": name})
        rows = await self._db.fetch(sql, params)
        return self._tenant(rows[0]) if rows else None

    @staticmethod
    def _key(row: Any) -> ApiKey:
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
        rows = await self._db.fetch("SELECT * FROM api_keys WHERE key_id=?", (key_id,))
        return (self._key(rows[0]), str(rows[0]["secret_hash"])) if rows else None

    async def keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        """Every key (revoked ones too), or ``tenant_id``'s."""
        sql, params = _query(
            "SELECT * FROM api_keys", {"tenant_id": tenant_id}, "create_at, key_id"
        )
        return [self._key(r) for r in await self._db.fetch(sql, params)]

    async def revoke_key(self, key: ApiKey) -> bool:
        """Mark ``key`` revoked now; False when it already was."""
        changed = await self._write(
            "UPDATE api_keys SET revoked_at=? WHERE key_id=? AND revoked_at IS NULL",
            (now().isoformat(), key.key_id),
            key.tenant_id,
        )
        return changed == 1
