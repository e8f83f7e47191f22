"""/auth endpoints of the second factor (TOTP with recovery codes): finishing a login that asked
for a code, enrolment, step-up, the factor's state, new recovery codes and disabling.

Completing a login sets the refresh cookie exactly as login does (`token_response`) and checks
`Origin` like login. Every other endpoint takes the Bearer access token, as the session
endpoints do, and answers `no-store`: the secret, the QR code, recovery codes and access tokens
must not stay in a cache. Codes and tickets go to identity as they are, which is the one judge
of them; the edge only bounds their length. A refusal of a ticket or a code is identity's one
UNAUTHENTICATED (401); an operation that needs a recent step-up answers 403 `step_up_required`
(problems.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge_http.body import bearer_token, read_json_object, string_field
from edge_http.csrf import check_origin
from edge_http.deps import RouteGroup
from edge_http.identity_answers import AccessToken
from edge_http.routes_auth import MAX_PASSWORD, token_response
from edge_http.wire import NO_STORE_HEADERS
from identity.wire import MAX_CODE_LENGTH, MAX_MFA_TICKET_LENGTH

# Identity's own bounds (identity.wire): the edge refuses a longer code or ticket before the
# call, so that it neither reaches identity nor counts as a try.
MAX_CODE: Final = MAX_CODE_LENGTH
MAX_MFA_TICKET: Final = MAX_MFA_TICKET_LENGTH


def _seconds(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def access_token_json(token: AccessToken) -> dict[str, object]:
    return {
        "access_token": token.access_token,
        "token_type": "Bearer",
        "expires_in": token.expires_in,
    }


class SecondFactorRoutes(RouteGroup):
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/auth/login/second-factor", self.complete_login, methods=["POST"]),
            Route("/auth/second-factor", self.state, methods=["GET"]),
            Route("/auth/second-factor/totp", self.begin_totp, methods=["POST"]),
            Route("/auth/second-factor/totp", self.disable_totp, methods=["DELETE"]),
            Route("/auth/second-factor/totp/confirm", self.confirm_totp, methods=["POST"]),
            Route("/auth/second-factor/recovery-codes", self.recovery_codes, methods=["POST"]),
            Route("/auth/step-up", self.step_up, methods=["POST"]),
        ]

    async def _signed_in(self, request: Request) -> str:
        """The checks of every state-changing Bearer call, in order: `Origin`, the token."""
        check_origin(request, self._origins)
        return bearer_token(request)

    async def _code(self, request: Request) -> str:
        data = await read_json_object(request, self._max_body)
        return string_field(data, "code", MAX_CODE)

    async def complete_login(self, request: Request) -> Response:
        check_origin(request, self._origins)
        data = await read_json_object(request, self._max_body)
        ticket = string_field(data, "mfa_ticket", MAX_MFA_TICKET)
        code = string_field(data, "code", MAX_CODE)
        tokens = await self._identity.complete_login(ticket, code, self._deps.client(request))
        return token_response(tokens)

    async def state(self, request: Request) -> Response:
        access_token = bearer_token(request)
        state = await self._identity.get_second_factor(access_token, self._deps.client(request))
        body = {
            "totp_enabled": state.totp_enabled,
            "enabled_at": _time(state.enabled_at),
            "recovery_codes_left": state.recovery_codes_left,
            "acr": state.acr,
            "auth_time": _seconds(state.auth_time),
        }
        return JSONResponse(body, headers=NO_STORE_HEADERS)

    async def begin_totp(self, request: Request) -> Response:
        access_token = await self._signed_in(request)
        data = await read_json_object(request, self._max_body)
        password = string_field(data, "password", MAX_PASSWORD)
        enrollment = await self._identity.begin_totp_enrollment(
            access_token, password, self._deps.client(request)
        )
        body = {
            "secret": enrollment.secret,
            "otpauth_uri": enrollment.otpauth_uri,
            "qr_svg": enrollment.qr_svg,
        }
        return JSONResponse(body, headers=NO_STORE_HEADERS)

    async def confirm_totp(self, request: Request) -> Response:
        access_token = await self._signed_in(request)
        code = await self._code(request)
        confirmed = await self._identity.confirm_totp_enrollment(
            access_token, code, self._deps.client(request)
        )
        body = {
            "recovery_codes": list(confirmed.recovery_codes),
            **access_token_json(confirmed.token),
        }
        return JSONResponse(body, headers=NO_STORE_HEADERS)

    async def step_up(self, request: Request) -> Response:
        access_token = await self._signed_in(request)
        code = await self._code(request)
        token = await self._identity.step_up(access_token, code, self._deps.client(request))
        return JSONResponse(access_token_json(token), headers=NO_STORE_HEADERS)

    async def recovery_codes(self, request: Request) -> Response:
        access_token = await self._signed_in(request)
        codes = await self._identity.regenerate_recovery_codes(
            access_token, self._deps.client(request)
        )
        return JSONResponse({"recovery_codes": list(codes)}, headers=NO_STORE_HEADERS)

    async def disable_totp(self, request: Request) -> Response:
        access_token = await self._signed_in(request)
        await self._identity.disable_totp(access_token, self._deps.client(request))
        return Response(status_code=204, headers=NO_STORE_HEADERS)
