"""Token introspection (RFC 7662) for other services.

Introspecting reads only memory: the published keys and the revocation state that events keep
current. Only access tokens can be active. A refresh token (or anything else) is `active: false`
without a lookup: refresh tokens live in the browser's cookie and the edge, no service has a
reason to hold one, and answering for them would make Introspect a database-backed oracle that
tells a `service` credential whether a stolen or guessed refresh token still works (DESIGN §4:
active is the access-token rule, and the hot path touches no database).
"""

from __future__ import annotations

from dataclasses import dataclass

from identity import metrics
from identity.domain.errors import InvalidToken
from identity.services.tokens import AccessTokens

ACCESS_TOKEN = "access_token"


@dataclass(frozen=True)
class TokenInfo:
    """The RFC 7662 §2.2 members. Inactive is `INACTIVE`: "active" and nothing else, because
    the server "SHOULD NOT include any additional information about an inactive token"."""

    active: bool
    token_type: str | None = None
    scope: str | None = None
    client_id: str | None = None
    sub: str | None = None
    aud: str | None = None
    iss: str | None = None
    jti: str | None = None
    sid: str | None = None
    exp: int | None = None
    iat: int | None = None
    nbf: int | None = None
    email_verified: bool | None = None
    # How and when the user last authenticated: absent from tokens minted before the claims.
    amr: tuple[str, ...] = ()
    acr: str | None = None
    auth_time: int | None = None


INACTIVE = TokenInfo(active=False)


class Introspection:
    def __init__(self, tokens: AccessTokens) -> None:
        self._tokens = tokens

    def introspect(self, token: str, token_type_hint: str = "", caller: str = "") -> TokenInfo:
        """`token_type_hint` is ignored (RFC 7662 §2.1: the server "MAY ignore this parameter"):
        only an active access token is active, whatever the hint says. `caller` (the credential's
        name) labels the count: RFC 7662 §4 wants token scanning noticed."""
        info = self._access(token)
        metrics.INTROSPECTIONS.labels("true" if info.active else "false", caller).inc()
        return info

    def _access(self, token: str) -> TokenInfo:
        try:
            claims = self._tokens.check(token)  # pure: keys and revocation state in memory
        except InvalidToken:
            return INACTIVE
        return TokenInfo(
            active=True,
            token_type=ACCESS_TOKEN,
            scope=claims.scope,
            client_id=claims.client_id,
            sub=claims.sub,
            aud=" ".join(claims.aud),
            iss=claims.iss,
            jti=claims.jti,
            sid=claims.sid,
            exp=claims.exp,
            iat=claims.iat,
            nbf=claims.nbf,
            email_verified=claims.email_verified,
            amr=claims.amr,
            acr=claims.acr,
            auth_time=claims.auth_time,
        )
