"""Signing keys: their lifecycle states, and the lock that lets one replica rotate them."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.domain.keys import KeyRecord, KeyState
from identity.persistence.tables import signing_keys

KEY_ROTATION_LOCK = 0x1D3_7E17  # advisory lock id: one replica at a time changes signing keys


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
            got = await self._conn.scalar(select(func.pg_try_advisory_xact_lock(KEY_ROTATION_LOCK)))
            return bool(got)
        return True  # SQLite: BEGIN IMMEDIATE already holds the database write lock.
