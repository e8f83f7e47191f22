"""The signing side of the JWS codec (identity/domain/jose.py, signed_compact): what identity
mints must be exactly what PyJWT and our own verifier accept — for every algorithm we sign with."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from identity.domain.jose import (
    VerificationKey,
    compact_segments,
    header,
    signed_compact,
    verified_payload,
)
from identity.domain.keys import generate_private_key

CLAIMS = {
    "sub": "user-1",
    "aud": "api",
    "exp": 4102444800,
    "amr": ("pwd", "otp"),
    "email_verified": True,
    "scope": "é ✓",  # orjson writes UTF-8 where json.dumps escapes: both are JSON
}


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_pyjwt_and_our_verifier_accept_what_we_sign(alg):
    private = generate_private_key(alg)
    token = signed_compact(alg, "kid-1", private, CLAIMS)

    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": "kid-1", "typ": "at+jwt"}
    decoded = jwt.decode(token, private.public_key(), algorithms=[alg], audience="api")
    assert decoded == {**CLAIMS, "amr": ["pwd", "otp"]}

    key = VerificationKey("kid-1", alg, private.public_key())
    segments = compact_segments(token)
    ours = verified_payload(header(segments[0]), segments, {"kid-1": key}, frozenset({alg}))
    assert ours == decoded


def test_an_es256_signature_is_r_and_s_of_32_octets_each():
    """RFC 7518 §3.4: never DER (whose length varies with the leading bits of R and S)."""
    private = generate_private_key("ES256")
    for _ in range(50):  # some R or S start with a zero octet: the length must not change
        token = signed_compact("ES256", "k", private, {"n": 1})
        signature = token.rsplit(".", 1)[1]
        assert len(signature) == 86  # 64 octets, unpadded base64url


def test_a_signature_by_another_key_or_of_other_claims_is_refused():
    private, other = generate_private_key("ES256"), generate_private_key("ES256")
    token = signed_compact("ES256", "k", other, CLAIMS)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, private.public_key(), algorithms=["ES256"], audience="api")
    head, _, signature = token.split(".")
    forged_payload = signed_compact("ES256", "k", private, {"sub": "admin"}).split(".")[1]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{forged_payload}.{signature}", other.public_key(), algorithms=["ES256"])


def test_an_unknown_algorithm_or_a_key_of_another_kind_is_refused():
    with pytest.raises(ValueError, match="unsupported"):
        signed_compact("HS256", "k", generate_private_key("ES256"), CLAIMS)
    with pytest.raises(ValueError, match="unsupported"):
        signed_compact("ES256", "k", generate_private_key("EdDSA"), CLAIMS)
    with pytest.raises(ValueError, match="P-256"):
        signed_compact("ES256", "k", ec.generate_private_key(ec.SECP384R1()), CLAIMS)
