"""Refresh tokens and the rotation decision (DESIGN §2).

A refresh token is opaque: a fixed prefix (for secret scanners) and 32 bytes, base64url. Only its
SHA-256 digest is stored. Token number `generation` of a session is HMAC-SHA256(session secret,
session id ‖ generation): the secret is random (CSPRNG, 256 bits) and stored encrypted under the
master key, so the successor of a token can be re-derived for a grace replay without ever storing
a live token.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from identity.domain.errors import InvalidRefreshToken

REFRESH_TOKEN_PREFIX = "idrt_"
_TOKEN_RE = re.compile(r"idrt_[A-Za-z0-9_-]{43}")


def derive_refresh_token(secret: bytes, session_id: str, generation: int) -> str:
    mac = hmac.new(secret, f"refresh:{session_id}:{generation}".encode(), hashlib.sha256).digest()
    return REFRESH_TOKEN_PREFIX + base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def refresh_token_digest(token: str) -> bytes:
    """The stored form of a token. Refuses anything not shaped like one of ours, cheaply."""
    if not isinstance(token, str) or _TOKEN_RE.fullmatch(token) is None:
        raise InvalidRefreshToken("malformed refresh token")
    return hashlib.sha256(token.encode("ascii")).digest()


def looks_like_refresh_token(token: str) -> bool:
    return isinstance(token, str) and _TOKEN_RE.fullmatch(token) is not None


@dataclass(frozen=True)
class ClientInfo:
    """Who presented a token: the end user's address and user agent, as the edge saw them."""

    ip: str = ""
    user_agent: str = ""

    def same_client(self, other: ClientInfo) -> bool:
        return self.ip == other.ip and self.user_agent == other.user_agent


@dataclass(frozen=True)
class PresentedToken:
    """Facts the store found for a presented refresh token, after trying to consume it."""

    session_id: str
    user_id: str
    generation: int
    consumed_now: bool  # this call won the atomic "mark used where unused" update
    used_at: datetime | None
    used_by: ClientInfo
    session_revoked: bool
    idle_expires_at: datetime
    absolute_expires_at: datetime
    successor_used_at: datetime | None


class Outcome(enum.Enum):
    ROTATE = "rotate"
    GRACE_REPLAY = "grace_replay"
    REUSE = "reuse"
    INVALID = "invalid"


class ReuseCause(enum.Enum):
    LATE_CONCURRENT_RETRY = "late_concurrent_retry"
    LOST_RESPONSE = "lost_response"
    THEFT_SUSPECTED = "theft_suspected"


@dataclass(frozen=True)
class RefreshDecision:
    outcome: Outcome
    cause: ReuseCause | None = None


# A replay from the same client this soon after the successor was used looks like a tab that lost
# a race rather than a thief; the session is revoked all the same, only the label differs.
LATE_RETRY_WINDOW = timedelta(minutes=5)


def decide_refresh(
    found: PresentedToken | None, now: datetime, grace: timedelta, client: ClientInfo
) -> RefreshDecision:
    """Rotate, replay within grace (the same successor again), or treat as reuse (revoke)."""
    if found is None:
        return RefreshDecision(Outcome.INVALID)
    if found.session_revoked or now >= found.idle_expires_at or now >= found.absolute_expires_at:
        return RefreshDecision(Outcome.INVALID)
    if found.consumed_now:
        return RefreshDecision(Outcome.ROTATE)
    if found.used_at is None:
        return RefreshDecision(Outcome.INVALID)
    if found.successor_used_at is None and now - found.used_at <= grace:
        return RefreshDecision(Outcome.GRACE_REPLAY)
    return RefreshDecision(Outcome.REUSE, classify_reuse(found, now, client))


def classify_reuse(found: PresentedToken, now: datetime, client: ClientInfo) -> ReuseCause:
    same = found.used_by.same_client(client)
    if same and found.successor_used_at is None:
        return ReuseCause.LOST_RESPONSE
    if same and found.used_at is not None and now - found.used_at <= LATE_RETRY_WINDOW:
        return ReuseCause.LATE_CONCURRENT_RETRY
    return ReuseCause.THEFT_SUSPECTED
