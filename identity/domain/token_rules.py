"""Whether an access token is active: one pure function shared by Introspect and identity.verify.

Active means (DESIGN §4): a valid signature by a published key, an algorithm the verifier allows
(never the token's own choice), `typ` at+jwt, the right `iss` and `aud`, inside `nbf`/`exp`/`iat`
with a small leeway, and, where revocation state is known, the session not revoked, the user's
"not before" passed and the `jti` not denied.

Security note for callers: PyJWT accepts more than one encoding of one signed token (a padded
signature segment, an ECDSA (r, n-s) signature), so never key a cache or deny list on the raw
token string; key on `jti` and `sid`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import jwt

from identity.domain.errors import InvalidAccessToken

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 §4, case-insensitive
SUPPORTED_ALGORITHMS = frozenset({"ES256", "EdDSA", "RS256"})
MAX_TOKEN_LENGTH = 8192
DEFAULT_LEEWAY = timedelta(seconds=30)
MAX_LEEWAY = timedelta(seconds=60)
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "sid", "client_id")


class InvalidToken(InvalidAccessToken):
    """The token is not an active access token. Subclasses say why; the message never does."""

    code = "invalid_token"


class MalformedToken(InvalidToken):
    code = "malformed_token"


class WrongType(InvalidToken):
    code = "wrong_token_type"


class UnknownKey(InvalidToken):
    code = "unknown_key"


class DisallowedAlgorithm(InvalidToken):
    code = "disallowed_algorithm"


class BadSignature(InvalidToken):
    code = "bad_signature"


class ExpiredToken(InvalidToken):
    code = "expired_token"


class NotYetValid(InvalidToken):
    code = "token_not_yet_valid"


class WrongIssuer(InvalidToken):
    code = "wrong_issuer"


class WrongAudience(InvalidToken):
    code = "wrong_audience"


class RevokedToken(InvalidToken):
    code = "revoked_token"


@dataclass(frozen=True)
class VerificationKey:
    """A published public key, with the one algorithm it may be used with (RFC 8725 §3.1)."""

    kid: str
    alg: str
    key: Any  # a cryptography public key object


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


@dataclass(frozen=True)
class AccessClaims:
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
    raw: Mapping[str, Any] = field(repr=False)


class RevocationView(Protocol):
    """What is known of revocations; held in memory, never a database query per token."""

    def session_revoked(self, sid: str) -> bool: ...

    def user_not_before(self, sub: str) -> int | None: ...

    def jti_denied(self, jti: str) -> bool: ...


def verify_access_token(
    token: object, keys: Mapping[str, VerificationKey], policy: TokenPolicy, now: datetime
) -> AccessClaims:
    """Check signature, type, issuer, audience and times; return the claims or raise."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise MalformedToken("token missing or too long")
    if token.count(".") != 2:
        raise MalformedToken("not a JWS compact serialisation")
    header = _header(token)
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
        raise WrongType("typ is not at+jwt")
    if "crit" in header:
        raise MalformedToken("critical header extensions are not understood")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 128:
        raise UnknownKey("kid missing or not a string")
    key = keys.get(kid)
    if key is None:
        raise UnknownKey("kid not in the key set")
    alg = header.get("alg")
    if alg != key.alg or alg not in policy.algorithms:
        raise DisallowedAlgorithm("algorithm not allowed for this key")
    try:
        payload = jwt.decode(
            token,
            key.key,
            algorithms=[key.alg],
            # Times, issuer and audience are checked below against an injected clock and exact
            # strings; PyJWT only checks the signature here.
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "require": [],
            },
        )
    except jwt.InvalidSignatureError:
        raise BadSignature("signature does not verify") from None
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        raise MalformedToken("token does not decode") from None
    return _check_claims(payload, policy, now)


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


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        raise MalformedToken("header does not decode") from None
    if not isinstance(header, dict):
        raise MalformedToken("header is not an object")
    return header


def _numeric_date(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedToken(f"{name} is not a NumericDate")
    if not 0 <= value < 2**40:
        raise MalformedToken(f"{name} out of range")
    return int(value)


def _string(payload: Mapping[str, Any], name: str, *, max_length: int = 1024) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise MalformedToken(f"{name} is not a string")
    return value


def _check_claims(payload: Any, policy: TokenPolicy, now: datetime) -> AccessClaims:
    if not isinstance(payload, dict):
        raise MalformedToken("payload is not an object")
    missing = [name for name in REQUIRED_CLAIMS if name not in payload]
    if missing:
        raise MalformedToken("required claims missing")
    iss = _string(payload, "iss")
    # RFC 9068 §4: "the issuer identifier ... MUST exactly match the value of the iss claim".
    if iss != policy.issuer:
        raise WrongIssuer("issuer does not match")
    aud_value = payload["aud"]
    if isinstance(aud_value, str):
        aud: tuple[str, ...] = (aud_value,)
    elif isinstance(aud_value, list) and all(isinstance(a, str) for a in aud_value):
        aud = tuple(aud_value)
    else:
        raise MalformedToken("aud is not a string or list of strings")
    if policy.audience not in aud:
        raise WrongAudience("audience does not match")
    exp = _numeric_date(payload, "exp")
    iat = _numeric_date(payload, "iat")
    nbf = _numeric_date(payload, "nbf") if "nbf" in payload else iat
    scope = payload.get("scope", "")
    if not isinstance(scope, str):
        raise MalformedToken("scope is not a string")
    claims = AccessClaims(
        iss=iss,
        sub=_string(payload, "sub"),
        aud=aud,
        exp=exp,
        iat=iat,
        nbf=nbf,
        jti=_string(payload, "jti", max_length=256),
        sid=_string(payload, "sid", max_length=256),
        client_id=_string(payload, "client_id", max_length=256),
        scope=scope,
        raw=payload,
    )
    current = now.timestamp()
    leeway = policy.leeway.total_seconds()
    if current > exp + leeway:
        raise ExpiredToken("token expired")
    if nbf > current + leeway or iat > current + leeway:
        raise NotYetValid("token not yet valid")
    return claims
