"""Which published keys a verifier uses: alg from the JWK and the allow-list, strong keys only."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from identity.domain.jose import SUPPORTED_ALGORITHMS
from identity.verify import UnknownKey
from identity.verify.keyset import InvalidKeySet, parse_jwks


def _jwk(private, kid: str, **members):
    public = private.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        jwk = json.loads(ECAlgorithm.to_jwk(public))
    elif isinstance(public, rsa.RSAPublicKey):
        jwk = json.loads(RSAAlgorithm.to_jwk(public))
    else:
        jwk = json.loads(OKPAlgorithm.to_jwk(public))
    jwk.update(kid=kid, use="sig", **members)
    return jwk


def _token(tokens, private, kid: str, alg: str):
    header = {"alg": alg, "typ": "at+jwt", "kid": kid}
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        return tokens.forge(header, tokens.claims(), alg, private)
    # PyJWT refuses to sign ES256 with another curve; an attacker is not so polite.
    unsigned = tokens.forge(header, tokens.claims(), None, None)
    r, s = decode_dss_signature(private.sign(unsigned[:-1].encode(), ec.ECDSA(hashes.SHA256())))
    size = (private.curve.key_size + 7) // 8
    return unsigned + tokens.b64(r.to_bytes(size, "big") + s.to_bytes(size, "big"))


WEAK_OR_MISMATCHED = [
    ("rsa-1024", lambda: rsa.generate_private_key(65537, 1024), "RS256"),
    ("rsa-2047", lambda: rsa.generate_private_key(65537, 2047), "RS256"),
    ("p384-as-es256", lambda: ec.generate_private_key(ec.SECP384R1()), "ES256"),
    ("p256k-as-es256", lambda: ec.generate_private_key(ec.SECP256K1()), "ES256"),
    ("ed448-as-eddsa", ed448.Ed448PrivateKey.generate, "EdDSA"),
]


@pytest.mark.parametrize(("name", "generate", "alg"), WEAK_OR_MISMATCHED, ids=lambda v: v)
def test_weak_or_wrong_curve_keys_are_not_used(
    verifier, jwks_server, keys, tokens, name, generate, alg
):
    private = generate()
    jwks_server.publish(*keys.values(), _jwk(private, name, alg=alg))
    with pytest.raises(UnknownKey):
        verifier.verify(_token(tokens, private, name, alg))
    verifier.verify(tokens.sign(keys["ES256"]))  # the rest of the set still works


def test_rsa_of_2048_bits_is_accepted(verifier, jwks_server, keys, tokens):
    private = rsa.generate_private_key(65537, 2048)
    jwks_server.publish(_jwk(private, "rsa-2048", alg="RS256"))
    assert verifier.verify(_token(tokens, private, "rsa-2048", "RS256"))["sub"] == "user-1"


@pytest.mark.parametrize("members", [{}, {"alg": None}, {"alg": "ES384"}, {"alg": "none"}])
def test_a_key_without_an_allowed_alg_is_ignored(verifier, jwks_server, keys, tokens, members):
    """The JWK's own alg is required: the token's alg never chooses (RFC 8725 §3.1)."""
    jwk = dict(keys["ES256"].jwk)
    del jwk["alg"]
    jwk.update(members)
    jwks_server.publish(jwk)
    with pytest.raises(UnknownKey):
        verifier.verify(tokens.sign(keys["ES256"]))


@pytest.mark.parametrize(
    ("private_alg", "label"), [("ES256", "EdDSA"), ("EdDSA", "ES256"), ("RS256", "ES256")]
)
def test_a_key_labelled_with_an_alg_of_another_type_is_ignored(
    verifier, jwks_server, keys, tokens, private_alg, label
):
    key = keys[private_alg]
    jwks_server.publish({**key.jwk, "alg": label})
    with pytest.raises(UnknownKey):
        verifier.verify(tokens.sign(key, alg=label, sign_alg=private_alg))


def test_the_verifier_allow_list_narrows_the_published_keys(make_verifier, keys, tokens):
    verifier = make_verifier(algorithms=["ES256"])
    verifier.verify(tokens.sign(keys["ES256"]))
    for alg in ("EdDSA", "RS256"):
        with pytest.raises(UnknownKey):
            verifier.verify(tokens.sign(keys[alg]))


def test_keys_for_encryption_and_symmetric_keys_are_ignored(verifier, jwks_server, keys, tokens):
    jwks_server.publish(
        {**keys["ES256"].jwk, "use": "enc"},
        {"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "c2VjcmV0"},
    )
    with pytest.raises(UnknownKey):
        verifier.verify(tokens.sign(keys["ES256"]))


def test_private_members_and_certificates_in_a_jwk_are_ignored(verifier, jwks_server, tokens):
    key = tokens.new_key("ES256")
    private_jwk = json.loads(ECAlgorithm.to_jwk(key.private))
    private_jwk.update(kid=key.kid, alg="ES256", use="sig", x5c=["bm90IGEgY2VydA=="])
    jwks_server.publish(private_jwk)
    assert verifier.verify(tokens.sign(key))["sub"] == "user-1"
    parsed = parse_jwks(json.dumps({"keys": [private_jwk]}), SUPPORTED_ALGORITHMS)
    assert isinstance(parsed[key.kid].key, ec.EllipticCurvePublicKey)


def test_a_kid_listed_twice_is_trusted_for_neither(verifier, jwks_server, keys, tokens):
    impostor = tokens.new_key("ES256")
    jwks_server.publish(keys["ES256"], {**impostor.jwk, "kid": keys["ES256"].kid}, keys["EdDSA"])
    with pytest.raises(UnknownKey):
        verifier.verify(tokens.sign(keys["ES256"]))
    verifier.verify(tokens.sign(keys["EdDSA"]))


def test_parse_jwks_returns_one_key_per_kid_with_its_alg(keys):
    document = json.dumps({"keys": [key.jwk for key in keys.values()]})
    parsed = parse_jwks(document, SUPPORTED_ALGORITHMS)
    assert {kid: key.alg for kid, key in parsed.items()} == {
        key.kid: key.alg for key in keys.values()
    }
    assert isinstance(parsed[keys["EdDSA"].kid].key, ed25519.Ed25519PublicKey)


@pytest.mark.parametrize(
    "document",
    [
        "",
        "null",
        "[]",
        '{"keys": {}}',
        '{"keys": []}',
        '{"keys": [1, "a", null, {}]}',
        "[" * 100_000,
        '{"keys": [' + "1," * 600_000 + "1]}",
    ],
    ids=lambda d: d[:20],
)
def test_unusable_documents_are_refused_whole(document):
    with pytest.raises(InvalidKeySet):
        parse_jwks(document, SUPPORTED_ALGORITHMS)


def test_overlong_kids_in_the_set_are_ignored(tokens):
    key = tokens.new_key("ES256")
    document = json.dumps({"keys": [{**key.jwk, "kid": "k" * 129}]})
    with pytest.raises(InvalidKeySet):
        parse_jwks(document, SUPPORTED_ALGORITHMS)
