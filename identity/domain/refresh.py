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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from identity.domain.authentication import Authentication
from identity.domain.errors import InvalidRefreshToken
from identity.domain.opaque import opaque_digest

REFRESH_TOKEN_PREFIX = "idrt_"
_TOKEN_RE = re.compile(r"idrt_[A-Za-z0-9_-]{43}")


def derive_refresh_token(secret: bytes, session_id: str, generation: int) -> str:
    mac = hmac.new(secret, f"refresh:{session_id}:{generation}".encode(), hashlib.sha256).digest()
    return REFRESH_TOKEN_PREFIX + base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def refresh_token_digest(token: str) -> bytes:
    """The stored form of a token. Refuses anything not shaped like one of ours, cheaply."""
    if not isinstance(token, str) or _TOKEN_RE.fullmatch(token) is None:
        raise InvalidRefreshToken("malformed refresh token")
    return opaque_digest(token)


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
    """What the store found for a presented refresh token, after trying to consume it: the
    token, its session, and its successor's use, read in one step."""

    session_id: str
    user_id: str
    client_id: str
    generation: int
    consumed_now: bool  # this call won the atomic "mark used where unused" update
    used_at: datetime | None
    used_by: ClientInfo
    session_revoked: bool
    idle_expires_at: datetime
    absolute_expires_at: datetime
    successor_used_at: datetime | None
    # Whether the successor's row exists. Only a rotation interrupted between its two writes
    # (PostgreSQL commits the consume and the successor separately) leaves a used token without
    # one; its grace replay writes it.
    successor_issued: bool
    # The session's secret, encrypted under the master key: what the successor derives from.
    secret_enc: bytes = field(repr=False)
    # The session's last authentication (sign-in or step-up): the new access token's amr, acr
    # and auth_time, so a rotation preserves them.
    authentication: Authentication
    # The user's, read with the token: the new access token's email_verified claim.
    email_verified: bool = False


class ReuseCause(enum.Enum):
    LATE_CONCURRENT_RETRY = "late_concurrent_retry"
    LOST_RESPONSE = "lost_response"
    THEFT_SUSPECTED = "theft_suspected"


@dataclass(frozen=True)
class Use:
    """One side of a reuse incident: when and by whom the token was presented."""

    at: datetime
    by: ClientInfo


@dataclass(frozen=True)
class Rotate:
    """The token was live and this call consumed it: issue its successor."""

    outcome: ClassVar[str] = "rotate"
    token: PresentedToken


@dataclass(frozen=True)
class GraceReplay:
    """Used moments ago, successor unused: the same successor again, no new refresh token."""

    outcome: ClassVar[str] = "grace_replay"
    token: PresentedToken


@dataclass(frozen=True)
class Reuse:
    """Used before, outside the grace window or after its successor: revoke, and record the
    two-sided incident (first use, replay) under its cause."""

    outcome: ClassVar[str] = "reuse"
    token: PresentedToken
    cause: ReuseCause
    first_use: Use
    replay: Use


@dataclass(frozen=True)
class Invalid:
    """Unknown token (None), or its session ended: one refusal for all."""

    outcome: ClassVar[str] = "invalid"
    token: PresentedToken | None


RefreshDecision = Rotate | GraceReplay | Reuse | Invalid

# A replay from the same client this soon after the successor was used looks like a tab that lost
# a race rather than a thief; the session is revoked all the same, only the label differs.
LATE_RETRY_WINDOW = timedelta(minutes=5)


def decide_refresh(
    found: PresentedToken | None, now: datetime, grace: timedelta, client: ClientInfo
) -> RefreshDecision:
    """Rotate, replay within grace (the same successor again), or treat as reuse (revoke)."""
    if found is None:
        return Invalid(None)
    if found.session_revoked or now >= found.idle_expires_at or now >= found.absolute_expires_at:
        return Invalid(found)
    if found.consumed_now:
        return Rotate(found)
    if found.used_at is None:
        return Invalid(found)
    if found.successor_used_at is None and now - found.used_at <= grace:
        return GraceReplay(found)
    first_use, replay = Use(found.used_at, found.used_by), Use(now, client)
    return Reuse(found, classify_reuse(found, first_use, replay), first_use, replay)


def classify_reuse(found: PresentedToken, first_use: Use, replay: Use) -> ReuseCause:
    same = first_use.by.same_client(replay.by)
    if same and found.successor_used_at is None:
        return ReuseCause.LOST_RESPONSE
    if same and replay.at - first_use.at <= LATE_RETRY_WINDOW:
        return ReuseCause.LATE_CONCURRENT_RETRY
    return ReuseCause.THEFT_SUSPECTED
