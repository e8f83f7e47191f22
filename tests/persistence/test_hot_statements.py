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
from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi as AsyncpgDbapi

from identity.domain.errors import Unavailable
from identity.domain.refresh import refresh_token_digest
from identity.persistence.errors import translate
from identity.v1 import identity_pb2 as pb
from tests.helpers import error_of, refresh, register_and_login


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
    """A rotation checks a connection out of the pool without SQLAlchemy's Connection around it
    (uow.PgRotation): rotated, replayed in the grace window, reused, unknown or refused, each
    gives it back itself — none is left for the garbage collector to detach from the pool — and
    they reuse the pool's connections rather than open new ones."""
    s = await start_identity("postgres")
    pool = s.app.engine.sync_engine.pool
    tokens = await register_and_login(s, unique_email())
    rotated = await refresh(s, tokens.refresh_token)  # warm: the pool has its connections
    seen = {"connect": 0, "detach": 0}

    def opened(*_: object) -> None:
        seen["connect"] += 1

    def detached(*_: object) -> None:
        seen["detach"] += 1

    event.listen(pool, "connect", opened)
    event.listen(pool, "detach", detached)
    try:
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
        gc.collect()  # a connection nobody gave back would be detached here, at the latest
    finally:
        event.remove(pool, "connect", opened)
        event.remove(pool, "detach", detached)
    assert seen == {"connect": 0, "detach": 0}


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
