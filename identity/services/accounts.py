"""Register, log in (opening a session) and change a password, with throttling."""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from identity import metrics
from identity.domain.clock import Clock
from identity.domain.errors import AlreadyExists, InvalidArgument, InvalidCredentials, RateLimited
from identity.domain.master_key import MasterKey
from identity.domain.passwords import (
    PasswordPolicy,
    check_new_password,
    normalize_email,
    normalize_password,
)
from identity.domain.refresh import ClientInfo, derive_refresh_token, refresh_token_digest
from identity.domain.sessions import RevocationReason, SessionLifetimes
from identity.domain.throttle import ACCOUNT_POLICY, IP_POLICY, ThrottlePolicy, account_key, ip_key
from identity.ports import NewSession, UnitOfWork, UnitOfWorkFactory
from identity.services.hashing import PasswordHashing
from identity.services.revoker import Revoker
from identity.services.tokens import AccessTokens, IssuedTokens, seconds_until

log = logging.getLogger(__name__)

MAX_CLIENT_ID = 128


@dataclass(frozen=True)
class AccountSettings:
    password_policy: PasswordPolicy
    lifetimes: SessionLifetimes
    default_client_id: str
    default_scope: str


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
    ) -> None:
        self._uow = uow
        self._hashing = hashing
        self._tokens = tokens
        self._revoker = revoker
        self._master = master
        self._settings = settings
        self._clock = clock

    async def register(self, email: str, password: str) -> str:
        email_key = normalize_email(email)
        normalized = check_new_password(password, email_key, self._settings.password_policy)
        password_hash = await self._hashing.hash(normalized)
        user_id = str(uuid.uuid4())
        now = self._clock.now()
        async with self._uow() as uow:
            if await uow.users.by_email(email_key) is not None:
                raise AlreadyExists("email: already registered")
            await uow.users.add(user_id, email.strip(), email_key, password_hash, now)
            await uow.audit.record("user_registered", "user", now, user_id=user_id)
            await uow.commit()
        log.info("user registered", extra={"user_id": user_id})
        return user_id

    async def login(
        self, email: str, password: str, client_id: str, client: ClientInfo
    ) -> IssuedTokens:
        email_key = normalize_email(email)
        normalized = normalize_password(password)
        if not normalized:
            raise InvalidArgument("password: required")
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
        # A success ends the account's failure streak, if it has one.
        end_streak = keys[0] if keys[0] in throttle.failing else None
        # The login's writes are one statement (autocommit), unless a rehash adds a second.
        async with self._uow(autocommit=new_hash is None) as uow:
            if new_hash is not None:
                await uow.users.set_password_hash(user.user_id, new_hash, now)
            issued = await self._open_session(
                uow, user.user_id, client_id, client, now, detail, end_streak
            )
            await uow.commit()
        metrics.LOGINS.labels("succeeded").inc()
        log.info("login succeeded", extra={"user_id": user.user_id, "sid": issued.session_id})
        return issued

    async def _open_session(
        self,
        uow: UnitOfWork,
        user_id: str,
        client_id: str,
        client: ClientInfo,
        now: datetime,
        detail: dict[str, Any],
        end_streak: str | None,
    ) -> IssuedTokens:
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
            ),
            detail,
            end_streak,
        )
        access = self._tokens.issue(
            user_id, session_id, client_id, self._settings.default_scope, now
        )
        return IssuedTokens(access, refresh_token, seconds_until(idle, now), session_id, user_id)

    async def _record_failure(
        self, keys: tuple[str, str], now: datetime, user_id: str | None, kind: str
    ) -> None:
        async with self._uow() as uow:
            for key, policy in zip(keys, (ACCOUNT_POLICY, IP_POLICY), strict=True):
                await _count_failure(uow, key, policy, now)
            await uow.audit.record(kind, "user", now, user_id=user_id, outcome="failed")
            await uow.commit()

    async def change_password(
        self, access_token: str, current_password: str, new_password: str, client: ClientInfo
    ) -> int:
        claims = self._tokens.check(access_token)
        current = normalize_password(current_password)
        now = self._clock.now()
        async with self._uow(autocommit=True) as uow:
            user = await uow.users.by_id(claims.sub)
            if user is None:
                raise InvalidCredentials()
            email_key = normalize_email(user.email)
            keys = (account_key(email_key), ip_key(client.ip))
            blocked = (await uow.throttle.state(keys)).blocked_until
        if blocked is not None and blocked > now:
            log.warning("password change throttled", extra={"user_id": user.user_id})
            raise RateLimited((blocked - now).total_seconds())
        if not await self._hashing.verify(user.password_hash, current):
            await self._record_failure(
                keys, self._clock.now(), user.user_id, "password_change_failed"
            )
            log.warning("password change failed", extra={"user_id": user.user_id})
            raise InvalidCredentials()
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
            await uow.commit()
        self._revoker.publish(events)
        log.info("password changed", extra={"user_id": user.user_id, "sid": claims.sid})
        return sum(1 for e in events if e.kind == "session")


async def _count_failure(uow: UnitOfWork, key: str, policy: ThrottlePolicy, now: datetime) -> None:
    failures = await uow.throttle.record_failure(key, now, now - policy.reset_after)
    delay = policy.delay(failures)
    if delay:
        await uow.throttle.block(key, now + delay)


def _client_id(client_id: str, default: str) -> str:
    client_id = client_id or default
    if len(client_id) > MAX_CLIENT_ID or not client_id.isprintable():
        raise InvalidArgument(f"client_id: at most {MAX_CLIENT_ID} printable characters")
    return client_id
