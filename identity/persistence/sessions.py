"""Sessions and their refresh tokens: the atomic consume, rotation, revocation, listing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, and_, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.domain.authentication import Authentication
from identity.domain.refresh import ClientInfo, PresentedToken
from identity.domain.sessions import SessionView
from identity.persistence.prepared import Prepared, driver_of
from identity.persistence.rows import refresh_token_row
from identity.persistence.tables import refresh_tokens, sessions, users

# The statements of the hot path (refresh), built once with bound parameters: a prebuilt
# statement's cache key is memoised, so a call only binds its parameters (building one per call
# was a quarter of identity's CPU on a refresh).
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
# "Mark used where unused and the session live": the condition is the lock. RETURNING says
# whether this call won (a row) or not (none) in the same round trip, without a second read
# that another refresh could race.
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
# The facts the domain decides on, in one read: the token, its session (secret included, for
# the successor) and, by a LEFT JOIN since the newest token has none, its successor's use.
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
        _SUCCESSOR.c.session_id.is_not(None).label("successor_issued"),
        users.c.email_verified,
        sessions.c.amr,
        sessions.c.auth_time,
    )
    .select_from(
        refresh_tokens.join(sessions, sessions.c.id == refresh_tokens.c.session_id)
        .join(users, users.c.id == sessions.c.user_id)
        .outerjoin(
            _SUCCESSOR,
            and_(
                _SUCCESSOR.c.session_id == refresh_tokens.c.session_id,
                _SUCCESSOR.c.generation == refresh_tokens.c.generation + 1,
            ),
        )
    )
    .where(refresh_tokens.c.digest == bindparam("b_digest"))
)
# PostgreSQL: the consume and the facts in one statement (one round trip, in autocommit). The
# facts come from the statement's snapshot, taken before its UPDATE: right when this call won
# (the token was unused, its session live), but after a lost race the winner's commit may be
# newer than the snapshot, so a loser reads the facts again in a statement of its own.
_CONSUMED = _CONSUME_TOKEN.cte("consumed")
_CONSUME_AND_READ = _PRESENTED_TOKEN.add_columns(
    select(func.count()).select_from(_CONSUMED).scalar_subquery().label("won")
)
# "Where the session is behind": writing a successor is idempotent, so the grace replay can write
# one that an interrupted rotation left out (on PostgreSQL the consume and the successor are two
# statements, each committed on its own) and two such replays cannot both advance the session.
_ADVANCE_SESSION = (
    update(sessions)
    .where(
        sessions.c.id == bindparam("b_session_id"),
        sessions.c.generation < bindparam("b_generation"),
    )
    .values(
        generation=bindparam("b_generation"),
        last_used_at=bindparam("b_now"),
        idle_expires_at=bindparam("b_idle_expires_at"),
    )
)
# PostgreSQL: a rotation's writes in one statement, the successor token riding as a CTE of the
# session's advance.
_RECORD_ROTATION = _ADVANCE_SESSION.add_cte(
    pg_insert(refresh_tokens)
    .values(
        digest=bindparam("b_digest"),
        session_id=bindparam("b_session_id"),
        generation=bindparam("b_generation"),
        issued_at=bindparam("b_now"),
    )
    .on_conflict_do_nothing()
    .cte("new_token")
)
# A rotation on PostgreSQL, in the order it runs, sent by asyncpg itself (prepared.py says why;
# bench.refresh sends the same as its ceiling).
ROTATION_STATEMENTS = (Prepared(_CONSUME_AND_READ), Prepared(_RECORD_ROTATION))
_PG_CONSUME_AND_READ, _PG_RECORD_ROTATION = ROTATION_STATEMENTS
_PG_PRESENTED_TOKEN = Prepared(_PRESENTED_TOKEN)  # after a lost race only
_INSERT_SUCCESSOR_SQLITE = insert(refresh_tokens).prefix_with("OR IGNORE", dialect="sqlite")


class PgRotationSteps:
    """A rotation's two steps on PostgreSQL, sent by asyncpg on `driver` (prepared.py says why):
    used by the rotation's own unit of work (uow.PgRotation) and by SqlSessions on PostgreSQL."""

    def __init__(self, driver: asyncpg.Connection) -> None:
        self._driver = driver

    async def consume_refresh_token(
        self, digest: bytes, now: datetime, client: ClientInfo
    ) -> PresentedToken | None:
        record = await _PG_CONSUME_AND_READ.fetchrow(
            self._driver, _consume_binds(digest, now, client)
        )
        if record is not None and record["won"]:
            # The snapshot predates this call's own UPDATE: the use is this call's.
            return _presented(record, consumed_now=True, used_at=now, used_by=client)
        # Not consumed by this call: read the facts in a statement of its own (see _CONSUMED).
        return _not_consumed(await _PG_PRESENTED_TOKEN.fetchrow(self._driver, {"b_digest": digest}))

    async def record_rotation(
        self,
        session_id: str,
        generation: int,
        digest: bytes,
        now: datetime,
        idle_expires_at: datetime,
    ) -> None:
        binds = _rotation_binds(session_id, generation, now, idle_expires_at)
        await _PG_RECORD_ROTATION.execute(self._driver, {**binds, "b_digest": digest})


