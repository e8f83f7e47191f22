"""The second factor's rows: a user's TOTP factor, recovery codes and MFA tickets.

Every "use" is a conditional UPDATE whose condition is the lock (as a link token's consume):
of two concurrent uses of one code, step or ticket, the row lock orders them and the second
re-checks the condition and matches nothing, so exactly one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.domain.refresh import ClientInfo
from identity.domain.second_factor import TICKET_MAX_FAILURES, NewTicket, TicketRecord
from identity.persistence.tables import mfa_tickets, recovery_codes, second_factors
from identity.ports import FactorRecord


class SqlSecondFactors:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, user_id: str) -> FactorRecord | None:
        return await self._read(select(second_factors).where(second_factors.c.user_id == user_id))

    async def lock(self, user_id: str) -> FactorRecord | None:
        """PostgreSQL: SELECT … FOR UPDATE, held until the transaction ends, so the code checks
        of one user run one after another (each sees the failures the one before counted).
        SQLite renders no FOR UPDATE: its BEGIN IMMEDIATE already serialises writers."""
        return await self._read(
            select(second_factors).where(second_factors.c.user_id == user_id).with_for_update()
        )

    async def _read(self, query: Any) -> FactorRecord | None:
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return FactorRecord(
            user_id=row.user_id,
            secret_enc=row.secret_enc,
            created_at=row.created_at,
            confirmed_at=row.confirmed_at,
            last_used_step=row.last_used_step,
        )

    async def put_pending(self, user_id: str, secret_enc: bytes, now: datetime) -> None:
        """A new pending secret replaces a pending one; with a confirmed factor in place the
        INSERT meets the primary key and fails (AlreadyExists)."""
        await self._conn.execute(
            delete(second_factors).where(
                second_factors.c.user_id == user_id, second_factors.c.confirmed_at.is_(None)
            )
        )
        await self._conn.execute(
            insert(second_factors).values(user_id=user_id, secret_enc=secret_enc, created_at=now)
        )

    async def confirm(self, user_id: str, step: int, now: datetime) -> bool:
        """Activate the pending factor with the step of its first code; False if it is not
        pending any more (confirmed meanwhile, or replaced)."""
        result = await self._conn.execute(
            update(second_factors)
            .where(
                second_factors.c.user_id == user_id,
                second_factors.c.confirmed_at.is_(None),
                _before(step),
            )
            .values(confirmed_at=now, last_used_step=step)
            .returning(second_factors.c.user_id)
        )
        return result.first() is not None

    async def use_step(self, user_id: str, step: int) -> bool:
        """Record a code of `step` as used, if no code of this or a later step was: the one
        place that makes a TOTP code single use."""
        result = await self._conn.execute(
            update(second_factors)
            .where(
                second_factors.c.user_id == user_id,
                second_factors.c.confirmed_at.is_not(None),
                _before(step),
            )
            .values(last_used_step=step)
            .returning(second_factors.c.user_id)
        )
        return result.first() is not None

    async def delete(self, user_id: str) -> bool:
        """Remove the factor, pending or confirmed; True if a confirmed one was removed."""
        result = await self._conn.execute(
            delete(second_factors)
            .where(second_factors.c.user_id == user_id)
            .returning(second_factors.c.confirmed_at)
        )
        row = result.first()
        return row is not None and row.confirmed_at is not None


def _before(step: int) -> ColumnElement[bool]:
    return or_(second_factors.c.last_used_step.is_(None), second_factors.c.last_used_step < step)


class SqlRecoveryCodes:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def replace(self, user_id: str, digests: Sequence[bytes], now: datetime) -> None:
        await self.delete(user_id)
        await self._conn.execute(
            insert(recovery_codes),
            [{"digest": d, "user_id": user_id, "created_at": now} for d in digests],
        )

    async def use(self, user_id: str, digest: bytes, now: datetime) -> bool:
        """Mark the user's unused code of this digest used; False if there is none (any more)."""
        result = await self._conn.execute(
            update(recovery_codes)
            .where(
                recovery_codes.c.digest == digest,
                recovery_codes.c.user_id == user_id,
                recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=now)
            .returning(recovery_codes.c.digest)
        )
        return result.first() is not None

    async def left(self, user_id: str) -> int:
        query = select(func.count()).where(
            recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
        )
        return int((await self._conn.execute(query)).scalar_one())

    async def delete(self, user_id: str) -> None:
        await self._conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))


def _live_ticket(digest: bytes, now: datetime) -> ColumnElement[bool]:
    return and_(
        mfa_tickets.c.digest == digest,
        mfa_tickets.c.used_at.is_(None),
        mfa_tickets.c.expires_at > now,
        mfa_tickets.c.failures < TICKET_MAX_FAILURES,
    )


_TICKET_COLUMNS = (
    mfa_tickets.c.user_id,
    mfa_tickets.c.client_id,
    mfa_tickets.c.client_ip,
    mfa_tickets.c.user_agent,
    mfa_tickets.c.failures,
)


class SqlMfaTickets:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self, ticket: NewTicket, user_id: str, client_id: str, client: ClientInfo, now: datetime
    ) -> None:
        await self._conn.execute(
            insert(mfa_tickets).values(
                digest=ticket.digest,
                user_id=user_id,
                client_id=client_id,
                client_ip=client.ip[:64],
                user_agent=client.user_agent[:512],
                created_at=now,
                expires_at=ticket.expires_at,
            )
        )

    async def find(self, digest: bytes, now: datetime) -> TicketRecord | None:
        """The live ticket of this digest: unused, unexpired, not killed by wrong codes."""
        query = select(*_TICKET_COLUMNS).where(_live_ticket(digest, now))
        return _ticket((await self._conn.execute(query)).first())

    async def consume(self, digest: bytes, now: datetime) -> TicketRecord | None:
        """Mark the ticket used if it is live; None if it was not (or another call won)."""
        result = await self._conn.execute(
            update(mfa_tickets)
            .where(_live_ticket(digest, now))
            .values(used_at=now)
            .returning(*_TICKET_COLUMNS)
        )
        return _ticket(result.first())

    async def failed(self, digest: bytes) -> int:
        """Count one wrong code on the ticket; at TICKET_MAX_FAILURES it is dead (`find` and
        `consume` no longer see it). The count after this one."""
        result = await self._conn.execute(
            update(mfa_tickets)
            .where(mfa_tickets.c.digest == digest)
            .values(failures=mfa_tickets.c.failures + 1)
            .returning(mfa_tickets.c.failures)
        )
        row = result.first()
        return 0 if row is None else int(row.failures)

    async def delete_for_user(self, user_id: str) -> None:
        await self._conn.execute(delete(mfa_tickets).where(mfa_tickets.c.user_id == user_id))


def _ticket(row: Row[Any, Any, Any, Any, Any] | None) -> TicketRecord | None:
    if row is None:
        return None
    return TicketRecord(
        user_id=row.user_id,
        client_id=row.client_id,
        client=ClientInfo(ip=row.client_ip, user_agent=row.user_agent),
        failures=int(row.failures),
    )
