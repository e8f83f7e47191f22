"""Revocation state in memory (the hot path never queries the database) and its event log.

Every revocation is written to the revocation_events table in the same transaction as the change
itself; after commit it is applied here at once, and a poller reads the table every second so
revocations made by other replicas arrive too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from identity import metrics
from identity.domain.clock import Clock
from identity.ports import RevocationEvent, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

POLL_OVERLAP = timedelta(seconds=10)


class RevocationCache:
    """Implements token_rules.RevocationView from events; forgets each once it can no longer
    matter (every access token it affects has expired)."""

    def __init__(self) -> None:
        self._sessions: dict[str, datetime] = {}
        self._users: dict[str, tuple[int, datetime]] = {}
        self._jtis: dict[str, datetime] = {}
        self.cursor = 0
        # Cursors applied recently: the poller re-reads an overlap, and listeners must see each
        # event once.
        self._seen: dict[int, datetime] = {}
        self._listeners: set[asyncio.Queue[RevocationEvent]] = set()

    def apply(self, events: Iterable[RevocationEvent]) -> None:
        for event in events:
            if event.cursor in self._seen:
                continue
            self._seen[event.cursor] = event.at
            if event.kind == "session" and event.session_id:
                self._sessions[event.session_id] = event.forget_after
            elif event.kind == "user" and event.user_id and event.not_before is not None:
                not_before = int(event.not_before.timestamp())
                old = self._users.get(event.user_id)
                if old is None or old[0] < not_before:
                    self._users[event.user_id] = (not_before, event.forget_after)
            elif event.kind == "access_token" and event.jti:
                self._jtis[event.jti] = event.forget_after
            if event.cursor > self.cursor:
                self.cursor = event.cursor
            for queue in self._listeners:
                queue.put_nowait(event)

    def prune(self, now: datetime) -> None:
        self._sessions = {k: v for k, v in self._sessions.items() if v > now}
        self._users = {k: v for k, v in self._users.items() if v[1] > now}
        self._jtis = {k: v for k, v in self._jtis.items() if v > now}
        horizon = now - 2 * POLL_OVERLAP
        self._seen = {k: v for k, v in self._seen.items() if v > horizon}

    def session_revoked(self, sid: str) -> bool:
        return sid in self._sessions

    def user_not_before(self, sub: str) -> int | None:
        entry = self._users.get(sub)
        return None if entry is None else entry[0]

    def jti_denied(self, jti: str) -> bool:
        return jti in self._jtis

    def subscribe(self) -> asyncio.Queue[RevocationEvent]:
        queue: asyncio.Queue[RevocationEvent] = asyncio.Queue(maxsize=10000)
        self._listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[RevocationEvent]) -> None:
        self._listeners.discard(queue)


class Revoker:
    """Writes revocations (session, user, jti) with their events, and publishes them after commit."""

    def __init__(self, uow: UnitOfWorkFactory, cache: RevocationCache, clock: Clock, token_lifetime: timedelta) -> None:
        self._uow = uow
        self.cache = cache
        self._clock = clock
        # After this long every access token minted before the revocation has expired.
        self._forget = token_lifetime

    async def revoke_session(self, uow: UnitOfWork, session_id: str, user_id: str, reason: str, now: datetime) -> RevocationEvent | None:
        if not await uow.sessions.revoke(session_id, reason, now):
            return None
        event = await self._append(
            uow, RevocationEvent(0, "session", now, now + self._forget, session_id=session_id, user_id=user_id, reason=reason)
        )
        metrics.REVOCATIONS.labels("session", reason).inc()
        return event

    async def revoke_user(
        self, uow: UnitOfWork, user_id: str, reason: str, now: datetime, keep_session: str | None = None
    ) -> list[RevocationEvent]:
        """End every session of the user (but `keep_session`) and refuse older access tokens."""
        events = []
        for sid in await uow.sessions.revoke_user(user_id, reason, now, keep=keep_session):
            events.append(
                await self._append(
                    uow, RevocationEvent(0, "session", now, now + self._forget, session_id=sid, user_id=user_id, reason=reason)
                )
            )
        await uow.users.set_not_before(user_id, now)
        user_event = await self._append(
            uow, RevocationEvent(0, "user", now, now + self._forget, user_id=user_id, not_before=now, reason=reason)
        )
        metrics.REVOCATIONS.labels("user", reason).inc()
        return [*events, user_event]

    async def deny_jti(self, uow: UnitOfWork, jti: str, reason: str, now: datetime) -> RevocationEvent:
        event = await self._append(
            uow, RevocationEvent(0, "access_token", now, now + self._forget, jti=jti, reason=reason)
        )
        metrics.REVOCATIONS.labels("access_token", reason).inc()
        return event

    @staticmethod
    async def _append(uow: UnitOfWork, event: RevocationEvent) -> RevocationEvent:
        return replace(event, cursor=await uow.revocations.append(event))

    def publish(self, events: Iterable[RevocationEvent | None]) -> None:
        """Apply committed events here at once; the poller brings them to other replicas."""
        self.cache.apply(e for e in events if e is not None)

    async def load(self) -> None:
        await self.poll(initial=True)

    async def poll(self, initial: bool = False) -> None:
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
        while True:
            await asyncio.sleep(interval)
            try:
                await self.poll()
            except Exception:
                log.exception("revocation poll failed; keeping the state we have")
