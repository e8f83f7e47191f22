"""RevocationSync with no NOTIFY at all: its timed poll alone brings a revocation committed
elsewhere into this replica's memory within about a second, the fallback while LISTEN is down."""

from __future__ import annotations

import asyncio
import time

import pytest

from identity.services.revocation_cache import RevocationCache
from identity.services.revocation_sync import RevocationSync

pytestmark = pytest.mark.postgres


async def test_the_timed_poll_alone_brings_in_a_revocation_committed_elsewhere(start_identity):
    app = (await start_identity("postgres")).app
    cache = RevocationCache()  # a replica whose LISTEN is down: `notified` is never called
    sync = RevocationSync(app.uow, cache, app.clock)
    await sync.load()
    poller = asyncio.create_task(sync.run_poller())
    try:
        async with app.uow() as uow:  # committed, not published to this cache
            event = await app.revoker.deny_jti(uow, "elsewhere", "test", app.clock.now())
            await uow.commit()
        committed = time.monotonic()
        while not cache.jti_denied("elsewhere"):
            assert time.monotonic() - committed < 2.5, "the poll did not bring the revocation in"
            await asyncio.sleep(0.02)
        assert cache.cursor == event.cursor
    finally:
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
