"""WatchRevocations: the revocation event log after a cursor, then live events, for other services.

Live events come from this replica's RevocationCache (a Subscription); an idle stream gets a
heartbeat every interval so a client can tell a quiet stream from a dead one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from identity.domain.clock import Clock
from identity.ports import RevocationEvent, UnitOfWorkFactory
from identity.services.revocation_cache import RevocationCache, Subscription

HEARTBEAT = "heartbeat"
REPLAY_PAGE = 1000


class RevocationStream:
    """WatchRevocations: the logged events after a cursor, then live ones, each exactly once and
    in cursor order, so a client resuming after the highest cursor it saw misses nothing.

    The subscription is taken *before* the log is read, so an event committed during the replay
    is in the log, in the subscription, or both (then skipped: its cursor is not above `last`).
    Cursors become visible in order (RevocationLog.append), so a live event right after `last`
    is sent as is; after a hole (a rolled-back id, or two local commits published out of order)
    the log is read again from `last` to fill it.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cache: RevocationCache,
        clock: Clock,
        heartbeat: timedelta,
        queue_limit: int = 10_000,
    ) -> None:
        self._uow = uow
        self._cache = cache
        self._clock = clock
        self._heartbeat = heartbeat.total_seconds()
        self._queue_limit = queue_limit  # live events a slow client may fall behind by

    async def watch(self, after_cursor: int) -> AsyncIterator[RevocationEvent]:
        """Yields events and, when idle for the heartbeat interval, heartbeats (cursor 0).
        Ends when the server shuts down; the caller resumes from the last cursor it saw."""
        last = max(0, after_cursor)
        subscription = self._cache.subscribe(self._queue_limit)
        replay = True
        try:
            while True:
                if replay:
                    async for event in self._replay(last):
                        last = event.cursor
                        yield event
                    replay = False
                live = await self._next_live(subscription, last)
                if subscription.overflowed:  # fell behind and was dropped: subscribe, re-read
                    self._cache.unsubscribe(subscription)
                    subscription = self._cache.subscribe(self._queue_limit)
                    replay = True
                elif subscription.closed:
                    return
                elif live is None:
                    now = self._clock.now()
                    yield RevocationEvent(0, HEARTBEAT, now, now)
                elif live.cursor == last + 1:
                    last = live.cursor
                    yield live
                else:
                    replay = True  # a hole before `live`: the log fills it, in order
        finally:
            self._cache.unsubscribe(subscription)

    async def _next_live(self, subscription: Subscription, last: int) -> RevocationEvent | None:
        """The next event above `last` (None: heartbeat due, overflowed or closed)."""
        while not (subscription.overflowed or subscription.closed):
            live = await subscription.get(self._heartbeat)
            if live is None or live.cursor > last:
                return live
        return None

    async def _replay(self, after: int) -> AsyncIterator[RevocationEvent]:
        cursor = after
        while True:
            async with self._uow() as uow:
                page = await uow.revocations.since(cursor, None, self._clock.now(), REPLAY_PAGE)
            for event in page:
                cursor = event.cursor
                yield event
            if len(page) < REPLAY_PAGE:
                return
