"""The edge application: `create_app(settings, identity)` wires routes, middleware and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from edge_http.config import EdgeSettings
from edge_http.deps import EdgeDeps, default_verifier
from edge_http.dev_inbox import DEV_INBOX_PATH, DevInboxRoutes
from edge_http.identity_client import IdentityClient
from edge_http.middleware import (
    CORSMiddleware,
    ErrorGuardMiddleware,
    MetricsMiddleware,
    SecurityHeadersMiddleware,
)
from edge_http.problems import (
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    IdentityCallError,
    Problem,
    ProblemKind,
    problem_for_status,
    problem_response,
)
from edge_http.routes_auth import AuthRoutes
from edge_http.routes_email import EmailRoutes
from edge_http.routes_public import PublicRoutes
from edge_http.routes_second_factor import SecondFactorRoutes
from edge_http.routes_sessions import SessionRoutes
from identity.mail_catcher import MailCatcher
from identity.verify import Verifier


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _on_identity_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdentityCallError)
    return problem_response(problem_for_status(exc))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        kind = METHOD_NOT_ALLOWED
    elif exc.status_code == 404:
        kind = NOT_FOUND
    else:
        kind = ProblemKind(exc.status_code, "http_error", "the request was refused")
    return problem_response(Problem.of(kind), exc.headers)


def create_app(
    settings: EdgeSettings,
    identity: IdentityClient,
    *,
    verifier: Verifier | None = None,
    dev_inbox: MailCatcher | None = None,
) -> Starlette:
    """The edge as an ASGI app. `verifier` defaults to one fed by identity's GetJwks.
    `dev_inbox`: `identity dev`'s mail catcher, shown at /dev/inbox and linked from the demo
    page; only `identity dev` passes one, so no deployment has that page."""
    deps = EdgeDeps(
        settings=settings,
        identity=identity,
        metrics=identity.metrics,
        verifier=verifier or default_verifier(settings),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await identity.aclose()

    routes = [
        *AuthRoutes(deps).routes(),
        *EmailRoutes(deps).routes(),
        *SessionRoutes(deps).routes(),
        *SecondFactorRoutes(deps).routes(),
        *PublicRoutes(deps, dev_inbox=None if dev_inbox is None else DEV_INBOX_PATH).routes(),
    ]
    if dev_inbox is not None:
        routes += DevInboxRoutes(dev_inbox).routes()
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(MetricsMiddleware, metrics=deps.metrics),
            Middleware(SecurityHeadersMiddleware, trusted_proxies=settings.trusted_proxies),
            Middleware(CORSMiddleware, allowed_origins=settings.allowed_origins),
            Middleware(ErrorGuardMiddleware),
        ],
        exception_handlers={
            Problem: _on_problem,
            IdentityCallError: _on_identity_error,
            HTTPException: _on_http_exception,
        },
        lifespan=lifespan,
    )
    # "/auth/refresh/" must not redirect to "/auth/refresh": unknown spellings are plain 404s.
    app.router.redirect_slashes = False
    app.state.deps = deps
    return app
