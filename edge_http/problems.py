"""Errors as `application/problem+json` (RFC 9457), and the one gRPC status -> HTTP table.

Route code raises `Problem`; a failed identity call raises `IdentityCallError`, which the app's
one handler for it turns into a `Problem` (`problem_for_status`, through `GRPC_TO_HTTP`). Only
refresh and logout catch it themselves, for the cookie. Texts are fixed here, so
nothing a client sees comes from an exception message, except identity's own validation text for
INVALID_ARGUMENT (identity writes it for clients and never echoes the input).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

import grpc
from starlette.responses import Response

from edge_http.wire import NO_STORE_HEADERS, PROBLEM_JSON


@dataclass(frozen=True)
class ProblemKind:
    """How one kind of failure is shown: HTTP status, a stable `code`, and a fixed detail."""

    status: int
    code: str
    detail: str


_INTERNAL = ProblemKind(500, "internal", "the request could not be completed")
_UNAVAILABLE = ProblemKind(503, "unavailable", "the identity service is unavailable; try again")

# 503 with Retry-After: identity did not complete the call for a reason of its own state, not
# of the request, so the same request may simply be sent again. UNAVAILABLE: not reached, or
# shutting down, or its database is down. CANCELLED: a stopping identity cancelled it (gRPC
# cancels calls that had arrived but not reached a handler). DEADLINE_EXCEEDED: no answer in
# time. A refresh among them may have rotated; sent again, the grace window answers it.
GRPC_TO_HTTP: Mapping[grpc.StatusCode, ProblemKind] = {
    grpc.StatusCode.OK: _INTERNAL,  # never an error; here so the table is total
    grpc.StatusCode.CANCELLED: _UNAVAILABLE,
    grpc.StatusCode.UNKNOWN: _INTERNAL,
    grpc.StatusCode.INVALID_ARGUMENT: ProblemKind(400, "invalid_request", "invalid request"),
    grpc.StatusCode.DEADLINE_EXCEEDED: _UNAVAILABLE,
    grpc.StatusCode.NOT_FOUND: ProblemKind(404, "not_found", "not found"),
    grpc.StatusCode.ALREADY_EXISTS: ProblemKind(409, "already_exists", "already exists"),
    grpc.StatusCode.PERMISSION_DENIED: ProblemKind(403, "forbidden", "not allowed"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: ProblemKind(
        429, "rate_limited", "too many attempts; wait before trying again"
    ),
    grpc.StatusCode.FAILED_PRECONDITION: _INTERNAL,
    grpc.StatusCode.ABORTED: _INTERNAL,
    grpc.StatusCode.OUT_OF_RANGE: _INTERNAL,
    grpc.StatusCode.UNIMPLEMENTED: _INTERNAL,
    grpc.StatusCode.INTERNAL: _INTERNAL,
    grpc.StatusCode.UNAVAILABLE: _UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS: _INTERNAL,
    grpc.StatusCode.UNAUTHENTICATED: ProblemKind(
        401, "unauthenticated", "invalid or expired credentials"
    ),
}

# The refusals the browser can do something about, told apart by identity's error code
# (identity.wire.MD_ERROR_CODE), never by its text. A recent step-up is needed
# (RegenerateRecoveryCodes, DisableTotp): prove the second factor again (POST /auth/step-up),
# then retry.
STEP_UP_REQUIRED = ProblemKind(
    403, "step_up_required", "confirm your second factor again (POST /auth/step-up), then retry"
)
BY_IDENTITY_CODE: Mapping[tuple[grpc.StatusCode, str], ProblemKind] = {
    (grpc.StatusCode.PERMISSION_DENIED, "step_up_required"): STEP_UP_REQUIRED,
    # Ask for a new link, not for other input.
    (grpc.StatusCode.INVALID_ARGUMENT, "invalid_link_token"): ProblemKind(
        400, "invalid_link", "invalid or expired link"
    ),
    # Choose another password (the detail says why).
    (grpc.StatusCode.INVALID_ARGUMENT, "weak_password"): ProblemKind(
        400, "weak_password", "the password policy refused this password"
    ),
    # Open the verification link first (IDENTITY_EMAIL_VERIFICATION=required).
    (grpc.StatusCode.PERMISSION_DENIED, "email_not_verified"): ProblemKind(
        403, "email_not_verified", "email address not verified"
    ),
}

# Answers that tell the client to send the same request again after `Retry-After` seconds.
RETRY_LATER = frozenset({429, 503})

# Identity's INVALID_ARGUMENT texts are meant for clients; everything else uses the fixed text.
_PASS_THROUGH_DETAIL = frozenset({grpc.StatusCode.INVALID_ARGUMENT})
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
_MAX_DETAIL = 300


class IdentityCallError(Exception):
    """A call to identity failed with `status`; `details` is identity's text, not yet vetted."""

    def __init__(
        self,
        status: grpc.StatusCode,
        details: str = "",
        retry_after: int | None = None,
        code: str = "",
    ):
        super().__init__(status.name)
        self.status = status
        self.details = details
        self.retry_after = retry_after
        # identity's machine-readable reason (identity.wire.MD_ERROR_CODE), "" when none came.
        self.code = code

    @property
    def refused_credentials(self) -> bool:
        """Identity's verdict that the user's token or password is not valid (not an outage)."""
        return self.status == grpc.StatusCode.UNAUTHENTICATED


