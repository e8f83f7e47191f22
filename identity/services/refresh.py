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
    GraceReplay,
    Invalid,
    PresentedToken,
    Reuse,
    Rotate,
    decide_refresh,
    derive_refresh_token,
    refresh_token_digest,
)
from identity.domain.sessions import RevocationReason, SessionLifetimes
from identity.ports import RevocationEvent, RotationUnit, UnitOfWork, UnitOfWorkFactory
from identity.services.revoker import Revoker
from identity.services.tokens import AccessTokens, IssuedTokens, seconds_until

log = logging.getLogger(__name__)


class RefreshRotation:
    """Refresh-token rotation (not signing-key rotation, which is identity.services.keyring)."""

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
        # Autocommit: on PostgreSQL a rotation is two statements, each atomic on its own (the
        # consume with the facts, then the successor with the session's advance): no BEGIN and
        # COMMIT round trips. A rotation interrupted between the two left a used token without
        # a successor; its retry, within the grace window, writes the successor (below).
        async with self._uow.rotation() as uow:
            found = await uow.sessions.consume_refresh_token(digest, now, client)
            decision = decide_refresh(found, now, self._grace, client)
            metrics.REFRESHES.labels(decision.outcome).inc()
            match decision:
                case Rotate(token):
                    successor = self._successor(token)
                    idle = self._lifetimes.idle_expiry(now, token.absolute_expires_at)
                    await self._record(uow, token, successor, now, idle)
                    await uow.commit()
                    log.info("refresh rotated", extra={"sid": token.session_id})
                    return self._issue(token, successor, idle, now, grace_replay=False)
                case GraceReplay(token):
                    # The same successor again, never a second live token.
                    successor = self._successor(token)
                    idle = token.idle_expires_at
                    if not token.successor_issued:
                        idle = self._lifetimes.idle_expiry(now, token.absolute_expires_at)
                        await self._record(uow, token, successor, now, idle)
                        await uow.commit()
                        log.warning(
                            "refresh grace replay wrote a missing successor",
                            extra={"sid": token.session_id},
                        )
                    log.info("refresh grace replay", extra={"sid": token.session_id})
                    return self._issue(token, successor, idle, now, grace_replay=True)
                case Reuse() as reuse:
                    pass  # revoked below, in a transaction of its own
                case Invalid(token):
                    # A token never issued has no session to name; a known one says which it
                    # was (its session ended, revoked or expired).
                    log.info(
                        "refresh refused",
                        extra={
                            "sid": token.session_id if token else None,
                            "cause": "unknown_token" if token is None else "session_ended",
                        },
                    )
                    raise InvalidRefreshToken()
        # The revocation, its events and the incident commit together or not at all.
        async with self._uow() as uow:
            events = await self._handle_reuse(uow, reuse, now)
            await uow.commit()
        # Published once the revocation has committed, with the connection returned.
        self._revoker.publish(events)
        raise RefreshTokenReused()

    async def _record(
        self,
        uow: RotationUnit,
        token: PresentedToken,
        successor: str,
        now: datetime,
        idle_expires_at: datetime,
    ) -> None:
        await uow.sessions.record_rotation(
            token.session_id,
            token.generation + 1,
            refresh_token_digest(successor),
            now,
            idle_expires_at,
        )

    def _successor(self, token: PresentedToken) -> str:
        key = self._master.decrypt(token.secret_enc, token.session_id.encode())
        return derive_refresh_token(key, token.session_id, token.generation + 1)

    def _issue(
        self,
        token: PresentedToken,
        successor: str,
        idle_expires_at: datetime,
        now: datetime,
        grace_replay: bool,
    ) -> IssuedTokens:
        access = self._tokens.issue(
            token.user_id,
            token.session_id,
            token.client_id,
            self._scope,
            now,
            token.email_verified,
            token.authentication,
        )
        return IssuedTokens(
            access,
            successor,
            seconds_until(idle_expires_at, now),
            token.session_id,
            token.user_id,
            grace_replay=grace_replay,
        )

    async def _handle_reuse(
        self, uow: UnitOfWork, reuse: Reuse, now: datetime
    ) -> list[RevocationEvent]:
        """Revoke the family (or all the user's sessions); record both sides of the incident."""
        token, reason = reuse.token, RevocationReason.REFRESH_TOKEN_REUSE
        if self._reuse_revokes_all:
            events = await self._revoker.revoke_user(uow, token.user_id, reason, now)
        else:
            event = await self._revoker.revoke_session(
                uow, token.session_id, token.user_id, reason, now
            )
            events = [event] if event else []
        cause = reuse.cause.value
        await uow.audit.record(
            "refresh_token_reuse",
            "user",
            now,
            user_id=token.user_id,
            session_id=token.session_id,
            outcome="session_revoked",
            detail={
                "cause": cause,
                "generation": token.generation,
                "first_use": {
                    "at": reuse.first_use.at.isoformat(),
                    "ip": reuse.first_use.by.ip,
                    "user_agent": reuse.first_use.by.user_agent,
                },
                "replay": {
                    "at": reuse.replay.at.isoformat(),
                    "ip": reuse.replay.by.ip,
                    "user_agent": reuse.replay.by.user_agent,
                },
                "successor_used_at": token.successor_used_at.isoformat()
                if token.successor_used_at
                else None,
                "revoked_all_sessions": self._reuse_revokes_all,
            },
        )
        metrics.REUSE_INCIDENTS.labels(cause).inc()
        log.warning("refresh token reuse", extra={"sid": token.session_id, "cause": cause})
        return events
