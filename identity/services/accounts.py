"""Register, log in (opening a session) and change a password, with throttling."""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from identity import metrics
from identity.domain.authentication import Authentication
from identity.domain.clock import Clock
from identity.domain.errors import (
    AlreadyExists,
    EmailNotVerified,
    InvalidArgument,
    InvalidCredentials,
    RateLimited,
)
from identity.domain.links import LinkPurpose
from identity.domain.mail import MailKind, VerificationMode
from identity.domain.master_key import MasterKey
from identity.domain.passwords import (
    PasswordPolicy,
    check_new_password,
    normalize_email,
    normalize_password,
)
from identity.domain.refresh import ClientInfo, derive_refresh_token, refresh_token_digest
from identity.domain.second_factor import DEFAULT_TICKET_TTL, new_ticket
from identity.domain.sessions import RevocationReason, SessionLifetimes
from identity.domain.throttle import (
    ACCOUNT_POLICY,
    DEFAULT_REGISTRATIONS_PER_IP,
    IP_POLICY,
    ThrottlePolicy,
    account_key,
    ip_key,
    register_ip_key,
    register_ip_policy,
)
from identity.domain.token_rules import AccessClaims
from identity.ports import NewSession, UnitOfWork, UnitOfWorkFactory, UserRecord
from identity.services.hashing import PasswordHashing
from identity.services.mailer import Mailer
from identity.services.revoker import Revoker
from identity.services.throttling import count_failure, count_request
from identity.services.tokens import (
    AccessTokens,
    IssuedTokens,
    SecondFactorChallenge,
    seconds_until,
)

log = logging.getLogger(__name__)

MAX_CLIENT_ID = 128


@dataclass(frozen=True)
class AccountSettings:
    password_policy: PasswordPolicy
    lifetimes: SessionLifetimes
    default_client_id: str
    default_scope: str
    verification: VerificationMode = VerificationMode.OPTIONAL
    register_policy: ThrottlePolicy = register_ip_policy(DEFAULT_REGISTRATIONS_PER_IP)
    mfa_ticket_ttl: timedelta = DEFAULT_TICKET_TTL


