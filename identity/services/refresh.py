"""Refresh-token rotation with a grace window and reuse (theft) detection (DESIGN §2)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from identity import metrics
from identity.domain.clock import Clock
from identity.domain.errors import InvalidRefreshToken, RefreshTokenReused
from identity.domain.master_key import MasterKey
from identity.domain.refresh import (
    ClientInfo,
    Outcome,
    PresentedToken,
    ReuseCause,
    decide_refresh,
    derive_refresh_token,
    refresh_token_digest,
)
from identity.domain.sessions import RevocationReason, SessionLifetimes
from identity.ports import RevocationEvent, SessionSecret, UnitOfWork, UnitOfWorkFactory
from identity.services.revocations import Revoker
from identity.services.tokens import AccessTokens, IssuedTokens, seconds_until

log = logging.getLogger(__name__)


class Rotation:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        tokens: AccessTokens,
        revoker: Revoker,
        master: MasterKey,
        lifetimes: SessionLifetimes,
        grace: timedelta,
        scope: str,
        reuse_revokes_all: bool,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._revoker = revoker
        self._master = master
        self._lifetimes = lifetimes
        self._grace = grace
        self._scope = scope
        self._reuse_revokes_all = reuse_revokes_all
        self._clock = clock

    async def refresh(self, refresh_token: str, client: ClientInfo) -> IssuedTokens:
        digest = refresh_token_digest(refresh_token)
        now = self._clock.now()
        events: list[RevocationEvent] = []
        async with self._uow() as uow:
            consumed = await uow.sessions.consume_refresh_token(digest, now, client)
            found, secret = consumed if consumed is not None else (None, None)
            decision = decide_refresh(found, now, self._grace, client)
            metrics.REFRESHES.labels(decision.outcome.value).inc()
            if decision.outcome is Outcome.INVALID or found is None or secret is None:
                # A token never issued has no session to name; a known one says which it was
                # (its session ended, revoked or expired).
                log.info(
                    "refresh refused",
                    extra={
                        "sid": found.session_id if found else None,
                        "cause": "unknown_token" if found is None else "session_ended",
                    },
                )
                raise InvalidRefreshToken()
            if decision.outcome is Outcome.REUSE:
                events = await self._handle_reuse(uow, found, decision.cause, client, now)
                await uow.commit()
            else:
                successor = self._successor(secret, found.generation)
                if decision.outcome is Outcome.ROTATE:
                    idle = self._lifetimes.idle_expiry(now, secret.absolute_expires_at)
                    await uow.sessions.record_rotation(
                        found.session_id,
                        found.generation + 1,
                        refresh_token_digest(successor),
                        now,
                        idle,
                    )
                    await uow.commit()
                    log.info("refresh rotated", extra={"sid": found.session_id})
                else:
                    # Grace replay: the same successor again, never a second live token.
                    idle = secret.idle_expires_at
                    log.info("refresh grace replay", extra={"sid": found.session_id})
                access = self._tokens.issue(
                    found.user_id, found.session_id, secret.client_id, self._scope, now
                )
                return IssuedTokens(
                    access,
                    successor,
                    seconds_until(idle, now),
                    found.session_id,
                    found.user_id,
                    grace_replay=decision.outcome is Outcome.GRACE_REPLAY,
                )
        self._revoker.publish(events)
        raise RefreshTokenReused()

    def _successor(self, secret: SessionSecret, generation: int) -> str:
        key = self._master.decrypt(secret.secret_enc, secret.session_id.encode())
        return derive_refresh_token(key, secret.session_id, generation + 1)

    async def _handle_reuse(
        self,
        uow: UnitOfWork,
        found: PresentedToken,
        cause: ReuseCause | None,
        client: ClientInfo,
        now: datetime,
    ) -> list[RevocationEvent]:
        """Revoke the family (or all the user's sessions); record both sides of the incident."""
        reason = RevocationReason.REFRESH_TOKEN_REUSE
        if self._reuse_revokes_all:
            events = await self._revoker.revoke_user(uow, found.user_id, reason, now)
        else:
            event = await self._revoker.revoke_session(
                uow, found.session_id, found.user_id, reason, now
            )
            events = [event] if event else []
        cause_name = (cause or ReuseCause.THEFT_SUSPECTED).value
        await uow.audit.record(
            "refresh_token_reuse",
            "user",
            now,
            user_id=found.user_id,
            session_id=found.session_id,
            outcome="session_revoked",
            detail={
                "cause": cause_name,
                "generation": found.generation,
                "first_use": {
                    "at": found.used_at.isoformat() if found.used_at else None,
                    "ip": found.used_by.ip,
                    "user_agent": found.used_by.user_agent,
                },
                "replay": {"at": now.isoformat(), "ip": client.ip, "user_agent": client.user_agent},
                "successor_used_at": found.successor_used_at.isoformat()
                if found.successor_used_at
                else None,
                "revoked_all_sessions": self._reuse_revokes_all,
            },
        )
        metrics.REUSE_INCIDENTS.labels(cause_name).inc()
        log.warning("refresh token reuse", extra={"sid": found.session_id, "cause": cause_name})
        return events
