"""WatchRevocations: the events after a cursor exactly once, in order, then live ones and
heartbeats; resumable from a cursor across a restart (IR-11)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from identity.app import IdentityApp
from identity.v1 import identity_pb2 as pb
from tests.conftest import BACKENDS, Running, make_channel, settings_for
from tests.introspection.support import Watch, code_of, revoke_jti

HEARTBEAT = timedelta(seconds=0.25)


@pytest.fixture(scope="module", params=BACKENDS)
async def s(request, start_shared_identity):
    return await start_shared_identity(request.param, revocation_heartbeat=HEARTBEAT)


def new_jti() -> str:
    return "jti-" + os.urandom(8).hex()


async def everything(s: Running) -> list:
    watch = Watch(s, 0)
    try:
        return await watch.events_until_heartbeat()
    finally:
        watch.cancel()


async def test_replays_after_the_cursor_exactly_once_then_goes_live(s):
    jtis = [new_jti() for _ in range(5)]
    for jti in jtis:
        await revoke_jti(s, jti)
    log = await everything(s)
    cursors = [e.cursor for e in log]
    assert cursors == sorted(set(cursors)) and cursors[0] > 0
    mine = [e for e in log if e.jti in jtis]
    assert [e.jti for e in mine] == jtis and all(e.kind == "access_token" for e in mine)

    after = mine[1].cursor
    watch = Watch(s, after)
    try:
        replayed = await watch.events_until_heartbeat()
        assert [e.cursor for e in replayed] == [c for c in cursors if c > after]

        live_jti = new_jti()
        await revoke_jti(s, live_jti)
        live = await watch.next_event()
        assert live.jti == live_jti and live.cursor > cursors[-1]
        assert await watch.events_until_heartbeat() == []  # and not again
    finally:
        watch.cancel()


async def test_every_event_carries_its_forget_after_time(s):
    await revoke_jti(s, new_jti())
    for event in await everything(s):
        assert event.HasField("forget_after") and event.HasField("revoked_at")
        lifetime = event.forget_after.ToDatetime() - event.revoked_at.ToDatetime()
        assert lifetime == s.app.settings.access_token_ttl + s.app.settings.leeway


async def test_events_committed_during_the_replay_are_neither_lost_nor_repeated(s):
    for _ in range(20):  # a log long enough that the replay takes a moment
        await revoke_jti(s, new_jti())
    jtis = [[new_jti() for _ in range(10)] for _ in range(4)]

    async def worker(batch: list[str]) -> None:
        for jti in batch:
            await revoke_jti(s, jti)

    writers = asyncio.gather(*(worker(batch) for batch in jtis))
    watch = Watch(s, 0)
    try:
        expected = {jti for batch in jtis for jti in batch}
        seen: list = []
        deadline = time.monotonic() + 20
        while not expected <= {e.jti for e in seen}:
            assert time.monotonic() < deadline, "events went missing"
            seen.append(await watch.next_event())
        await writers
        seen.extend(await watch.events_until_heartbeat())
    finally:
        watch.cancel()
    cursors = [e.cursor for e in seen]
    assert cursors == sorted(set(cursors)), "each event once, in cursor order"


async def test_an_idle_stream_sends_heartbeats(s):
    log = await everything(s)
    last = log[-1].cursor if log else 0
    watch = Watch(s, last)
    try:
        started = time.monotonic()
        beats = [await watch.next(2) for _ in range(3)]
        elapsed = time.monotonic() - started
    finally:
        watch.cancel()
    assert all(b.kind == "heartbeat" and b.cursor == 0 for b in beats)
    assert 2.5 * HEARTBEAT.total_seconds() <= elapsed < 3 * HEARTBEAT.total_seconds() + 1


async def test_watch_needs_a_service_or_admin_credential(s):
    request = pb.WatchRevocationsRequest()
    assert await code_of(s.stub.WatchRevocations(request).read()) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    edge = s.stub.WatchRevocations(request, metadata=s.md("edge"))
    assert await code_of(edge.read()) == grpc.StatusCode.PERMISSION_DENIED
    for role in ("service", "admin"):
        watch = Watch(s, 0, role=role)
        assert (await watch.next()).cursor >= 0
        watch.cancel()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_stream_resumes_from_its_cursor_after_a_restart(backend, pg):
    if backend == "postgres":
        url = await pg.create_database()
    else:
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'restart.db'}"
    first = await _start(url)
    credentials = {
        r: await first.create_credential(r, f"restart-{r}") for r in ("service", "admin")
    }
    s1 = _running(first, credentials)
    try:
        before = [new_jti() for _ in range(3)]
        for jti in before:
            await revoke_jti(s1, jti)
        watch = Watch(s1, 0)
        seen = await watch.events_until_heartbeat()
        assert [e.jti for e in seen] == before
        last = seen[-1].cursor

        await first.stop(grace=0.5)
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await watch.next()
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE  # "resume from your cursor"
        await s1.channel.close()

        second = await _start(url)
        s2 = _running(second, credentials)
        try:
            while_away = [new_jti() for _ in range(2)]
            for jti in while_away:
                await revoke_jti(s2, jti)
            resumed = Watch(s2, last)
            assert [e.jti for e in await resumed.events_until_heartbeat()] == while_away
            live = new_jti()
            await revoke_jti(s2, live)
            assert (await resumed.next_event()).jti == live
            resumed.cancel()
        finally:
            await s2.channel.close()
            await second.stop(grace=0.5)
    finally:
        if backend == "postgres":
            await pg.drop_database(url)


async def _start(url: str) -> IdentityApp:
    app = IdentityApp(settings_for(url, revocation_heartbeat=HEARTBEAT))
    await app.start()
    return app


def _running(app: IdentityApp, credentials: dict[str, str]) -> Running:
    target = f"127.0.0.1:{app.port}"
    return Running(app, target, credentials, make_channel(target), "restart")
