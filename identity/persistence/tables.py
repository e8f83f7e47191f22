"""The schema. Migrations in migrations/versions are the source of truth; this mirrors them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite keeps naive text, PostgreSQL timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Id = BigInteger().with_variant(
    Integer(), "sqlite"
)  # SQLite autoincrements INTEGER PRIMARY KEY only

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    Column("locked_at", UTCDateTime),
    Column("locked_reason", String(256)),
    Column("not_before", UTCDateTime),
    Column("email_verified", Boolean, nullable=False, server_default=false()),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=False),
    Column("idle_expires_at", UTCDateTime, nullable=False),
    Column("absolute_expires_at", UTCDateTime, nullable=False),
    Column("client_ip", String(64), nullable=False),
    Column("user_agent", String(512), nullable=False),
    # Per-session HMAC secret from which every refresh token of the family is derived,
    # AES-256-GCM under the master key with the session id as associated data.
    Column("secret_enc", LargeBinary, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("revoked_reason", String(64)),
    # How and when the user last authenticated in this session (sign-in or step-up): RFC 8176
    # method names separated by spaces ("pwd", "pwd otp"); every access token minted for the
    # session carries them as `amr`, `acr` and `auth_time`.
    Column("amr", String(32), nullable=False, server_default="pwd"),
    Column("auth_time", UTCDateTime, nullable=False),
    Index("ix_sessions_user_id", "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("digest", LargeBinary(32), primary_key=True),  # SHA-256 of the token; never the token
    Column("session_id", String(36), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Column("used_ip", String(64)),
    Column("used_user_agent", String(512)),
    UniqueConstraint("session_id", "generation", name="uq_refresh_tokens_session_generation"),
)

revocation_events = Table(
    "revocation_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("session_id", String(36)),
    Column("user_id", String(36)),
    Column("jti", String(256)),
    Column("not_before", UTCDateTime),
    Column("forget_after", UTCDateTime, nullable=False),
    Column("reason", String(64), nullable=False),
    Index("ix_revocation_events_at", "at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("user_id", String(36)),
    Column("session_id", String(36)),
    Column("outcome", String(32), nullable=False),
    Column("detail_json", Text, nullable=False),
    Index("ix_audit_events_user_id", "user_id"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("activates_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime),
    Column("unpublish_at", UTCDateTime),
    Column("public_jwk", Text, nullable=False),
    Column("private_enc", LargeBinary, nullable=False),
)

service_credentials = Table(
    "service_credentials",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("secret_digest", LargeBinary(32), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UTCDateTime, nullable=False),
    Column("blocked_until", UTCDateTime),
)

# Mailed one-time links (DESIGN §12): only the SHA-256 digest of a token, never the token.
link_tokens = Table(
    "link_tokens",
    metadata,
    Column("digest", LargeBinary(32), primary_key=True),
    Column("purpose", String(16), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # The address the link proves: the account's at the time, or the new one of an email change.
    Column("email", String(320), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Column("voided_at", UTCDateTime),
    Index("ix_link_tokens_user_id", "user_id"),
)

# The transactional outbox: a mail is a row written with whatever caused it, delivered later.
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("recipient", String(320), nullable=False),
    # Subject and bodies, AES-256-GCM under the master key with the row id as associated data;
    # erased (NULL) once delivered or given up.
    Column("body_enc", LargeBinary),
    Column("created_at", UTCDateTime, nullable=False),
    # When a sender may (next) try it; a claim moves it forward by the lease.
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("tries", Integer, nullable=False),
    Column("last_error", String(256)),
    Column("sent_at", UTCDateTime),
    Column("failed_at", UTCDateTime),
    Index("ix_mail_outbox_next_attempt_at", "next_attempt_at"),
)

# A user's TOTP factor (RFC 6238). The secret is AES-256-GCM under the master key with the user
# id as associated data; inactive until confirmed with a first code. `last_used_step` is the
# time step of the newest accepted code: a code is accepted only for a later step, so none
# works twice.
second_factors = Table(
    "second_factors",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("secret_enc", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("last_used_step", BigInteger),
)

# Single-use recovery codes: only the SHA-256 digest of each, never the code.
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("digest", LargeBinary(32), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Index("ix_recovery_codes_user_id", "user_id"),
)

# The step between a right password and a second factor: a short-lived, single-use ticket,
# stored as its SHA-256 digest, carrying what the session will be opened with.
mfa_tickets = Table(
    "mfa_tickets",
    metadata,
    Column("digest", LargeBinary(32), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("client_ip", String(64), nullable=False),
    Column("user_agent", String(512), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Column("failures", Integer, nullable=False, server_default="0"),
    Index("ix_mfa_tickets_user_id", "user_id"),
)
