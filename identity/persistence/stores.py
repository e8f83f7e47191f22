"""SQL implementations of the store Protocols in identity.ports, on one AsyncConnection."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.domain.keys import KeyRecord, KeyState
from identity.domain.refresh import ClientInfo, PresentedToken
from identity.domain.sessions import SessionView
from identity.persistence.notify import REVOCATION_CHANNEL
from identity.persistence.tables import (
    audit_events,
    login_throttle,
    refresh_tokens,
    revocation_events,
    service_credentials,
    sessions,
    signing_keys,
    users,
)
from identity.ports import (
    AuditRecord,
    CredentialRecord,
    NewSession,
    RevocationEvent,
    ThrottleState,
    UserRecord,
)

REVOCATION_LOCK = 0x1D3_7E18  # advisory lock id serialising revocation appends (PostgreSQL)
ROTATION_LOCK = 0x1D3_7E17  # advisory lock id: one replica at a time changes signing keys

# The statements of the hot paths (login, refresh, audit), built once with bound parameters.
# Building a statement per call (insert(...).values(...), where(column == value)) and deriving
# its cache key was a quarter of identity's CPU on a refresh; a prebuilt statement's cache key
# is memoised, so a call only binds its parameters.
_USER_BY_EMAIL = select(users).where(users.c.email_key == bindparam("email_key"))
_USER_BY_ID = select(users).where(users.c.id == bindparam("user_id"))
_INSERT_SESSION = insert(sessions)
_INSERT_TOKEN = insert(refresh_tokens)
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
_LIVE_SESSION_OF_TOKEN = (
    select(sessions.c.id)
    .where(
        sessions.c.id == refresh_tokens.c.session_id,
        sessions.c.revoked_at.is_(None),
        sessions.c.idle_expires_at > bindparam("b_now"),
        sessions.c.absolute_expires_at > bindparam("b_now"),
    )
    .exists()
)
_CONSUME_TOKEN = (
    update(refresh_tokens)
    .where(
        refresh_tokens.c.digest == bindparam("b_digest"),
        refresh_tokens.c.used_at.is_(None),
        _LIVE_SESSION_OF_TOKEN,
    )
    .values(
        used_at=bindparam("b_now"),
        used_ip=bindparam("b_used_ip"),
        used_user_agent=bindparam("b_used_user_agent"),
    )
    .returning(refresh_tokens.c.session_id)
)
_SUCCESSOR = refresh_tokens.alias("successor")
_PRESENTED_TOKEN = (
    select(
        refresh_tokens.c.session_id,
        refresh_tokens.c.generation,
        refresh_tokens.c.used_at,
        refresh_tokens.c.used_ip,
        refresh_tokens.c.used_user_agent,
        sessions.c.user_id,
        sessions.c.revoked_at,
        sessions.c.idle_expires_at,
        sessions.c.absolute_expires_at,
        sessions.c.client_id,
        sessions.c.secret_enc,
        sessions.c.generation.label("session_generation"),
        _SUCCESSOR.c.used_at.label("successor_used_at"),
    )
    .select_from(
        refresh_tokens.join(sessions, sessions.c.id == refresh_tokens.c.session_id).outerjoin(
            _SUCCESSOR,
            and_(
                _SUCCESSOR.c.session_id == refresh_tokens.c.session_id,
                _SUCCESSOR.c.generation == refresh_tokens.c.generation + 1,
            ),
        )
    )
    .where(refresh_tokens.c.digest == bindparam("b_digest"))
)
_ADVANCE_SESSION = (
    update(sessions)
    .where(sessions.c.id == bindparam("b_session_id"))
    .values(
        generation=bindparam("b_generation"),
        last_used_at=bindparam("b_now"),
        idle_expires_at=bindparam("b_idle_expires_at"),
    )
)
# PostgreSQL: a rotation's writes in one statement, the successor token riding as a CTE of the
# session's advance.
_RECORD_ROTATION = _ADVANCE_SESSION.add_cte(
    insert(refresh_tokens)
    .values(
        digest=bindparam("b_digest"),
        session_id=bindparam("b_session_id"),
        generation=bindparam("b_generation"),
        issued_at=bindparam("b_now"),
    )
    .cte("new_token")
)
_THROTTLE_STATE = select(login_throttle.c.key, login_throttle.c.blocked_until).where(
    login_throttle.c.key.in_(bindparam("keys", expanding=True))
)
_INSERT_AUDIT = insert(audit_events)


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
        }
        if self._conn.dialect.name == "postgresql":
            binds = {f"b_{column}": value for column, value in session_row.items()}
            await self._conn.execute(
                _LOGIN_SUCCEEDED,
                {
                    **binds,
                    "b_digest": new.first_token_digest,
                    "b_detail_json": _detail_json(detail),
                    "b_end_streak": end_streak,
                },
            )
            return
        await self._conn.execute(_INSERT_SESSION, {**session_row, "generation": 0})
        await self._conn.execute(
            _INSERT_TOKEN,
            {
                "digest": new.first_token_digest,
                "session_id": new.session_id,
                "generation": 0,
                "issued_at": new.created_at,
            },
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


class SqlSessions:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def consume_refresh_token(
        self, digest: bytes, now: datetime, client: ClientInfo
    ) -> PresentedToken | None:
        # The atomic step of rotation: mark the token used only if it is unused and its session
        # is live. Two concurrent refreshes both run this UPDATE; the row lock makes the second
        # wait, re-check "used_at IS NULL" after the first commits, and match nothing
        # (PostgreSQL READ COMMITTED; SQLite serialises writers with BEGIN IMMEDIATE).
        won = (
            await self._conn.execute(
                _CONSUME_TOKEN,
                {
                    "b_digest": digest,
                    "b_now": now,
                    "b_used_ip": client.ip,
                    "b_used_user_agent": client.user_agent,
                },
            )
        ).first()
        # Whether or not we won, read the facts the domain decides on. After a lost race the
        # winner has committed, so its successor row is visible to this statement.
        row = (await self._conn.execute(_PRESENTED_TOKEN, {"b_digest": digest})).first()
        if row is None:
            return None
        return PresentedToken(
            session_id=row.session_id,
            user_id=row.user_id,
            client_id=row.client_id,
            generation=row.generation,
            consumed_now=won is not None,
            used_at=row.used_at,
            used_by=ClientInfo(ip=row.used_ip or "", user_agent=row.used_user_agent or ""),
            session_revoked=row.revoked_at is not None,
            idle_expires_at=row.idle_expires_at,
            absolute_expires_at=row.absolute_expires_at,
            successor_used_at=row.successor_used_at,
            secret_enc=row.secret_enc,
        )

    async def record_rotation(
        self,
        session_id: str,
        generation: int,
        digest: bytes,
        now: datetime,
        idle_expires_at: datetime,
    ) -> None:
        binds = {
            "b_session_id": session_id,
            "b_generation": generation,
            "b_now": now,
            "b_idle_expires_at": idle_expires_at,
        }
        if self._conn.dialect.name == "postgresql":
            await self._conn.execute(_RECORD_ROTATION, {**binds, "b_digest": digest})
            return
        await self._conn.execute(
            _INSERT_TOKEN,
            {
                "digest": digest,
                "session_id": session_id,
                "generation": generation,
                "issued_at": now,
            },
        )
        await self._conn.execute(_ADVANCE_SESSION, binds)

    async def session_of_token(self, digest: bytes) -> str | None:
        row = (
            await self._conn.execute(
                select(refresh_tokens.c.session_id).where(refresh_tokens.c.digest == digest)
            )
        ).first()
        return None if row is None else str(row.session_id)

    async def revoke(self, session_id: str, reason: str, now: datetime) -> bool:
        result = await self._conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
            .returning(sessions.c.id)
        )
        return result.first() is not None

    async def revoke_user(
        self, user_id: str, reason: str, now: datetime, keep: str | None = None
    ) -> list[str]:
        where = [sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)]
        if keep is not None:
            where.append(sessions.c.id != keep)
        result = await self._conn.execute(
            update(sessions)
            .where(*where)
            .values(revoked_at=now, revoked_reason=reason)
            .returning(sessions.c.id)
        )
        return [str(r.id) for r in result]

    async def list_for_user(self, user_id: str, include_ended: bool) -> Sequence[SessionView]:
        query = select(sessions).where(sessions.c.user_id == user_id)
        if not include_ended:
            query = query.where(sessions.c.revoked_at.is_(None))
        rows = await self._conn.execute(query.order_by(sessions.c.created_at.desc()).limit(200))
        return [_session_view(r) for r in rows]

    async def get(self, session_id: str) -> SessionView | None:
        row = (
            await self._conn.execute(select(sessions).where(sessions.c.id == session_id))
        ).first()
        return None if row is None else _session_view(row)


def _session_view(row: Any) -> SessionView:
    return SessionView(
        session_id=row.id,
        user_id=row.user_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.idle_expires_at,
        client_ip=row.client_ip,
        user_agent=row.user_agent,
        client_id=row.client_id,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
    )


class SqlKeys:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def all(self) -> Sequence[KeyRecord]:
        rows = await self._conn.execute(select(signing_keys).order_by(signing_keys.c.created_at))
        return [
            KeyRecord(
                kid=r.kid,
                alg=r.alg,
                state=KeyState(r.state),
                created_at=r.created_at,
                activates_at=r.activates_at,
                retired_at=r.retired_at,
                unpublish_at=r.unpublish_at,
                public_jwk=json.loads(r.public_jwk),
                private_enc=r.private_enc,
            )
            for r in rows
        ]

    async def add(self, record: KeyRecord) -> None:
        await self._conn.execute(
            insert(signing_keys).values(
                kid=record.kid,
                alg=record.alg,
                state=record.state.value,
                created_at=record.created_at,
                activates_at=record.activates_at,
                retired_at=record.retired_at,
                unpublish_at=record.unpublish_at,
                public_jwk=json.dumps(dict(record.public_jwk), sort_keys=True),
                private_enc=record.private_enc,
            )
        )

    async def update_state(self, record: KeyRecord) -> None:
        await self._conn.execute(
            update(signing_keys)
            .where(signing_keys.c.kid == record.kid)
            .values(
                state=record.state.value,
                retired_at=record.retired_at,
                unpublish_at=record.unpublish_at,
                activates_at=record.activates_at,
            )
        )

    async def lock_for_rotation(self) -> bool:
        """Serialise key changes across replicas for the rest of this transaction."""
        if self._conn.dialect.name == "postgresql":
            # A transaction-level advisory lock: released at commit or rollback, and a second
            # replica gets False instead of waiting, so exactly one rotates.
            got = await self._conn.scalar(select(func.pg_try_advisory_xact_lock(ROTATION_LOCK)))
            return bool(got)
        return True  # SQLite: BEGIN IMMEDIATE already holds the database write lock.


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


class SqlAudit:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def record(
        self,
        kind: str,
        actor: str,
        now: datetime,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
    ) -> None:
        await self._conn.execute(
            _INSERT_AUDIT,
            {
                "at": now,
                "kind": kind,
                "actor": actor[:128],
                "user_id": user_id,
                "session_id": session_id,
                "outcome": outcome,
                "detail_json": _detail_json(detail),
            },
        )

    async def list(
        self, user_id: str | None, kind: str | None, limit: int, before_id: int | None
    ) -> Sequence[AuditRecord]:
        query = select(audit_events)
        if user_id:
            query = query.where(audit_events.c.user_id == user_id)
        if kind:
            query = query.where(audit_events.c.kind == kind)
        if before_id:
            query = query.where(audit_events.c.id < before_id)
        rows = await self._conn.execute(query.order_by(audit_events.c.id.desc()).limit(limit))
        return [
            AuditRecord(
                id=r.id,
                at=r.at,
                kind=r.kind,
                actor=r.actor,
                user_id=r.user_id,
                session_id=r.session_id,
                outcome=r.outcome,
                detail=json.loads(r.detail_json),
            )
            for r in rows
        ]


class SqlCredentials:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self, credential_id: str, name: str, role: str, secret_digest: bytes, now: datetime
    ) -> None:
        await self._conn.execute(
            insert(service_credentials).values(
                id=credential_id, name=name, role=role, secret_digest=secret_digest, created_at=now
            )
        )

    async def active(self) -> Sequence[CredentialRecord]:
        rows = await self._conn.execute(
            select(service_credentials).where(service_credentials.c.revoked_at.is_(None))
        )
        return [
            CredentialRecord(
                credential_id=r.id, name=r.name, role=r.role, secret_digest=r.secret_digest
            )
            for r in rows
        ]


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
        upsert = dialect_insert(login_throttle).values(key=key, failures=1, last_failure_at=now)
        stmt = upsert.on_conflict_do_update(
            index_elements=[login_throttle.c.key],
            set_={
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


def _detail_json(detail: dict[str, Any] | None) -> str:
    return json.dumps(detail or {}, sort_keys=True, default=str)
