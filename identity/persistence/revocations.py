"""The revocation log: events appended in cursor order, read from a cursor by every replica."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.persistence.notify import REVOCATION_CHANNEL
from identity.persistence.tables import revocation_events
from identity.ports import RevocationEvent

REVOCATION_LOCK = 0x1D3_7E18  # advisory lock id serialising revocation appends (PostgreSQL)


class SqlRevocations:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def append(self, event: RevocationEvent) -> int:
        """Write the event; returns its cursor.

        Cursors become visible in cursor order, so a reader that has seen cursor N has seen
        every event below N that will ever exist, and resuming "after N" misses nothing.
        PostgreSQL assigns ids at insert but shows them at commit, so appends take a transaction
        advisory lock first (released at commit); SQLite's BEGIN IMMEDIATE already serialises
        writers. Callers make no row updates after their first append, so the lock is always
        taken last and cannot deadlock with row locks."""
        if self._conn.dialect.name == "postgresql":
            await self._conn.execute(select(func.pg_advisory_xact_lock(REVOCATION_LOCK)))
        # RETURNING: the id the database assigned is the cursor, known without a second read.
        result = await self._conn.execute(
            insert(revocation_events)
            .values(
                at=event.at,
                kind=event.kind,
                session_id=event.session_id,
                user_id=event.user_id,
                jti=event.jti,
                not_before=event.not_before,
                forget_after=event.forget_after,
                reason=event.reason,
            )
            .returning(revocation_events.c.id)
        )
        cursor = int(result.scalar_one())
        if self._conn.dialect.name == "postgresql":
            # Delivered to every listening replica when (and only if) this transaction commits.
            await self._conn.execute(select(func.pg_notify(REVOCATION_CHANNEL, str(cursor))))
        return cursor

    async def since(
        self, cursor: int, recent_after: datetime | None, now: datetime, limit: int
    ) -> Sequence[RevocationEvent]:
        condition = revocation_events.c.id > cursor
        if recent_after is not None:
            # Ids are assigned at insert but become visible at commit, possibly out of order;
            # re-reading the last few seconds catches a late commit below the cursor.
            condition = or_(condition, revocation_events.c.at >= recent_after)
        rows = await self._conn.execute(
            select(revocation_events)
            .where(condition, revocation_events.c.forget_after > now)
            .order_by(revocation_events.c.id)
            .limit(limit)
        )
        return [
            RevocationEvent(
                cursor=r.id,
                kind=r.kind,
                at=r.at,
                forget_after=r.forget_after,
                session_id=r.session_id,
                user_id=r.user_id,
                jti=r.jti,
                not_before=r.not_before,
                reason=r.reason,
            )
            for r in rows
        ]
