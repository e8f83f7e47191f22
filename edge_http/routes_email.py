"""/auth endpoints of the account lifecycle over email: password reset, email verification and
email change (DESIGN §12).

Every one checks `Origin` like login, reads a size-limited JSON body and answers with
`Cache-Control: no-store`. Link tokens arrive in the JSON body: the page reads them from the URL
fragment, which never reaches a server. Identity's errors go to the app's one handler (a bad
link is a 400, a throttle a 429 with Retry-After).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from edge_http.body import bearer_token, read_json_object, string_field
from edge_http.csrf import check_origin
from edge_http.deps import RouteGroup
from edge_http.routes_auth import MAX_EMAIL, MAX_PASSWORD
from edge_http.wire import NO_STORE_HEADERS
from identity.wire import MAX_LINK_TOKEN_LENGTH


def _answer(status_code: int) -> Response:
    return Response(status_code=status_code, headers=NO_STORE_HEADERS)


class EmailRoutes(RouteGroup):
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/auth/password-reset", self.request_reset, methods=["POST"]),
            Route("/auth/password-reset/confirm", self.reset_password, methods=["POST"]),
            Route("/auth/verify-email", self.verify_email, methods=["POST"]),
            Route("/auth/verify-email/resend", self.resend, methods=["POST"]),
            Route("/auth/email", self.change_email, methods=["POST"]),
            Route("/auth/email/confirm", self.confirm_email, methods=["POST"]),
        ]

    async def _token(self, request: Request, *more: tuple[str, int]) -> list[str]:
        check_origin(request, self._origins)
        data = await read_json_object(request, self._max_body)
        fields = (("token", MAX_LINK_TOKEN_LENGTH), *more)
        return [string_field(data, name, limit) for name, limit in fields]

    async def request_reset(self, request: Request) -> Response:
        """202 and the same (empty) body for every address, known or not."""
        check_origin(request, self._origins)
        data = await read_json_object(request, self._max_body)
        email = string_field(data, "email", MAX_EMAIL)
        await self._identity.request_password_reset(email, self._deps.client(request))
        return _answer(202)

    async def reset_password(self, request: Request) -> Response:
        """204; the user is not signed in by it (OWASP): the page then logs in normally."""
        token, password = await self._token(request, ("password", MAX_PASSWORD))
        await self._identity.reset_password(token, password, self._deps.client(request))
        return _answer(204)

    async def verify_email(self, request: Request) -> Response:
        [token] = await self._token(request)
        await self._identity.verify_email(token, self._deps.client(request))
        return _answer(204)

    async def resend(self, request: Request) -> Response:
        check_origin(request, self._origins)
        access_token = bearer_token(request)
        await self._identity.resend_verification(access_token, self._deps.client(request))
        return _answer(202)

    async def change_email(self, request: Request) -> Response:
        check_origin(request, self._origins)
        access_token = bearer_token(request)
        data = await read_json_object(request, self._max_body)
        new_email = string_field(data, "new_email", MAX_EMAIL)
        password = string_field(data, "password", MAX_PASSWORD)
        await self._identity.change_email(
            access_token, new_email, password, self._deps.client(request)
        )
        return _answer(202)

    async def confirm_email(self, request: Request) -> Response:
        [token] = await self._token(request)
        await self._identity.confirm_email_change(token, self._deps.client(request))
        return _answer(204)
