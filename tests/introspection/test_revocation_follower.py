"""Issue 4: a Verifier following WatchRevocations refuses revoked tokens offline, knows its
staleness, fails closed (or introspects) when the feed is cut, and resumes from its cursor."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from datetime import timedelta

import pytest

from identity.app import IdentityApp
from identity.domain.clock import FixedClock
from identity.v1 import identity_pb2 as pb
from identity.verify import (
    GrpcJwksSource,
    Introspector,
    RevocationFollower,
    RevokedToken,
    StaleRevocations,
    Verifier,
)
from tests.conftest import PASSWORD, Running, make_channel, settings_for

HEARTBEAT = timedelta(seconds=0.2)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _start(url: str, port: int) -> Running:
    app = IdentityApp(
        settings_for(url, grpc_listen=f"127.0.0.1:{port}", revocation_heartbeat=HEARTBEAT)
    )
    await app.start()
    creds = {}
    for role in ("edge", "service"):
        creds[role] = await app.create_credential(role, f"feed-{role}-{os.urandom(3).hex()}")
    return Running(app, f"127.0.0.1:{port}", creds, make_channel(f"127.0.0.1:{port}"), "sqlite")


async def _login(s: Running) -> pb.TokenResponse:
    email = f"feed-{os.urandom(4).hex()}@example.com"
    await s.stub.Register(pb.RegisterRequest(email=email, password=PASSWORD), metadata=s.md())
    return await s.stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=s.md())


async def _stop(s: Running) -> None:
    await s.channel.close()
    await s.app.stop(grace=0.1)


async def test_a_following_verifier_refuses_revoked_sessions_offline_and_fails_closed_when_cut(
    tmp_path,
):
    url = f"sqlite+aiosqlite:///{tmp_path / 'feed.db'}"
    port = _port()
    a = await _start(url, port)
    service = a.credentials["service"]
    feed = RevocationFollower(a.target, credential=service)
    await feed.start()
    verifier = Verifier(
        issuer=a.app.settings.issuer,
        audience="api",
        jwks_source=GrpcJwksSource(a.target),
        revocations=feed,
        max_staleness=5.0,
    )
    try:
        kept, revoked_live, revoked_offline = await _login(a), await _login(a), await _login(a)
        for t in (kept, revoked_live, revoked_offline):
            await verifier.averify(t.access_token)
        assert verifier.staleness() is not None and verifier.staleness() < 1

        # Live revocation reaches the verifier well within a second.
        started = time.monotonic()
        await a.stub.Logout(
            pb.LogoutRequest(refresh_token=revoked_live.refresh_token), metadata=a.md()
        )
        while True:
            try:
                await verifier.averify(revoked_live.access_token)
            except RevokedToken:
                break
            assert time.monotonic() - started < 1.0, "revocation did not reach the verifier in 1 s"
            await asyncio.sleep(0.01)
        print(f"revocation freshness: {(time.monotonic() - started) * 1000:.0f} ms")

        # The feed is cut: after 5 s of silence every token is refused.
        await _stop(a)
        await verifier.averify(kept.access_token)  # still fresh enough
        await asyncio.sleep(5.2)
        assert verifier.staleness() > 5
        with pytest.raises(StaleRevocations):
            await verifier.averify(kept.access_token)
        with pytest.raises(StaleRevocations):
            verifier.verify(kept.access_token)

        # A revocation made while this verifier was cut off (through another instance) ...
        other = await _start(url, _port())
        await other.stub.Logout(
            pb.LogoutRequest(refresh_token=revoked_offline.refresh_token), metadata=other.md()
        )
        await _stop(other)
        # ... is replayed from the cursor when identity is back, and the feed recovers.
        a = await _start(url, port)
        deadline = time.monotonic() + 5
        while verifier.staleness() > 1:
            assert time.monotonic() < deadline, "the feed did not reconnect"
            await asyncio.sleep(0.05)
        await verifier.averify(kept.access_token)
        with pytest.raises(RevokedToken):
            await verifier.averify(revoked_offline.access_token)
    finally:
        await feed.close()
        await _stop(a)


async def test_a_stale_verifier_with_an_introspector_asks_identity_instead(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'fallback.db'}"
    s = await _start(url, _port())
    feed = RevocationFollower(s.target, credential=s.credentials["service"])  # never started: stale
    introspector = Introspector(s.target, credential=s.credentials["service"])
    verifier = Verifier(
        issuer=s.app.settings.issuer,
        audience="api",
        jwks_source=GrpcJwksSource(s.target),
        revocations=feed,
        max_staleness=5.0,
        introspector=introspector,
    )
    try:
        live, revoked = await _login(s), await _login(s)
        await s.stub.Logout(pb.LogoutRequest(refresh_token=revoked.refresh_token), metadata=s.md())
        await verifier.averify(live.access_token)
        with pytest.raises(RevokedToken):
            await verifier.averify(revoked.access_token)  # the feed never told it; Introspect did
    finally:
        await introspector.close()
        await _stop(s)


async def test_a_revocation_outlives_any_leeway_a_verifier_may_allow(tmp_path):
    """identity forgets a revocation once every token it covers has expired by identity's own
    leeway (30 s); a verifier may allow up to 60 s past `exp`. Its feed must not forget
    before then: at exp + 45 s a revoked token is still refused, not taken as unexpired."""
    clock = FixedClock()
    port = _port()
    url = f"sqlite+aiosqlite:///{tmp_path / 'leeway.db'}"
    app = IdentityApp(
        settings_for(url, grpc_listen=f"127.0.0.1:{port}", revocation_heartbeat=HEARTBEAT),
        clock=clock,
    )
    await app.start()
    target = f"127.0.0.1:{port}"
    creds = {r: await app.create_credential(r, f"leeway-{r}") for r in ("edge", "service")}
    s = Running(app, target, creds, make_channel(target), "sqlite")
    feed = RevocationFollower(target, credential=creds["service"], clock=clock)
    await feed.start()
    verifier = Verifier(
        issuer=app.settings.issuer,
        audience="api",
        jwks_source=GrpcJwksSource(target),
        revocations=feed,
        clock=clock,
        leeway=60,
    )
    try:
        revoked = await _login(s)
        await verifier.averify(revoked.access_token)
        cursor = feed.cursor
        await s.stub.Logout(pb.LogoutRequest(refresh_token=revoked.refresh_token), metadata=s.md())
        await _until_cursor_moves(feed, cursor)
        with pytest.raises(RevokedToken):
            await verifier.averify(revoked.access_token)

        clock.advance(600 + 45)  # exp + 45 s: inside this verifier's leeway of 60 s
        other = await _login(s)  # another revocation: the feed prunes when it applies one
        cursor = feed.cursor
        await s.stub.Logout(pb.LogoutRequest(refresh_token=other.refresh_token), metadata=s.md())
        await _until_cursor_moves(feed, cursor)
        with pytest.raises(RevokedToken):
            await verifier.averify(revoked.access_token)
    finally:
        await feed.close()
        await _stop(s)


async def _until_cursor_moves(feed: RevocationFollower, cursor: int) -> None:
    deadline = time.monotonic() + 5
    while feed.cursor <= cursor:
        assert time.monotonic() < deadline, "the feed never applied the revocation"
        await asyncio.sleep(0.01)
