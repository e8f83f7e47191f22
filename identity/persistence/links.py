"""Mailed link tokens: stored by digest, voided by newer ones, consumed once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.domain.links import LinkPurpose, LinkRecord, NewLink
from identity.persistence.tables import link_tokens


def _live(digest: bytes, purpose: LinkPurpose, now: datetime) -> ColumnElement[bool]:
    return and_(
        link_tokens.c.digest == digest,
        link_tokens.c.purpose == purpose.value,
        link_tokens.c.used_at.is_(None),
        link_tokens.c.voided_at.is_(None),
        link_tokens.c.expires_at > now,
    )


class SqlLinks:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, link: NewLink, user_id: str, email: str, now: datetime) -> None:
        await self.void(user_id, link.purpose, now)
        await self._conn.execute(
            insert(link_tokens).values(
                digest=link.digest,
                purpose=link.purpose.value,
                user_id=user_id,
                email=email,
                created_at=now,
                expires_at=link.expires_at,
            )
        )

    async def void(self, user_id: str, purpose: LinkPurpose, now: datetime) -> None:
        await self._conn.execute(
            update(link_tokens)
            .where(
                link_tokens.c.user_id == user_id,
                link_tokens.c.purpose == purpose.value,
                link_tokens.c.used_at.is_(None),
                link_tokens.c.voided_at.is_(None),
            )
            .values(voided_at=now)
        )

    async def find(self, digest: bytes, purpose: LinkPurpose, now: datetime) -> LinkRecord | None:
        row = (
            await self._conn.execute(
                select(link_tokens.c.user_id, link_tokens.c.email).where(
                    _live(digest, purpose, now)
                )
            )
        ).first()
        return None if row is None else LinkRecord(row.user_id, row.email)

    async def consume(
        self, digest: bytes, purpose: LinkPurpose, now: datetime
    ) -> LinkRecord | None:
        # "Mark used where live, RETURNING": two presentations of one token can never both win
        # (the row lock orders them; the second re-checks used_at IS NULL and matches nothing).
        row = (
            await self._conn.execute(
                update(link_tokens)
                .where(_live(digest, purpose, now))
                .values(used_at=now)
                .returning(link_tokens.c.user_id, link_tokens.c.email)
            )
        ).first()
        return None if row is None else LinkRecord(row.user_id, row.email)