class Accounts:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hashing: PasswordHashing,
        tokens: AccessTokens,
        revoker: Revoker,
        master: MasterKey,
        settings: AccountSettings,
        clock: Clock,
        mailer: Mailer,
    ) -> None:
        self._uow = uow
        self._mailer = mailer
        self._hashing = hashing
        self._tokens = tokens
        self._revoker = revoker
        self._master = master
        self._settings = settings
        self._clock = clock

    async def register(self, email: str, password: str, client: ClientInfo) -> str | None:
        """The new user's id; None in `required` verification mode, where a new and an
        existing address get the same answer (the existing owner is mailed instead)."""
        email_key = normalize_email(email)
        normalized = check_new_password(password, email_key, self._settings.password_policy)
        throttle = [(register_ip_key(client.ip), self._settings.register_policy)]
        await count_request(self._uow, throttle, self._clock.now())
        # Hashed whether or not the address is taken: both answers take the same time.
        password_hash = await self._hashing.hash(normalized)
        mode = self._settings.verification
        user_id = str(uuid.uuid4())
        now = self._clock.now()
        async with self._uow() as uow:
            existing = await uow.users.by_email(email_key)
            if existing is not None:
                if mode is not VerificationMode.REQUIRED:
                    raise AlreadyExists("email: already registered")
                await self._mailer.post(uow, MailKind.SIGNUP_ATTEMPT, existing.email, now)
                await uow.audit.record(
                    "signup_attempt_existing", "user", now, user_id=existing.user_id
                )
                user_id = existing.user_id
            else:
                await uow.users.add(user_id, email.strip(), email_key, password_hash, now)
                await uow.audit.record("user_registered", "user", now, user_id=user_id)
                if mode is not VerificationMode.OFF:
                    await self._mailer.post_link(
                        uow, LinkPurpose.VERIFY_EMAIL, user_id, email.strip(), now
                    )
            await uow.commit()
        self._mailer.posted()
        if existing is not None:
            log.info("registration of a taken address", extra={"user_id": user_id})
            return None
        log.info("user registered", extra={"user_id": user_id})
        return None if mode is VerificationMode.REQUIRED else user_id

    async def login(
        self, email: str, password: str, client_id: str, client: ClientInfo
    ) -> IssuedTokens | SecondFactorChallenge:
        """Tokens of a new session, or, for an account with a second factor, the ticket that
        CompleteLogin (identity.services.second_factor_login) turns into them."""
        email_key = normalize_email(email)
        normalized = normalize_password(password)
        if not normalized:
            raise InvalidArgument("password: required")
        # With the hash queue full, refused here: input checked, nothing read yet (issue 19).
        with self._hashing.admission():
            return await self._login(email_key, normalized, client_id, client)

    async def _login(
        self, email_key: str, normalized: str, client_id: str, client: ClientInfo
    ) -> IssuedTokens | SecondFactorChallenge:
        client_id = _client_id(client_id, self._settings.default_client_id)
        keys = (account_key(email_key), ip_key(client.ip))
        now = self._clock.now()
        async with self._uow(autocommit=True) as uow:
            throttle = await uow.throttle.state(keys)
            user = await uow.users.by_email(email_key)
        blocked = throttle.blocked_until
        if blocked is not None and blocked > now:
            metrics.LOGINS.labels("throttled").inc()
            log.warning("login throttled", extra={"user_id": user.user_id if user else None})
            raise RateLimited((blocked - now).total_seconds())
        # Always one full Argon2 verification, against a dummy hash for an unknown email.
        ok = await self._hashing.verify(user.password_hash if user else None, normalized)
        now = self._clock.now()
        if user is None or not ok or user.locked_at is not None:
            await self._record_failure(keys, now, user.user_id if user else None, "login_failed")
            metrics.LOGINS.labels("failed").inc()
            log.warning(
                "login failed",
                extra={
                    "user_id": user.user_id if user else None,
                    "cause": "unknown_email"
                    if user is None
                    else ("wrong_password" if not ok else "locked"),
                },
            )
            raise InvalidCredentials()
        if self._settings.verification is VerificationMode.REQUIRED and not user.email_verified:
            # Only after the password matched: the answer tells nothing to a stranger.
            metrics.LOGINS.labels("unverified").inc()
            log.info("login refused: email not verified", extra={"user_id": user.user_id})
            raise EmailNotVerified()
        new_hash = (
            await self._hashing.hash(normalized)
            if self._hashing.needs_rehash(user.password_hash)
            else None
        )
        detail = {
            "ip": client.ip,
            "user_agent": client.user_agent,
            "rehashed": new_hash is not None,
        }
        if user.second_factor_enabled:
            return await self._second_factor_due(user, client_id, client, now, new_hash, detail)
        # A success ends the account's failure streak, if it has one.
        end_streak = keys[0] if keys[0] in throttle.failing else None
        # The login's writes are one statement (autocommit), unless a rehash adds a second.
        async with self._uow(autocommit=new_hash is None) as uow:
            if new_hash is not None:
                await uow.users.set_password_hash(user.user_id, new_hash, now)
            issued = await self.open_session(uow, user, client_id, client, now, detail, end_streak)
            await uow.commit()
        metrics.LOGINS.labels("succeeded").inc()
        log.info("login succeeded", extra={"user_id": user.user_id, "sid": issued.session_id})
        return issued

    async def _second_factor_due(
        self,
        user: UserRecord,
        client_id: str,
        client: ClientInfo,
        now: datetime,
        new_hash: str | None,
        detail: dict[str, Any],
    ) -> SecondFactorChallenge:
        """The password was right; the session waits for the second factor. The failure streak
        stays: only a right code ends it, or wrong codes after a right password would never
        slow anyone down."""
        ticket = new_ticket(now, self._settings.mfa_ticket_ttl)
        async with self._uow() as uow:
            if new_hash is not None:
                await uow.users.set_password_hash(user.user_id, new_hash, now)
            await uow.mfa_tickets.add(ticket, user.user_id, client_id, client, now)
            await uow.audit.record(
                "login_second_factor_required", "user", now, user_id=user.user_id, detail=detail
            )
            await uow.commit()
        metrics.LOGINS.labels("second_factor_required").inc()
        log.info("login awaits the second factor", extra={"user_id": user.user_id})
        return SecondFactorChallenge(
            ticket.token, seconds_until(ticket.expires_at, now), user.user_id
        )

    async def open_session(
        self,
        uow: UnitOfWork,
        user: UserRecord,
        client_id: str,
        client: ClientInfo,
        now: datetime,
        detail: dict[str, Any],
        end_streak: str | None,
        authentication: Authentication | None = None,
    ) -> IssuedTokens:
        """A new session for a user who just authenticated (by password alone unless
        `authentication` says otherwise) and its first tokens."""
        authentication = authentication or Authentication.password(now)
        user_id = user.user_id
        session_id = str(uuid.uuid4())
        secret = os.urandom(32)
        refresh_token = derive_refresh_token(secret, session_id, 0)
        absolute = now + self._settings.lifetimes.absolute
        idle = self._settings.lifetimes.idle_expiry(now, absolute)
        await uow.logins.succeeded(
            NewSession(
                session_id=session_id,
                user_id=user_id,
                client_id=client_id,
                client=client,
                secret_enc=self._master.encrypt(secret, session_id.encode()),
                created_at=now,
                idle_expires_at=idle,
                absolute_expires_at=absolute,
                first_token_digest=refresh_token_digest(refresh_token),
                authentication=authentication,
            ),
            detail,
            end_streak,
        )
        access = self._tokens.issue(
            user_id,
            session_id,
            client_id,
            self._settings.default_scope,
            now,
            user.email_verified,
            authentication,
        )
        return IssuedTokens(access, refresh_token, seconds_until(idle, now), session_id, user_id)

    async def _record_failure(
        self, keys: tuple[str, str], now: datetime, user_id: str | None, kind: str
    ) -> None:
        async with self._uow() as uow:
            for key, policy in zip(keys, (ACCOUNT_POLICY, IP_POLICY), strict=True):
                await count_failure(uow, key, policy, now)
            await uow.audit.record(kind, "user", now, user_id=user_id, outcome="failed")
            await uow.commit()

    async def change_password(
        self, access_token: str, current_password: str, new_password: str, client: ClientInfo
    ) -> int:
        claims, user = await self.confirm_holder(
            access_token, current_password, client, "password change"
        )
        email_key = normalize_email(user.email)
        normalized = check_new_password(new_password, email_key, self._settings.password_policy)
        new_hash = await self._hashing.hash(normalized)
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.users.set_password_hash(user.user_id, new_hash, now)
            events = await self._revoker.revoke_user(
                uow, user.user_id, RevocationReason.PASSWORD_CHANGE, now, keep_session=claims.sid
            )
            await uow.audit.record(
                "password_changed", "user", now, user_id=user.user_id, session_id=claims.sid
            )
            await self._mailer.post(uow, MailKind.PASSWORD_CHANGED_NOTICE, user.email, now)
            await uow.commit()
        self._revoker.publish(events)
        self._mailer.posted()
        log.info("password changed", extra={"user_id": user.user_id, "sid": claims.sid})
        return sum(1 for e in events if e.kind == "session")

    async def confirm_holder(
        self, access_token: str, password: str, client: ClientInfo, action: str
    ) -> tuple[AccessClaims, UserRecord]:
        """The holder of `access_token`, once they typed their current password: throttled and
        counted like a login, since it is a password guess too."""
        claims = self._tokens.check(access_token)
        current = normalize_password(password)
        now = self._clock.now()
        async with self._uow(autocommit=True) as uow:
            user = await uow.users.by_id(claims.sub)
            if user is None:
                raise InvalidCredentials()
            keys = (account_key(normalize_email(user.email)), ip_key(client.ip))
            blocked = (await uow.throttle.state(keys)).blocked_until
        if blocked is not None and blocked > now:
            log.warning(f"{action} throttled", extra={"user_id": user.user_id})
            raise RateLimited((blocked - now).total_seconds())
        if not await self._hashing.verify(user.password_hash, current):
            audit_kind = action.replace(" ", "_") + "_failed"
            await self._record_failure(keys, self._clock.now(), user.user_id, audit_kind)
            log.warning(f"{action} failed", extra={"user_id": user.user_id})
            raise InvalidCredentials()
        return claims, user


def _client_id(client_id: str, default: str) -> str:
    client_id = client_id or default
    if len(client_id) > MAX_CLIENT_ID or not client_id.isprintable():
        raise InvalidArgument(f"client_id: at most {MAX_CLIENT_ID} printable characters")
    return client_id
