"""Pooled PostgreSQL connections the server closed are replaced before a call uses them, without
a ping round trip on every checkout (identity/persistence/database.py)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from identity.app import IdentityApp
from identity.persistence.database import (
    PING_IF_IDLE_FOR_S,
    PING_TIMEOUT_S,
    asyncpg_connect_kwargs,
    create_engine,
)
from identity.persistence.hot_pool import HotPool
from identity.v1 import identity_pb2 as pb
from tests.conftest import Running, make_channel, settings_for
from tests.helpers import login, refresh, register_and_login


async def test_connections_whose_backend_was_terminated_are_replaced_unseen(
    start_identity, pg, unique_email
):
    s = await start_identity("postgres")
    email = unique_email()
    first = await register_and_login(s, email)
    # A few calls at once, so the pool holds several connections; and a rotation, so the
    # rotation's own pool (hot_pool.py) holds one.
    await asyncio.gather(*(login(s, email) for _ in range(4)))
    first = await refresh(s, first.refresh_token)
    admin = await asyncpg.connect(pg.dsn)
    try:
        killed = await admin.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()) AS t",
            s.app.engine.url.database,
        )
    finally:
        await admin.close()
    assert killed >= 2
    # Well inside the idle-ping window: only the closed-connection check can save these calls.
    await asyncio.sleep(PING_IF_IDLE_FOR_S / 10)
    for _ in range(6):
        await login(s, email)
    refreshed = await s.stub.Refresh(
        pb.RefreshRequest(refresh_token=first.refresh_token), metadata=s.md()
    )
    assert refreshed.access_token


async def test_a_live_connection_idle_past_the_ping_threshold_is_kept(pg):
    """The ping must pass on a live connection. One that failed on every connection (asyncpg
    0.32 fails on the empty query ";") replaced every connection idle for a second, so identity
    opened a new connection for nearly every background poll and many calls (issue 19)."""
    engine = create_engine(await pg.create_database())
    try:
        pids = []
        for _ in range(3):
            async with engine.connect() as conn:
                pids.append((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            await asyncio.sleep(PING_IF_IDLE_FOR_S * 1.3)
        assert len(set(pids)) == 1, pids
    finally:
        await engine.dispose()
        await pg.drop_database(engine.url.render_as_string(hide_password=False))


class FreezingProxy:
    """A TCP relay to PostgreSQL that can go silent on the connections it carries without closing
    any: both ends still see an open socket, as when a firewall or NAT drops its state. New
    connections are relayed normally."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._frozen: set[asyncio.StreamWriter] = set()
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def freeze_open_connections(self) -> int:
        """Go silent on every connection relayed so far; returns how many."""
        self._frozen |= self._open
        return len(self._open) // 2  # two streams (client side, server side) per connection

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):
            writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._open |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if dst not in self._frozen:  # frozen: swallowed, never answered, never closed
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


async def test_idle_connections_cut_silently_are_pinged_and_replaced(pg, unique_email):
    """The other half of the checkout check: a pooled connection idle for longer than
    PING_IF_IDLE_FOR_S that went silent (no close, no reset: nothing for asyncpg to notice) is
    pinged, fails, and is replaced before a call uses it."""
    database_url = make_url(await pg.create_database())
    upstream = make_url(pg.dsn)
    proxy = FreezingProxy(upstream.host or "127.0.0.1", upstream.port or 5432)
    proxied = database_url.set(host="127.0.0.1", port=await proxy.start())
    app = IdentityApp(settings_for(proxied.render_as_string(hide_password=False)))
    port = await app.start()
    channel = make_channel(f"127.0.0.1:{port}")
    try:
        s = Running(
            app,
            f"127.0.0.1:{port}",
            {"edge": await app.create_credential("edge", "test-edge")},
            channel,
            "postgres",
        )
        email = unique_email()
        rotated = await refresh(s, (await register_and_login(s, email)).refresh_token)
        await asyncio.gather(*(login(s, email) for _ in range(3)))
        # The rotation's own pool (hot_pool.py) holds a connection too: frozen with the rest.
        assert s.app.uow.hot is not None and s.app.uow.hot.sizes() == (1, 1)
        assert proxy.freeze_open_connections() >= 3
        # Frozen first, then idle past the ping threshold: whatever used a connection last (a
        # login, or identity's own background loops: the outbox, the revocation poll), every
        # connection in the pool has now been idle long enough to be pinged. Frozen the other
        # way round, a background loop's use in the last second before the freeze left a
        # connection that was silent but too fresh to ping (the test failed that way once).
        await asyncio.sleep(PING_IF_IDLE_FOR_S * 1.5)
        # Every pooled connection is silent; without the ping the login's statements would wait
        # on one of them until the statement timeout and answer UNAVAILABLE.
        tokens = await login(s, email)
        assert tokens.access_token
        assert (await refresh(s, rotated.refresh_token)).access_token  # the rotation's ping
        assert (await refresh(s, tokens.refresh_token)).access_token
    finally:
        await channel.close()
        await app.stop(grace=0.5)
        await proxy.close()
        await pg.drop_database(database_url.render_as_string(hide_password=False))


