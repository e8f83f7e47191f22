"""What the use cases need from storage: small Protocols, implemented in identity.persistence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol

from identity.domain.authentication import Authentication
from identity.domain.keys import KeyRecord
from identity.domain.links import LinkPurpose, LinkRecord, NewLink
from identity.domain.refresh import ClientInfo, PresentedToken
from identity.domain.second_factor import NewTicket, TicketRecord
from identity.domain.sessions import SessionView


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    email: str
    password_hash: str
    created_at: datetime
    locked_at: datetime | None
    not_before: datetime | None
    email_verified: bool = False
    # A confirmed TOTP factor: Login answers with an MFA ticket instead of a session.
    second_factor_enabled: bool = False


@dataclass(frozen=True)
class FactorRecord:
    """A user's TOTP factor: pending until `confirmed_at`; `last_used_step` is the time step
    of the newest accepted code."""

    user_id: str
    secret_enc: bytes = field(repr=False)
    created_at: datetime
    confirmed_at: datetime | None
    last_used_step: int | None


@dataclass(frozen=True)
class NewSession:
    session_id: str
    user_id: str
    client_id: str
    client: ClientInfo
    secret_enc: bytes
    created_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime
    first_token_digest: bytes
    # How the user signed in; every access token of the session carries it.
    authentication: Authentication


@dataclass(frozen=True)
class RevocationEvent:
    cursor: int
    kind: str  # "session" | "user" | "access_token"
    at: datetime
    forget_after: datetime
    session_id: str | None = None
    user_id: str | None = None
    jti: str | None = None
    not_before: datetime | None = None
    reason: str = ""


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    kind: str
    actor: str
    user_id: str | None
    session_id: str | None
    outcome: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class CredentialRecord:
    credential_id: str
    name: str
    role: str
    secret_digest: bytes


class UserStore(Protocol):
    async def add(
        self, user_id: str, email: str, email_key: str, password_hash: str, now: datetime
    ) -> None: ...
    async def by_email(self, email_key: str) -> UserRecord | None: ...
    async def by_id(self, user_id: str) -> UserRecord | None: ...
    async def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None: ...
    async def set_not_before(self, user_id: str, not_before: datetime) -> None: ...
    async def set_locked(self, user_id: str, locked_at: datetime | None, reason: str) -> None: ...
    async def set_email_verified(self, user_id: str, email_key: str) -> bool: ...
    async def set_email(self, user_id: str, email: str, email_key: str) -> None: ...
    async def last_login(self, user_id: str) -> datetime | None: ...


class LinkStore(Protocol):
    async def add(self, link: NewLink, user_id: str, email: str, now: datetime) -> None:
        """Store a new link token's digest and void the user's older live ones of its purpose."""
        ...

    async def find(self, digest: bytes, purpose: LinkPurpose, now: datetime) -> LinkRecord | None:
        """The live (unused, unvoided, unexpired) token of this digest and purpose, if any."""
        ...

    async def consume(
        self, digest: bytes, purpose: LinkPurpose, now: datetime
    ) -> LinkRecord | None:
        """Mark the token used if it is live, atomically; None if it was not (or is no more)."""
        ...

    async def void(self, user_id: str, purpose: LinkPurpose, now: datetime) -> None: ...


@dataclass(frozen=True)
class OutboxEntry:
    """A mail claimed for delivery (`body_enc` is the encrypted Mail) or listed for operators
    (`body_enc` None: listings never read bodies)."""

    mail_id: str
    kind: str
    recipient: str
    created_at: datetime
    tries: int
    next_attempt_at: datetime
    last_error: str | None
    failed_at: datetime | None
    body_enc: bytes | None = field(default=None, repr=False)


class Outbox(Protocol):
    async def add(
        self, mail_id: str, kind: str, recipient: str, body_enc: bytes, now: datetime
    ) -> None: ...
    async def claim(self, now: datetime, lease: timedelta, limit: int) -> Sequence[OutboxEntry]:
        """Due mails, each counted as one more try and hidden from other senders for `lease`."""
        ...

    async def sent(self, mail_id: str, now: datetime) -> None: ...
    async def retry(self, mail_id: str, at: datetime, error: str) -> None: ...
    async def give_up(self, mail_id: str, now: datetime, error: str) -> None: ...
    async def pending(self) -> int: ...
    async def undelivered(self, limit: int) -> Sequence[OutboxEntry]: ...


class LoginLog(Protocol):
    async def succeeded(
        self, new: NewSession, detail: dict[str, Any], end_streak: str | None
    ) -> None:
        """What a successful login writes, all or nothing: the session and its first refresh
        token, the login_succeeded audit event (with `detail`), and, given a throttle key in
        `end_streak`, the end of that key's failure streak. One statement where the database
        allows (PostgreSQL), so a unit of work with autocommit needs no transaction for it."""
        ...


class RotationSteps(Protocol):
    async def consume_refresh_token(
        self, digest: bytes, now: datetime, client: ClientInfo
    ) -> PresentedToken | None:
        """Mark the token used if it is unused and its session live; then the facts the
        rotation decides on, its session's secret among them (read in the same step: one round
        trip fewer). None for a digest no token has."""
        ...

    async def record_rotation(
        self,
        session_id: str,
        generation: int,
        digest: bytes,
        now: datetime,
        idle_expires_at: datetime,
    ) -> None: ...


class SessionStore(RotationSteps, Protocol):
    async def session_of_token(self, digest: bytes) -> str | None: ...
    async def revoke(self, session_id: str, reason: str, now: datetime) -> bool: ...
    async def revoke_user(
        self, user_id: str, reason: str, now: datetime, keep: str | None = None
    ) -> list[str]: ...
    async def list_for_user(self, user_id: str, include_ended: bool) -> Sequence[SessionView]: ...
    async def get(self, session_id: str) -> SessionView | None: ...
    async def authentication_of(self, session_id: str, now: datetime) -> Authentication | None:
        """How the live session's user last authenticated; None for an ended session."""
        ...

    async def set_authentication(
        self, session_id: str, authentication: Authentication, now: datetime
    ) -> bool:
        """Record a step-up on the live session; False if it has ended."""
        ...


