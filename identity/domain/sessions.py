"""Session lifetimes and the reasons a session ends."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class RevocationReason(enum.StrEnum):
    LOGOUT = "logout"
    LOGOUT_ALL = "logout_all"
    USER_REVOKED = "user_revoked"
    PASSWORD_CHANGE = "password_change"
    REFRESH_TOKEN_REUSE = "refresh_token_reuse"
    ADMIN = "admin"
    USER_LOCKED = "user_locked"
    PASSWORD_RESET = "password_reset"
    SECOND_FACTOR_CHANGE = "second_factor_change"
    SECOND_FACTOR_RESET = "second_factor_reset"


STATUS_TEXT: dict[str, str] = {
    RevocationReason.LOGOUT: "ended: signed out",
    RevocationReason.LOGOUT_ALL: "ended: signed out everywhere",
    RevocationReason.USER_REVOKED: "ended: revoked by you",
    RevocationReason.PASSWORD_CHANGE: "ended: password changed",
    RevocationReason.REFRESH_TOKEN_REUSE: "ended: suspected token theft",
    RevocationReason.ADMIN: "ended: revoked by an administrator",
    RevocationReason.USER_LOCKED: "ended: account locked",
    RevocationReason.PASSWORD_RESET: "ended: password reset",
    RevocationReason.SECOND_FACTOR_CHANGE: "ended: two-step sign-in changed",
    RevocationReason.SECOND_FACTOR_RESET: "ended: two-step sign-in reset by an administrator",
}


@dataclass(frozen=True)
class SessionLifetimes:
    idle: timedelta = timedelta(days=14)
    absolute: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if self.idle <= timedelta(0) or self.absolute < self.idle:
            raise ValueError("session lifetimes: need 0 < idle <= absolute")

    def idle_expiry(self, now: datetime, absolute_expires_at: datetime) -> datetime:
        """Each rotation extends the idle lifetime, never past the absolute end."""
        return min(now + self.idle, absolute_expires_at)


@dataclass(frozen=True)
class SessionView:
    session_id: str
    user_id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    client_ip: str
    user_agent: str
    client_id: str
    revoked_at: datetime | None
    revoked_reason: str | None

    def status_text(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return STATUS_TEXT.get(self.revoked_reason or "", "ended")
        if now >= self.expires_at:
            return "ended: expired"
        return "active"
