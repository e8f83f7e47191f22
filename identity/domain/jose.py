"""The JWS codec: compact parse and serialisation, canonical base64url, header parse, and
signature and its check per algorithm.

Private to the token rules (token_rules.py) and the verified-token cache: nothing here knows
what an access token is. It decodes exactly one encoding of a signed token (RFC 7515 §3.1
compact serialisation, unpadded base64url, no bits set past the data) and checks a signature
under the key's one algorithm (RFC 8725 §3.1), never the token's choice of algorithm.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from identity.domain.errors import BadSignature, DisallowedAlgorithm, MalformedToken, UnknownKey

SUPPORTED_ALGORITHMS = frozenset({"ES256", "EdDSA", "RS256"})
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
MAX_TOKEN_LENGTH = 8192  # longer tokens are refused before anything is decoded
MAX_KID_LENGTH = 128  # a header kid, and a JWK's kid, longer than this is no key of ours


@dataclass(frozen=True)
class VerificationKey:
    """A published public key, with the one algorithm it may be used with (RFC 8725 §3.1)."""

    kid: str
    alg: str
    key: Any  # a cryptography public key object


def compact_segments(token: object) -> list[str]:
    """The header, payload and signature segments of a JWS compact serialisation, or raise."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise MalformedToken("token missing or too long")
    # Exactly three segments of the unpadded base64url alphabet (RFC 7515 §2): no padding,
    # whitespace or "+/".
    if _COMPACT_JWS.fullmatch(token) is None:
        raise MalformedToken("not a JWS compact serialisation")
    return token.split(".")


def header(segment: str) -> Mapping[str, Any]:
    """The decoded JOSE header. Tokens of one key share one header segment, so the parse is
    memoised by the exact segment (bounded; a read-only view, so no caller can alter it)."""
    parsed = _parse_header(segment)
    if parsed is None:
        raise MalformedToken("header does not decode")
    return parsed


def verified_payload(
    header: Mapping[str, Any],
    segments: list[str],
    keys: Mapping[str, VerificationKey],
    algorithms: frozenset[str],
) -> Any:
    """The decoded JSON payload once the signature verifies under the header's `kid`, by that
    key's own algorithm, which must also be in `algorithms`; raise otherwise."""
    if "crit" in header:
        raise MalformedToken("critical header extensions are not understood")
    if "b64" in header:  # RFC 7797 needs crit, refused above; an unencoded payload is not ours
        raise MalformedToken("unencoded payloads are not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise UnknownKey("kid missing or not a string")
    key = keys.get(kid)
    if key is None:
        raise UnknownKey("kid not in the key set")
    alg = header.get("alg")
    if alg != key.alg or alg not in algorithms:
        raise DisallowedAlgorithm("algorithm not allowed for this key")
    # Decoded and checked here rather than by jwt.decode: the checks are the same (strict
    # base64url, a JSON payload, the key's one algorithm, a 64-octet R||S for ES256) at a
    # fraction of the cost.
    header_segment, payload_segment, signature_segment = segments
    signature = b64decode(signature_segment)
    if signature is None or not signature_valid(
        key, (header_segment + "." + payload_segment).encode("ascii"), signature
    ):
        raise BadSignature("signature does not verify")
    payload_bytes = b64decode(payload_segment)
    if payload_bytes is None:
        raise MalformedToken("payload does not decode")
    try:
        # orjson: a quarter of json.loads's time here; strict UTF-8, nesting capped at 1024,
        # NaN/Infinity refused (each a ValueError).
        return orjson.loads(payload_bytes)
    except ValueError:
        raise MalformedToken("payload does not decode") from None


def b64decode(segment: str) -> bytes | None:
    """Strict unpadded base64url (callers check the alphabet first); None when not canonical:
    a length of 4n+1, or unused trailing bits set (one token, one encoding, as PyJWT refuses)."""
    tail = len(segment) % 4
    if tail:  # a multiple of 4 (the jti hint on every cache hit) goes straight to binascii
        if tail == 1 or _B64_VALUE.get(segment[-1], 1) & _UNUSED_BITS[tail]:
            return None
        segment += _PAD[tail]
    try:
        return _a2b_base64(segment.encode("ascii").translate(_URLSAFE_TO_STD), strict_mode=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def signature_valid(key: VerificationKey, signing_input: bytes, signature: bytes) -> bool:
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


def signed_compact(alg: str, kid: str, private: PrivateKey, claims: dict[str, Any]) -> str:
    """A JWS compact serialisation of `claims` (RFC 7515 §7.1) signed by `private` under `alg`,
    with the header {"alg", "kid", "typ": "at+jwt"} (RFC 9068 §2.1).

    What jwt.encode produces, at less cost: the header segment is the same for every token of
    a key (memoised), the payload is serialised by orjson (compact, like PyJWT's), and an ES256
    signature is the fixed-length R||S of RFC 7518 §3.4. The tests decode its tokens with PyJWT.
    """
    signing_input = _header_segment(alg, kid) + b"." + _b64encode(orjson.dumps(claims))
    if alg == "ES256" and isinstance(private, ec.EllipticCurvePrivateKey):
        if not isinstance(private.curve, ec.SECP256R1):
            raise ValueError("ES256 needs a P-256 key")
        r, s = decode_dss_signature(private.sign(signing_input, _ECDSA_SHA256))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "RS256" and isinstance(private, rsa.RSAPrivateKey):
        signature = private.sign(signing_input, _PKCS1V15, _SHA256)
    elif alg == "EdDSA" and isinstance(private, ed25519.Ed25519PrivateKey):
        signature = private.sign(signing_input)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r} for this key")
    return (signing_input + b"." + _b64encode(signature)).decode("ascii")


@functools.lru_cache(maxsize=16)
def _header_segment(alg: str, kid: str) -> bytes:
    return _b64encode(orjson.dumps({"alg": alg, "kid": kid, "typ": "at+jwt"}))


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def header_kid(token: str) -> str | None:
    """The `kid` of a token's header when it is a usable one (unverified: only for lookups)."""
    segment = token.partition(".")[0] if isinstance(token, str) else ""
    if not segment or len(segment) > MAX_TOKEN_LENGTH or _SEGMENT.fullmatch(segment) is None:
        return None
    parsed = _parse_header(segment)
    kid = None if parsed is None else parsed.get("kid")
    return kid if isinstance(kid, str) and 0 < len(kid) <= MAX_KID_LENGTH else None


def verified_kid(token: str) -> str | None:
    """The `kid` of a token verified_payload has just accepted: its header parse is memoised,
    and the checks header_kid repeats were passed already."""
    parsed = _parse_header(token[: token.find(".")])
    kid = None if parsed is None else parsed.get("kid")
    return kid if isinstance(kid, str) else None


@functools.lru_cache(maxsize=256)
def _parse_header(segment: str) -> Mapping[str, Any] | None:
    decoded = b64decode(segment)
    if decoded is None:
        return None
    try:
        parsed = orjson.loads(decoded)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    return MappingProxyType(parsed)


_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64_VALUE = {c: i for i, c in enumerate(_B64_ALPHABET)}
_UNUSED_BITS = {2: 0x0F, 3: 0x03}  # the low bits of the last character that carry no data
_PAD = {2: "==", 3: "="}
_URLSAFE_TO_STD = bytes.maketrans(b"-_", b"+/")
_a2b_base64 = binascii.a2b_base64
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
