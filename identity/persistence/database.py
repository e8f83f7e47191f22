"""Engine creation for PostgreSQL (asyncpg) and SQLite (aiosqlite), and the schema-at-head check."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
STATEMENT_TIMEOUT_MS = 5000
# A pooled connection idle for longer than this is pinged before it is handed out; a ping not
# answered within PING_TIMEOUT_S (a "SELECT 1" takes milliseconds) replaces the connection.
PING_IF_IDLE_FOR_S = 1.0
PING_TIMEOUT_S = 1.0
PING = "SELECT 1"
CONNECT_TIMEOUT_S = 5
# How long a call waits for a pooled connection before answering UNAVAILABLE.
POOL_TIMEOUT_S = 5
_RETURNED_AT = "identity.returned_at"


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _sqlite_serialisable_writes(engine)
        return engine
    engine = create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_timeout=POOL_TIMEOUT_S,
        # The connection returned last goes out first: under light load one or two connections
        # serve every call and stay fresh, where FIFO would cycle through all ten and hand out
        # connections idle for over PING_IF_IDLE_FOR_S, each costing a ping.
        pool_use_lifo=True,
        connect_args=_pg_connect_args(),
    )
    _check_connections_on_checkout(engine)
    return engine


def _pg_connect_args() -> dict[str, Any]:
    """asyncpg's connection settings, for SQLAlchemy's pool and the rotation's (hot_pool.py)."""
    return {
        "command_timeout": STATEMENT_TIMEOUT_MS / 1000,
        "timeout": CONNECT_TIMEOUT_S,
        "server_settings": {"statement_timeout": str(STATEMENT_TIMEOUT_MS)},
    }


# Options of SQLAlchemy's asyncpg dialect that a URL may carry but asyncpg.connect does not take.
_DIALECT_ONLY = frozenset({"prepared_statement_cache_size", "prepared_statement_name_func"})


def asyncpg_connect_kwargs(engine: AsyncEngine) -> dict[str, Any]:
    """What asyncpg.connect needs to open the connections `engine` opens: the URL as the
    dialect reads it (host, port, user, password, database, a socket directory, ssl) and the
    same timeouts and server settings."""
    _, from_url = engine.dialect.create_connect_args(engine.url)
    kwargs = {k: v for k, v in from_url.items() if k not in _DIALECT_ONLY}
    return {**kwargs, **_pg_connect_args()}


def _check_connections_on_checkout(engine: AsyncEngine) -> None:
    """Hand out only connections that are still open, without a round trip per checkout.

    SQLAlchemy's pool_pre_ping pings on every checkout, and on asyncpg a ping is three round trips
    (BEGIN, ";", ROLLBACK): six of a login's dozen. Instead: a connection the server closed (a
    restart, a killed backend) is already marked closed by asyncpg, which reads its socket while
    it sits in the pool, so it is replaced for free; only one idle for over PING_IF_IDLE_FOR_S
    (which may have been cut without a word, by a firewall say) is pinged. A connection that dies
    silently while busy fails its statement: UNAVAILABLE; SQLAlchemy invalidates the pool, or, for
    the hot statements asyncpg sends itself (prepared.py), that connection is terminated.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        # DisconnectionError makes the pool discard this connection and open another.
        if record.driver_connection is None or record.driver_connection.is_closed():
            raise DisconnectionError("connection closed by the server")
        if due_for_ping(record.info.get(_RETURNED_AT)):
            try:
                # Not dbapi_connection.ping(): on asyncpg that is three round trips (BEGIN, ";",
                # ROLLBACK) bounded only by the statement timeout. One statement on the simple
                # query protocol (no prepared statement, so also safe behind pgbouncer), bounded
                # by PING_TIMEOUT_S: a connection cut silently costs a second, not five. Not the
                # empty query ";": asyncpg 0.32 fails on its answer (EmptyQueryResponse has no
                # status), which made every ping fail and replaced every connection idle for a
                # second (issue 19 found it: a connection opened per poll and per login).
                await_only(ping(record.driver_connection))
            except Exception as error:
                # This connection only (SQLAlchemy terminates it). Not InvalidatePoolError, which
                # SQLAlchemy's own pre-ping raises: its soft invalidation closes the other stale
                # connections gracefully, and asyncpg's graceful close waits out a silent socket
                # (measured with tests/persistence' relay: a login behind three dead connections
                # took 5 s that way, 3 s this way).
                raise DisconnectionError("ping failed") from error


def due_for_ping(returned_at: float | None) -> bool:
    """Whether a pooled connection given back at `returned_at` (time.monotonic(); None: never
    used) has been idle long enough to be pinged before it is handed out. The rule of both
    pools: SQLAlchemy's (above) and the rotation's (hot_pool.py)."""
    return returned_at is not None and time.monotonic() - returned_at > PING_IF_IDLE_FOR_S


async def ping(driver: Any) -> None:
    """One `SELECT 1` on an asyncpg connection, bounded by PING_TIMEOUT_S (why this statement
    and this bound: _check_connections_on_checkout)."""
    await driver.execute(PING, timeout=PING_TIMEOUT_S)


def _sqlite_serialisable_writes(engine: AsyncEngine) -> None:
    """SQLite: take the write lock at BEGIN (BEGIN IMMEDIATE) so that two transactions never
    deadlock upgrading a read lock; the conditional UPDATE of a rotation then serialises."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    def _read(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_read)


async def migrate(engine: AsyncEngine, url: str) -> None:
    """Upgrade to head; on PostgreSQL under an advisory lock so concurrent replicas take turns."""
    from alembic import command
    from sqlalchemy import text

    def _upgrade(conn: Connection) -> None:
        config = alembic_config(url)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(4711)"))
        await conn.run_sync(_upgrade)
