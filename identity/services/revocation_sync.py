"""Following the revocations other replicas commit, from the event log into this replica's memory.

A PostgreSQL NOTIFY (identity.persistence.notify) wakes the poll at once; the poll also reads the
log every second anyway, the fallback while LISTEN is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from identity.domain.clock import Clock
from identity.ports import UnitOfWorkFactory
from identity.services.revocation_cache import POLL_OVERLAP, RevocationCache

log = logging.getLogger(__name__)

POLL_PAGE = 5000  # events read per query; a poll reads pages until one is short


class RevocationSync:
    """Applies the event log to this replica's RevocationCache: all of it at start (`load`), then
    what is new (`poll`), when notified and every `interval` seconds (`run_poller`)."""

    def __init__(self, uow: UnitOfWorkFactory, cache: RevocationCache, clock: Clock) -> None:
        self._uow = uow
        self._cache = cache
        self._clock = clock
        self._wake = asyncio.Event()
        self._poll_lock = asyncio.Lock()

    def notified(self, payload: str) -> None:
        """A NOTIFY arrived (payload: the event's cursor): poll now unless we applied it already."""
        try:
            if self._cache.applied(int(payload)):
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
                    batch = await uow.revocations.since(self._cache.cursor, recent, now, POLL_PAGE)
                self._cache.apply(batch)
                if len(batch) < POLL_PAGE:
                    break
                recent = None
            self._cache.prune(now)

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
