"""PostgreSQL's hot statements sent through asyncpg itself, on a connection of the rotation's own
pool (hot_pool.py) or the one SQLAlchemy checked out for an autocommit unit of work.

Measured in-process (issue 19, sequential rotations on one connection): the two statements of a
rotation cost identity 1.06 ms of CPU through SQLAlchemy's execution layer (connection proxy,
execution context, the greenlet bridge, result set-up) and 0.24 ms sent by asyncpg directly;
the whole rotation cost 1.2 ms. So the statements of the hot path are compiled once, here, to
asyncpg's text with `$n` parameters, and sent by asyncpg (which prepares each once per
connection and keeps it). Everything else stays with SQLAlchemy: its pool and checkout checks
(identity/persistence/database.py), transactions, and every other statement.

A result is asyncpg's Record, a mapping from column labels to values with asyncpg's own types,
which for these columns are SQLAlchemy's too (timestamptz: aware UTC datetimes; bytea: bytes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from identity.persistence.errors import translate

_DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)


class Prepared:
    """One statement compiled as SQLAlchemy's asyncpg dialect would send it: the text with `$n`
    parameters and the order its named bound parameters go in (bench.refresh's ceiling sends
    exactly this text too)."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
        assert isinstance(compiled, SQLCompiler)
        self.sql = str(compiled)
        self._names = tuple(compiled.positiontup or ())
        # The literals the statement carries (`generation + 1`); the others must be given.
        self._fixed = {name: b.value for name, b in compiled.binds.items() if not b.required}

    def args(self, binds: Mapping[str, Any]) -> list[Any]:
        """The arguments in order; a bound parameter missing from `binds` is a KeyError (never
        a silent NULL), a literal the statement carries (`generation + 1`) comes from it."""
        return [binds[n] if n in binds else self._fixed[n] for n in self._names]

    async def fetchrow(
        self, driver: asyncpg.Connection, binds: Mapping[str, Any]
    ) -> asyncpg.Record | None:
        try:
            row: asyncpg.Record | None = await driver.fetchrow(self.sql, *self.args(binds))
        except BaseException as error:
            raise _failed(driver, error) from None
        return row

    async def execute(self, driver: asyncpg.Connection, binds: Mapping[str, Any]) -> None:
        try:
            await driver.execute(self.sql, *self.args(binds))
        except BaseException as error:
            raise _failed(driver, error) from None


def _failed(driver: asyncpg.Connection, error: BaseException) -> BaseException:
    """What to raise for a statement that failed or was cancelled, having closed its connection.

    asyncpg can leave a connection mid-operation when a statement fails or its task is cancelled
    (a deadline, a restart: "another operation is in progress" on the next use). SQLAlchemy
    would have invalidated its connection; this connection went round SQLAlchemy, so it is
    closed here, at once (terminate: no round trip), and its pool replaces it (a closed
    connection is never handed out: database.py, hot_pool.py)."""
    # A connection of the rotation's pool (hot_pool.py) that the server closed was already
    # handed back by asyncpg, which says so instead of terminating it again.
    with contextlib.suppress(asyncpg.InterfaceError):
        driver.terminate()
    if isinstance(error, _DRIVER_ERRORS):
        return translate(error) or error
    return error


async def driver_of(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a checked-out SQLAlchemy connection (PostgreSQL only)."""
    try:
        raw = await conn.get_raw_connection()
    except (SQLAlchemyError, OSError) as error:
        raise (translate(error) or error) from None
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection), "the asyncpg dialect only"
    # Only an autocommit unit of work may send these: outside SQLAlchemy's transaction, a
    # statement here would commit on its own in the middle of one.
    assert getattr(raw.dbapi_connection, "autocommit", False), "autocommit units of work only"
    return driver
