"""Verify access JWTs offline against the identity service's published keys.

    verifier = Verifier(issuer="https://id.example.com", audience="api",
                        jwks_url="https://id.example.com/.well-known/jwks.json")
    claims = verifier.verify(token)        # or: await verifier.averify(token)
    claims = verifier.verify(token, acr="aal2", max_auth_age=300)   # a second factor, recently

Tokens seen again are answered from a cache keyed by the exact token string (see claims_cache)
that still checks expiry, the key and the revocation view on every hit; `cache_size=0` turns it
off.

Offline verification cannot see a logout or a revoked session until the token expires (at most
its lifetime, 10 minutes by default) unless a `RevocationView` is plugged in; work that must be
revocation-exact calls `Introspect` instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from identity.domain.clock import Clock, SystemClock
from identity.domain.jose import SUPPORTED_ALGORITHMS, VerificationKey, header_kid
from identity.domain.token_rules import (
    DEFAULT_LEEWAY,
    AccessClaims,
    RevocationView,
    TokenPolicy,
    check_active,
    check_authentication,
)
from identity.verify.cache import KeyCache
from identity.verify.claims_cache import DEFAULT_CACHE_SIZE, CachedClaims, ClaimsCache
from identity.verify.errors import (
    InvalidToken,
    JwksUnavailable,
    RevokedToken,
    StaleRevocations,
    StepUpRequired,
    UnknownKey,
    UnverifiedEmail,
)
from identity.verify.introspector import Introspector
from identity.verify.readonly import read_only_claims
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
        cache_size: int = DEFAULT_CACHE_SIZE,
        max_staleness: float | None = None,
        introspector: Introspector | None = None,
        require_email_verified: bool = False,
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
        if cache_size < 0:
            raise ValueError("cache_size must not be negative")
        if not isinstance(leeway, timedelta):
            leeway = timedelta(seconds=leeway)
        self._policy = TokenPolicy(
            issuer=issuer, audience=audience, algorithms=frozenset(algorithms), leeway=leeway
        )
        self._clock: Clock = clock or SystemClock()
        self._system_clock = type(self._clock) is SystemClock
        self._revocations = revocations
        staleness = getattr(revocations, "staleness", None)
        if max_staleness is not None and not callable(staleness):
            raise ValueError(
                "max_staleness needs revocations that know their staleness (RevocationFollower)"
            )
        self._staleness = staleness if max_staleness is not None else None
        self._max_staleness = max_staleness
        self._introspector = introspector
        self._require_email_verified = require_email_verified
        self._keys = KeyCache(
            source,
            algorithms=self._policy.algorithms,
            clock=self._clock,
            cooldown=refetch_cooldown,
            negative_cache_size=negative_cache_size,
            wait_timeout=fetch_timeout + 1.0,
        )
        self._leeway = self._policy.leeway.total_seconds()
        self._cache = ClaimsCache(cache_size, self._leeway) if cache_size else None

    @property
    def policy(self) -> TokenPolicy:
        return self._policy

    def staleness(self) -> float | None:
        """Seconds since the revocation feed last heard from identity (None without a feed)."""
        return self._staleness() if self._staleness is not None else None

    def verify(
        self, token: str, *, acr: str | None = None, max_auth_age: float | None = None
    ) -> Mapping[str, Any]:
        """Return the token's claims or raise InvalidToken saying why. The claims are read-only
        all the way down (identity.verify.readonly), the same object for every caller of a
        cached token.

        `acr` demands a level ("aal2": a second factor) and `max_auth_age` that the user
        authenticated at most that many seconds ago; a token that is otherwise valid but fails
        a demand raises InsufficientAuthentication or AuthenticationTooOld (StepUpRequired).
        The demands are this call's: a token verified (and cached) without them is checked
        against them on every later call that makes them.

        May block on a JWK Set fetch (at most the fetch timeout); from an event loop, use averify.
        With max_staleness, a feed staler than that refuses every token (no fallback here:
        Introspect is only asked by averify).
        """
        entry = self._hit(token)
        if entry is None:
            claims, result = self._verify(token)
        else:
            claims = entry.claims
            result = entry.shared
        self._check_email_verified(result)
        if self._staleness is not None and self._too_stale():
            raise StaleRevocations("revocation feed too stale")
        if acr is not None or max_auth_age is not None:
            check_authentication(
                claims.acr,
                claims.auth_time,
                acr=acr,
                max_auth_age=max_auth_age,
                now=self._timestamp(),
            )
        return result

    async def averify(
        self, token: str, *, acr: str | None = None, max_auth_age: float | None = None
    ) -> Mapping[str, Any]:
        """verify for event loops, with the same demands. With max_staleness and a stale feed:
        Introspect decides when an introspector is given (its answer meeting the demands too),
        else StaleRevocations (fail closed)."""
        entry = self._hit(token)
        if entry is None:
            claims, result = await self._averify(token)
        else:
            claims = entry.claims
            result = entry.shared
        self._check_email_verified(result)
        if self._staleness is not None and self._too_stale():
            if self._introspector is None:
                raise StaleRevocations("revocation feed too stale")
            try:
                await self._introspector.verify(token, acr=acr, max_auth_age=max_auth_age)
            except grpc.aio.AioRpcError:
                raise StaleRevocations("revocation feed too stale, introspection failed") from None
            except StepUpRequired:
                raise
            except InvalidToken:  # inactive: the local check passed, so it was revoked
                raise RevokedToken("introspection says inactive") from None
        if acr is not None or max_auth_age is not None:
            check_authentication(
                claims.acr,
                claims.auth_time,
                acr=acr,
                max_auth_age=max_auth_age,
                now=self._timestamp(),
            )
        return result

    def _check_email_verified(self, claims: Mapping[str, Any]) -> None:
        # `is not True`: only the JSON boolean true passes (token_rules refuses other types).
        if self._require_email_verified and claims.get("email_verified") is not True:
            raise UnverifiedEmail("the user's email address is not verified")

    def _too_stale(self) -> bool:
        return (
            self._staleness is not None
            and self._max_staleness is not None
            and self._staleness() > self._max_staleness
        )

    def _hit(self, token: str) -> CachedClaims | None:
        """A token verified before: this exact string, its key unchanged, times and revocations
        checked again. Most calls end here, so it is kept short."""
        cache = self._cache
        if cache is None:
            return None
        current = time.time() if self._system_clock else self._clock.now().timestamp()
        keys = self._keys.fresh(current)
        if keys is None:  # the key set is due for a refresh: the full path fetches it first
            return None
        return cache.hit(token, keys, current, self._revocations)

    def _verify(self, token: str) -> tuple[AccessClaims, Mapping[str, Any]]:
        """The full check (a cache miss), fetching the JWK Set first when it is due."""
        current = self._timestamp()
        if self._keys.stale(current):
            self._keys.refresh()
            hit = self._hit(token)  # an unchanged key keeps its cached tokens
            if hit is not None:
                return hit.claims, hit.shared
            current = self._timestamp()  # a fetch may have taken a while
        try:
            return self._checked(token, self._datetime(current))
        except UnknownKey:
            kid = header_kid(token)
            if kid is None:
                raise
        self._keys.refresh(kid)
        return self._checked(token, self._clock.now())

    async def _averify(self, token: str) -> tuple[AccessClaims, Mapping[str, Any]]:
        """_verify for event loops: a JWK Set fetch, when one is due, does not block the loop."""
        current = self._timestamp()
        if self._keys.stale(current):
            await self._keys.arefresh()
            hit = self._hit(token)
            if hit is not None:
                return hit.claims, hit.shared
            current = self._timestamp()
        try:
            return self._checked(token, self._datetime(current))
        except UnknownKey:
            kid = header_kid(token)
            if kid is None:
                raise
        await self._keys.arefresh(kid)
        return self._checked(token, self._clock.now())

    def _timestamp(self) -> float:
        # The system clock read without building a datetime (the cache-hit path is that short).
        return time.time() if self._system_clock else self._clock.now().timestamp()

    def _datetime(self, current: float) -> datetime:
        if self._system_clock:
            return datetime.fromtimestamp(current, UTC)
        return self._clock.now()

    def _checked(self, token: str, now: datetime) -> tuple[AccessClaims, Mapping[str, Any]]:
        keys = self._keys.keys
        claims = self._check(token, keys, now)
        entry = self._cache.remember(token, claims, keys) if self._cache is not None else None
        return claims, read_only_claims(claims.raw) if entry is None else entry.shared

    def _check(
        self, token: str, keys: Mapping[str, VerificationKey], now: datetime
    ) -> AccessClaims:
        try:
            return check_active(token, keys, self._policy, now, self._revocations)
        except UnknownKey:
            if not self._keys.loaded and header_kid(token) is not None:
                raise JwksUnavailable("no JWK Set could be fetched") from None
            raise
