"""Verify access JWTs offline against the identity service's published keys.

    verifier = Verifier(issuer="https://id.example.com", audience="api",
                        jwks_url="https://id.example.com/.well-known/jwks.json")
    claims = verifier.verify(token)        # or: await verifier.averify(token)

Offline verification cannot see a logout or a revoked session until the token expires (at most
its lifetime, 10 minutes by default) unless a `RevocationView` is plugged in; work that must be
revocation-exact calls `Introspect` instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import jwt

from identity.domain.clock import Clock, SystemClock
from identity.domain.token_rules import (
    DEFAULT_LEEWAY,
    SUPPORTED_ALGORITHMS,
    AccessClaims,
    RevocationView,
    TokenPolicy,
    UnknownKey,
    VerificationKey,
    check_active,
)
from identity.verify.cache import KeyCache
from identity.verify.errors import JwksUnavailable
from identity.verify.sources import DEFAULT_FETCH_TIMEOUT, HttpJwksSource, JwksSource

DEFAULT_REFETCH_COOLDOWN = 30.0
DEFAULT_NEGATIVE_CACHE_SIZE = 1024


class Verifier:
    """Checks that a token is an active access token for `issuer` and `audience`.

    Keys come from `jwks_url` (HTTP) or `jwks_source` (e.g. `GrpcJwksSource`), never from the
    token. The algorithm of each key is the `alg` of its JWK, intersected with `algorithms`;
    the token's own `alg` only has to agree with it. `clock` drives both the token's time claims
    and the JWK Set cache ages. One Verifier may be shared by threads and event loops.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        jwks_source: JwksSource | None = None,
        algorithms: Iterable[str] = SUPPORTED_ALGORITHMS,
        leeway: timedelta | float = DEFAULT_LEEWAY,
        clock: Clock | None = None,
        revocations: RevocationView | None = None,
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
        refetch_cooldown: float = DEFAULT_REFETCH_COOLDOWN,
        negative_cache_size: int = DEFAULT_NEGATIVE_CACHE_SIZE,
    ) -> None:
        if not issuer or not audience:
            raise ValueError("issuer and audience must be non-empty")
        if jwks_source is not None and jwks_url is None:
            source = jwks_source
        elif jwks_url is not None and jwks_source is None:
            source = HttpJwksSource(jwks_url, timeout=fetch_timeout)
        else:
            raise ValueError("give exactly one of jwks_url and jwks_source")
        if fetch_timeout <= 0:
            raise ValueError("fetch_timeout must be positive")
        if refetch_cooldown < 0 or negative_cache_size < 0:
            raise ValueError("refetch_cooldown and negative_cache_size must not be negative")
        if not isinstance(leeway, timedelta):
            leeway = timedelta(seconds=leeway)
        self._policy = TokenPolicy(
            issuer=issuer, audience=audience, algorithms=frozenset(algorithms), leeway=leeway
        )
        self._clock: Clock = clock or SystemClock()
        self._revocations = revocations
        self._keys = KeyCache(
            source,
            algorithms=self._policy.algorithms,
            clock=self._clock,
            cooldown=refetch_cooldown,
            negative_cache_size=negative_cache_size,
            wait_timeout=fetch_timeout + 1.0,
        )

    @property
    def policy(self) -> TokenPolicy:
        return self._policy

    def verify(self, token: str) -> Mapping[str, Any]:
        """Return the token's claims (read-only) or raise InvalidToken saying why.

        May block on a JWK Set fetch (at most the fetch timeout); from an event loop, use averify.
        """
        self._keys.refresh()
        try:
            return _claims(self._check(token, self._keys.keys))
        except UnknownKey:
            kid = _header_kid(token)
            if kid is None:
                raise
        self._keys.refresh(kid)
        return _claims(self._check(token, self._keys.keys))

    async def averify(self, token: str) -> Mapping[str, Any]:
        """verify for event loops: a JWK Set fetch, when one is due, does not block the loop."""
        await self._keys.arefresh()
        try:
            return _claims(self._check(token, self._keys.keys))
        except UnknownKey:
            kid = _header_kid(token)
            if kid is None:
                raise
        await self._keys.arefresh(kid)
        return _claims(self._check(token, self._keys.keys))

    def _check(self, token: str, keys: Mapping[str, VerificationKey]) -> AccessClaims:
        try:
            return check_active(token, keys, self._policy, self._clock.now(), self._revocations)
        except UnknownKey:
            if not self._keys.loaded and _header_kid(token) is not None:
                raise JwksUnavailable("no JWK Set could be fetched") from None
            raise


def _claims(claims: AccessClaims) -> Mapping[str, Any]:
    return MappingProxyType(dict(claims.raw))


def _header_kid(token: str) -> str | None:
    """The kid to look up after an UnknownKey; the token rules already checked the header."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError, AttributeError):
        return None
    return kid if isinstance(kid, str) and 0 < len(kid) <= 128 else None
