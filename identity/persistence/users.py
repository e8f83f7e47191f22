"""Users and their credentials: accounts by email or id, and what a successful login writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.persistence.audit import SqlAudit
from identity.persistence.rows import INSERT_REFRESH_TOKEN, detail_json, refresh_token_row
from identity.persistence.tables import (
    audit_events,
    login_throttle,
    refresh_tokens,
    second_factors,
    sessions,
    users,
)
from identity.persistence.throttle import SqlThrottle
from identity.ports import NewSession, UserRecord

# The statements of the hot path (login), built once with bound parameters. Building a
# statement per call (insert(...).values(...), where(column == value)) and deriving its cache
# key was a quarter of identity's CPU on a refresh; a prebuilt statement's cache key is
# memoised, so a call only binds its parameters.
# The factor's confirmation rides along by a LEFT JOIN on its primary key: Login learns whether
# a second factor is due in the read it makes anyway, no round trip more.
_USER = select(users, second_factors.c.confirmed_at.label("second_factor_at")).select_from(
    users.outerjoin(second_factors, second_factors.c.user_id == users.c.id)
)
_USER_BY_EMAIL = _USER.where(users.c.email_key == bindparam("email_key"))
_USER_BY_ID = _USER.where(users.c.id == bindparam("user_id"))
_INSERT_SESSION = insert(sessions)
_SESSION_COLUMNS = (
    "id",
    "user_id",
    "client_id",
    "created_at",
    "last_used_at",
    "idle_expires_at",
    "absolute_expires_at",
    "client_ip",
    "user_agent",
    "secret_enc",
    "amr",
    "auth_time",
)
# PostgreSQL: a successful login's writes in one statement, so in one round trip and without a
# transaction of their own. The session, the audit event and the end of the failure streak are
# data-modifying CTEs of the first refresh token's INSERT; the token's foreign-key check runs at
# the end of the statement, when the session row is there. A NULL b_end_streak deletes nothing.
_LOGIN_SUCCEEDED = (
    insert(refresh_tokens)
    .values(
        digest=bindparam("b_digest"),
        session_id=bindparam("b_id"),
        generation=0,
        issued_at=bindparam("b_created_at"),
    )
    .add_cte(
        insert(sessions)
        .values({**{c: bindparam(f"b_{c}") for c in _SESSION_COLUMNS}, "generation": 0})
        .cte("new_session"),
        insert(audit_events)
        .values(
            at=bindparam("b_created_at"),
            kind="login_succeeded",
            actor="user",
            user_id=bindparam("b_user_id"),
            session_id=bindparam("b_id"),
            outcome="ok",
            detail_json=bindparam("b_detail_json"),
        )
        .cte("login_event"),
        delete(login_throttle)
        .where(login_throttle.c.key == bindparam("b_end_streak"))
        .cte("ended_streak"),
    )
)


class SqlUsers:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self, user_id: str, email: str, email_key: str, password_hash: str, now: datetime
    ) -> None:
        await self._conn.execute(
            insert(users).values(
                id=user_id,
                email=email,
                email_key=email_key,
                password_hash=password_hash,
                created_at=now,
                password_changed_at=now,
            )
        )

    async def by_email(self, email_key: str) -> UserRecord | None:
        return await self._one(_USER_BY_EMAIL, {"email_key": email_key})

    async def by_id(self, user_id: str) -> UserRecord | None:
        return await self._one(_USER_BY_ID, {"user_id": user_id})

    async def _one(self, query: Any, params: dict[str, str]) -> UserRecord | None:
        row = (await self._conn.execute(query, params)).first()
        if row is None:
            return None
        return UserRecord(
            user_id=row.id,
            email=row.email,
            password_hash=row.password_hash,
            created_at=row.created_at,
            locked_at=row.locked_at,
            not_before=row.not_before,
            email_verified=bool(row.email_verified),
            second_factor_enabled=row.second_factor_at is not None,
        )

    async def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None:
        await self._conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(password_hash=password_hash, password_changed_at=now)
        )

    async def set_not_before(self, user_id: str, not_before: datetime) -> None:
        await self._conn.execute(
            update(users).where(users.c.id == user_id).values(not_before=not_before)
        )

    async def set_email_verified(self, user_id: str, email_key: str) -> bool:
        """Mark the address verified if the account still has it; False if it changed since."""
        result = await self._conn.execute(
            update(users)
            .where(users.c.id == user_id, users.c.email_key == email_key)
            .values(email_verified=True)
            .returning(users.c.id)
        )
        return result.first() is not None

    async def set_email(self, user_id: str, email: str, email_key: str) -> None:
        """A confirmed address change: the new address is verified by the confirmation itself.
        The unique index on email_key refuses an address another account took meanwhile."""
        await self._conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(email=email, email_key=email_key, email_verified=True)
        )

    async def last_login(self, user_id: str) -> datetime | None:
        """When the user last opened a session (every login opens one)."""
        query = select(func.max(sessions.c.created_at)).where(sessions.c.user_id == user_id)
        last: datetime | None = (await self._conn.execute(query)).scalar_one_or_none()
        return last

    async def set_locked(self, user_id: str, locked_at: datetime | None, reason: str) -> None:
        await self._conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(locked_at=locked_at, locked_reason=reason)
        )


class SqlLogins:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def succeeded(
        self, new: NewSession, detail: dict[str, Any], end_streak: str | None
    ) -> None:
        session_row = {
            "id": new.session_id,
            "user_id": new.user_id,
            "client_id": new.client_id,
            "created_at": new.created_at,
            "last_used_at": new.created_at,
            "idle_expires_at": new.idle_expires_at,
            "absolute_expires_at": new.absolute_expires_at,
            "client_ip": new.client.ip,
            "user_agent": new.client.user_agent,
            "secret_enc": new.secret_enc,
            "amr": new.authentication.stored(),
            "auth_time": new.authentication.at,
        }
        if self._conn.dialect.name == "postgresql":
            binds = {f"b_{column}": value for column, value in session_row.items()}
            await self._conn.execute(
                _LOGIN_SUCCEEDED,
                {
                    **binds,
                    "b_digest": new.first_token_digest,
                    "b_detail_json": detail_json(detail),
                    "b_end_streak": end_streak,
                },
            )
            return
        # SQLite has no data-modifying CTEs: the same writes one by one, in the unit's
        # transaction.
        await self._conn.execute(_INSERT_SESSION, {**session_row, "generation": 0})
        await self._conn.execute(
            INSERT_REFRESH_TOKEN,
            refresh_token_row(new.first_token_digest, new.session_id, 0, new.created_at),
        )
        await SqlAudit(self._conn).record(
            "login_succeeded",
            "user",
            new.created_at,
            user_id=new.user_id,
            session_id=new.session_id,
            detail=detail,
        )
        if end_streak is not None:
            await SqlThrottle(self._conn).clear(end_streak)
