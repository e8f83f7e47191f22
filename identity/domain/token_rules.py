"""Whether an access token is active: one pure function shared by Introspect and identity.verify.

Active means (DESIGN §4): a valid signature by a published key, an algorithm the verifier allows
(never the token's own choice), `typ` at+jwt, the right `iss` and `aud`, inside `nbf`/`exp`/`iat`
with a small leeway, and, where revocation state is known, the session not revoked, the user's
"not before" passed and the `jti` not denied. The JWS decoding and the signature check are the
codec's (jose.py); the rules here are those of an RFC 9068 access token.

Security note for callers: PyJWT accepts more than one encoding of one signed token (a padded
signature segment, an ECDSA (r, n-s) signature), so never key a deny list on the raw token
string; key it on `jti` and `sid`. A cache of tokens already verified may be keyed by the exact
string only because every hit re-checks the times and revocation by `jti`/`sid`/user
(identity/verify/claims_cache.py): a re-encoding merely misses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from identity.domain.authentication import Level, meets
from identity.domain.errors import (
    AuthenticationTooOld,
    ExpiredToken,
    InsufficientAuthentication,
    MalformedToken,
    NotYetValid,
    RevokedToken,
    WrongAudience,
    WrongIssuer,
    WrongType,
)
from identity.domain.jose import (
    SUPPORTED_ALGORITHMS,
    VerificationKey,
    compact_segments,
    header,
    verified_payload,
)

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 §4, case-insensitive
DEFAULT_LEEWAY = timedelta(seconds=30)
MAX_LEEWAY = timedelta(seconds=60)
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "sid", "client_id")


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    audience: str
    algorithms: frozenset[str] = SUPPORTED_ALGORITHMS
    leeway: timedelta = DEFAULT_LEEWAY

    def __post_init__(self) -> None:
        if not self.algorithms or not self.algorithms <= SUPPORTED_ALGORITHMS:
            raise ValueError(
                f"algorithms must be a non-empty subset of {sorted(SUPPORTED_ALGORITHMS)}"
            )
        if not timedelta(0) <= self.leeway <= MAX_LEEWAY:
            raise ValueError("leeway must be between 0 and 60 seconds")


class AccessClaims(NamedTuple):
    """Immutable; a NamedTuple rather than a frozen dataclass because it is built once per
    verified token, and a frozen dataclass's __init__ costs more than the claim checks."""

    iss: str
    sub: str
    aud: tuple[str, ...]
    exp: int
    iat: int
    nbf: int
    jti: str
    sid: str
    client_id: str
    scope: str
    email_verified: bool  # False when absent: tokens minted before the claim existed
    # How and when the user last authenticated (RFC 8176, OIDC Core §2); empty/None when absent
    # (tokens minted before these claims existed), which no demand for a level or an age meets.
    amr: tuple[str, ...]
    acr: str | None
    auth_time: int | None
    raw: Mapping[str, Any]

    def __repr__(self) -> str:
        return f"AccessClaims(sub={self.sub!r}, sid={self.sid!r}, exp={self.exp})"


class RevocationView(Protocol):
    """What is known of revocations; held in memory, never a database query per token."""

    def session_revoked(self, sid: str) -> bool: ...

    def user_not_before(self, sub: str) -> int | None: ...

    def jti_denied(self, jti: str) -> bool: ...


def verify_access_token(
    token: object, keys: Mapping[str, VerificationKey], policy: TokenPolicy, now: datetime
) -> AccessClaims:
    """Check signature, type, issuer, audience and times; return the claims or raise."""
    segments = compact_segments(token)
    jose_header = header(segments[0])
    typ = jose_header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
        raise WrongType("typ is not at+jwt")
    payload = verified_payload(jose_header, segments, keys, policy.algorithms)
    return _check_claims(payload, policy, now)


def valid_window(exp: int, nbf: int, iat: int, leeway: float) -> tuple[float, float]:
    """The POSIX times at which a token with these claims is inside its lifetime, `leeway`
    seconds of clock skew allowed either way (RFC 7519 §4.1.4, §4.1.5)."""
    return max(nbf, iat) - leeway, exp + leeway


def check_times(exp: int, nbf: int, iat: int, current: float, leeway: float) -> None:
    """exp, nbf and iat against `current` (a POSIX time) with `leeway` seconds, on the full
    check and on a cache hit outside the window it stored (claims_cache) alike."""
    start, end = valid_window(exp, nbf, iat, leeway)
    if current > end:
        raise ExpiredToken("token expired")
    if current < start:
        raise NotYetValid("token not yet valid")


def check_not_revoked(claims: AccessClaims, revocations: RevocationView) -> None:
    if revocations.session_revoked(claims.sid) or revocations.jti_denied(claims.jti):
        raise RevokedToken("token revoked")
    not_before = revocations.user_not_before(claims.sub)
    # iat has one-second resolution: a token minted in the same second as a user-wide revocation
    # survives this check, but its session was revoked by sid in the same step.
    if not_before is not None and claims.iat < not_before:
        raise RevokedToken("token issued before the user's not-before time")