class SecondFactorStore(Protocol):
    async def get(self, user_id: str) -> FactorRecord | None: ...
    async def lock(self, user_id: str) -> FactorRecord | None:
        """The factor, read with its row locked until the transaction ends: one code check at a
        time per user."""
        ...

    async def put_pending(self, user_id: str, secret_enc: bytes, now: datetime) -> None: ...
    async def confirm(self, user_id: str, step: int, now: datetime) -> bool: ...
    async def use_step(self, user_id: str, step: int) -> bool:
        """Accept a code of `step` only if no code of this or a later step was accepted."""
        ...

    async def delete(self, user_id: str) -> bool: ...


class RecoveryCodeStore(Protocol):
    async def replace(self, user_id: str, digests: Sequence[bytes], now: datetime) -> None: ...
    async def use(self, user_id: str, digest: bytes, now: datetime) -> bool: ...
    async def left(self, user_id: str) -> int: ...
    async def delete(self, user_id: str) -> None: ...


class MfaTicketStore(Protocol):
    async def add(
        self, ticket: NewTicket, user_id: str, client_id: str, client: ClientInfo, now: datetime
    ) -> None: ...
    async def find(self, digest: bytes, now: datetime) -> TicketRecord | None: ...
    async def consume(self, digest: bytes, now: datetime) -> TicketRecord | None: ...
    async def failed(self, digest: bytes) -> int: ...
    async def delete_for_user(self, user_id: str) -> None: ...


class KeyStore(Protocol):
    async def all(self) -> Sequence[KeyRecord]: ...
    async def add(self, record: KeyRecord) -> None: ...
    async def update_state(self, record: KeyRecord) -> None: ...
    async def lock_for_rotation(self) -> bool: ...


class RevocationLog(Protocol):
    async def append(self, event: RevocationEvent) -> int: ...
    async def since(
        self, cursor: int, recent_after: datetime | None, now: datetime, limit: int
    ) -> Sequence[RevocationEvent]: ...


class AuditLog(Protocol):
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
    ) -> None: ...
    async def list(
        self, user_id: str | None, kind: str | None, limit: int, before_id: int | None
    ) -> Sequence[AuditRecord]: ...


class CredentialStore(Protocol):
    async def add(
        self, credential_id: str, name: str, role: str, secret_digest: bytes, now: datetime
    ) -> None: ...
    async def active(self) -> Sequence[CredentialRecord]: ...


@dataclass(frozen=True)
class ThrottleState:
    blocked_until: datetime | None  # the latest block among the keys, if any
    failing: frozenset[str]  # the keys with a failure streak on record


class ThrottleStore(Protocol):
    async def state(self, keys: Sequence[str]) -> ThrottleState: ...
    async def record_failure(self, key: str, now: datetime, reset_before: datetime) -> int: ...
    async def block(self, key: str, until: datetime) -> None: ...
    async def clear(self, key: str) -> None: ...


class RotationUnit(Protocol):
    """What a refresh rotation needs of a unit of work: its two steps (every UnitOfWork is one)."""

    @property
    def sessions(self) -> RotationSteps: ...
    async def __aenter__(self) -> RotationUnit: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


class UnitOfWork(RotationUnit, Protocol):
    @property
    def users(self) -> UserStore: ...
    @property
    def sessions(self) -> SessionStore: ...
    @property
    def keys(self) -> KeyStore: ...
    @property
    def revocations(self) -> RevocationLog: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def credentials(self) -> CredentialStore: ...
    @property
    def throttle(self) -> ThrottleStore: ...
    @property
    def logins(self) -> LoginLog: ...
    @property
    def links(self) -> LinkStore: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def second_factors(self) -> SecondFactorStore: ...
    @property
    def recovery_codes(self) -> RecoveryCodeStore: ...
    @property
    def mfa_tickets(self) -> MfaTicketStore: ...

    async def __aenter__(self) -> UnitOfWork: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, autocommit: bool = False) -> UnitOfWork:
        """autocommit: each statement may commit on its own, sparing the BEGIN and COMMIT (or
        ROLLBACK) round trips. Only for a unit that reads, or writes with a single statement:
        READ COMMITTED gives a transaction's statements each their own snapshot anyway, so
        reads lose nothing, but two writes would no longer be all or nothing. commit() is still
        called: where the database keeps the transaction (SQLite), it commits it."""
        ...

    def rotation(self) -> RotationUnit:
        """A refresh rotation's unit of work: its two steps in autocommit, and as little as the
        database allows around them (on PostgreSQL, no SQLAlchemy Connection: the hot path)."""
        ...
