"""Wire names the edge shares with browsers and with identity: cookies, headers, metadata keys."""

from __future__ import annotations

from typing import Final

# The refresh cookie (DESIGN §7). `__Secure-` rather than `__Host-` because `__Host-` forces
# `Path=/`, and we want the browser to send the refresh token to /auth only.
REFRESH_COOKIE: Final = "__Secure-refresh_token"
REFRESH_COOKIE_PATH: Final = "/auth"

# The CSRF header the cookie endpoints require (any non-empty value; auth-client sends this one).
CSRF_HEADER: Final = "x-requested-with"
CSRF_HEADER_VALUE: Final = "auth-client"

# gRPC metadata towards identity.
MD_AUTHORIZATION: Final = "authorization"
MD_CLIENT_IP: Final = "x-client-ip"
MD_CLIENT_USER_AGENT: Final = "x-client-user-agent"
MD_RETRY_AFTER: Final = "retry-after"
# identity's interceptor refuses a bad *service* credential with UNAUTHENTICATED and this text.
# It must not read as "the user's token is invalid": that would clear every user's cookie.
SERVICE_CREDENTIAL_REFUSED: Final = "missing or invalid service credential"

MAX_USER_AGENT: Final = 512
# Longer credentials are refused before anything decodes them (checklist IN-04).
MAX_TOKEN_LENGTH: Final = 8192
MAX_REFRESH_COOKIE_LENGTH: Final = 1024

PROBLEM_JSON: Final = "application/problem+json"
NO_STORE_HEADERS: Final = {"cache-control": "no-store", "pragma": "no-cache"}
