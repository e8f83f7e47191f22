"""Login failure streaks and blocks, shared by every replica through the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.persistence.tables import login_throttle
from identity.ports import ThrottleState

# Read before every login attempt: prebuilt, the key list bound as an expanding IN.
_THROTTLE_STATE = select(login_throttle.c.key, login_throttle.c.blocked_until).where(
    login_throttle.c.key.in_(bindparam("keys", expanding=True))
)


class SqlThrottle:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def state(self, keys: Sequence[str]) -> ThrottleState:
        rows = (await self._conn.execute(_THROTTLE_STATE, {"keys": list(keys)})).all()
        blocks = [row.blocked_until for row in rows if row.blocked_until is not None]
        return ThrottleState(
            blocked_until=max(blocks, default=None), failing=frozenset(row.key for row in rows)
        )

    async def record_failure(self, key: str, now: datetime, reset_before: datetime) -> int:
        """Count one failure; a streak whose last failure is older than reset_before restarts."""
        dialect_insert = (
            postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        )
        # One upsert rather than read-then-write: concurrent failures on one key each add one
        # (the row lock orders them), and none is lost between a SELECT and an UPDATE. RETURNING
        # gives the count this failure made, which decides the block, in the same round trip.
        upsert = dialect_insert(login_throttle).values(key=key, failures=1, last_failure_at=now)
        stmt = upsert.on_conflict_do_update(
            index_elements=[login_throttle.c.key],
            set_={
                # CASE, not a separate reset: a stale streak restarts at 1 in the same statement.
                "failures": case(
                    (login_throttle.c.last_failure_at < reset_before, 1),
                    else_=login_throttle.c.failures + 1,
                ),
                "last_failure_at": now,
            },
        ).returning(login_throttle.c.failures)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def block(self, key: str, until: datetime) -> None:
        await self._conn.execute(
            update(login_throttle).where(login_throttle.c.key == key).values(blocked_until=until)
        )

    async def clear(self, key: str) -> None:
        await self._conn.execute(delete(login_throttle).where(login_throttle.c.key == key))
