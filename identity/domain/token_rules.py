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

import binascii
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

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
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise MalformedToken("token missing or too long")
    # Exactly three segments of the unpadded base64url alphabet (RFC 7515 §2): no padding,
    # whitespace or "+/".
    if _COMPACT_JWS.fullmatch(token) is None:
        raise MalformedToken("not a JWS compact serialisation")
    header_segment, payload_segment, signature_segment = token.split(".")
    header = _header(header_segment)
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
        raise WrongType("typ is not at+jwt")
    if "crit" in header:
        raise MalformedToken("critical header extensions are not understood")
    if "b64" in header:  # RFC 7797 needs crit, refused above; an unencoded payload is not ours
        raise MalformedToken("unencoded payloads are not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 128:
        raise UnknownKey("kid missing or not a string")
    key = keys.get(kid)
    if key is None:
        raise UnknownKey("kid not in the key set")
    alg = header.get("alg")
    if alg != key.alg or alg not in policy.algorithms:
        raise DisallowedAlgorithm("algorithm not allowed for this key")
    # Segments are decoded and the signature checked here rather than by jwt.decode: the checks
    # are the same (strict base64url, a JSON object payload, the key's one algorithm, a 64-octet
    # R||S for ES256) at a fraction of the cost, and Introspect shares them.
    signature = _b64decode(signature_segment)
    if signature is None or not _signature_valid(
        key, (header_segment + "." + payload_segment).encode("ascii"), signature
    ):
        raise BadSignature("signature does not verify")
    payload_bytes = _b64decode(payload_segment)
    if payload_bytes is None:
        raise MalformedToken("payload does not decode")
    try:
        # orjson: a quarter of json.loads's time here; strict UTF-8, nesting capped at 1024,
        # NaN/Infinity refused (each a ValueError).
        payload = orjson.loads(payload_bytes)
    except ValueError:
        raise MalformedToken("payload does not decode") from None
    return _check_claims(payload, policy, now)


_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def _b64decode(segment: str) -> bytes | None:
    """Strict unpadded base64url (callers check the alphabet first); None when not canonical:
    a length of 4n+1, or unused trailing bits set (one token, one encoding, as PyJWT refuses)."""
    tail = len(segment) % 4
    if tail == 1:
        return None
    if tail and _B64_VALUE.get(segment[-1], 1) & _UNUSED_BITS[tail]:
        return None
    try:
        return binascii.a2b_base64(
            segment.encode("ascii").translate(_URLSAFE_TO_STD) + _PAD[tail], strict_mode=True
        )
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64_VALUE = {c: i for i, c in enumerate(_B64_ALPHABET)}
_UNUSED_BITS = {2: 0x0F, 3: 0x03}  # the low bits of the last character that carry no data
_PAD = {0: b"", 2: b"==", 3: b"="}
_URLSAFE_TO_STD = bytes.maketrans(b"-_", b"+/")


def _signature_valid(key: VerificationKey, signing_input: bytes, signature: bytes) -> bool:
    """The signature under the key's own algorithm (RFC 7518 §3.3, §3.4; RFC 8037 §3.1)."""
    public = key.key
    try:
        if key.alg == "ES256":
            # Exactly R||S of 32 octets each (RFC 7518 §3.4): never DER, never another length.
            if len(signature) != 64 or not isinstance(public, ec.EllipticCurvePublicKey):
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            public.verify(der, signing_input, _ECDSA_SHA256)
        elif key.alg == "RS256":
            if not isinstance(public, rsa.RSAPublicKey):
                return False
            public.verify(signature, signing_input, _PKCS1V15, _SHA256)
        elif key.alg == "EdDSA":
            if not isinstance(public, ed25519.Ed25519PublicKey):
                return False
            public.verify(signature, signing_input)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


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


def _header(segment: str) -> Mapping[str, Any]:
    """The decoded JOSE header. Tokens of one key share one header segment, so the parse is
    memoised by the exact segment (bounded; a read-only view, so no caller can alter it)."""
    header = _parse_header(segment)
    if header is None:
        raise MalformedToken("header does not decode")
    return header


def header_kid(token: str) -> str | None:
    """The `kid` of a token's header when it is a usable one (unverified: only for lookups)."""
    segment = token.partition(".")[0] if isinstance(token, str) else ""
    if not segment or len(segment) > MAX_TOKEN_LENGTH or _SEGMENT.fullmatch(segment) is None:
        return None
    header = _parse_header(segment)
    kid = None if header is None else header.get("kid")
    return kid if isinstance(kid, str) and 0 < len(kid) <= 128 else None


def verified_kid(token: str) -> str | None:
    """The `kid` of a token verify_access_token has just accepted: its header parse is memoised,
    and the checks header_kid repeats were passed already."""
    header = _parse_header(token[: token.find(".")])
    kid = None if header is None else header.get("kid")
    return kid if isinstance(kid, str) else None


@functools.lru_cache(maxsize=256)
def _parse_header(segment: str) -> Mapping[str, Any] | None:
    decoded = _b64decode(segment)
    if decoded is None:
        return None
    try:
        header = orjson.loads(decoded)
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    return MappingProxyType(header)


_REQUIRED = frozenset(REQUIRED_CLAIMS)
_MAX_DATE = 2**40


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
    current = now.timestamp()
    leeway = policy.leeway.total_seconds()
    if current > exp + leeway:
        raise ExpiredToken("token expired")
    if nbf > current + leeway or iat > current + leeway:
        raise NotYetValid("token not yet valid")
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
        payload,
    )
