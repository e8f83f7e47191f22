"""The second factor's rules besides TOTP itself: what a code looks like, recovery codes, the
MFA ticket between password and code, and what counts as a recent step-up.

A typed code is either six TOTP digits or a recovery code. Recovery codes are ten, each 80
random bits shown as 16 lowercase base32 characters in groups of four (`abcd-efgh-ijkl-mnop`),
accepted in any case, with or without dashes or spaces; only their SHA-256 digests are stored
(80 bits make a search of a leaked digest hopeless, so no slow hash is needed). The MFA ticket
is `idmt_` and 32 random bytes, base64url, stored as its digest like a link token
(identity.domain.links).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from identity.domain.authentication import Authentication, Level
from identity.domain.errors import InvalidArgument, SecondFactorRefused
from identity.domain.opaque import new_opaque_token, opaque_digest
from identity.domain.refresh import ClientInfo

RECOVERY_CODES = 10
_RECOVERY_BYTES = 10  # 80 bits: 16 base32 characters
# A TOTP code: six digits, as every authenticator app shows by default (identity.domain.totp).
DIGITS = 6
MAX_CODE_LENGTH = 64
_TOTP_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")
_RECOVERY_CODE = re.compile(r"[a-z2-7]{16}")
_SEPARATORS = re.compile(r"[\s-]+")

TICKET_PREFIX = "idmt_"
_TICKET = re.compile(r"idmt_[A-Za-z0-9_-]{43}")
# Wrong codes a ticket survives; the next one kills it (the account throttle counts them too).
TICKET_MAX_FAILURES = 5
DEFAULT_TICKET_TTL = timedelta(seconds=300)
DEFAULT_STEP_UP_MAX_AGE = timedelta(seconds=300)


@dataclass(frozen=True)
class TotpCode:
    digits: str

    def __repr__(self) -> str:
        return "TotpCode(…)"


@dataclass(frozen=True)
class RecoveryCode:
    digest: bytes

    def __repr__(self) -> str:
        return "RecoveryCode(…)"


def parse_code(raw: object) -> TotpCode | RecoveryCode:
    """A typed code, spaces and dashes ignored: six digits, or a recovery code. Anything else
    is bad input (refused before any lookup, so it counts as no attempt)."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidArgument("code: required")
    if len(raw) > MAX_CODE_LENGTH:
        raise InvalidArgument(f"code: at most {MAX_CODE_LENGTH} characters")
    compact = _SEPARATORS.sub("", raw).lower()
    if _TOTP_CODE.fullmatch(compact):
        return TotpCode(compact)
    if _RECOVERY_CODE.fullmatch(compact):
        return RecoveryCode(_recovery_digest(compact))
    raise InvalidArgument(f"code: {DIGITS} digits or a recovery code")


def new_recovery_codes() -> list[str]:
    """Ten fresh codes as shown to the user, once."""
    codes = []
    for _ in range(RECOVERY_CODES):
        text = base64.b32encode(os.urandom(_RECOVERY_BYTES)).decode("ascii").lower()
        codes.append("-".join(text[i : i + 4] for i in range(0, len(text), 4)))
    return codes


def recovery_digest(code: str) -> bytes:
    """The stored form of a code as `new_recovery_codes` shows it."""
    parsed = parse_code(code)
    assert isinstance(parsed, RecoveryCode)
    return parsed.digest


def _recovery_digest(compact: str) -> bytes:
    return hashlib.sha256(b"recovery:" + compact.encode("ascii")).digest()


@dataclass(frozen=True)
class NewTicket:
    """A fresh MFA ticket: the token goes into Login's answer, the digest into the database."""

    token: str
    digest: bytes
    expires_at: datetime

    def __repr__(self) -> str:
        return f"NewTicket(expires_at={self.expires_at.isoformat()})"


@dataclass(frozen=True)
class TicketRecord:
    """A live ticket as the store found it: whose, and what the session will be opened with."""

    user_id: str
    client_id: str
    client: ClientInfo
    failures: int


def new_ticket(now: datetime, ttl: timedelta) -> NewTicket:
    token = new_opaque_token(TICKET_PREFIX)
    return NewTicket(token, ticket_digest(token), now + ttl)


def ticket_digest(token: object) -> bytes:
    """The stored form of a presented ticket; anything not shaped like one is refused here with
    the one error every bad ticket or code gets."""
    if not isinstance(token, str) or _TICKET.fullmatch(token) is None:
        raise SecondFactorRefused()
    return opaque_digest(token)


def recent_step_up(
    authentication: Authentication | None, now: datetime, max_age: timedelta
) -> bool:
    """Whether a session proved the second factor recently enough for a sensitive change of
    the factor itself: AAL2, authenticated no longer than `max_age` ago (and not in the
    future, beyond a clock's second)."""
    if authentication is None or authentication.acr is not Level.AAL2:
        return False
    age = now - authentication.at
    return timedelta(seconds=-1) <= age <= max_age
