"""Signing keys: generation, JWK form, and the lifecycle next -> current -> previous -> retired.

A new key is published (state NEXT) at least one JWKS cache lifetime before it signs, so a
verifier holding a cached JWKS never meets an unknown `kid`; a replaced key stays published
(PREVIOUS) until every token it signed has expired, plus leeway.
"""

from __future__ import annotations

import base64
import enum
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from identity.domain.jose import SUPPORTED_ALGORITHMS, PrivateKey, VerificationKey
from identity.domain.master_key import MasterKey


class KeyState(enum.StrEnum):
    NEXT = "next"
    CURRENT = "current"
    PREVIOUS = "previous"
    RETIRED = "retired"


@dataclass(frozen=True)
class KeyRecord:
    """A signing key as stored: public JWK in clear, private key encrypted under the master key."""

    kid: str
    alg: str
    state: KeyState
    created_at: datetime
    activates_at: datetime
    retired_at: datetime | None
    unpublish_at: datetime | None
    public_jwk: Mapping[str, Any]
    private_enc: bytes

    def published(self, now: datetime) -> bool:
        if self.state is KeyState.RETIRED:
            return False
        return self.unpublish_at is None or now < self.unpublish_at


@dataclass(frozen=True)
class KeyTimings:
    jwks_max_age: timedelta = timedelta(minutes=5)
    max_token_ttl: timedelta = timedelta(minutes=60)
    leeway: timedelta = timedelta(seconds=60)
    rotation_interval: timedelta = timedelta(days=30)


def new_kid() -> str:
    return base64.urlsafe_b64encode(os.urandom(12)).decode("ascii")


def generate_private_key(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(
        f"unsupported signing algorithm {alg!r}; choose one of {sorted(SUPPORTED_ALGORITHMS)}"
    )


def public_jwk(private: PrivateKey, kid: str, alg: str) -> dict[str, Any]:
    public = private.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        jwk = json.loads(ECAlgorithm.to_jwk(public))
    elif isinstance(public, ed25519.Ed25519PublicKey):
        jwk = json.loads(OKPAlgorithm.to_jwk(public))
    else:
        jwk = json.loads(RSAAlgorithm.to_jwk(public))
    # Keep public members only, whatever the library added.
    allowed = {"kty", "crv", "x", "y", "n", "e"}
    clean = {k: v for k, v in jwk.items() if k in allowed}
    clean.update(kid=kid, alg=alg, use="sig")
    return clean


def create_key(
    alg: str, master: MasterKey, now: datetime, state: KeyState, activates_at: datetime
) -> KeyRecord:
    kid = new_kid()
    private = generate_private_key(alg)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return KeyRecord(
        kid=kid,
        alg=alg,
        state=state,
        created_at=now,
        activates_at=activates_at,
        retired_at=None,
        unpublish_at=None,
        public_jwk=public_jwk(private, kid, alg),
        private_enc=master.encrypt(pem, kid.encode()),
    )


def load_private_key(record: KeyRecord, master: MasterKey) -> PrivateKey:
    pem = master.decrypt(record.private_enc, record.kid.encode())
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    ):
        raise ValueError("stored key is of an unsupported type")
    return key


def verification_key(record: KeyRecord) -> VerificationKey:
    jwk = jwt.PyJWK(dict(record.public_jwk), algorithm=record.alg)
    return VerificationKey(kid=record.kid, alg=record.alg, key=jwk.key)


def jwks_document(records: Iterable[KeyRecord], now: datetime) -> dict[str, Any]:
    keys = [
        dict(r.public_jwk) for r in sorted(records, key=lambda r: r.created_at) if r.published(now)
    ]
    return {"keys": keys}


def advance_lifecycle(
    records: Sequence[KeyRecord], now: datetime, timings: KeyTimings
) -> list[KeyRecord]:
    """Return the records whose state must change at `now` (promote due NEXT, demote and retire)."""
    changed: list[KeyRecord] = []
    due = [r for r in records if r.state is KeyState.NEXT and r.activates_at <= now]
    if due:
        newest = max(due, key=lambda r: r.activates_at)
        changed.append(replace(newest, state=KeyState.CURRENT))
        unpublish = now + timings.max_token_ttl + timings.leeway
        for r in records:
            if r.state is KeyState.CURRENT or (r.state is KeyState.NEXT and r is not newest):
                changed.append(
                    replace(r, state=KeyState.PREVIOUS, retired_at=now, unpublish_at=unpublish)
                )
    for r in records:
        if r.state is KeyState.PREVIOUS and r.unpublish_at is not None and r.unpublish_at <= now:
            changed.append(replace(r, state=KeyState.RETIRED))
    return changed


def rotation_due(records: Sequence[KeyRecord], now: datetime, timings: KeyTimings) -> bool:
    """A scheduled rotation is due when no NEXT key waits and the current one is old enough."""
    if any(r.state is KeyState.NEXT for r in records):
        return False
    current = [r for r in records if r.state is KeyState.CURRENT]
    if not current:
        return True
    return now - max(r.activates_at for r in current) >= timings.rotation_interval
