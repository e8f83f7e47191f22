"""The unit of work: one transaction for a store per aggregate, rolled back unless commit() ran."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from identity.persistence.audit import SqlAudit
from identity.persistence.database import asyncpg_connect_kwargs
from identity.persistence.errors import translate
from identity.persistence.hot_pool import HotPool, RotationConnection
from identity.persistence.keys import SqlKeys
from identity.persistence.links import SqlLinks
from identity.persistence.outbox import SqlOutbox
from identity.persistence.revocations import SqlRevocations
from identity.persistence.second_factors import SqlMfaTickets, SqlRecoveryCodes, SqlSecondFactors
from identity.persistence.service_accounts import SqlCredentials
from identity.persistence.sessions import PgRotationSteps, SqlSessions
from identity.persistence.throttle import SqlThrottle
from identity.persistence.users import SqlLogins, SqlUsers


class SqlUnitOfWork:
    users: SqlUsers
    sessions: SqlSessions
    keys: SqlKeys
    revocations: SqlRevocations
    audit: SqlAudit
    credentials: SqlCredentials
    throttle: SqlThrottle
    logins: SqlLogins
    links: SqlLinks
    outbox: SqlOutbox
    second_factors: SqlSecondFactors
    recovery_codes: SqlRecoveryCodes
    mfa_tickets: SqlMfaTickets

    def __init__(self, engine: AsyncEngine, autocommit: bool = False) -> None:
        self._engine = engine
        self._autocommit = autocommit
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None

    async def __aenter__(self) -> SqlUnitOfWork:
        try:
            self._conn = await self._engine.connect()
            if self._autocommit and self._conn.dialect.name == "postgresql":
                # Each statement on its own: no BEGIN, no COMMIT, two round trips fewer.
                # (SQLite keeps its transaction: its BEGIN is local, not a round trip.)
                await self._conn.execution_options(isolation_level="AUTOCOMMIT")
            else:
                self._tx = await self._conn.begin()
        except (SQLAlchemyError, OSError) as error:
            await self._close()
            raise (translate(error) or error) from None
        conn = self._conn
        self.users = SqlUsers(conn)
        self.sessions = SqlSessions(conn)
        self.keys = SqlKeys(conn)
        self.revocations = SqlRevocations(conn)
        self.audit = SqlAudit(conn)
        self.credentials = SqlCredentials(conn)
        self.throttle = SqlThrottle(conn)
        self.logins = SqlLogins(conn)
        self.links = SqlLinks(conn)
        self.outbox = SqlOutbox(conn)
        self.second_factors = SqlSecondFactors(conn)
        self.recovery_codes = SqlRecoveryCodes(conn)
        self.mfa_tickets = SqlMfaTickets(conn)
        return self

    async def commit(self) -> None:
        assert self._conn is not None, "commit outside 'async with'"
        if self._tx is None:
            return  # autocommit: every statement has committed already
        try:
            await self._tx.commit()
        except (SQLAlchemyError, OSError) as error:
            raise (translate(error) or error) from None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()
        if exc is not None:
            domain = translate(exc)
            if domain is not None:
                raise domain from None

    async def _close(self) -> None:
        try:
            if self._tx is not None and self._tx.is_active:
                await self._tx.rollback()
        except (SQLAlchemyError, OSError):
            pass  # the connection is gone; closing below discards it
        finally:
            if self._conn is not None:
                await self._conn.close()
            self._conn = None
            self._tx = None


class PgRotation:
    """A refresh rotation's unit of work on PostgreSQL: a connection from the rotation's own
    asyncpg pool (hot_pool.py: why, and its checks) for the two statements asyncpg sends
    itself (prepared.py), each committing on its own."""

    def __init__(self, hot: HotPool) -> None:
        self._hot = hot
        self._connection: RotationConnection | None = None

    async def __aenter__(self) -> PgRotation:
        try:
            self._connection = await self._hot.acquire()
        except Exception as error:
            # Refused, timed out, or every connection tried failed its ping: translate() reads
            # the driver's SQLSTATE or cause; what it does not know goes on as it came.
            raise (translate(error) or error) from None
        self.sessions = PgRotationSteps(self._connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # One a failed statement terminated goes back closed; the pool replaces it.
            await self._hot.release(connection)

    async def commit(self) -> None:
        pass  # every statement has committed already


class SqlUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        postgres = engine.dialect.name == "postgresql"
        self.hot = HotPool(asyncpg_connect_kwargs(engine)) if postgres else None

    def __call__(self, *, autocommit: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, autocommit)

    def rotation(self) -> PgRotation | SqlUnitOfWork:
        if self.hot is not None:
            return PgRotation(self.hot)
        # SQLite keeps its transaction (its BEGIN is local, not a round trip).
        return SqlUnitOfWork(self.engine, autocommit=True)

    async def aclose(self) -> None:
        """Close the rotation's connections (the engine's own are the engine's to dispose)."""
        if self.hot is not None:
            await self.hot.close()
