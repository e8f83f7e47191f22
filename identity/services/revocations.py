"""Revocation state in memory (the hot path never queries the database) and its event log.

Every revocation is written to the revocation_events table in the same transaction as the change
itself; after commit it is applied here at once. Other replicas learn of it from PostgreSQL
NOTIFY (sent in that transaction; see identity.persistence.notify), which wakes their poller at
once; the poller also reads the table every second anyway, the fallback while LISTEN is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from identity import metrics
from identity.domain.clock import Clock
from identity.domain.revoked_set import RevokedSet
from identity.ports import RevocationEvent, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

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


class Revoker:
    """Writes revocations (session, user, jti) with their events; publishes them after commit."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cache: RevocationCache,
        clock: Clock,
        token_lifetime: timedelta,
    ) -> None:
        self._uow = uow
        self.cache = cache
        self._clock = clock
        # After this long every access token minted before the revocation has expired.
        self._forget = token_lifetime
        self._wake = asyncio.Event()
        self._poll_lock = asyncio.Lock()

    async def revoke_session(
        self, uow: UnitOfWork, session_id: str, user_id: str, reason: str, now: datetime
    ) -> RevocationEvent | None:
        if not await uow.sessions.revoke(session_id, reason, now):
            return None
        event = await self._append(
            uow,
            RevocationEvent(
                0,
                "session",
                now,
                now + self._forget,
                session_id=session_id,
                user_id=user_id,
                reason=reason,
            ),
        )
        metrics.REVOCATIONS.labels("session", reason).inc()
        return event

    async def revoke_user(
        self,
        uow: UnitOfWork,
        user_id: str,
        reason: str,
        now: datetime,
        keep_session: str | None = None,
    ) -> list[RevocationEvent]:
        """End every session of the user (but `keep_session`) and refuse older access tokens."""
        events = []
        ended = await uow.sessions.revoke_user(user_id, reason, now, keep=keep_session)
        # Row updates before the first append (see RevocationLog.append: the log lock comes last).
        await uow.users.set_not_before(user_id, now)
        for sid in ended:
            events.append(
                await self._append(
                    uow,
                    RevocationEvent(
                        0,
                        "session",
                        now,
                        now + self._forget,
                        session_id=sid,
                        user_id=user_id,
                        reason=reason,
                    ),
                )
            )
        user_event = await self._append(
            uow,
            RevocationEvent(
                0, "user", now, now + self._forget, user_id=user_id, not_before=now, reason=reason
            ),
        )
        metrics.REVOCATIONS.labels("user", reason).inc()
        return [*events, user_event]

    async def deny_jti(
        self, uow: UnitOfWork, jti: str, reason: str, now: datetime
    ) -> RevocationEvent:
        event = await self._append(
            uow, RevocationEvent(0, "access_token", now, now + self._forget, jti=jti, reason=reason)
        )
        metrics.REVOCATIONS.labels("access_token", reason).inc()
        return event

    @staticmethod
    async def _append(uow: UnitOfWork, event: RevocationEvent) -> RevocationEvent:
        return replace(event, cursor=await uow.revocations.append(event))

    def publish(self, events: Iterable[RevocationEvent | None]) -> None:
        """Apply committed events here now; NOTIFY and the poller take them to other replicas.
        Every revocation passes here once its transaction has committed, so this is where each
        is logged (ids and reason only)."""
        committed = [e for e in events if e is not None]
        for event in committed:
            ids = {"sid": event.session_id, "user_id": event.user_id, "jti": event.jti}
            # Only the ids this kind of event has: a session, a user or a jti.
            extra = {k: v for k, v in ids.items() if v is not None}
            log.info(f"revoked: {event.kind}", extra={**extra, "reason": event.reason})
        self.cache.apply(committed)

    def notified(self, payload: str) -> None:
        """A NOTIFY arrived (payload: the event's cursor): poll now unless we applied it already."""
        try:
            if self.cache.applied(int(payload)):
                return
        except ValueError:
            pass
        self._wake.set()

    async def load(self) -> None:
        await self.poll(initial=True)

    async def poll(self, initial: bool = False) -> None:
        async with self._poll_lock:
            now = self._clock.now()
            recent = None if initial else now - POLL_OVERLAP
            while True:
                async with self._uow() as uow:
                    batch = await uow.revocations.since(self.cache.cursor, recent, now, 5000)
                self.cache.apply(batch)
                if len(batch) < 5000:
                    break
                recent = None
            self.cache.prune(now)

    async def run_poller(self, interval: float = 1.0) -> None:
        """Poll every `interval` seconds, and at once when notified."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            try:
                await self.poll()
            except Exception:
                log.exception("revocation poll failed; keeping the state we have")
