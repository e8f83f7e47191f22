"""Identity's answers as the edge's own frozen types, so that no route touches protobuf."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from identity.v1 import identity_pb2 as pb


@dataclass(frozen=True)
class Tokens:
    """A new access token and the refresh token that goes into the cookie (never the body)."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    grace_replay: bool

    @classmethod
    def from_pb(cls, answer: pb.TokenResponse) -> Tokens:
        return cls(
            access_token=answer.access_token,
            expires_in=int(answer.expires_in),
            refresh_token=answer.refresh_token,
            refresh_expires_in=int(answer.refresh_expires_in),
            grace_replay=answer.grace_replay,
        )


@dataclass(frozen=True)
class Jwks:
    """The public key set as identity serializes it, with its cache lifetime and validator."""

    jwks_json: str
    max_age_seconds: int
    etag: str

    @classmethod
    def from_pb(cls, answer: pb.GetJwksResponse) -> Jwks:
        return cls(answer.jwks_json, int(answer.max_age_seconds), answer.etag)


def _time(message: pb.Session | pb.SecondFactorState, field: str) -> datetime | None:
    return getattr(message, field).ToDatetime(UTC) if message.HasField(field) else None


@dataclass(frozen=True)
class SessionInfo:
    """One of the user's sessions; times are UTC, None where identity left them unset."""

    session_id: str
    created_at: datetime | None
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str
    status_text: str
    client_ip: str
    user_agent: str
    client_id: str
    current: bool

    @classmethod
    def from_pb(cls, session: pb.Session) -> SessionInfo:
        return cls(
            session_id=session.session_id,
            created_at=_time(session, "created_at"),
            last_used_at=_time(session, "last_used_at"),
            expires_at=_time(session, "expires_at"),
            revoked_at=_time(session, "revoked_at"),
            revoked_reason=session.revoked_reason,
            status_text=session.status_text,
            client_ip=session.client_ip,
            user_agent=session.user_agent,
            client_id=session.client_id,
            current=session.current,
        )


@dataclass(frozen=True)
class SecondFactorRequired:
    """Login's answer when the password was right and a second factor is active: no session
    yet, only a short-lived single-use ticket for `/auth/login/second-factor`."""

    mfa_ticket: str
    expires_in: int


def login_answer(answer: pb.TokenResponse) -> Tokens | SecondFactorRequired:
    if answer.second_factor_required:
        return SecondFactorRequired(answer.mfa_ticket, int(answer.mfa_ticket_expires_in))
    return Tokens.from_pb(answer)


@dataclass(frozen=True)
class AccessToken:
    """A new access token for the caller's session (step-up, enrolment): the cookie is unchanged."""

    access_token: str
    expires_in: int


@dataclass(frozen=True)
class TotpEnrollment:
    """A pending TOTP secret: base32 for typing in, the otpauth URI and its QR code (SVG)."""

    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class TotpConfirmed:
    recovery_codes: tuple[str, ...]
    token: AccessToken


@dataclass(frozen=True)
class SecondFactorState:
    """The user's second factor and how the asking session last authenticated."""

    totp_enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int
    acr: str
    auth_time: datetime | None

    @classmethod
    def from_pb(cls, answer: pb.SecondFactorState) -> SecondFactorState:
        return cls(
            totp_enabled=answer.totp_enabled,
            enabled_at=_time(answer, "enabled_at"),
            recovery_codes_left=int(answer.recovery_codes_left),
            acr=answer.acr,
            auth_time=_time(answer, "auth_time"),
        )
