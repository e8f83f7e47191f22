"""Pooled PostgreSQL connections the server closed are replaced before a call uses them, without
a ping round trip on every checkout (identity/persistence/database.py)."""

from __future__ import annotations

import asyncio

import asyncpg

from identity.persistence.database import PING_IF_IDLE_FOR_S
from identity.v1 import identity_pb2 as pb
from tests.helpers import login, register_and_login


async def test_connections_whose_backend_was_terminated_are_replaced_unseen(
    start_identity, pg, unique_email
):
    s = await start_identity("postgres")
    email = unique_email()
    first = await register_and_login(s, email)
    # A few calls at once, so the pool holds several connections.
    await asyncio.gather(*(login(s, email) for _ in range(4)))
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