async def _hot_pool(url: str) -> HotPool:
    engine = create_engine(url)
    try:
        return HotPool(asyncpg_connect_kwargs(engine))
    finally:
        await engine.dispose()


async def test_a_live_rotation_connection_idle_past_the_ping_threshold_is_kept(pg):
    """The rotation's pool (hot_pool.py) pings like SQLAlchemy's, and a ping that passes keeps
    the connection: the same backend serves again, nothing new is opened."""
    url = await pg.create_database()
    hot = await _hot_pool(url)
    try:
        pids = []
        for _ in range(3):
            connection = await hot.acquire()
            pids.append(connection.get_server_pid())
            await hot.release(connection)
            await asyncio.sleep(PING_IF_IDLE_FOR_S * 1.3)
        assert len(set(pids)) == 1 and hot.opened == 1, (pids, hot.opened)
    finally:
        await hot.close()
        await pg.drop_database(url)


async def test_a_caller_cancelled_during_the_ping_leaves_no_connection_held(pg):
    """A rotation whose deadline ends while its connection is being pinged (a silent socket
    takes the whole PING_TIMEOUT_S) must not keep that connection checked out: ten of those
    would leave the pool empty for good."""
    database_url = make_url(await pg.create_database())
    upstream = make_url(pg.dsn)
    proxy = FreezingProxy(upstream.host or "127.0.0.1", upstream.port or 5432)
    proxied = database_url.set(host="127.0.0.1", port=await proxy.start())
    hot = await _hot_pool(proxied.render_as_string(hide_password=False))
    try:
        await hot.release(await hot.acquire())
        assert proxy.freeze_open_connections() == 1
        await asyncio.sleep(PING_IF_IDLE_FOR_S * 1.3)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(hot.acquire(), PING_TIMEOUT_S / 3)  # cancelled mid-ping
        await asyncio.sleep(0.1)
        size, idle = hot.sizes()
        assert size == idle, "the pinged connection is still checked out"
        connection = await hot.acquire()  # and the pool still serves, on a new connection
        assert await connection.fetchval("SELECT 1") == 1
        await hot.release(connection)
    finally:
        await hot.close()
        await proxy.close()
        await pg.drop_database(database_url.render_as_string(hide_password=False))


async def test_the_rotation_pool_refuses_once_closed(pg):
    url = await pg.create_database()
    hot = await _hot_pool(url)
    try:
        connection = await hot.acquire()
        closing = asyncio.ensure_future(hot.close())
        await asyncio.sleep(0.05)
        with pytest.raises(asyncpg.InterfaceError):  # translate(): UNAVAILABLE
            await hot.acquire()
        await hot.release(connection)  # a rotation still running at shutdown gives it back
        await closing
        unused = await _hot_pool(url)
        await unused.close()
        with pytest.raises(asyncpg.InterfaceError):  # closed before first use: never opens
            await unused.acquire()
        assert unused.sizes() == (0, 0)
    finally:
        await pg.drop_database(url)
