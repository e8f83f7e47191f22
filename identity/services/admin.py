"""The operator use cases behind identity.v1.IdentityAdmin, each leaving one audit event.

A call that succeeds records its event in the transaction that makes the change; one that fails
records it (outcome = the error's code) in a transaction of its own. Calls refused before they
get here (no or wrong credential) are recorded by AuditTrail.denied. Every revocation goes
through the Revoker, so the event log, this replica's memory, NOTIFY and WatchRevocations all
see it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from identity.domain.clock import Clock
from identity.domain.errors import IdentityError, InvalidArgument, NotFound
from identity.domain.jose import SUPPORTED_ALGORITHMS
from identity.domain.keys import KeyRecord
from identity.domain.links import LinkPurpose
from identity.domain.mail import MailKind
from identity.domain.passwords import normalize_email
from identity.domain.sessions import RevocationReason, SessionView
from identity.ports import (
    AuditRecord,
    OutboxEntry,
    RevocationEvent,
    UnitOfWork,
    UnitOfWorkFactory,
    UserRecord,
)
from identity.services.keyring import KeyRing
from identity.services.mailer import Mailer
from identity.services.revoker import Revoker

log = logging.getLogger(__name__)

MAX_ID = 64
MAX_JTI = 256
MAX_REASON = 256
MAX_KIND = 64
DEFAULT_AUDIT_LIMIT = 100
MAX_AUDIT_LIMIT = 1000


@dataclass(frozen=True)
class UserRef:
    """A user named by id or by email (case-insensitive): exactly one of the two."""

    user_id: str = ""
    email: str = ""

    @property
    def given(self) -> bool:
        return bool(self.user_id or self.email)


@dataclass
class AdminCall:
    """One admin call: who, which method, why, and the target once known (for the audit)."""

    actor: str
    method: str
    reason: str = ""
    peer: str = ""
    user_id: str | None = None
    session_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    events: list[RevocationEvent] = field(default_factory=list)

    def audit_detail(self) -> dict[str, Any]:
        return {**self.detail, "reason": self.reason, "peer": self.peer}


@dataclass(frozen=True)
class UserSummary:
    user: UserRecord
    last_login_at: datetime | None


class Administration:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        revoker: Revoker,
        keyring: KeyRing,
        clock: Clock,
        mailer: Mailer,
    ) -> None:
        self._uow = uow
        self._revoker = revoker
        self._keyring = keyring
        self._clock = clock
        self._mailer = mailer

    async def get_user(self, call: AdminCall, user: UserRef) -> UserSummary:
        async with self._audited(call) as uow:
            found = await self._user(uow, call, user, required=True)
            assert found is not None
            return UserSummary(found, await uow.users.last_login(found.user_id))

    async def send_password_reset(self, call: AdminCall, user: UserRef) -> None:
        async with self._audited(call) as uow:
            found = await self._user(uow, call, user, required=True)
            assert found is not None
            now = self._clock.now()
            await self._mailer.post_link(
                uow, LinkPurpose.RESET_PASSWORD, found.user_id, found.email, now
            )
        self._mailer.posted()

    async def mark_email_verified(self, call: AdminCall, user: UserRef) -> None:
        async with self._audited(call) as uow:
            found = await self._user(uow, call, user, required=True)
            assert found is not None
            call.detail["was_verified"] = found.email_verified
            await uow.users.set_email_verified(found.user_id, normalize_email(found.email))
            await uow.links.void(found.user_id, LinkPurpose.VERIFY_EMAIL, self._clock.now())

    async def reset_second_factor(self, call: AdminCall, user: UserRef) -> tuple[bool, int]:
        """Remove the user's factor, recovery codes and tickets (a lost authenticator); with a
        factor removed, end every session and mail a notice. (had one, sessions ended)"""
        async with self._audited(call) as uow:
            found = await self._user(uow, call, user, required=True)
            assert found is not None
            had = await uow.second_factors.delete(found.user_id)
            await uow.recovery_codes.delete(found.user_id)
            await uow.mfa_tickets.delete_for_user(found.user_id)
            call.detail["had_second_factor"] = had
            if not had:
                return False, 0
            now = self._clock.now()
            ended = await self._revoke_user(
                uow, call, found.user_id, RevocationReason.SECOND_FACTOR_RESET
            )
            await self._mailer.post(uow, MailKind.SECOND_FACTOR_RESET_NOTICE, found.email, now)
        self._mailer.posted()
        return True, ended

    async def list_undelivered_mail(self, call: AdminCall, limit: int) -> Sequence[OutboxEntry]:
        async with self._audited(call) as uow:
            return await uow.outbox.undelivered(_limit(limit))

    async def list_user_sessions(
        self, call: AdminCall, user: UserRef, include_ended: bool
    ) -> Sequence[SessionView]:
        async with self._audited(call) as uow:
            found = await self._user(uow, call, user, required=True)
            assert found is not None
            return await uow.sessions.list_for_user(found.user_id, include_ended)

    async def revoke_session(self, call: AdminCall, session_id: str) -> bool:
        async with self._audited(call) as uow:
            _check_id("session_id", session_id, MAX_ID)
            call.session_id = session_id
            view = await uow.sessions.get(session_id)
            if view is None:
                raise NotFound("session: not found")
            call.user_id = view.user_id
            event = await self._revoker.revoke_session(
                uow, session_id, view.user_id, RevocationReason.ADMIN, self._clock.now()
            )
            call.events.extend([event] if event else [])
            call.detail["revoked"] = event is not None
            return event is not None

    async def revoke_user_sessions(self, call: AdminCall, user: UserRef) -> int:
        async with self._audited(call) as uow:
            found = await self._user(uow, call, user, required=True)
            assert found is not None
            return await self._revoke_user(uow, call, found.user_id, RevocationReason.ADMIN)

    async def revoke_access_token(self, call: AdminCall, jti: str) -> None:
        async with self._audited(call) as uow:
            _check_id("jti", jti, MAX_JTI)
            call.detail["jti"] = jti
            call.events.append(
                await self._revoker.deny_jti(uow, jti, RevocationReason.ADMIN, self._clock.now())
            )

    async def lock_user(self, call: AdminCall, user: UserRef) -> int:
        async with self._audited(call) as uow:
            found = await self._user(uow, call, user, required=True)
            assert found is not None
            await uow.users.set_locked(found.user_id, self._clock.now(), call.reason or "admin")
            return await self._revoke_user(uow, call, found.user_id, RevocationReason.USER_LOCKED)

    async def unlock_user(self, call: AdminCall, user: UserRef) -> None:
        async with self._audited(call) as uow:
            found = await self._user(uow, call, user, required=True)
            assert found is not None
            call.detail["was_locked"] = found.locked_at is not None
            await uow.users.set_locked(found.user_id, None, "")

    async def list_audit_events(
        self, call: AdminCall, user: UserRef, kind: str, limit: int, before_id: int
    ) -> Sequence[AuditRecord]:
        async with self._audited(call) as uow:
            if len(kind) > MAX_KIND:
                raise InvalidArgument(f"kind: at most {MAX_KIND} characters")
            effective = _limit(limit)
            if before_id < 0:
                raise InvalidArgument("before_id: not negative")
            found = await self._user(uow, call, user, required=False)
            call.detail.update(kind=kind, limit=limit, before_id=before_id)
            return await uow.audit.list(
                found.user_id if found else None,
                kind or None,
                effective,
                before_id or None,
            )

    async def rotate_signing_key(self, call: AdminCall, alg: str) -> KeyRecord:
        # KeyRing.rotate runs its own transaction (under the rotation lock); the audit event
        # follows it, never around it: on SQLite every transaction holds the write lock.
        try:
            _check_reason(call.reason)
            if alg and alg not in SUPPORTED_ALGORITHMS:
                raise InvalidArgument(f"alg: one of {', '.join(sorted(SUPPORTED_ALGORITHMS))}")
            record = await self._keyring.rotate(alg or None)
        except Exception as error:
            await self._record_failure(call, error)
            raise
        call.detail.update(kid=record.kid, alg=record.alg)
        async with self._audited(call):
            pass
        return record

    async def list_signing_keys(self, call: AdminCall) -> Sequence[KeyRecord]:
        async with self._audited(call) as uow:
            return await uow.keys.all()  # the database, not this replica's copy

    @asynccontextmanager
    async def _audited(self, call: AdminCall) -> AsyncIterator[UnitOfWork]:
        """Run the body in one transaction that also records the call's audit event."""
        try:
            _check_reason(call.reason)
            async with self._uow() as uow:
                yield uow
                await self._record(uow, call, "ok")
                await uow.commit()
        except Exception as error:
            await self._record_failure(call, error)
            raise
        self._revoker.publish(call.events)
        log.info("admin call", extra={"method": call.method, "caller": call.actor, "outcome": "ok"})

    async def _record_failure(self, call: AdminCall, error: Exception) -> None:
        outcome = error.code if isinstance(error, IdentityError) else "error"
        log.info(
            "admin call", extra={"method": call.method, "caller": call.actor, "outcome": outcome}
        )
        try:
            async with self._uow() as uow:
                await self._record(uow, call, outcome)
                await uow.commit()
        except Exception:  # the database is down: the call's own error says so
            log.warning("could not record a failed admin call", extra={"method": call.method})

    async def _record(self, uow: UnitOfWork, call: AdminCall, outcome: str) -> None:
        """The audit event of one admin call, in `uow`'s transaction."""
        await uow.audit.record(
            "admin." + call.method,
            call.actor,
            self._clock.now(),
            user_id=call.user_id,
            session_id=call.session_id,
            outcome=outcome,
            detail=call.audit_detail(),
        )

    async def _user(
        self, uow: UnitOfWork, call: AdminCall, ref: UserRef, *, required: bool
    ) -> UserRecord | None:
        if ref.user_id and ref.email:
            raise InvalidArgument("user_id or email: exactly one, not both")
        if not ref.given:
            if required:
                raise InvalidArgument("user_id or email: one is required")
            return None
        if ref.user_id:
            _check_id("user_id", ref.user_id, MAX_ID)
            call.detail["by"] = "user_id"
            found = await uow.users.by_id(ref.user_id)
        else:
            call.detail["by"] = "email"  # the address itself stays out of the audit trail
            found = await uow.users.by_email(normalize_email(ref.email))
        if found is None:
            raise NotFound("user: not found")
        call.user_id = found.user_id
        return found

    async def _revoke_user(
        self, uow: UnitOfWork, call: AdminCall, user_id: str, reason: str
    ) -> int:
        events = await self._revoker.revoke_user(uow, user_id, reason, self._clock.now())
        call.events.extend(events)
        ended = sum(1 for e in events if e.kind == "session")
        call.detail["revoked_sessions"] = ended
        return ended


def _limit(limit: int) -> int:
    """A listing's `limit`: 0 means the default."""
    if not 0 <= limit <= MAX_AUDIT_LIMIT:
        raise InvalidArgument(
            f"limit: between 0 (default {DEFAULT_AUDIT_LIMIT}) and {MAX_AUDIT_LIMIT}"
        )
    return limit or DEFAULT_AUDIT_LIMIT


def _check_id(name: str, value: str, limit: int) -> None:
    if not value or len(value) > limit or not value.isprintable():
        raise InvalidArgument(f"{name}: required, at most {limit} printable characters")


def _check_reason(reason: str) -> None:
    if len(reason) > MAX_REASON or not reason.isprintable():
        raise InvalidArgument(f"reason: at most {MAX_REASON} printable characters")
