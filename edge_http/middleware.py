"""Small ASGI middleware: security headers, CORS for configured origins, metrics and access log."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence

import grpc
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge_http.client_info import is_https
from edge_http.metrics import EdgeMetrics
from edge_http.problems import FORBIDDEN_CSRF, GRPC_TO_HTTP, Problem, problem_response
from edge_http.wire import CSRF_HEADER
from identity.config_schema import IPNetwork

log = logging.getLogger(__name__)
access_log = logging.getLogger("edge_http.access")

# No inline script or style anywhere; Trusted Types forbids HTML-string sinks (innerHTML).
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
HTML_HEADERS = {"content-security-policy": HTML_CSP, "cross-origin-opener-policy": "same-origin"}
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeadersMiddleware:
    """Headers every response carries; `no-store` unless a route chose its own caching."""

    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[IPNetwork] = ()) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = is_https(HTTPConnection(scope), self.trusted_proxies)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["x-content-type-options"] = "nosniff"
                headers["referrer-policy"] = "no-referrer"
                headers["x-frame-options"] = "DENY"
                if "content-security-policy" in headers:
                    pass  # the route chose (static files, also on their 304s)
                elif headers.get("content-type", "").startswith("text/html"):
                    headers.update(HTML_HEADERS)
                else:
                    headers["content-security-policy"] = OTHER_CSP
                if "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
                if https:
                    headers["strict-transport-security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CORSMiddleware:
    """CORS for the configured origins only, with credentials; never `*`.

    Origins are compared exactly, so `null`, prefixes and look-alike suffixes are refused. A
    refused preflight gets a 403 without any Access-Control-Allow-* header.
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed_origins: Collection[str],
        allow_methods: Sequence[str] = ("GET", "POST", "DELETE"),
        allow_headers: Sequence[str] = ("authorization", "content-type", CSRF_HEADER),
        max_age: int = 600,
    ) -> None:
        self.app = app
        self.allowed_origins = frozenset(allowed_origins)
        self.allow_methods = tuple(allow_methods)
        self.allow_headers = frozenset(h.lower() for h in allow_headers)
        self.max_age = max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if (
            scope["method"] == "OPTIONS"
            and origin is not None
            and "access-control-request-method" in headers
        ):
            await self._preflight(origin, headers, scope, receive, send)
            return
        allowed = origin is not None and origin in self.allowed_origins

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if allowed and origin is not None:
                    out["access-control-allow-origin"] = origin
                    out["access-control-allow-credentials"] = "true"
                    out["access-control-expose-headers"] = "Retry-After, WWW-Authenticate"
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(
        self, origin: str, headers: Headers, scope: Scope, receive: Receive, send: Send
    ) -> None:
        method = headers["access-control-request-method"].strip()
        requested = {
            h.strip().lower()
            for h in headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        }
        vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        if (
            origin not in self.allowed_origins
            or method not in self.allow_methods
            or not requested <= self.allow_headers
        ):
            response = problem_response(Problem.of(FORBIDDEN_CSRF), {"vary": vary})
            await response(scope, receive, send)
            return
        response = Response(
            status_code=204,
            headers={
                "access-control-allow-origin": origin,
                "access-control-allow-credentials": "true",
                "access-control-allow-methods": ", ".join(self.allow_methods),
                "access-control-allow-headers": ", ".join(sorted(self.allow_headers)),
                "access-control-max-age": str(self.max_age),
                "vary": vary,
            },
        )
        await response(scope, receive, send)


class MetricsMiddleware:
    """Counts requests by route template (never the raw path) and writes one access-log line.

    The line has method, route, status and duration: no query string (a misplaced token could be
    in it), no headers, no client address.
    """

    def __init__(self, app: ASGIApp, metrics: EdgeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            self.metrics.request(template, scope["method"], status, elapsed)
            access_log.info(
                "%s %s %d %.1fms",
                scope["method"] if len(scope["method"]) <= 16 else "OTHER",
                template,
                status,
                elapsed * 1000,
                extra={"route": template, "status": status},
            )


class ErrorGuardMiddleware:
    """The last resort: an unexpected exception becomes a fixed 500 problem, logged once.

    It sits inside the header middleware, so even this answer carries the security headers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            log.exception("unhandled error")
            if started:
                raise
            response = problem_response(Problem.of(GRPC_TO_HTTP[grpc.StatusCode.INTERNAL]))
            await response(scope, receive, send)
