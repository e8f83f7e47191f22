"""A Node service verifies our access tokens with jose (createRemoteJWKSet + jwtVerify) against
the edge's JWKS URL: examples/node-service/verify.mjs, the code docs/NODE_SERVICES.md shows."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess

from tests.client.support import NODE_SERVICE, node_command
from tests.conftest import StartIdentity
from tests.edge.support import register_and_login, running_edge


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def with_claim(token: str, name: str, value: object) -> str:
    """`token` with one claim changed and the signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims[name] = value
    return ".".join([header, b64url(json.dumps(claims).encode()), signature])


async def test_jose_accepts_our_access_token_and_refuses_a_tampered_one(
    start_identity: StartIdentity, unique_email
):
    identity = await start_identity("sqlite")
    settings = identity.app.settings
    async with running_edge(identity) as edge:
        access, _ = await register_and_login(edge, unique_email())
        env = {
            "JWKS_URL": f"{edge.url}/.well-known/jwks.json",
            "ISSUER": settings.issuer,
            "AUDIENCE": settings.audience,
        }

        async def verify(token: str, **overrides: str) -> subprocess.CompletedProcess[str]:
            # In a thread: identity, which serves the edge its JWKS, runs on this event loop.
            return await asyncio.to_thread(
                node_command,
                ["node", "verify.mjs"],
                NODE_SERVICE,
                stdin=token,
                env={**env, **overrides},
            )

        accepted = await verify(access)
        assert accepted.returncode == 0, accepted.stderr
        claims = json.loads(accepted.stdout)
        assert (claims["iss"], claims["aud"]) == (settings.issuer, settings.audience)
        me = await edge.client.get("/api/me", headers={"Authorization": f"Bearer {access}"})
        assert claims["sub"] == me.json()["sub"]

        tampered = await verify(with_claim(access, "sub", "someone-else"))
        assert (tampered.returncode, tampered.stderr.strip()) == (
            1,
            "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
        )
        elsewhere = await verify(access, AUDIENCE="another-api")
        assert (elsewhere.returncode, elsewhere.stderr.strip()) == (
            1,
            "ERR_JWT_CLAIM_VALIDATION_FAILED",
        )
        foreign = await verify(access, ISSUER="https://issuer.invalid")
        assert foreign.returncode == 1, foreign.stdout
