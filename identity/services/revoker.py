"""Writing revocations: a session, every session of a user, or one access token's jti.

Each revocation's event goes to the revocation_events table in the same transaction as the change
itself (and a PostgreSQL NOTIFY with it; see identity.persistence.notify). After commit, `publish`
applies it here at once; other replicas learn of it through their RevocationSync.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from identity import metrics
from identity.ports import RevocationEvent, UnitOfWork
from identity.services.revocation_cache import RevocationCache

log = logging.getLogger(__name__)


class Revoker:
    """Writes revocations (session, user, jti) with their events; publishes them after commit."""

    def __init__(self, cache: RevocationCache, token_lifetime: timedelta) -> None:
        self._cache = cache
        # After this long every access token minted before the revocation has expired.
        self._forget = token_lifetime

    async def revoke_session(
        self, uow: UnitOfWork, session_id: str, user_id: str, reason: str, now: datetime
    ) -> RevocationEvent | None:
        if not await uow.sessions.revoke(session_id, reason, now):
            return None
        event = await self._append(
            uow,
            RevocationEvent(
                0,
                "session",
                now,
                now + self._forget,
                session_id=session_id,
                user_id=user_id,
                reason=reason,
            ),
        )
        metrics.REVOCATIONS.labels("session", reason).inc()
        return event

    async def revoke_user(
        self,
        uow: UnitOfWork,
        user_id: str,
        reason: str,
        now: datetime,
        keep_session: str | None = None,
    ) -> list[RevocationEvent]:
        """End every session of the user (but `keep_session`) and refuse older access tokens.
        A sign-in waiting for its second factor (an MFA ticket) is a session about to be, so it
        ends too: a password change, a reset or "sign out everywhere" leaves none of them."""
        events = []
        ended = await uow.sessions.revoke_user(user_id, reason, now, keep=keep_session)
        # Row updates before the first append (see RevocationLog.append: the log lock comes last).
        await uow.users.set_not_before(user_id, now)
        await uow.mfa_tickets.delete_for_user(user_id)
        for sid in ended:
            events.append(
                await self._append(
                    uow,
                    RevocationEvent(
                        0,
                        "session",
                        now,
                        now + self._forget,
                        session_id=sid,
                        user_id=user_id,
                        reason=reason,
                    ),
                )
            )
        user_event = await self._append(
            uow,
            RevocationEvent(
                0, "user", now, now + self._forget, user_id=user_id, not_before=now, reason=reason
            ),
        )
        metrics.REVOCATIONS.labels("user", reason).inc()
        return [*events, user_event]

    async def deny_jti(
        self, uow: UnitOfWork, jti: str, reason: str, now: datetime
    ) -> RevocationEvent:
        event = await self._append(
            uow, RevocationEvent(0, "access_token", now, now + self._forget, jti=jti, reason=reason)
        )
        metrics.REVOCATIONS.labels("access_token", reason).inc()
        return event

    @staticmethod
    async def _append(uow: UnitOfWork, event: RevocationEvent) -> RevocationEvent:
        return replace(event, cursor=await uow.revocations.append(event))

    def publish(self, events: Iterable[RevocationEvent | None]) -> None:
        """Apply committed events here now; NOTIFY and RevocationSync take them to other replicas.
        Every revocation passes here once its transaction has committed, so this is where each
        is logged (ids and reason only)."""
        committed = [e for e in events if e is not None]
        for event in committed:
            ids = {"sid": event.session_id, "user_id": event.user_id, "jti": event.jti}
            # Only the ids this kind of event has: a session, a user or a jti.
            extra = {k: v for k, v in ids.items() if v is not None}
            log.info(f"revoked: {event.kind}", extra={**extra, "reason": event.reason})
        self._cache.apply(committed)