@dataclass
class Problem(Exception):
    """An error answer. Raise it from a route; the app renders it as problem+json."""

    status: int
    code: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.code)

    @classmethod
    def of(cls, kind: ProblemKind, **headers: str) -> Problem:
        return cls(kind.status, kind.code, kind.detail, dict(headers))


def problem_for_status(error: IdentityCallError) -> Problem:
    kind = BY_IDENTITY_CODE.get((error.status, error.code)) or GRPC_TO_HTTP.get(
        error.status, _INTERNAL
    )
    detail = kind.detail
    if error.status in _PASS_THROUGH_DETAIL and error.details:
        detail = _UNPRINTABLE.sub("", error.details)[:_MAX_DETAIL] or kind.detail
    headers: dict[str, str] = {}
    if kind.status in RETRY_LATER:
        headers["retry-after"] = str(error.retry_after or 1)
    if kind.status == 401:
        headers["www-authenticate"] = 'Bearer error="invalid_token"'
    return Problem(kind.status, kind.code, detail, headers)


def problem_response(problem: Problem, extra_headers: Mapping[str, str] | None = None) -> Response:
    status = problem.status
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": problem.detail,
        "code": problem.code,
    }
    headers = {**NO_STORE_HEADERS, **problem.headers, **(extra_headers or {})}
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


# Problems the edge itself raises, before or instead of calling identity.
FORBIDDEN_CSRF = ProblemKind(403, "csrf_refused", "cross-site request refused")
BAD_JSON = ProblemKind(400, "invalid_json", "the body must be a JSON object")
UNSUPPORTED_MEDIA = ProblemKind(
    415, "unsupported_media_type", "send Content-Type: application/json"
)
TOO_LARGE = ProblemKind(413, "body_too_large", "the request body is too large")
DUPLICATE_COOKIE = ProblemKind(400, "ambiguous_cookie", "more than one refresh cookie was sent")
UNAUTHENTICATED = GRPC_TO_HTTP[grpc.StatusCode.UNAUTHENTICATED]
# A valid access token that a resource refuses for how (acr) or when (auth_time) the user
# authenticated; sent with an RFC 9470 WWW-Authenticate challenge.
INSUFFICIENT_AUTHENTICATION = ProblemKind(
    401, "insufficient_user_authentication", "confirm your second factor again, then retry"
)
NOT_FOUND = ProblemKind(404, "not_found", "not found")
METHOD_NOT_ALLOWED = ProblemKind(405, "method_not_allowed", "method not allowed")
