"""/auth endpoints: register, login, refresh, logout, logout-all and password change.

Login answers either the tokens or, when the account has a second factor, that a code is
needed (an MFA ticket, no cookie); routes_second_factor.py finishes that login.

The refresh token only ever travels in the `__Secure-refresh_token` cookie; JSON bodies carry
the access token. Refresh and logout are authenticated by that cookie alone, so they pass the
CSRF checks before anything else happens. A failed identity call propagates as
`IdentityCallError` to the app's one handler; only refresh and logout catch it, for the cookie.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge_http.body import bearer_token, read_json_object, string_field
from edge_http.cookies import clear_refresh_cookie, read_refresh_cookie, set_refresh_cookie
from edge_http.csrf import check_cookie_request, check_origin
from edge_http.deps import RouteGroup
from edge_http.identity_answers import SecondFactorRequired, Tokens
from edge_http.problems import (
    UNAUTHENTICATED,
    IdentityCallError,
    Problem,
    problem_for_status,
    problem_response,
)
from edge_http.wire import MAX_REFRESH_COOKIE_LENGTH, NO_STORE_HEADERS

log = logging.getLogger(__name__)

MAX_EMAIL = 320
MAX_PASSWORD = 4096


def token_response(tokens: Tokens, status_code: int = 200) -> Response:
    """The JSON token answer plus the refresh cookie; never the refresh token in the body."""
    body = {
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
    }
    response = JSONResponse(body, status_code=status_code, headers=NO_STORE_HEADERS)
    set_refresh_cookie(response, tokens.refresh_token, tokens.refresh_expires_in)
    return response


class AuthRoutes(RouteGroup):
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
        user_id = await self._identity.register(email, password, self._deps.client(request))
        if user_id is None:
            # `required` verification: the same 202 for a new and a taken address.
            return JSONResponse(
                {"verification_required": True}, status_code=202, headers=NO_STORE_HEADERS
            )
        return JSONResponse({"user_id": user_id}, status_code=201)

    async def login(self, request: Request) -> Response:
        check_origin(request, self._origins)
        email, password = await self._credentials(request)
        answer = await self._identity.login(email, password, self._deps.client(request))
        if isinstance(answer, SecondFactorRequired):
            # No session and no cookie yet: the ticket is worth nothing without a code, and
            # /auth/login/second-factor (routes_second_factor.py) trades both for the tokens.
            body = {
                "second_factor_required": True,
                "mfa_ticket": answer.mfa_ticket,
                "mfa_ticket_expires_in": answer.expires_in,
            }
            return JSONResponse(body, headers=NO_STORE_HEADERS)
        return token_response(answer)

    async def refresh(self, request: Request) -> Response:
        check_cookie_request(request, self._origins)
        token = read_refresh_cookie(request)
        if not token or len(token) > MAX_REFRESH_COOKIE_LENGTH:
            self._deps.metrics.outcome("refresh", "no_cookie" if token is None else "malformed")
            response = problem_response(Problem.of(UNAUTHENTICATED))
            clear_refresh_cookie(response)
            return response
        try:
            tokens = await self._identity.refresh(token, self._deps.client(request))
        except IdentityCallError as error:
            response = problem_response(problem_for_status(error))
            # Only a verdict on the token clears it; an outage (503) leaves the cookie alone.
            if error.refused_credentials:
                clear_refresh_cookie(response)
            return response
        return token_response(tokens)

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
                await self._identity.logout(self._deps.client(request), refresh_token=token)
            except IdentityCallError as error:
                problem = problem_for_status(error)
                if problem.status >= 500:
                    response = problem_response(problem)
        clear_refresh_cookie(response)
        return response

    async def logout_all(self, request: Request) -> Response:
        check_origin(request, self._origins)
        access_token = bearer_token(request)
        await self._identity.logout(
            self._deps.client(request), access_token=access_token, everywhere=True
        )
        response = Response(status_code=204)
        clear_refresh_cookie(response)
        return response

    async def change_password(self, request: Request) -> Response:
        check_origin(request, self._origins)
        access_token = bearer_token(request)
        data = await read_json_object(request, self._max_body)
        current = string_field(data, "current_password", MAX_PASSWORD)
        new = string_field(data, "new_password", MAX_PASSWORD)
        revoked = await self._identity.change_password(
            access_token, current, new, self._deps.client(request)
        )
        return JSONResponse({"revoked_sessions": revoked}, headers=NO_STORE_HEADERS)
