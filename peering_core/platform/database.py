"""The two databases the platform's store runs on: SQLite (one process, the default and the
sandbox's) and PostgreSQL (any number of replicas), behind one small interface.

The store writes its SQL once, with ``?`` placeholders; a backend turns them into its own
(``$1`` for PostgreSQL) and fills in the two clauses only PostgreSQL has (``FOR UPDATE``,
``FOR UPDATE SKIP LOCKED``: SQLite has one writer at a time, so it needs neither). Both backends
apply the schema's numbered migrations at start; on PostgreSQL under an advisory lock, so two
replicas starting at once on an empty database do not race.

PostgreSQL is reached with asyncpg: one package with its own pool and prepared-statement cache
(no libpq, no separate pool package), and the fastest asyncio driver for the small statements
the store makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# Any 64-bit number of our own: the key of the advisory lock migrations are applied under.
MIGRATION_LOCK = 0x70656572696E67  # "peering"


class Conflict(Exception):
    """A write broke a uniqueness or reference constraint."""


class Database(Protocol):
    """What the store needs of a database (or of one transaction on it)."""

    for_update: str  # " FOR UPDATE" where rows can be locked for the transaction, else ""
    skip_locked: str  # " FOR UPDATE SKIP LOCKED" likewise

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows (each read by column name) of one statement."""
        ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one changing statement; the number of rows it changed."""
        ...

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Database]:
        """A transaction: what is done through the yielded database commits together."""
        ...


class Backend(Database, Protocol):
    async def open(self, schema: Sequence[str], migrations: Sequence[Sequence[str]]) -> None: ...

    async def close(self) -> None: ...


def open_backend(location: str | Path, *, pool_size: int = 10) -> Backend:
    """The backend for ``location``: a ``postgresql://`` URL, or a SQLite file path."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(text, pool_size=pool_size)
    return SqliteBackend(text)


# --- SQLite --------------------------------------------------------------------------------


class SqliteBackend:
    """SQLite on one dedicated thread: the event loop never waits on the disk, and the file
    sees a single writer per process. WAL and a busy timeout let a second process (a restarted
    server while the old one exits) wait instead of failing.

    One connection: a transaction holds ``_turn`` for its whole length, and every statement
    outside one waits for it, so no statement lands inside another coroutine's transaction.
    """

    for_update = ""
    skip_locked = ""

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="platform-store")
        self._db: sqlite3.Connection | None = None
        self._turn = asyncio.Lock()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def open(self, schema: Sequence[str], migrations: Sequence[Sequence[str]]) -> None:
        def run() -> None:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout = 5000")
            _wal(db)
            db.execute("PRAGMA foreign_keys = ON")
            for statement in schema:
                db.execute(statement)
            _sqlite_migrate(db, migrations)
            self._db = db

        await self._run(run)

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            return list(self._conn().execute(sql, params).fetchall())
        except sqlite3.IntegrityError as exc:
            raise Conflict(str(exc)) from exc

    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        try:
            return self._conn().execute(sql, params).rowcount
        except sqlite3.IntegrityError as exc:
            raise Conflict(str(exc)) from exc

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._turn:
            return await self._run(self._fetch, sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._turn:
            return await self._run(self._execute, sql, params)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        async with self._turn:
            await self._run(self._execute, "BEGIN IMMEDIATE", ())
            try:
                yield _SqliteTransaction(self)
            except BaseException:
                await asyncio.shield(self._run(self._execute, "ROLLBACK", ()))
                raise
            await self._run(self._execute, "COMMIT", ())


class _SqliteTransaction:
    """Statements inside a transaction that already holds the connection's turn."""

    for_update = ""
    skip_locked = ""

    def __init__(self, backend: SqliteBackend) -> None:
        self._backend = backend

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._backend._run(self._backend._fetch, sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._backend._run(self._backend._execute, sql, params)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        yield self  # already in one


def _wal(db: sqlite3.Connection) -> None:
    """WAL mode, waiting for a process switching it at the same moment: the switch does not
    wait for the busy timeout, it answers "locked" at once."""
    for attempt in range(50):
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.1)


def _sqlite_migrate(db: sqlite3.Connection, migrations: Sequence[Sequence[str]]) -> None:
    """Bring the schema up to the last migration, one transaction per step, counted in
    ``user_version`` (a second process opening the file at the same moment waits, then finds
    nothing to do)."""
    for version, statements in enumerate(migrations, start=1):
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


# --- PostgreSQL ----------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\?")


def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, …`` (the store's SQL has no ``?`` in text)."""
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


class _PostgresStatements:
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    _sql: dict[str, str]

    async def _conn_fetch(self, conn: Any, sql: str, params: Sequence[Any]) -> list[Any]:
        import asyncpg

        try:
            return list(await conn.fetch(self._translate(sql), *params))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(str(exc)) from exc

    async def _conn_execute(self, conn: Any, sql: str, params: Sequence[Any]) -> int:
        import asyncpg

        try:
            status = await conn.execute(self._translate(sql), *params)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(str(exc)) from exc
        # "UPDATE 3", "INSERT 0 1", "DELETE 0": the last word is the count.
        last = str(status).rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    def _translate(self, sql: str) -> str:
        done = self._sql.get(sql)
        if done is None:
            done = self._sql[sql] = _numbered(sql)
        return done


class PostgresBackend(_PostgresStatements):
    """PostgreSQL through an asyncpg pool of ``pool_size`` connections."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool: Any = None
        self._sql = {}

    async def open(self, schema: Sequence[str], migrations: Sequence[Sequence[str]]) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(
            self.url, min_size=1, max_size=self.pool_size, command_timeout=60
        )
        async with self._pool.acquire() as conn, conn.transaction():
            # Every replica takes this lock before looking at the schema: the first one
            # applies what is missing, the others wait, then find nothing to do.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            found = await conn.fetchval("SELECT version FROM schema_version")
            if found is None:
                for statement in schema:
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_version VALUES (0)")
                found = 0
            for version, statements in enumerate(migrations, start=1):
                if found < version:
                    for statement in statements:
                        await conn.execute(statement)
                    await conn.execute("UPDATE schema_version SET version=$1", version)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _ready(self) -> Any:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._ready().acquire() as conn:
            return await self._conn_fetch(conn, sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._ready().acquire() as conn:
            return await self._conn_execute(conn, sql, params)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        async with self._ready().acquire() as conn, conn.transaction():
            yield _PostgresTransaction(conn, self._sql)


class _PostgresTransaction(_PostgresStatements):
    def __init__(self, conn: Any, sql: dict[str, str]) -> None:
        self._conn = conn
        self._sql = sql

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._conn_fetch(self._conn, sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._conn_execute(self._conn, sql, params)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        yield self
