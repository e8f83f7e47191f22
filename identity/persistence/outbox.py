"""The mail outbox: rows written with their cause, claimed by one sender each, then erased."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.persistence.tables import mail_outbox
from identity.ports import OutboxEntry

_UNDELIVERED = (mail_outbox.c.sent_at.is_(None), mail_outbox.c.failed_at.is_(None))
_LISTED = (
    mail_outbox.c.id,
    mail_outbox.c.kind,
    mail_outbox.c.recipient,
    mail_outbox.c.created_at,
    mail_outbox.c.tries,
    mail_outbox.c.next_attempt_at,
    mail_outbox.c.last_error,
    mail_outbox.c.failed_at,
)


def _entry(row: Any, with_body: bool) -> OutboxEntry:
    return OutboxEntry(
        mail_id=row.id,
        kind=row.kind,
        recipient=row.recipient,
        created_at=row.created_at,
        tries=row.tries,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        failed_at=row.failed_at,
        body_enc=row.body_enc if with_body else None,
    )


class SqlOutbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self, mail_id: str, kind: str, recipient: str, body_enc: bytes, now: datetime
    ) -> None:
        await self._conn.execute(
            insert(mail_outbox).values(
                id=mail_id,
                kind=kind,
                recipient=recipient,
                body_enc=body_enc,
                created_at=now,
                next_attempt_at=now,
                tries=0,
            )
        )

    async def claim(self, now: datetime, lease: timedelta, limit: int) -> Sequence[OutboxEntry]:
        # Every replica runs a sender. FOR UPDATE SKIP LOCKED (PostgreSQL) lets concurrent claims
        # pass over each other's rows instead of waiting or taking them twice; a row locked by a
        # claim that then commits is re-checked against next_attempt_at, now in the future, and
        # left out. Pushing next_attempt_at forward by the lease hides a claimed row until the
        # sender reports; if it dies first, the row is due again when the lease ends. SQLite
        # renders no FOR UPDATE: its BEGIN IMMEDIATE already serialises writers (one process).
        due = (
            select(mail_outbox.c.id)
            .where(*_UNDELIVERED, mail_outbox.c.next_attempt_at <= now)
            .order_by(mail_outbox.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = await self._conn.execute(
            update(mail_outbox)
            .where(mail_outbox.c.id.in_(due.scalar_subquery()))
            .values(next_attempt_at=now + lease, tries=mail_outbox.c.tries + 1)
            .returning(*_LISTED, mail_outbox.c.body_enc)
        )
        return [_entry(row, with_body=True) for row in rows]

    async def sent(self, mail_id: str, now: datetime) -> None:
        await self._conn.execute(
            update(mail_outbox)
            .where(mail_outbox.c.id == mail_id)
            .values(sent_at=now, body_enc=None, last_error=None)
        )

    async def retry(self, mail_id: str, at: datetime, error: str) -> None:
        await self._conn.execute(
            update(mail_outbox)
            .where(mail_outbox.c.id == mail_id)
            .values(next_attempt_at=at, last_error=error[:256])
        )

    async def give_up(self, mail_id: str, now: datetime, error: str) -> None:
        # The body goes too: its link has no use once nobody will deliver it.
        await self._conn.execute(
            update(mail_outbox)
            .where(mail_outbox.c.id == mail_id)
            .values(failed_at=now, body_enc=None, last_error=error[:256])
        )

    async def pending(self) -> int:
        query = select(func.count()).select_from(mail_outbox).where(*_UNDELIVERED)
        return int((await self._conn.execute(query)).scalar_one())

    async def undelivered(self, limit: int) -> Sequence[OutboxEntry]:
        """Mails not delivered yet or given up on, newest first; never their bodies."""
        rows = await self._conn.execute(
            select(*_LISTED)
            .where(mail_outbox.c.sent_at.is_(None))
            .order_by(mail_outbox.c.created_at.desc())
            .limit(limit)
        )
        return [_entry(row, with_body=False) for row in rows]
