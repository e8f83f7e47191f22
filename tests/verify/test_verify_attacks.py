"""Forged tokens (security checklist §1, JWT-01..10) are refused with an InvalidToken."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import time
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID

from identity.domain.jose import MAX_KID_LENGTH, VerificationKey
from identity.domain.token_rules import TokenPolicy, check_active
from identity.verify import (
    BadSignature,
    DisallowedAlgorithm,
    InvalidToken,
    MalformedToken,
    UnknownKey,
    WrongType,
)


def _segments(token: str) -> tuple[str, str, str]:
    header, payload, signature = token.split(".")
    return header, payload, signature


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _hs256(tokens, header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{tokens.b64_json(header)}.{tokens.b64_json(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{tokens.b64(mac)}"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", None])
@pytest.mark.parametrize("keep_signature", [False, True])
def test_unsecured_tokens_are_refused(verifier, keys, tokens, alg, keep_signature):
    original = tokens.sign(keys["ES256"])
    _, payload, signature = _segments(original)
    header = {"alg": alg, "typ": "at+jwt", "kid": keys["ES256"].kid}
    if alg is None:
        del header["alg"]
    forged = f"{tokens.b64_json(header)}.{payload}.{signature if keep_signature else ''}"
    with pytest.raises(InvalidToken):
        verifier.verify(forged)


def _public_key_forms(key) -> dict[str, bytes]:
    public = key.private.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "pem": pem,
        "pem-no-newline": pem.rstrip(b"\n"),
        "jwk": json.dumps(key.jwk).encode(),
        "jwk-compact": json.dumps(key.jwk, separators=(",", ":")).encode(),
        "der": der,
    }


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
@pytest.mark.parametrize("form", ["pem", "pem-no-newline", "jwk", "jwk-compact", "der"])
def test_hs256_keyed_with_the_public_key_is_refused(verifier, keys, tokens, alg, form):
    key = keys[alg]
    secret = _public_key_forms(key)[form]
    forged = _hs256(tokens, tokens.header(key, alg="HS256"), tokens.claims(), secret)
    with pytest.raises(DisallowedAlgorithm):
        verifier.verify(forged)


@pytest.mark.parametrize(
    ("key_alg", "sign_alg", "label"),
    [
        ("ES256", "ES256", "ES384"),
        ("ES256", "ES256", "ES512"),
        ("ES256", "ES256", "RS256"),
        ("ES256", "ES256", "PS256"),
        ("ES256", "ES256", "EdDSA"),
        ("RS256", "RS256", "RS512"),
        ("RS256", "RS256", "PS256"),
        ("RS256", "PS256", "PS256"),
        ("RS256", "RS256", "ES256"),
        ("EdDSA", "EdDSA", "ES256"),
        ("EdDSA", "EdDSA", "Ed25519"),
    ],
)
def test_token_signed_by_a_real_key_but_labelled_with_another_alg_is_refused(
    verifier, keys, tokens, key_alg, sign_alg, label
):
    key = keys[key_alg]
    forged = tokens.forge(tokens.header(key, alg=label), tokens.claims(), sign_alg, key.private)
    with pytest.raises(DisallowedAlgorithm):
        verifier.verify(forged)


def _self_signed_certificate(key) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    start = datetime.datetime(2029, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.private.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(key.private, hashes.SHA256())
    )
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


@pytest.mark.parametrize("kid_of", ["attacker", "real"])
@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c"])
async def test_key_material_named_by_the_token_is_never_used_or_fetched(
    verifier, jwks_server, start_server, keys, tokens, kid_of, member
):
    attacker = tokens.new_key("ES256")
    listener = start_server()
    listener.publish(attacker)
    values = {
        "jwk": attacker.jwk,
        "jku": listener.url,
        "x5u": listener.url,
        "x5c": [_self_signed_certificate(attacker)],
    }
    kid = attacker.kid if kid_of == "attacker" else keys["ES256"].kid
    header = tokens.header(attacker, kid=kid, **{member: values[member]})
    forged = tokens.forge(header, tokens.claims(), "ES256", attacker.private)
    expected = UnknownKey if kid_of == "attacker" else BadSignature
    with pytest.raises(expected):
        verifier.verify(forged)
    with pytest.raises(expected):
        await verifier.averify(forged)
    assert listener.requests == 0
    assert jwks_server.paths and set(jwks_server.paths) == {"/.well-known/jwks.json"}


KID_INJECTIONS = [
    "",
    "../../../../../../dev/null",
    "/dev/null",
    "/invalid_path",
    "x' UNION SELECT '1';--",
    "|sleep 10",
    "$(sleep 10)",
    "A" * 10240,
    0,
    None,
    [],
    {},
    {"kid": "x"},
    True,
]


@pytest.mark.parametrize("kid", KID_INJECTIONS, ids=repr)
@pytest.mark.parametrize("secret", [None, b"", b"1"], ids=["ES256", "HS256-empty", "HS256-1"])
def test_kid_is_only_a_lookup_key(verifier, jwks_server, keys, tokens, kid, secret):
    header = tokens.header(keys["ES256"], kid=kid)
    if secret is None:
        forged = tokens.forge(header, tokens.claims(), "ES256", keys["ES256"].private)
    else:
        forged = _hs256(tokens, {**header, "alg": "HS256"}, tokens.claims(), secret)
    started = time.monotonic()
    with pytest.raises(InvalidToken):
        verifier.verify(forged)
    assert time.monotonic() - started < 1.0
    assert jwks_server.requests <= 1


def test_a_kid_over_the_limit_is_never_looked_up(keys, tokens):
    # A key set never holds one (test_overlong_kids_in_the_set_are_ignored); the rules refuse
    # it before the lookup all the same.
    key = keys["ES256"]
    policy = TokenPolicy(issuer=tokens.issuer, audience=tokens.audience)
    for kid, accepted in (("k" * MAX_KID_LENGTH, True), ("k" * (MAX_KID_LENGTH + 1), False)):
        found = {kid: VerificationKey(kid, "ES256", key.private.public_key())}
        token = tokens.sign(key, kid=kid)
        if accepted:
            assert check_active(token, found, policy, tokens.now, None).sub == "user-1"
        else:
            with pytest.raises(UnknownKey):
                check_active(token, found, policy, tokens.now, None)


def test_signature_tricks_are_refused(verifier, keys, tokens):
    key = keys["ES256"]
    header, payload, signature = _segments(tokens.sign(key))
    forgeries = {
        "empty": f"{header}.{payload}.",
        "truncated": f"{header}.{payload}.{signature[:-4]}",
        "hs256-empty-secret": _hs256(
            tokens, tokens.header(key, alg="HS256"), json.loads(_unb64(payload)), b""
        ),
    }
    for name, forged in forgeries.items():
        with pytest.raises(InvalidToken):
            verifier.verify(forged)
            pytest.fail(f"{name} accepted")


def test_ecdsa_signatures_must_be_64_octets_r_s(verifier, keys, tokens):
    """CVE-2022-21449 and friends: only a valid 64-octet R||S verifies (RFC 7518 §3.4)."""
    header, payload, signature = _segments(tokens.sign(keys["ES256"]))
    raw = _unb64(signature)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    der = encode_dss_signature(r, s)
    assert decode_dss_signature(der) == (r, s)
    bad = {
        "zero": bytes(64),
        "der-zero": base64.urlsafe_b64decode("MAYCAQACAQA="),
        "der-real": der,
        "65-octets": raw + b"\x00",
        "63-octets": raw[:63],
        "r-only": raw[:32],
        "swapped": raw[32:] + raw[:32],
    }
    for name, sig in bad.items():
        with pytest.raises(InvalidToken):
            verifier.verify(f"{header}.{payload}.{tokens.b64(sig)}")
            pytest.fail(f"{name} accepted")


def test_non_canonical_encodings_are_refused_or_read_as_the_same_token(verifier, keys, tokens):
    token = tokens.sign(keys["ES256"])
    expected = verifier.verify(token)["jti"]
    header, payload, signature = _segments(token)
    variants = [
        f"{header}.{payload}.{signature}==",
        f"{header}.{payload}.{signature.replace('-', '+').replace('_', '/')}",
        f"{header}.{payload}.{signature[:20]} {signature[20:]}",
        f"{header}.{payload}.{signature}.",
        f" {token}",
    ]
    for variant in variants:
        try:
            assert verifier.verify(variant)["jti"] == expected
        except InvalidToken:
            pass


@pytest.mark.parametrize(
    "change",
    [
        {"sub": "admin"},
        {"scope": "orders:read admin"},
        {"aud": "billing"},
        {"exp": 4102444800 + 10**6},
        {"sid": "sid-2"},
        {"client_id": "admin-cli"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_edited_payload_with_the_original_signature_is_refused(verifier, keys, tokens, change):
    claims = tokens.claims()
    header, _, signature = _segments(tokens.sign(keys["ES256"], claims))
    forged = f"{header}.{tokens.b64_json({**claims, **change})}.{signature}"
    with pytest.raises(BadSignature):
        verifier.verify(forged)


def test_many_forgeries_do_not_lock_out_or_poison_the_original(verifier, keys, tokens):
    claims = tokens.claims()
    original = tokens.sign(keys["RS256"], claims)
    header, _, signature = _segments(original)
    for i in range(500):
        forged = f"{header}.{tokens.b64_json({**claims, 'sub': f'admin-{i}'})}.{signature}"
        with pytest.raises(BadSignature):
            verifier.verify(forged)
    assert verifier.verify(original)["sub"] == "user-1"


@pytest.mark.parametrize(
    "crit",
    [{"crit": ["exp"]}, {"crit": ["foo"], "foo": 1}, {"crit": []}, {"crit": "b64"}],
    ids=["exp", "foo", "empty", "string"],
)
def test_critical_header_extensions_are_refused(verifier, keys, tokens, crit):
    with pytest.raises(MalformedToken):
        verifier.verify(tokens.sign(keys["ES256"], **crit))


@pytest.mark.parametrize(
    "typ", ["JWT", "jwt", "refresh+jwt", "logout+jwt", "at+jwt ", "", 1, ["at+jwt"], "drop"]
)
def test_only_access_token_types_are_accepted(verifier, keys, tokens, typ):
    token = tokens.sign(keys["ES256"], typ=tokens.drop if typ == "drop" else typ)
    with pytest.raises(WrongType):
        verifier.verify(token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a",
        "a.b",
        "a.b.c.d.e",
        "....",
        "eyJhbGciOiJFUzI1NiJ9.e30",
        "\u00e9.\u00e9.\u00e9",
        "e30.e30.",
        "W10.e30.",
        "bnVsbA.e30.",
    ],
)
def test_garbage_is_malformed(verifier, token):
    with pytest.raises(InvalidToken):
        verifier.verify(token)


@pytest.mark.parametrize("value", [None, 12, b"a.b.c", ["a", "b"], object()])
def test_non_string_tokens_are_malformed(verifier, value):
    with pytest.raises(MalformedToken):
        verifier.verify(value)


def test_random_bytes_never_raise_anything_else(verifier, keys, tokens):
    header, payload, _ = _segments(tokens.sign(keys["ES256"]))
    for _ in range(200):
        noise = tokens.b64(os.urandom(64))
        for forged in (f"{header}.{payload}.{noise}", f"{header}.{noise}.{noise}", noise):
            with pytest.raises(InvalidToken):
                verifier.verify(forged)
