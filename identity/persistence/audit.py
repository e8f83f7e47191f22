"""The audit trail: append an event, list events newest first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.persistence.rows import detail_json
from identity.persistence.tables import audit_events
from identity.ports import AuditRecord

_INSERT_AUDIT = insert(audit_events)  # on the hot path (every login): prebuilt


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
                "detail_json": detail_json(detail),
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
            # Keyset pagination: ids only grow, so "below the last id seen" is the next page.
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
