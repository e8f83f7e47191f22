"""Turn a fetched JWK Set into verification keys, keeping only keys this verifier may use.

A key is kept only when its JWK names an `alg` in the allow-list and its type matches that alg
(RFC 8725 §3.1: "each key MUST be used with exactly one algorithm"): RSA of at least 2048 bits
for RS256, EC P-256 for ES256, OKP Ed25519 for EdDSA. Anything else is skipped, never guessed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from identity.domain.jose import MAX_KID_LENGTH, VerificationKey

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 1 << 20
MAX_KEYS = 64
MIN_RSA_BITS = 2048
# Only public members reach the key constructor: a private `d` or an `x5c` chain is ignored.
_PUBLIC_MEMBERS = {
    "RS256": ("kty", "n", "e"),
    "ES256": ("kty", "crv", "x", "y"),
    "EdDSA": ("kty", "crv", "x"),
}


class InvalidKeySet(ValueError):
    """The document is not a usable JWK Set; the verifier keeps the one it had."""


def parse_jwks(document: str | bytes, algorithms: frozenset[str]) -> dict[str, VerificationKey]:
    """Parse JWK Set JSON into {kid: key}; raise InvalidKeySet when no key is usable."""
    if len(document) > MAX_JWKS_BYTES:
        raise InvalidKeySet("JWK Set too large")
    try:
        data = json.loads(document)
    except (ValueError, RecursionError):
        raise InvalidKeySet("JWK Set is not JSON") from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise InvalidKeySet("JWK Set has no keys list")
    keys: dict[str, VerificationKey] = {}
    duplicates: set[str] = set()
    for entry in entries[:MAX_KEYS]:
        key = verification_key(entry, algorithms)
        if key is None:
            continue
        if key.kid in keys:
            duplicates.add(key.kid)
        keys[key.kid] = key
    for kid in duplicates:
        # Two keys under one kid: which one a token meant is unknowable, so trust neither.
        log.warning("JWK Set lists kid %r more than once; ignoring it", kid)
        del keys[kid]
    if not keys:
        raise InvalidKeySet("JWK Set has no usable key")
    return keys


def verification_key(entry: object, algorithms: frozenset[str]) -> VerificationKey | None:
    """The key a JWK describes, or None when this verifier must not use it."""
    if not isinstance(entry, dict):
        return None
    kid, alg = entry.get("kid"), entry.get("alg")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        return None
    if not isinstance(alg, str) or alg not in algorithms or alg not in _PUBLIC_MEMBERS:
        log.info("ignoring JWK %r: alg %r not allowed", kid, alg)
        return None
    if entry.get("use", "sig") != "sig":
        return None
    public = {name: entry[name] for name in _PUBLIC_MEMBERS[alg] if name in entry}
    try:
        key = jwt.PyJWK(public, algorithm=alg).key
    except (jwt.PyJWTError, ValueError, TypeError):
        log.info("ignoring JWK %r: not a valid %s key", kid, alg)
        return None
    if not _strong_enough(key, alg):
        log.info("ignoring JWK %r: key type or size not accepted for %s", kid, alg)
        return None
    return VerificationKey(kid=kid, alg=alg, key=key)


def _strong_enough(key: Any, alg: str) -> bool:
    if alg == "RS256":
        return isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS
    if alg == "ES256":
        return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    if alg == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey)
    return False
