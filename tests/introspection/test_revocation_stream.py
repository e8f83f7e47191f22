"""RevocationStream at the moments that matter, made to happen on purpose: an event committed
between subscribing and reading the log, one committed after the read, live events published
out of cursor order, and a subscriber that fell behind. Each is delivered once, in order."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from identity.services.revocation_cache import RevocationCache
from identity.services.revocation_stream import HEARTBEAT, RevocationStream

BEAT = timedelta(seconds=0.2)


@pytest.fixture(scope="module")
async def app(start_shared_identity):
    return (await start_shared_identity("sqlite")).app


class AroundUnitsOfWork:
    """The app's unit-of-work factory, running `before` once just before a unit of work opens
    and `after` once just after it closed (never inside one: SQLite has one writer)."""

    def __init__(self, factory):
        self.factory = factory
        self.before = None
        self.after = None

    def __call__(self):
        return _Hooked(self, self.factory())


class _Hooked:
    def __init__(self, hooks, real):
        self.hooks, self.real = hooks, real

    async def __aenter__(self):
        hook, self.hooks.before = self.hooks.before, None
        if hook:
            await hook()
        return await self.real.__aenter__()

    async def __aexit__(self, *exc):
        await self.real.__aexit__(*exc)
        hook, self.hooks.after = self.hooks.after, None
        if hook:
            await hook()


async def commit(app, *jtis):
    """Write deny-jti events to the log (not published anywhere); returns them."""
    async with app.uow() as uow:
        events = [await app.revoker.deny_jti(uow, jti, "test", app.clock.now()) for jti in jtis]
        await uow.commit()
    return events


async def newest_cursor(app) -> int:
    async with app.uow() as uow:
        events = await uow.revocations.since(0, None, app.clock.now(), 100_000)
    return events[-1].cursor if events else 0


async def take(stream, count: int) -> list:
    return [await asyncio.wait_for(anext(stream), 5) for _ in range(count)]


def names(items) -> list[str]:
    return [HEARTBEAT if e.kind == HEARTBEAT else e.jti for e in items]


async def test_event_committed_after_subscribing_and_before_the_read_comes_once(app):
    cache, hooks = RevocationCache(), AroundUnitsOfWork(app.uow)
    feed = RevocationStream(hooks, cache, app.clock, BEAT)
    stream = feed.watch(await newest_cursor(app))

    async def commit_and_publish():  # in the log *and* in the subscription
        cache.apply(await commit(app, "both"))

    hooks.before = commit_and_publish
    assert names(await take(stream, 3)) == ["both", HEARTBEAT, HEARTBEAT]
    await stream.aclose()


async def test_event_committed_after_the_read_and_before_going_live_is_not_lost(app):
    cache, hooks = RevocationCache(), AroundUnitsOfWork(app.uow)
    feed = RevocationStream(hooks, cache, app.clock, BEAT)
    stream = feed.watch(await newest_cursor(app))

    async def commit_and_publish():  # too late for the read: only the subscription has it
        cache.apply(await commit(app, "late"))

    hooks.after = commit_and_publish
    assert names(await take(stream, 2)) == ["late", HEARTBEAT]
    await stream.aclose()


async def test_live_events_published_out_of_order_arrive_in_cursor_order(app):
    cache = RevocationCache()
    stream = RevocationStream(app.uow, cache, app.clock, BEAT).watch(await newest_cursor(app))
    assert names(await take(stream, 1)) == [HEARTBEAT]  # live now

    first, second = await commit(app, "first", "second")
    cache.apply([second])  # two local commits whose publishes raced
    cache.apply([first])

    items = await take(stream, 3)
    assert names(items) == ["first", "second", HEARTBEAT]
    assert [e.cursor for e in items[:2]] == [first.cursor, second.cursor]
    await stream.aclose()


async def test_a_subscriber_that_fell_behind_rereads_the_log_and_misses_nothing(app):
    cache = RevocationCache()
    feed = RevocationStream(app.uow, cache, app.clock, BEAT, queue_limit=2)
    stream = feed.watch(await newest_cursor(app))
    assert names(await take(stream, 1)) == [HEARTBEAT]

    jtis = [f"behind-{i}" for i in range(6)]
    cache.apply(await commit(app, *jtis))  # six events into a queue of two

    assert names(await take(stream, 7)) == [*jtis, HEARTBEAT]
    await stream.aclose()


async def test_shutdown_ends_the_stream(app):
    cache = RevocationCache()
    stream = RevocationStream(app.uow, cache, app.clock, timedelta(seconds=30)).watch(
        await newest_cursor(app)
    )
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    cache.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 5)
