"""Unauthenticated and demo endpoints: JWKS, health, metrics, /api/me and /api/me/sensitive (a
resource that demands a recent second factor), the static demo files and
the OpenAPI description of the whole edge (`edge_http/openapi.json`, served as it is)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge_http.body import bearer_token
from edge_http.deps import EdgeDeps
from edge_http.metrics import CONTENT_TYPE_LATEST
from edge_http.middleware import HTML_HEADERS
from edge_http.problems import (
    INSUFFICIENT_AUTHENTICATION,
    UNAUTHENTICATED,
    Problem,
    ProblemKind,
)
from edge_http.wire import NO_STORE_HEADERS
from identity.verify import InvalidToken, JwksUnavailable, StepUpRequired, step_up_challenge

log = logging.getLogger(__name__)

_ME_CLAIMS = (
    *("sub", "sid", "scope", "client_id", "iss", "aud", "iat", "exp"),
    *("acr", "amr", "auth_time"),  # how and when the user authenticated (RFC 8176, OIDC)
)
# What /api/me/sensitive demands: NIST AAL2 (password and a second factor), proved within the
# last five minutes, the usual window of a "confirm it is you" prompt.
SENSITIVE_ACR: Final = "aal2"
SENSITIVE_MAX_AGE: Final = 300
_NOT_READY = ProblemKind(503, "not_ready", "the identity service is not reachable")
# URL path -> (file inside the edge_http package, media type); read once at start-up.
_STATIC = {
    "/": ("static/index.html", "text/html; charset=utf-8"),
    "/auth-client.js": ("static/auth-client.js", "text/javascript; charset=utf-8"),
    "/app.js": ("static/app.js", "text/javascript; charset=utf-8"),
    "/account-mail.js": ("static/account-mail.js", "text/javascript; charset=utf-8"),
    "/second-factor.js": ("static/second-factor.js", "text/javascript; charset=utf-8"),
    "/style.css": ("static/style.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("static/favicon.svg", "image/svg+xml"),
    "/openapi.json": ("openapi.json", "application/json"),
}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str
    etag: str


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison; `*` matches any current representation."""
    if not if_none_match:
        return False
    candidates = [c.strip() for c in if_none_match.split(",")]
    bare = etag.removeprefix("W/")
    return any(c == "*" or c.removeprefix("W/") == bare for c in candidates)


def _quoted(etag: str) -> str:
    if etag.startswith('"') or etag.startswith('W/"'):
        return etag
    return f'"{etag}"'


# The demo page's marker for the dev inbox: empty, except under `identity dev`, where it names
# the inbox's path and the page shows links to it.
DEV_INBOX_MARKER = b'<meta name="dev-inbox" content="" />'


def load_static(dev_inbox: str | None = None) -> dict[str, StaticFile]:
    package = resources.files("edge_http")
    files: dict[str, StaticFile] = {}
    for path, (name, media_type) in _STATIC.items():
        body = package.joinpath(*name.split("/")).read_bytes()
        if path == "/":
            if DEV_INBOX_MARKER not in body:
                raise ValueError(f"{name} lost its dev-inbox marker")
            if dev_inbox is not None:
                marked = DEV_INBOX_MARKER.replace(b'""', b'"' + dev_inbox.encode() + b'"')
                body = body.replace(DEV_INBOX_MARKER, marked)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        files[path] = StaticFile(body, media_type, etag)
    return files


class PublicRoutes:
    def __init__(self, deps: EdgeDeps, dev_inbox: str | None = None) -> None:
        self._deps = deps
        self._static = load_static(dev_inbox)

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/.well-known/jwks.json", self.jwks, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/api/me", self.me, methods=["GET"]),
            Route("/api/me/sensitive", self.sensitive, methods=["GET"]),
        ]
        routes += [Route(path, self.static, methods=["GET"]) for path in self._static]
        return routes

    async def jwks(self, request: Request) -> Response:
        jwks = await self._deps.identity.get_jwks()
        headers = {"cache-control": f"public, max-age={max(0, jwks.max_age_seconds)}"}
        if jwks.etag:
            headers["etag"] = _quoted(jwks.etag)
            if _etag_matches(request.headers.get("if-none-match"), headers["etag"]):
                return Response(status_code=304, headers=headers)
        return Response(jwks.jwks_json, media_type="application/json", headers=headers)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=NO_STORE_HEADERS)

    async def readyz(self, request: Request) -> Response:
        if not await self._deps.identity.is_ready():
            raise Problem.of(_NOT_READY)
        return JSONResponse({"status": "ready"}, headers=NO_STORE_HEADERS)

    async def metrics(self, request: Request) -> Response:
        return Response(
            self._deps.metrics.render(),
            media_type=CONTENT_TYPE_LATEST,
            headers=NO_STORE_HEADERS,
        )

    async def _verified(
        self, request: Request, acr: str | None = None, max_auth_age: int | None = None
    ) -> Mapping[str, Any]:
        """The Bearer token's claims, verified offline (no call to identity), with the demands
        of the resource: `acr` and the most seconds since the user last authenticated."""
        token = bearer_token(request)
        try:
            claims = await self._deps.verifier.averify(token, acr=acr, max_auth_age=max_auth_age)
        except JwksUnavailable:
            self._deps.metrics.outcome("verify", "jwks_unavailable")
            raise Problem(503, "unavailable", "signing keys are not available yet") from None
        except StepUpRequired as error:
            # A valid token that authenticated too weakly or too long ago: RFC 9470 tells the
            # client what would do (acr_values, max_age); a refresh would not.
            self._deps.metrics.outcome("verify", type(error).__name__)
            raise Problem.of(
                INSUFFICIENT_AUTHENTICATION, **{"www-authenticate": step_up_challenge(error)}
            ) from None
        except InvalidToken as error:
            self._deps.metrics.outcome("verify", type(error).__name__)
            raise Problem(
                UNAUTHENTICATED.status,
                UNAUTHENTICATED.code,
                UNAUTHENTICATED.detail,
                {"www-authenticate": 'Bearer error="invalid_token"'},
            ) from None
        self._deps.metrics.outcome("verify", "valid")
        return claims

    async def me(self, request: Request) -> Response:
        """A demo protected resource: the access token's claims."""
        claims = await self._verified(request)
        body = {name: claims[name] for name in _ME_CLAIMS if name in claims}
        return JSONResponse(body, headers=NO_STORE_HEADERS)

    async def sensitive(self, request: Request) -> Response:
        """A demo resource a service guards with a second factor proved within five minutes."""
        claims = await self._verified(request, acr=SENSITIVE_ACR, max_auth_age=SENSITIVE_MAX_AGE)
        body = {name: claims[name] for name in ("sub", "acr", "amr", "auth_time") if name in claims}
        return JSONResponse(body, headers=NO_STORE_HEADERS)

    async def static(self, request: Request) -> Response:
        file = self._static[request.url.path]
        headers = {"etag": file.etag, "cache-control": "no-cache"}
        if file.media_type.startswith("text/html"):
            # Also on a 304: the browser merges its headers into the cached page.
            headers.update(HTML_HEADERS)
        if _etag_matches(request.headers.get("if-none-match"), file.etag):
            return Response(status_code=304, headers=headers)
        return Response(file.body, media_type=file.media_type, headers=headers)