class SqlSessions:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._steps: PgRotationSteps | None = None

    async def _pg(self) -> PgRotationSteps:
        """The rotation's steps on this unit's asyncpg connection (PostgreSQL), looked up once."""
        if self._steps is None:
            self._steps = PgRotationSteps(await driver_of(self._conn))
        return self._steps

    async def consume_refresh_token(
        self, digest: bytes, now: datetime, client: ClientInfo
    ) -> PresentedToken | None:
        # The atomic step of rotation: mark the token used only if it is unused and its session
        # is live. Two concurrent refreshes both run this UPDATE; the row lock makes the second
        # wait, re-check "used_at IS NULL" after the first commits, and match nothing
        # (PostgreSQL READ COMMITTED; SQLite serialises writers with BEGIN IMMEDIATE).
        if self._conn.dialect.name == "postgresql":
            return await (await self._pg()).consume_refresh_token(digest, now, client)
        won = (
            await self._conn.execute(_CONSUME_TOKEN, _consume_binds(digest, now, client))
        ).first() is not None
        row = (await self._conn.execute(_PRESENTED_TOKEN, {"b_digest": digest})).first()
        if won:
            assert row is not None  # the UPDATE just matched it
            return _presented(row._mapping, consumed_now=True, used_at=now, used_by=client)
        # Not consumed by this call: after a lost race the winner has committed, so its use and
        # its successor are visible to this statement.
        return _not_consumed(None if row is None else row._mapping)

    async def record_rotation(
        self,
        session_id: str,
        generation: int,
        digest: bytes,
        now: datetime,
        idle_expires_at: datetime,
    ) -> None:
        if self._conn.dialect.name == "postgresql":
            pg = await self._pg()
            await pg.record_rotation(session_id, generation, digest, now, idle_expires_at)
            return
        await self._conn.execute(
            _INSERT_SUCCESSOR_SQLITE, refresh_token_row(digest, session_id, generation, now)
        )
        await self._conn.execute(
            _ADVANCE_SESSION, _rotation_binds(session_id, generation, now, idle_expires_at)
        )

    async def session_of_token(self, digest: bytes) -> str | None:
        row = (
            await self._conn.execute(
                select(refresh_tokens.c.session_id).where(refresh_tokens.c.digest == digest)
            )
        ).first()
        return None if row is None else str(row.session_id)

    async def revoke(self, session_id: str, reason: str, now: datetime) -> bool:
        # "Where not yet revoked ... RETURNING": True only for the call that revoked it, so a
        # second revocation keeps the first reason and publishes no second event.
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
        # RETURNING the ids this statement revoked: one event each, none for sessions that had
        # ended already.
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

    async def authentication_of(self, session_id: str, now: datetime) -> Authentication | None:
        row = (
            await self._conn.execute(
                select(sessions.c.amr, sessions.c.auth_time).where(_live(session_id, now))
            )
        ).first()
        return None if row is None else Authentication.from_stored(row.amr, row.auth_time)

    async def set_authentication(
        self, session_id: str, authentication: Authentication, now: datetime
    ) -> bool:
        # Later rotations read amr and auth_time from here (the presented-token read), so every
        # access token of the session carries the step-up from now on.
        result = await self._conn.execute(
            update(sessions)
            .where(_live(session_id, now))
            .values(amr=authentication.stored(), auth_time=authentication.at)
            .returning(sessions.c.id)
        )
        return result.first() is not None

    async def get(self, session_id: str) -> SessionView | None:
        row = (
            await self._conn.execute(select(sessions).where(sessions.c.id == session_id))
        ).first()
        return None if row is None else _session_view(row)


def _consume_binds(digest: bytes, now: datetime, client: ClientInfo) -> dict[str, Any]:
    return {
        "b_digest": digest,
        "b_now": now,
        "b_used_ip": client.ip,
        "b_used_user_agent": client.user_agent,
    }


def _rotation_binds(
    session_id: str, generation: int, now: datetime, idle_expires_at: datetime
) -> dict[str, Any]:
    return {
        "b_session_id": session_id,
        "b_generation": generation,
        "b_now": now,
        "b_idle_expires_at": idle_expires_at,
    }


def _not_consumed(row: Mapping[Any, Any] | None) -> PresentedToken | None:
    """The facts of a token this call did not consume (used before, or its session ended), or
    None for a digest no token has."""
    if row is None:
        return None
    return _presented(
        row,
        consumed_now=False,
        used_at=row["used_at"],
        # An unused token has no user yet (NULL columns): the empty client.
        used_by=ClientInfo(ip=row["used_ip"] or "", user_agent=row["used_user_agent"] or ""),
    )


def _presented(
    row: Mapping[Any, Any], consumed_now: bool, used_at: Any, used_by: ClientInfo
) -> PresentedToken:
    """The facts of a presented token from a row of _PRESENTED_TOKEN's columns: SQLAlchemy's
    (its ._mapping) or asyncpg's Record."""
    return PresentedToken(
        session_id=row["session_id"],
        user_id=row["user_id"],
        client_id=row["client_id"],
        generation=row["generation"],
        consumed_now=consumed_now,
        used_at=used_at,
        used_by=used_by,
        session_revoked=row["revoked_at"] is not None,
        idle_expires_at=row["idle_expires_at"],
        absolute_expires_at=row["absolute_expires_at"],
        successor_used_at=row["successor_used_at"],
        successor_issued=bool(row["successor_issued"]),
        secret_enc=row["secret_enc"],
        email_verified=bool(row["email_verified"]),
        authentication=Authentication.from_stored(row["amr"], row["auth_time"]),
    )


def _live(session_id: str, now: datetime) -> ColumnElement[bool]:
    return and_(
        sessions.c.id == session_id,
        sessions.c.revoked_at.is_(None),
        sessions.c.idle_expires_at > now,
        sessions.c.absolute_expires_at > now,
    )


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
