"""Introspect answers as RFC 7662: an active token's claims, or `active: false` alone."""

from __future__ import annotations

import base64
import os
import time
from datetime import timedelta

import grpc
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec

from identity.domain.clock import FixedClock
from identity.persistence.tables import signing_keys
from identity.v1 import identity_pb2 as pb
from tests.helpers import refresh, register_and_login
from tests.introspection.support import (
    assert_only_inactive,
    claims_of,
    code_of,
    introspect,
    is_active,
)


async def test_active_access_token_reports_exactly_its_claims(identity_server, unique_email):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    claims = claims_of(tokens.access_token)

    answer = await introspect(s, tokens.access_token)

    assert answer.active is True
    assert answer.token_type == "access_token"
    for name in ("scope", "client_id", "sub", "iss", "jti", "sid"):
        assert getattr(answer, name) == claims[name], name
    for name in ("exp", "iat", "nbf", "auth_time"):
        assert getattr(answer, name) == claims[name], name
    assert answer.aud == claims["aud"]
    assert (list(answer.amr), answer.acr) == (claims["amr"], claims["acr"]) == (["pwd"], "aal1")
    assert answer.sub == tokens.user_id and answer.sid == tokens.session_id
    assert not answer.HasField("username")  # no email, no PII beyond the user id


async def test_the_hint_never_changes_the_answer(identity_server, unique_email):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    for hint in ("", "access_token", "refresh_token", "no_such_hint"):
        assert (await introspect(s, tokens.access_token, hint)).token_type == "access_token"
        assert_only_inactive(await introspect(s, tokens.refresh_token, hint))


async def test_garbage_and_forged_tokens_get_active_false_and_nothing_else(
    identity_server, unique_email
):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    header, payload, signature = tokens.access_token.split(".")
    key = s.app.keyring.signing_key
    claims = claims_of(tokens.access_token)
    stranger = ec.generate_private_key(ec.SECP256R1())

    def signed(changes=None, headers=None, private=key.private, alg=key.alg):
        body = {**claims, **(changes or {})}
        return jwt.encode(
            body,
            private,
            algorithm=alg,
            headers={"typ": "at+jwt", "kid": key.kid, **(headers or {})},
        )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    other_payload = b64(b'{"sub":"someone-else"}')
    forged = [
        "not-a-token-" + os.urandom(8).hex(),
        f"{header}.{payload}.{b64(os.urandom(64))}",  # signature of someone else
        f"{header}.{other_payload}.{signature}",  # payload swapped
        signed(private=stranger),  # our kid, a stranger's key
        signed(headers={"kid": "kid-" + os.urandom(6).hex()}),  # unknown key
        signed(headers={"typ": "JWT"}),  # an ID-token-like type
        signed({"iss": "https://evil.example"}),
        signed({"aud": "someone-else"}),
        signed({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200}),  # expired
        signed({"nbf": now + 3600, "iat": now + 3600}),  # not yet valid
        jwt.encode(claims, None, algorithm="none", headers={"typ": "at+jwt", "kid": key.kid}),
        "idrt_" + b64(os.urandom(32)),  # shaped like a refresh token, unknown
    ]
    for token in forged:
        answer = await introspect(s, token)
        assert_only_inactive(answer)


async def test_expired_access_token_is_inactive(start_identity, unique_email):
    clock = FixedClock()
    s = await start_identity("sqlite", clock=clock, access_token_ttl=timedelta(seconds=60))
    tokens = await register_and_login(s, unique_email())
    assert (await introspect(s, tokens.access_token)).active
    clock.advance(60 + s.app.settings.leeway.total_seconds() + 1)
    assert_only_inactive(await introspect(s, tokens.access_token))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_token_seen_before_is_inactive_once_its_key_is_withdrawn(
    start_identity, backend, unique_email
):
    """Introspect answers a token seen before from its claims cache; a hit still needs the key
    that verified it, unchanged, in the published set (an operator deleting a compromised key).
    Its own server: the shared one must keep its signing key."""
    s = await start_identity(backend)
    tokens = await register_and_login(s, unique_email())
    assert (await introspect(s, tokens.access_token)).active
    assert (await introspect(s, tokens.access_token)).active  # from the cache
    kid = jwt.get_unverified_header(tokens.access_token)["kid"]
    async with s.app.engine.begin() as conn:
        await conn.execute(sa.delete(signing_keys).where(signing_keys.c.kid == kid))
    await s.app.keyring.reload()
    assert_only_inactive(await introspect(s, tokens.access_token))


async def test_a_live_refresh_token_is_never_active_and_asking_changes_nothing(
    identity_server, unique_email
):
    """Checklist IR-02: refresh tokens belong to the browser and the edge; Introspect is not an
    oracle a service credential could use to test a stolen one, and asking must not count as a
    use (no rotation, no reuse detection)."""
    s = identity_server
    tokens = await register_and_login(s, unique_email())

    for role in ("service", "admin"):
        assert_only_inactive(await introspect(s, tokens.refresh_token, role=role))

    rotated = await refresh(s, tokens.refresh_token)  # still unused: it rotates normally
    assert rotated.session_id == tokens.session_id
    assert_only_inactive(await introspect(s, rotated.refresh_token))
    assert await is_active(s, rotated.access_token)  # the session was not ended either


async def test_introspect_needs_a_service_or_admin_credential(identity_server, unique_email):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    request = pb.IntrospectRequest(token=tokens.access_token)

    assert await code_of(s.stub.Introspect(request)) == grpc.StatusCode.UNAUTHENTICATED
    assert await code_of(s.stub.Introspect(request, metadata=s.md("edge"))) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert (await s.stub.Introspect(request, metadata=s.md("service"))).active
    assert (await s.stub.Introspect(request, metadata=s.md("admin"))).active
