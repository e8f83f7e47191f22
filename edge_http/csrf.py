"""CSRF defences of the cookie endpoints: a custom header, the Origin allow-list, Fetch Metadata.

A cross-origin page cannot add `X-Requested-With` without a CORS preflight, which only the
configured origins pass; `Origin` (when the browser sends it) must be one of them; and
`Sec-Fetch-Site: cross-site` is refused outright. Checks run before anything reads the cookie
or calls identity, so a refusal has no side effect.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.requests import HTTPConnection

from edge_http.problems import FORBIDDEN_CSRF, Problem
from edge_http.wire import CSRF_HEADER


def check_origin(conn: HTTPConnection, allowed_origins: Collection[str]) -> None:
    """Refuse a foreign `Origin` (compared exactly) and `Sec-Fetch-Site: cross-site`."""
    origins = conn.headers.getlist("origin")
    if len(origins) > 1 or (origins and origins[0] not in allowed_origins):
        raise Problem.of(FORBIDDEN_CSRF)
    fetch_sites = [s.strip().lower() for s in conn.headers.getlist("sec-fetch-site")]
    if "cross-site" in fetch_sites:
        raise Problem.of(FORBIDDEN_CSRF)


def check_cookie_request(conn: HTTPConnection, allowed_origins: Collection[str]) -> None:
    """All checks for endpoints the refresh cookie authenticates (/auth/refresh, /auth/logout)."""
    if not conn.headers.get(CSRF_HEADER, "").strip():
        raise Problem.of(FORBIDDEN_CSRF)
    check_origin(conn, allowed_origins)
