"""Request input: JSON bodies (type, size, shape) and Bearer tokens, refused as problem+json."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import HTTPConnection, Request

from edge_http.problems import BAD_JSON, TOO_LARGE, UNAUTHENTICATED, UNSUPPORTED_MEDIA, Problem
from identity.wire import MAX_TOKEN_LENGTH

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 9110).
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object: 415 unless `application/json`, 413 past `max_bytes`.

    The size is enforced while reading, so a chunked body without Content-Length is cut off at
    the limit too, and nothing is parsed before the whole body is known to fit.
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise Problem.of(UNSUPPORTED_MEDIA)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise Problem.of(TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise Problem.of(TOO_LARGE)
        chunks.append(chunk)
    try:
        data = json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        raise Problem.of(BAD_JSON) from None
    if not isinstance(data, dict):
        raise Problem.of(BAD_JSON)
    return data


def string_field(data: dict[str, Any], name: str, max_length: int) -> str:
    """A required string member; wrong types and over-long or non-UTF-8 text are a 400."""
    value = data.get(name)
    if not isinstance(value, str):
        raise Problem(400, "invalid_request", f"{name} must be a string")
    if len(value) > max_length:
        raise Problem(400, "invalid_request", f"{name} is too long")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from "\ud800" escapes
        raise Problem(400, "invalid_request", f"{name} is not valid text") from None
    return value


def bearer_token(conn: HTTPConnection) -> str:
    """The access token from `Authorization: Bearer …`, the only place a token is accepted."""
    headers = conn.headers.getlist("authorization")
    if len(headers) == 1 and len(headers[0]) <= MAX_TOKEN_LENGTH + 16:
        match = _BEARER.fullmatch(headers[0].strip())
        if match is not None:
            return match.group(1)
    raise Problem(
        UNAUTHENTICATED.status,
        UNAUTHENTICATED.code,
        UNAUTHENTICATED.detail,
        {"www-authenticate": "Bearer"},
    )
