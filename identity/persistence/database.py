"""Engine creation for PostgreSQL (asyncpg) and SQLite (aiosqlite), and the schema-at-head check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
STATEMENT_TIMEOUT_MS = 5000


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _sqlite_serialisable_writes(engine)
        return engine
    connect_args: dict[str, Any] = {
        "command_timeout": STATEMENT_TIMEOUT_MS / 1000,
        "timeout": 5,
        "server_settings": {"statement_timeout": str(STATEMENT_TIMEOUT_MS)},
    }
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args=connect_args,
    )


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


def redact_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


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
