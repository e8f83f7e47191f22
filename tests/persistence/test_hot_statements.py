"""The rotation's two statements that asyncpg sends itself on PostgreSQL (identity/persistence/
prepared.py): a statement cancelled mid-way leaves no connection behind that the pool would hand
out again, and asyncpg's errors mean what SQLAlchemy's meant."""

from __future__ import annotations

import asyncio
import gc

import asyncpg
import grpc
import pytest
from asyncpg import exceptions as pg_exc
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi as AsyncpgDbapi

from identity.domain.errors import Unavailable
from identity.domain.refresh import refresh_token_digest
from identity.persistence.database import create_engine
from identity.persistence.errors import translate
from identity.persistence.prepared import Prepared
from identity.persistence.uow import SqlUnitOfWorkFactory
from identity.v1 import identity_pb2 as pb
from tests.helpers import error_of, refresh, register_and_login

SLEEP = Prepared(select(func.pg_sleep(10)))


async def test_a_rotation_cancelled_mid_statement_leaves_the_pool_sound(
    start_identity, pg, unique_email
):
    s = await start_identity("postgres")
    tokens = await register_and_login(s, unique_email())
    database = s.app.engine.url.database
    locker = await asyncpg.connect(pg.dsn.rsplit("/", 1)[0] + f"/{database}")
    try:
        # Another transaction holds the token's row: the consume waits on it past the deadline,
        # and gRPC cancels the call while asyncpg is inside the statement.
        lock = locker.transaction()
        await lock.start()
        await locker.execute(
            "SELECT 1 FROM refresh_tokens WHERE digest = $1 FOR UPDATE",
            refresh_token_digest(tokens.refresh_token),
        )
        call = s.stub.Refresh(
            pb.RefreshRequest(refresh_token=tokens.refresh_token), metadata=s.md(), timeout=1.0
        )
        waiting = asyncio.ensure_future(error_of(call))
        blocked = None
        while blocked is None:
            await asyncio.sleep(0.02)
            blocked = await locker.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
                database,
            )
        cancelled = await waiting
        assert cancelled.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        await lock.rollback()
        # That connection was closed, not given back to the pool mid-operation.
        for _ in range(50):
            alive = await locker.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", blocked
            )
            if not alive:
                break
            await asyncio.sleep(0.05)
        assert not alive, "the interrupted statement's connection is still open"
    finally:
        await locker.close()
    await asyncio.sleep(0.2)  # the abandoned statement, if PostgreSQL still ran it, has committed
    # The client retries within the grace window: the rotation completes (or is repaired), on
    # connections the pool hands out in a usable state, again and again.
    again = await refresh(s, tokens.refresh_token)
    assert again.access_token
    current = again.refresh_token
    for _ in range(5):
        current = (await refresh(s, current)).refresh_token


async def test_every_rotation_outcome_gives_its_connection_back(start_identity, unique_email):
    """A rotation takes its connection from the rotation's own pool (hot_pool.py): rotated,
    replayed in the grace window, reused, unknown or refused, each gives it back itself, and
    they reuse the pool's connections rather than open new ones."""
    s = await start_identity("postgres")
    hot = s.app.uow.hot
    assert hot is not None
    tokens = await register_and_login(s, unique_email())
    rotated = await refresh(s, tokens.refresh_token)  # warm: the pool has its connection
    opened = hot.opened
    replayed = await refresh(s, tokens.refresh_token)  # the grace window's same successor
    assert replayed.grace_replay and replayed.refresh_token == rotated.refresh_token
    unknown = await error_of(
        s.stub.Refresh(pb.RefreshRequest(refresh_token="idrt_" + "A" * 43), metadata=s.md())
    )
    assert unknown.code() == grpc.StatusCode.UNAUTHENTICATED
    successor = (await refresh(s, rotated.refresh_token)).refresh_token
    reused = await error_of(  # past its grace: theft, the family is revoked
        s.stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token), metadata=s.md())
    )
    assert reused.code() == grpc.StatusCode.UNAUTHENTICATED
    ended = await error_of(
        s.stub.Refresh(pb.RefreshRequest(refresh_token=successor), metadata=s.md())
    )
    assert ended.code() == grpc.StatusCode.UNAUTHENTICATED
    gc.collect()
    size, idle = hot.sizes()
    assert (hot.opened, idle) == (opened, size), "a connection was not given back, or reopened"


@pytest.mark.parametrize(
    "error",
    [
        pg_exc.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        pg_exc.InterfaceError("cannot call Connection.fetchrow(): connection is closed"),
        pg_exc.InternalClientError("cannot switch to state 12; another operation is in progress"),
        pg_exc.QueryCanceledError("canceling statement due to statement timeout"),
        pg_exc.CannotConnectNowError("the database system is starting up"),
        ConnectionResetError(),
        TimeoutError(),
    ],
)
def test_asyncpg_errors_of_an_unusable_database_are_unavailable(error):
    assert isinstance(translate(error), Unavailable)


def _under_the_dialect(cls: type[Exception], cause: Exception) -> Exception:
    """An asyncpg error as a pool checkout outside a Connection raises it: in the dialect's own
    class, the driver's error as its cause (uow.PgRotation)."""
    wrapped = cls(str(cause))
    wrapped.__cause__ = cause
    return wrapped


@pytest.mark.parametrize(
    "error",
    [
        # No SQLSTATE: asyncpg's own word that the connection cannot serve.
        _under_the_dialect(
            AsyncpgDbapi.InterfaceError, pg_exc.InterfaceError("connection is closed")
        ),
        _under_the_dialect(
            AsyncpgDbapi.InternalClientError,
            pg_exc.InternalClientError("another operation is in progress"),
        ),
        _under_the_dialect(
            AsyncpgDbapi.Error, pg_exc.CannotConnectNowError("the database system is shutting down")
        ),
    ],
)
def test_a_checkout_that_cannot_connect_is_unavailable(error):
    assert isinstance(translate(error), Unavailable)


@pytest.mark.parametrize(
    "error",
    [
        pg_exc.PostgresSyntaxError("syntax error"),
        pg_exc.UndefinedColumnError("column does not exist"),
        pg_exc._base.DataError("invalid input for query argument $1"),  # a bug: wrong argument
    ],
)
def test_asyncpg_errors_of_a_wrong_statement_propagate(error):
    assert translate(error) is None


async def test_a_rotation_connection_the_server_kills_mid_statement_is_unavailable(pg):
    """The server ends a hot connection while its statement runs (a restart, an administrator):
    asyncpg hands the connection back to its pool by itself, and the statement's failure still
    answers UNAVAILABLE, not an internal error (terminating it again would raise)."""
    url = await pg.create_database()
    engine = create_engine(url)
    uow = SqlUnitOfWorkFactory(engine)
    admin = await asyncpg.connect(pg.dsn)
    try:
        assert uow.hot is not None
        connection = await uow.hot.acquire()
        pid = connection.get_server_pid()
        sleeping = asyncio.ensure_future(SLEEP.fetchrow(connection, {}))
        while not await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep%'",
            pid,
        ):
            await asyncio.sleep(0.02)
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(Unavailable):
            await sleeping
        await uow.hot.release(connection)  # already handed back: nothing to do, no error
        again = await uow.hot.acquire()  # a new connection in its place
        assert again.get_server_pid() != pid
        await uow.hot.release(again)
    finally:
        await admin.close()
        await uow.aclose()
        await engine.dispose()
        await pg.drop_database(url)
