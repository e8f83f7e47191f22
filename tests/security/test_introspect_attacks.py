"""Issue 3: the JWT attack suite against Introspect too (identity.verify has a larger one)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import serialization

from tests.helpers import register_and_login
from tests.introspection.support import assert_only_inactive, introspect, is_active


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict, payload_segment: str, signature: bytes) -> str:
    return f"{b64(json.dumps(header).encode())}.{payload_segment}.{b64(signature)}"


def hs256(header: dict, payload_segment: str, secret: bytes) -> str:
    head = b64(json.dumps(header).encode())
    mac = hmac.new(secret, f"{head}.{payload_segment}".encode(), hashlib.sha256).digest()
    return f"{head}.{payload_segment}.{b64(mac)}"


@pytest.fixture
async def victim(identity_server, unique_email):
    tokens = await register_and_login(identity_server, unique_email())
    assert await is_active(identity_server, tokens.access_token)
    return tokens.access_token


async def test_forged_tokens_are_inactive_through_introspect(identity_server, victim):
    s = identity_server
    header_segment, payload, signature = victim.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_segment + "=="))
    public = s.app.keyring.signing_key.private.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk_text = json.dumps(json.loads(s.app.keyring.jwks.json)["keys"][0]).encode()
    forged = {
        "alg none, empty signature": forge({**header, "alg": "none"}, payload, b""),
        "alg nOnE, original signature": forge(
            {**header, "alg": "nOnE"}, payload, base64.urlsafe_b64decode(signature + "==")
        ),
        "HS256 keyed with PEM": hs256({**header, "alg": "HS256"}, payload, pem),
        "HS256 keyed with PEM, no newline": hs256(
            {**header, "alg": "HS256"}, payload, pem.rstrip()
        ),
        "HS256 keyed with DER": hs256({**header, "alg": "HS256"}, payload, der),
        "HS256 keyed with the JWK": hs256({**header, "alg": "HS256"}, payload, jwk_text),
        "HS256 empty secret": hs256({**header, "alg": "HS256"}, payload, b""),
        "psychic signature r=s=0": forge(header, payload, bytes(64)),
        "DER-encoded signature": forge(header, payload, bytes.fromhex("3006020100020100")),
        "empty signature": f"{header_segment}.{payload}.",
        "truncated signature": victim[:-4],
        "crit exp": forge(
            {**header, "crit": ["exp"]}, payload, base64.urlsafe_b64decode(signature + "==")
        ),
        "other alg label": forge(
            {**header, "alg": "ES384"}, payload, base64.urlsafe_b64decode(signature + "==")
        ),
        "kid path traversal": forge({**header, "kid": "../../../../dev/null"}, payload, b"x"),
        "kid SQL": hs256(
            {**header, "kid": "x' UNION SELECT '1';--", "alg": "HS256"}, payload, b"1"
        ),
        "jku elsewhere": forge({**header, "jku": "http://127.0.0.1:9/jwks"}, payload, b"x" * 64),
        "huge token": victim + "A" * 20000,
    }
    for name, token in forged.items():
        answer = await introspect(s, token)
        assert not answer.active, name
        assert_only_inactive(answer)
    assert await is_active(s, victim)  # the original still verifies after all that
