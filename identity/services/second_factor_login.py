"""Proving the second factor: finishing a login with an MFA ticket (CompleteLogin), and
proving it again in a signed-in session (StepUp)."""

from __future__ import annotations

import logging
from datetime import datetime

from identity.domain.authentication import Authentication
from identity.domain.clock import Clock
from identity.domain.errors import InvalidAccessToken, SecondFactorRefused
from identity.domain.second_factor import parse_code, ticket_digest
from identity.ports import UnitOfWork, UnitOfWorkFactory
from identity.services.accounts import Accounts
from identity.services.second_factor_codes import Attempt, SecondFactorCodes
from identity.services.tokens import AccessToken, AccessTokens, IssuedTokens

log = logging.getLogger(__name__)


class SecondFactorLogin:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        codes: SecondFactorCodes,
        accounts: Accounts,
        tokens: AccessTokens,
        scope: str,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._codes = codes
        self._accounts = accounts
        self._tokens = tokens
        self._scope = scope
        self._clock = clock

    async def complete_login(self, ticket: str, code: str) -> IssuedTokens:
        """The session Login held back, opened at AAL2 with the ticket's client."""
        digest = ticket_digest(ticket)
        parsed = parse_code(code)
        now = self._clock.now()
        async with self._uow(autocommit=True) as uow:
            found = await uow.mfa_tickets.find(digest, now)
            user = await uow.users.by_id(found.user_id) if found else None
        if found is None or user is None or user.locked_at is not None:
            log.warning("second factor refused: no live ticket")
            raise SecondFactorRefused()
        # The factor, the throttle and the ticket's tries are checked by `spend`, under its lock.
        attempt = Attempt("login", user, parsed, ticket_digest=digest)
        # A right code ends the account's failure streak, as a password login does.
        end_streak = attempt.throttle_key

        async def open_session(uow: UnitOfWork, at: datetime) -> IssuedTokens:
            # The ticket is spent with the code, in one transaction: of two calls with one
            # ticket, one opens a session and the other is refused.
            if await uow.mfa_tickets.consume(digest, at) is None:
                raise SecondFactorRefused()
            detail = {
                "ip": found.client.ip,
                "user_agent": found.client.user_agent,
                "second_factor": attempt.kind,
            }
            return await self._accounts.open_session(
                uow,
                user,
                found.client_id,
                found.client,
                at,
                detail,
                end_streak,
                Authentication.second_factor(at),
            )

        issued = await self._codes.spend(attempt, open_session)
        log.info("login completed", extra={"user_id": user.user_id, "sid": issued.session_id})
        return issued

    async def step_up(self, access_token: str, code: str) -> AccessToken:
        """Prove the factor again: the session records a fresh AAL2 authentication, and a new
        access token carries it (so do the session's later rotations)."""
        claims = self._tokens.check(access_token)
        parsed = parse_code(code)
        async with self._uow(autocommit=True) as uow:
            user = await uow.users.by_id(claims.sub)
        if user is None:
            raise InvalidAccessToken()
        # No confirmed factor, a throttled account: refused by `spend`, under its lock.
        attempt = Attempt("step_up", user, parsed, session_id=claims.sid)

        async def record(uow: UnitOfWork, at: datetime) -> Authentication:
            authentication = Authentication.second_factor(at)
            if not await uow.sessions.set_authentication(claims.sid, authentication, at):
                raise InvalidAccessToken()  # the session ended meanwhile
            await uow.audit.record(
                "step_up",
                "user",
                at,
                user_id=user.user_id,
                session_id=claims.sid,
                detail={"code": attempt.kind},
            )
            return authentication

        authentication = await self._codes.spend(attempt, record)
        return self._tokens.issue(
            user.user_id,
            claims.sid,
            claims.client_id,
            claims.scope or self._scope,
            authentication.at,
            user.email_verified,
            authentication,
        )
