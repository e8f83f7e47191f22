"""/auth endpoints: register, login, refresh, logout, logout-all and password change.

The refresh token only ever travels in the `__Secure-refresh_token` cookie; JSON bodies carry
the access token. Refresh and logout are authenticated by that cookie alone, so they pass the
CSRF checks before anything else happens.
"""

from __future__ import annotations

import logging

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge_http.body import bearer_token, read_json_object, string_field
from edge_http.cookies import clear_refresh_cookie, read_refresh_cookie, set_refresh_cookie
from edge_http.csrf import check_cookie_request, check_origin
from edge_http.deps import EdgeDeps
from edge_http.problems import (
    UNAUTHENTICATED,
    IdentityCallError,
    Problem,
    problem_for_status,
    problem_response,
)
from edge_http.wire import MAX_REFRESH_COOKIE_LENGTH, NO_STORE_HEADERS
from identity.v1 import identity_pb2 as pb

log = logging.getLogger(__name__)

MAX_EMAIL = 320
MAX_PASSWORD = 4096
_UNAVAILABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def token_response(answer: pb.TokenResponse, status_code: int = 200) -> Response:
    """The JSON token answer plus the refresh cookie; never the refresh token in the body."""
    body = {
        "access_token": answer.access_token,
        "token_type": "Bearer",
        "expires_in": int(answer.expires_in),
    }
    response = JSONResponse(body, status_code=status_code, headers=NO_STORE_HEADERS)
    set_refresh_cookie(response, answer.refresh_token, answer.refresh_expires_in)
    return response


class AuthRoutes:
    def __init__(self, deps: EdgeDeps) -> None:
        self._deps = deps
        self._origins = deps.settings.allowed_origins
        self._max_body = deps.settings.max_body_bytes

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/auth/register", self.register, methods=["POST"]),
            Route("/auth/login", self.login, methods=["POST"]),
            Route("/auth/refresh", self.refresh, methods=["POST"]),
            Route("/auth/logout", self.logout, methods=["POST"]),
            Route("/auth/logout-all", self.logout_all, methods=["POST"]),
            Route("/auth/password", self.change_password, methods=["POST"]),
        ]

    async def _credentials(self, request: Request) -> tuple[str, str]:
        data = await read_json_object(request, self._max_body)
        return string_field(data, "email", MAX_EMAIL), string_field(data, "password", MAX_PASSWORD)

    async def register(self, request: Request) -> Response:
        check_origin(request, self._origins)
        email, password = await self._credentials(request)
        try:
            user_id = await self._deps.identity.register(
                email, password, self._deps.client(request)
            )
        except IdentityCallError as error:
            self._deps.metrics.outcome("register", error.status.name.lower())
            raise problem_for_status(error) from None
        self._deps.metrics.outcome("register", "created")
        return JSONResponse({"user_id": user_id}, status_code=201)

    async def login(self, request: Request) -> Response:
        check_origin(request, self._origins)
        email, password = await self._credentials(request)
        try:
            answer = await self._deps.identity.login(email, password, self._deps.client(request))
        except IdentityCallError as error:
            self._deps.metrics.outcome("login", error.status.name.lower())
            raise problem_for_status(error) from None
        self._deps.metrics.outcome("login", "success")
        return token_response(answer)

    async def refresh(self, request: Request) -> Response:
        check_cookie_request(request, self._origins)
        token = read_refresh_cookie(request)
        metrics = self._deps.metrics
        if not token or len(token) > MAX_REFRESH_COOKIE_LENGTH:
            metrics.outcome("refresh", "no_cookie" if token is None else "malformed")
            response = problem_response(Problem.of(UNAUTHENTICATED))
            clear_refresh_cookie(response)
            return response
        try:
            answer = await self._deps.identity.refresh(token, self._deps.client(request))
        except IdentityCallError as error:
            metrics.outcome("refresh", error.status.name.lower())
            response = problem_response(problem_for_status(error))
            # Only a verdict on the token clears it; an outage (503) leaves the cookie alone.
            if error.status == grpc.StatusCode.UNAUTHENTICATED:
                clear_refresh_cookie(response)
            return response
        metrics.outcome("refresh", "grace_replay" if answer.grace_replay else "rotated")
        return token_response(answer)

    async def logout(self, request: Request) -> Response:
        """End the cookie's session. Succeeds for a missing or invalid cookie (RFC 7009 §2.2).

        The cookie is cleared even when identity is unreachable (503): the user asked to sign
        out of this browser, and the answer says the server-side session may outlive it.
        """
        check_cookie_request(request, self._origins)
        token = read_refresh_cookie(request)
        response: Response = Response(status_code=204)
        if token and len(token) <= MAX_REFRESH_COOKIE_LENGTH:
            try:
                await self._deps.identity.logout(self._deps.client(request), refresh_token=token)
            except IdentityCallError as error:
                self._deps.metrics.outcome("logout", error.status.name.lower())
                problem = problem_for_status(error)
                if problem.status >= 500:
                    response = problem_response(problem)
            else:
                self._deps.metrics.outcome("logout", "success")
        clear_refresh_cookie(response)
        return response

    async def logout_all(self, request: Request) -> Response:
        check_origin(request, self._origins)
        access_token = bearer_token(request)
        try:
            await self._deps.identity.logout(
                self._deps.client(request), access_token=access_token, everywhere=True
            )
        except IdentityCallError as error:
            self._deps.metrics.outcome("logout_all", error.status.name.lower())
            raise problem_for_status(error) from None
        self._deps.metrics.outcome("logout_all", "success")
        response = Response(status_code=204)
        clear_refresh_cookie(response)
        return response

    async def change_password(self, request: Request) -> Response:
        check_origin(request, self._origins)
        access_token = bearer_token(request)
        data = await read_json_object(request, self._max_body)
        current = string_field(data, "current_password", MAX_PASSWORD)
        new = string_field(data, "new_password", MAX_PASSWORD)
        try:
            revoked = await self._deps.identity.change_password(
                access_token, current, new, self._deps.client(request)
            )
        except IdentityCallError as error:
            self._deps.metrics.outcome("change_password", error.status.name.lower())
            raise problem_for_status(error) from None
        self._deps.metrics.outcome("change_password", "success")
        return JSONResponse({"revoked_sessions": revoked}, headers=NO_STORE_HEADERS)
