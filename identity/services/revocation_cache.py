"""This replica's revocation state in memory, and the subscriptions to its live events.

The hot path never queries the database: it asks this cache. Events reach it twice over: the
Revoker applies this replica's own after commit, and RevocationSync applies what it reads from the
log (other replicas' events, and an overlap it has seen before); `apply` takes each cursor once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import datetime, timedelta

from identity.domain.revoked_set import RevokedSet
from identity.ports import RevocationEvent

# How far back each RevocationSync poll re-reads the log (a later cursor can commit before an
# earlier one); the cache remembers applied cursors for twice as long so it applies each once.
POLL_OVERLAP = timedelta(seconds=10)


class RevocationCache(RevokedSet):
    """Implements token_rules.RevocationView from events; forgets each once it can no longer
    matter (every access token it affects has expired)."""

    def __init__(self) -> None:
        super().__init__()
        self.cursor = 0
        # Cursors applied recently: the poller re-reads an overlap, and listeners must see each
        # event once.
        self._seen: dict[int, datetime] = {}
        self._listeners: set[Subscription] = set()

    def apply(self, events: Iterable[RevocationEvent]) -> None:
        for event in events:
            if event.cursor in self._seen:
                continue
            self._seen[event.cursor] = event.at
            self.revoke(
                event.kind,
                event.forget_after.timestamp(),
                session_id=event.session_id or "",
                user_id=event.user_id or "",
                not_before=None if event.not_before is None else int(event.not_before.timestamp()),
                jti=event.jti or "",
            )
            if event.cursor > self.cursor:
                self.cursor = event.cursor
            for subscription in list(self._listeners):
                if not subscription.offer(event):
                    self._listeners.discard(subscription)  # it re-reads the log (see Subscription)

    def prune(self, now: datetime) -> None:
        self.forget_expired(now.timestamp())
        horizon = now - 2 * POLL_OVERLAP
        self._seen = {k: v for k, v in self._seen.items() if v > horizon}

    def applied(self, cursor: int) -> bool:
        """Whether this event was applied recently (a NOTIFY for it needs no poll)."""
        return cursor in self._seen

    def subscribe(self, maxsize: int = 10000) -> Subscription:
        subscription = Subscription(maxsize)
        self._listeners.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._listeners.discard(subscription)

    def close(self) -> None:
        """End every subscription (server shutdown)."""
        for subscription in self._listeners:
            subscription.close()
        self._listeners.clear()


class Subscription:
    """Events applied after subscribe(), in order, each once. A subscriber more than `maxsize`
    events behind is dropped rather than allowed to grow memory or block apply(): it sees
    `overflowed` and must re-read the log from its cursor."""

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[RevocationEvent | None] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.closed = False

    def offer(self, event: RevocationEvent) -> bool:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            return False
        return True

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)  # wakes a waiting get(); a full queue is read soon anyway

    async def get(self, timeout: float) -> RevocationEvent | None:
        """The next event, or None after `timeout` seconds without one (or once closed)."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
