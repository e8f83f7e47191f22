"""JWT-14/JWT-15: what identity issues and publishes."""

from __future__ import annotations

import json

import jwt
import pytest

from identity.v1 import identity_pb2 as pb
from tests.helpers import refresh, register_and_login

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


async def test_access_tokens_follow_rfc_9068_and_carry_no_pii(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    tokens = await register_and_login(s, email)
    header = jwt.get_unverified_header(tokens.access_token)
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    jwks = json.loads((await s.stub.GetJwks(pb.GetJwksRequest())).jwks_json)
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    assert set(claims) == {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "sid",
        "scope",
        "client_id",
        "email_verified",  # a boolean about the address, not the address (DESIGN §12)
        "amr",  # how the user authenticated (RFC 8176) ...
        "acr",  # ... at which assurance level ...
        "auth_time",  # ... and when (a password sign-in: the login)
    }
    assert claims["email_verified"] is False
    assert claims["amr"] == ["pwd"] and claims["acr"] == "aal1"
    assert claims["auth_time"] == claims["iat"]
    assert claims["exp"] - claims["iat"] == 600 and claims["nbf"] == claims["iat"]
    assert claims["sub"] == tokens.user_id and claims["sid"] == tokens.session_id
    assert email not in tokens.access_token and email.split("@")[0] not in json.dumps(claims)


async def test_every_access_token_has_a_distinct_jti(identity_server, unique_email):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    jtis = set()
    current = tokens
    for _ in range(200):
        current = await refresh(s, current.refresh_token)
        jtis.add(jwt.decode(current.access_token, options={"verify_signature": False})["jti"])
    assert len(jtis) == 200


@pytest.mark.parametrize(
    ("alg", "kty", "crv"),
    [("ES256", "EC", "P-256"), ("EdDSA", "OKP", "Ed25519"), ("RS256", "RSA", None)],
)
async def test_jwks_publishes_public_members_only_with_matching_curves(
    start_identity, unique_email, alg, kty, crv
):
    s = await start_identity("sqlite", signing_alg=alg)
    answer = await s.stub.GetJwks(pb.GetJwksRequest())
    (key,) = json.loads(answer.jwks_json)["keys"]
    assert not PRIVATE_MEMBERS & set(key)
    assert key["use"] == "sig" and key["alg"] == alg and key["kty"] == kty and key["kid"]
    if crv:
        assert key["crv"] == crv
    else:
        assert len(jwt.utils.base64url_decode(key["n"])) * 8 >= 2048
    tokens = await register_and_login(s, unique_email())
    assert jwt.get_unverified_header(tokens.access_token)["alg"] == alg
