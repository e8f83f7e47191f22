"""Wire names the edge shares with browsers: the refresh cookie and its hint, the CSRF header,
problem+json.

The gRPC metadata keys and limits the edge shares with identity live in `identity.wire`.
"""

from __future__ import annotations

from typing import Final

# The refresh cookie (DESIGN §7). `__Secure-` rather than `__Host-` because `__Host-` forces
# `Path=/`, and we want the browser to send the refresh token to /auth only.
REFRESH_COOKIE: Final = "__Secure-refresh_token"
REFRESH_COOKIE_PATH: Final = "/auth"
MAX_REFRESH_COOKIE_LENGTH: Final = 1024
# Set and cleared with the refresh cookie, same lifetime, but readable by scripts on every path:
# it holds no secret (always `1`) and only tells the browser client whether a refresh can
# succeed, so that a signed-out page load sends no refresh that must fail.
REFRESH_HINT_COOKIE: Final = "refresh_hint"

# The CSRF header the cookie endpoints require (any non-empty value; auth-client sends this one).
CSRF_HEADER: Final = "x-requested-with"
CSRF_HEADER_VALUE: Final = "auth-client"

PROBLEM_JSON: Final = "application/problem+json"
NO_STORE_HEADERS: Final = {"cache-control": "no-store", "pragma": "no-cache"}
