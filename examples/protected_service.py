"""A tiny service that protects `GET /orders` by verifying access tokens offline.

Each request is checked locally against identity's published keys (`identity.verify`): no call
to identity per request. Try it from the root of the clone while `scripts/dev` runs in another
terminal (the edge on 127.0.0.1:8080); start the service:

    JWKS_URL=http://127.0.0.1:8080/.well-known/jwks.json \\
    ISSUER=http://127.0.0.1:8080 AUDIENCE=api \\
        .venv/bin/uvicorn examples.protected_service:app --port 9000

and in a third terminal sign up through the edge, log in for an access token, and call it:

    curl -s http://127.0.0.1:8080/auth/register -H 'Content-Type: application/json' \\
        -d '{"email": "bob@example.com", "password": "plum orbit velvet harbour"}'
    ACCESS_TOKEN=$(curl -s http://127.0.0.1:8080/auth/login -H 'Content-Type: application/json' \\
        -d '{"email": "bob@example.com", "password": "plum orbit velvet harbour"}' \\
        | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
    curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:9000/orders

Set IDENTITY_GRPC_TARGET=127.0.0.1:50051 instead of JWKS_URL to fetch the keys with GetJwks.

Revocation: an offline check accepts a token until it expires (10 minutes by default), even
after logout or a revoked session. A route that must refuse a revoked token at once (say
`POST /orders/{id}/refund`) asks identity instead: `Introspect` per request
(`identity.verify.Introspector`, with a `service` credential), or a `Verifier` that follows
identity's `WatchRevocations` feed (README, "Services that consume tokens").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from identity.verify import GrpcJwksSource, InvalidToken, JwksUnavailable, Verifier


def verifier_from_env(env: Mapping[str, str]) -> Verifier:
    issuer = env.get("ISSUER", "http://127.0.0.1:8080")
    audience = env.get("AUDIENCE", "api")
    target = env.get("IDENTITY_GRPC_TARGET")
    if target:
        return Verifier(issuer=issuer, audience=audience, jwks_source=GrpcJwksSource(target))
    jwks_url = env.get("JWKS_URL", f"{issuer}/.well-known/jwks.json")
    return Verifier(issuer=issuer, audience=audience, jwks_url=jwks_url)


def _challenge(status: int, error: str | None = None) -> JSONResponse:
    # RFC 6750 §3: a request without a token gets a bare challenge, a bad token error=...
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    body = {"error": error or "unauthorized"}
    return JSONResponse(body, status_code=status, headers={"www-authenticate": challenge})


async def _authenticate(request: Request, verifier: Verifier) -> Mapping[str, Any] | JSONResponse:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _challenge(401)
    try:
        return await verifier.averify(token.strip())
    except JwksUnavailable:
        return JSONResponse({"error": "temporarily_unavailable"}, status_code=503)
    except InvalidToken:
        return _challenge(401, "invalid_token")


def create_app(verifier: Verifier) -> Starlette:
    async def orders(request: Request) -> JSONResponse:
        claims = await _authenticate(request, verifier)
        if isinstance(claims, JSONResponse):
            return claims
        return JSONResponse({"user_id": claims["sub"], "orders": []})

    return Starlette(routes=[Route("/orders", orders, methods=["GET"])])


app = create_app(verifier_from_env(os.environ))
