"""The refresh cookie and its hint: written, cleared and read in exactly one way (DESIGN §7)."""

from __future__ import annotations

import re

from starlette.requests import HTTPConnection
from starlette.responses import Response

from edge_http.problems import DUPLICATE_COOKIE, Problem
from edge_http.wire import (
    NO_STORE_HEADERS,
    REFRESH_COOKIE,
    REFRESH_COOKIE_PATH,
    REFRESH_HINT_COOKIE,
)

_ATTRIBUTES = f"HttpOnly; Secure; SameSite=Strict; Path={REFRESH_COOKIE_PATH}"
# The hint is not HttpOnly and has Path=/ so that the page's script can read it (DESIGN §13).
_HINT_ATTRIBUTES = "Secure; SameSite=Strict; Path=/"
# RFC 6265 §4.1.1 cookie-octet; identity's tokens are base64url, so this never bites in practice,
# but a value outside it would let a header be split.
_COOKIE_OCTETS = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+")
# A session's refresh cookie lives at most this long even if identity said more (400 days is
# the cap browsers apply anyway, rfc6265bis §5.6.2).
_MAX_AGE_CAP = 400 * 24 * 3600


def _no_store(response: Response) -> None:
    for name, value in NO_STORE_HEADERS.items():
        response.headers[name] = value


def set_refresh_cookie(response: Response, token: str, max_age: int) -> None:
    """Sets the refresh cookie and the hint that goes with it, with the same lifetime."""
    if _COOKIE_OCTETS.fullmatch(token) is None:
        raise ValueError("identity returned a refresh token that is not a cookie value")
    age = min(max(0, int(max_age)), _MAX_AGE_CAP)
    response.headers.append("set-cookie", f"{REFRESH_COOKIE}={token}; {_ATTRIBUTES}; Max-Age={age}")
    response.headers.append(
        "set-cookie", f"{REFRESH_HINT_COOKIE}=1; {_HINT_ATTRIBUTES}; Max-Age={age}"
    )
    _no_store(response)


def clear_refresh_cookie(response: Response) -> None:
    """Clears the refresh cookie and, with it, the hint."""
    response.headers.append("set-cookie", f"{REFRESH_COOKIE}=; {_ATTRIBUTES}; Max-Age=0")
    response.headers.append("set-cookie", f"{REFRESH_HINT_COOKIE}=; {_HINT_ATTRIBUTES}; Max-Age=0")
    _no_store(response)


def read_refresh_cookie(conn: HTTPConnection) -> str | None:
    """The refresh token the browser sent, or None.

    Refuses a request carrying the cookie twice: `__Secure-` does not stop a sibling subdomain
    from planting a second cookie of the same name with another path (cookie tossing), and we
    must not guess which of the two is ours.
    """
    found: list[str] = []
    for header in conn.headers.getlist("cookie"):
        for pair in header.split(";"):
            name, sep, value = pair.partition("=")
            if sep and name.strip() == REFRESH_COOKIE:
                found.append(value.strip())
    if len(found) > 1:
        raise Problem.of(DUPLICATE_COOKIE)
    return found[0] if found else None
