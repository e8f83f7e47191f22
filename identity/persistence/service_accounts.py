"""Service credentials: the callers allowed to use the gRPC API, stored as secret digests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.persistence.tables import service_credentials
from identity.ports import CredentialRecord


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
