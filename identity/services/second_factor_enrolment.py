"""Managing a user's TOTP factor: enrol (begin, confirm), read its state, regenerate recovery
codes, disable. Changing an active factor needs a recent step-up of the caller's session
(identity.domain.second_factor.recent_step_up), ends the user's other sessions and mails a
notice, as a password change does."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from identity.domain.authentication import Authentication
from identity.domain.clock import Clock
from identity.domain.errors import (
    AlreadyExists,
    InvalidAccessToken,
    InvalidArgument,
    NotFound,
    RecentStepUpRequired,
)
from identity.domain.mail import MailKind
from identity.domain.master_key import MasterKey
from identity.domain.refresh import ClientInfo
from identity.domain.second_factor import (
    DEFAULT_STEP_UP_MAX_AGE,
    TotpCode,
    new_recovery_codes,
    parse_code,
    recent_step_up,
    recovery_digest,
)
from identity.domain.sessions import RevocationReason
from identity.domain.token_rules import AccessClaims
from identity.domain.totp import new_secret, otpauth_uri, qr_svg, secret_text
from identity.ports import UnitOfWork, UnitOfWorkFactory, UserRecord
from identity.services.accounts import Accounts
from identity.services.mailer import Mailer
from identity.services.revoker import Revoker
from identity.services.second_factor_codes import Attempt, SecondFactorCodes, secret_aad
from identity.services.tokens import AccessToken, AccessTokens

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Enrolment:
    """A new pending secret, as the authenticator app takes it; shown once."""

    secret: str
    otpauth_uri: str
    qr_svg: str

    def __repr__(self) -> str:
        return "Enrolment(…)"


@dataclass(frozen=True)
class Confirmed:
    recovery_codes: list[str]
    access: AccessToken

    def __repr__(self) -> str:
        return "Confirmed(…)"


@dataclass(frozen=True)
class FactorState:
    enabled_at: datetime | None
    recovery_codes_left: int
    authentication: Authentication


@dataclass(frozen=True)
class Changed:
    """A regeneration's or a removal's outcome: new codes (regeneration only), sessions ended."""

    recovery_codes: list[str]
    revoked_sessions: int


class SecondFactorEnrolment:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        codes: SecondFactorCodes,
        accounts: Accounts,
        tokens: AccessTokens,
        revoker: Revoker,
        mailer: Mailer,
        master: MasterKey,
        clock: Clock,
        issuer: str,
        step_up_max_age: timedelta = DEFAULT_STEP_UP_MAX_AGE,
    ) -> None:
        self._uow = uow
        self._codes = codes
        self._accounts = accounts
        self._tokens = tokens
        self._revoker = revoker
        self._mailer = mailer
        self._master = master
        self._clock = clock
        self._issuer = issuer
        self._max_age = step_up_max_age

    async def begin(self, access_token: str, password: str, client: ClientInfo) -> Enrolment:
        """A new pending secret (replacing a pending one), for the holder who typed their
        password; AlreadyExists while a factor is active."""
        claims, user = await self._accounts.confirm_holder(
            access_token, password, client, "second factor enrolment"
        )
        if user.second_factor_enabled:
            raise AlreadyExists("second factor: already enabled")
        secret = new_secret()
        now = self._clock.now()
        async with self._uow() as uow:
            sealed = self._master.encrypt(secret, secret_aad(user.user_id))
            await uow.second_factors.put_pending(user.user_id, sealed, now)
            await uow.audit.record(
                "totp_enrollment_started", "user", now, user_id=user.user_id, session_id=claims.sid
            )
            await uow.commit()
        log.info("totp enrolment started", extra={"user_id": user.user_id})
        uri = otpauth_uri(secret, user.email, self._issuer)
        return Enrolment(secret_text(secret), uri, qr_svg(uri))

    async def confirm(self, access_token: str, code: str) -> Confirmed:
        """Activate the pending secret with its first code: ten recovery codes, and the session
        raised to AAL2 (it just proved the factor)."""
        claims = self._tokens.check(access_token)
        parsed = parse_code(code)
        if not isinstance(parsed, TotpCode):
            raise InvalidArgument("code: the authenticator's current code")
        async with self._uow(autocommit=True) as uow:
            user = await uow.users.by_id(claims.sub)
            factor = await uow.second_factors.get(claims.sub)
        if user is None:
            raise InvalidAccessToken()
        if factor is None or factor.confirmed_at is not None:
            raise NotFound("second factor: no enrolment pending")
        # A throttled account is refused by `spend`, under its lock, before the code is looked at.
        attempt = Attempt("confirm", user, parsed, session_id=claims.sid)
        recovery = new_recovery_codes()

        async def activate(uow: UnitOfWork, at: datetime) -> Authentication:
            authentication = Authentication.second_factor(at)
            if not await uow.sessions.set_authentication(claims.sid, authentication, at):
                raise InvalidAccessToken()
            await uow.recovery_codes.replace(
                user.user_id, [recovery_digest(c) for c in recovery], at
            )
            await uow.audit.record(
                "totp_enabled", "user", at, user_id=user.user_id, session_id=claims.sid
            )
            await self._mailer.post(uow, MailKind.SECOND_FACTOR_ENABLED_NOTICE, user.email, at)
            return authentication

        authentication = await self._codes.spend(attempt, activate, confirming=True)
        self._mailer.posted()
        log.info("totp enabled", extra={"user_id": user.user_id, "sid": claims.sid})
        return Confirmed(recovery, self._issue(claims, user, authentication))

    async def state(self, access_token: str) -> FactorState:
        claims = self._tokens.check(access_token)
        now = self._clock.now()
        async with self._uow(autocommit=True) as uow:
            factor = await uow.second_factors.get(claims.sub)
            left = await uow.recovery_codes.left(claims.sub)
            authentication = await uow.sessions.authentication_of(claims.sid, now)
        if authentication is None:
            raise InvalidAccessToken()
        enabled_at = factor.confirmed_at if factor else None
        return FactorState(enabled_at, left if enabled_at else 0, authentication)

    async def regenerate_recovery_codes(self, access_token: str) -> Changed:
        claims = self._tokens.check(access_token)
        recovery = new_recovery_codes()
        async with self._uow() as uow:
            user, now, _ = await self._recently_stepped_up(uow, claims)
            await uow.recovery_codes.replace(
                user.user_id, [recovery_digest(c) for c in recovery], now
            )
            ended = await self._changed(
                uow, user, claims, "recovery_codes_regenerated", MailKind.RECOVERY_CODES_NOTICE, now
            )
        self._mailer.posted()
        return Changed(recovery, ended)

    async def disable(self, access_token: str) -> int:
        """Remove TOTP, the recovery codes and any live ticket; the sessions ended."""
        claims = self._tokens.check(access_token)
        async with self._uow() as uow:
            user, now, authentication = await self._recently_stepped_up(uow, claims)
            await uow.second_factors.delete(user.user_id)
            await uow.recovery_codes.delete(user.user_id)
            # The caller's session stays, but no longer at AAL2: without a factor, its later
            # tokens must not say "otp" (a service demanding aal2 would accept them for days).
            await uow.sessions.set_authentication(
                claims.sid, Authentication.password(authentication.at), now
            )
            ended = await self._changed(
                uow, user, claims, "totp_disabled", MailKind.SECOND_FACTOR_DISABLED_NOTICE, now
            )
        self._mailer.posted()
        return ended

    async def _recently_stepped_up(
        self, uow: UnitOfWork, claims: AccessClaims
    ) -> tuple[UserRecord, datetime, Authentication]:
        now = self._clock.now()
        user = await uow.users.by_id(claims.sub)
        authentication = await uow.sessions.authentication_of(claims.sid, now)
        if user is None or authentication is None:
            raise InvalidAccessToken()
        if not user.second_factor_enabled:
            raise NotFound("second factor: not enabled")
        if not recent_step_up(authentication, now, self._max_age):
            log.info(
                "second factor change refused: no recent step-up", extra={"user_id": user.user_id}
            )
            raise RecentStepUpRequired()
        return user, now, authentication

    async def _changed(
        self,
        uow: UnitOfWork,
        user: UserRecord,
        claims: AccessClaims,
        kind: str,
        mail: MailKind,
        now: datetime,
    ) -> int:
        """What a change of an active factor writes besides itself: the end of the user's
        other sessions, the audit event, the notice; committed, then published."""
        events = await self._revoker.revoke_user(
            uow, user.user_id, RevocationReason.SECOND_FACTOR_CHANGE, now, keep_session=claims.sid
        )
        ended = sum(1 for e in events if e.kind == "session")
        await uow.audit.record(
            kind,
            "user",
            now,
            user_id=user.user_id,
            session_id=claims.sid,
            detail={"revoked_sessions": ended},
        )
        await self._mailer.post(uow, mail, user.email, now)
        await uow.commit()
        self._revoker.publish(events)
        log.info(kind.replace("_", " "), extra={"user_id": user.user_id, "sid": claims.sid})
        return ended

    def _issue(
        self, claims: AccessClaims, user: UserRecord, authentication: Authentication
    ) -> AccessToken:
        return self._tokens.issue(
            user.user_id,
            claims.sid,
            claims.client_id,
            claims.scope,
            authentication.at,
            user.email_verified,
            authentication,
        )
