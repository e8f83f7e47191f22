"""Logout, logout-all, and a user's own session list."""

from __future__ import annotations

from collections.abc import Sequence

from identity.domain.clock import Clock
from identity.domain.errors import InvalidArgument, NotFound
from identity.domain.refresh import looks_like_refresh_token, refresh_token_digest
from identity.domain.sessions import RevocationReason, SessionView
from identity.domain.token_rules import AccessClaims
from identity.ports import RevocationEvent, UnitOfWorkFactory
from identity.services.revoker import Revoker
from identity.services.tokens import AccessTokens


class Sessions:
    def __init__(
        self, uow: UnitOfWorkFactory, tokens: AccessTokens, revoker: Revoker, clock: Clock
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._revoker = revoker
        self._clock = clock

    async def logout(self, refresh_token: str, access_token: str, everywhere: bool) -> None:
        """RFC 7009 §2.2 in spirit: an unknown or invalid token is not an error."""
        now = self._clock.now()
        events: list[RevocationEvent | None] = []
        async with self._uow() as uow:
            session_id: str | None = None
            user_id: str | None = None
            if refresh_token:
                if not looks_like_refresh_token(refresh_token):
                    return
                session_id = await uow.sessions.session_of_token(
                    refresh_token_digest(refresh_token)
                )
                view = await uow.sessions.get(session_id) if session_id else None
                user_id = view.user_id if view else None
            elif access_token:
                claims = self._tokens.check(access_token)
                session_id, user_id = claims.sid, claims.sub
            else:
                raise InvalidArgument("refresh_token or access_token: one is required")
            if user_id is None or session_id is None:
                return
            if everywhere:
                events.extend(
                    await self._revoker.revoke_user(uow, user_id, RevocationReason.LOGOUT_ALL, now)
                )
            else:
                events.append(
                    await self._revoker.revoke_session(
                        uow, session_id, user_id, RevocationReason.LOGOUT, now
                    )
                )
            await uow.audit.record(
                "logout_all" if everywhere else "logout",
                "user",
                now,
                user_id=user_id,
                session_id=session_id,
            )
            await uow.commit()
        self._revoker.publish(events)

    async def list_mine(self, access_token: str) -> tuple[AccessClaims, Sequence[SessionView]]:
        claims = self._tokens.check(access_token)
        async with self._uow() as uow:
            return claims, await uow.sessions.list_for_user(claims.sub, include_ended=True)

    async def revoke_mine(self, access_token: str, session_id: str) -> None:
        claims = self._tokens.check(access_token)
        now = self._clock.now()
        async with self._uow() as uow:
            view = await uow.sessions.get(session_id) if session_id else None
            if view is None or view.user_id != claims.sub:
                raise NotFound("session: not found")
            event = await self._revoker.revoke_session(
                uow, session_id, claims.sub, RevocationReason.USER_REVOKED, now
            )
            await uow.audit.record(
                "session_revoked_by_user", "user", now, user_id=claims.sub, session_id=session_id
            )
            await uow.commit()
        self._revoker.publish([event])