def check_active(
    token: object,
    keys: Mapping[str, VerificationKey],
    policy: TokenPolicy,
    now: datetime,
    revocations: RevocationView | None,
) -> AccessClaims:
    """The whole rule: verify_access_token, then check_not_revoked where revocations are known."""
    claims = verify_access_token(token, keys, policy, now)
    if revocations is not None:
        check_not_revoked(claims, revocations)
    return claims


def check_authentication(
    token_acr: str | None,
    auth_time: int | None,
    *,
    acr: str | None,
    max_auth_age: float | None,
    now: float,
) -> None:
    """A service's demand on how (`acr`, a level the token's must meet) and how recently
    (`max_auth_age` seconds before `now`, a POSIX time) the user authenticated; None demands
    nothing. One rule for a verified token's claims and an Introspect answer alike.

    Fails closed: a token without `acr`, or with a level we do not know, meets no demanded level;
    one without `auth_time` is never recent enough. No leeway on the age: a verifier whose clock
    runs ahead asks for a step-up a little early, never accepts a stale one. A demand that no
    token could meet (a level we do not define, a negative age) is the caller's bug: ValueError."""
    if acr is not None and acr not in _LEVELS:
        raise ValueError(f"acr must be one of {sorted(_LEVELS)}")
    if max_auth_age is not None and not max_auth_age >= 0:  # NaN too
        raise ValueError("max_auth_age must be a number of seconds, not negative")
    if acr is not None and not meets(token_acr, acr):
        raise InsufficientAuthentication(acr, max_auth_age)
    if max_auth_age is not None and (auth_time is None or now - auth_time > max_auth_age):
        raise AuthenticationTooOld(acr, max_auth_age)


_LEVELS = frozenset(str(level) for level in Level)
_REQUIRED = frozenset(REQUIRED_CLAIMS)
_MAX_DATE = 2**40
# RFC 8176 values are short names ("pwd", "otp", "hwk", ...); a token lists the few it used.
MAX_AMR_VALUES = 8
MAX_AUTHENTICATION_NAME = 32


def _numeric_date(value: object, name: str) -> int:
    # type() and not isinstance: a bool is an int to isinstance. NaN fails both comparisons and
    # an infinity the upper bound, so finiteness needs no separate check.
    if type(value) is int and 0 <= value < _MAX_DATE:
        return value
    if type(value) is float and 0 <= value < _MAX_DATE:
        return int(value)
    raise MalformedToken(f"{name} is not a NumericDate in range")


def _string(value: object, name: str, max_length: int = 1024) -> str:
    if type(value) is not str or not value or len(value) > max_length:
        raise MalformedToken(f"{name} is not a string")
    return value


def _check_claims(payload: Any, policy: TokenPolicy, now: datetime) -> AccessClaims:
    if type(payload) is not dict:
        raise MalformedToken("payload is not an object")
    if not _REQUIRED.issubset(payload):
        raise MalformedToken("required claims missing")
    iss = _string(payload["iss"], "iss")
    # RFC 9068 §4: "the issuer identifier ... MUST exactly match the value of the iss claim".
    if iss != policy.issuer:
        raise WrongIssuer("issuer does not match")
    aud_value = payload["aud"]
    if type(aud_value) is str:
        aud: tuple[str, ...] = (aud_value,)
    elif type(aud_value) is list and all(type(a) is str for a in aud_value):
        aud = tuple(aud_value)
    else:
        raise MalformedToken("aud is not a string or list of strings")
    if policy.audience not in aud:
        raise WrongAudience("audience does not match")
    exp = _numeric_date(payload["exp"], "exp")
    iat = _numeric_date(payload["iat"], "iat")
    nbf = _numeric_date(payload["nbf"], "nbf") if "nbf" in payload else iat
    scope = payload.get("scope", "")
    if type(scope) is not str:
        raise MalformedToken("scope is not a string")
    email_verified = payload.get("email_verified", False)
    if type(email_verified) is not bool:
        raise MalformedToken("email_verified is not a boolean")
    # Absent (a token minted before these claims existed) is allowed; present, even as null,
    # must be well formed.
    amr = _amr(payload["amr"]) if "amr" in payload else ()
    acr = _string(payload["acr"], "acr", MAX_AUTHENTICATION_NAME) if "acr" in payload else None
    current = now.timestamp()
    leeway = policy.leeway.total_seconds()
    auth_time = None
    if "auth_time" in payload:
        auth_time = _numeric_date(payload["auth_time"], "auth_time")
        if auth_time > current + leeway:
            raise NotYetValid("auth_time in the future")
    check_times(exp, nbf, iat, current, leeway)
    return AccessClaims(
        iss,
        _string(payload["sub"], "sub"),
        aud,
        exp,
        iat,
        nbf,
        _string(payload["jti"], "jti", 256),
        _string(payload["sid"], "sid", 256),
        _string(payload["client_id"], "client_id", 256),
        scope,
        email_verified,
        amr,
        acr,
        auth_time,
        payload,
    )


def _amr(value: object) -> tuple[str, ...]:
    if type(value) is not list or not 0 < len(value) <= MAX_AMR_VALUES:
        raise MalformedToken("amr is not a short list of strings")
    for method in value:
        _string(method, "amr", MAX_AUTHENTICATION_NAME)
    return tuple(value)
