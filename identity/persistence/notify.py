"""PostgreSQL LISTEN/NOTIFY for revocations: one dedicated asyncpg connection per replica.

The Revoker sends `pg_notify(REVOCATION_CHANNEL, cursor)` in the transaction that writes the
event, so PostgreSQL delivers it at commit, to every replica listening. Notifications are not
stored: one sent while a listener is disconnected is lost. So after every (re)connect, once
LISTEN is in place, `on_connect` re-reads the event log from the cursor; nothing committed before
LISTEN is missed, and anything after it is notified.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

REVOCATION_CHANNEL = "identity_revocations"
PROBE_INTERVAL = 5.0  # seconds between liveness probes of an idle listener connection
RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


def asyncpg_dsn(database_url: str) -> str:
    """`postgresql+asyncpg://…` (SQLAlchemy) as the `postgresql://…` DSN asyncpg takes."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PgNotifications:
    """Follows one NOTIFY channel, reconnecting with backoff; `connected` says whether it is now."""

    def __init__(
        self,
        database_url: str,
        channel: str,
        on_notify: Callable[[str], None],
        on_connect: Callable[[], Awaitable[None]],
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._channel = channel
        self._on_notify = on_notify
        self._on_connect = on_connect
        self.connected = asyncio.Event()
        self.backend_pid: int | None = None  # for tests and diagnostics

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen_once()
                failures = 0
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("revocation LISTEN connection lost; the poller covers until it is back")
            except Exception:
                log.exception("revocation LISTEN failed")
            delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
            failures += 1
            await asyncio.sleep(delay)

    async def _listen_once(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(self._dsn, timeout=5)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(self._channel, self._deliver)
            self.backend_pid = conn.get_server_pid()
            # LISTEN is active: catch up on what was committed while we were not listening.
            await self._on_connect()
            self.connected.set()
            log.info("revocation LISTEN connected")
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), PROBE_INTERVAL)
                except TimeoutError:
                    # An idle socket may be dead without anyone noticing; a probe finds out.
                    await conn.fetchval("SELECT 1", timeout=5)
        finally:
            self.connected.clear()
            self.backend_pid = None
            if not conn.is_closed():
                conn.terminate()

    def _deliver(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        self._on_notify(str(payload))
