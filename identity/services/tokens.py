"""Minting access tokens (RFC 9068) and checking the ones presented to identity itself."""

from __future__ import annotations

import base64
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from identity.domain.authentication import Authentication
from identity.domain.clock import Clock
from identity.domain.jose import signed_compact
from identity.domain.token_rules import AccessClaims, TokenPolicy, check_active
from identity.services.keyring import KeyRing
from identity.services.revocation_cache import RevocationCache
from identity.verify.claims_cache import DEFAULT_CACHE_SIZE, ClaimsCache


@dataclass(frozen=True)
class AccessToken:
    token: str
    jti: str
    expires_in: int


@dataclass(frozen=True)
class IssuedTokens:
    """What Login and Refresh answer."""

    access: AccessToken
    refresh_token: str
    refresh_expires_in: int
    session_id: str
    user_id: str
    grace_replay: bool = False


@dataclass(frozen=True)
class SecondFactorChallenge:
    """What Login answers when the password was right and the account has a second factor:
    no session yet, a ticket for CompleteLogin."""

    ticket: str = field(repr=False)
    expires_in: int
    user_id: str


class AccessTokens:
    def __init__(
        self,
        keyring: KeyRing,
        revocations: RevocationCache,
        policy: TokenPolicy,
        ttl: timedelta,
        clock: Clock,
    ) -> None:
        self._keyring = keyring
        self._revocations = revocations
        self.policy = policy
        self._ttl = ttl
        self._clock = clock
        # Introspect and the user-authenticated RPCs see the same token many times in its
        # minutes of life; a hit skips the signature check, never the time or revocation checks.
        self._cache = ClaimsCache(DEFAULT_CACHE_SIZE, policy.leeway.total_seconds())

    def issue(
        self,
        user_id: str,
        session_id: str,
        client_id: str,
        scope: str,
        now: datetime,
        email_verified: bool,
        authentication: Authentication,
    ) -> AccessToken:
        key = self._keyring.signing_key
        iat = math.floor(now.timestamp())
        ttl = int(self._ttl.total_seconds())
        jti = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")
        claims = {
            "jti": jti,
            "iss": self.policy.issuer,
            "sub": user_id,
            "aud": self.policy.audience,
            "exp": iat + ttl,
            "iat": iat,
            "nbf": iat,
            "sid": session_id,
            "scope": scope,
            "client_id": client_id,
            # A boolean about the address, never the address itself (no PII beyond `sub`).
            "email_verified": email_verified,
            # How and when the user last authenticated in this session (RFC 8176, OIDC).
            "amr": authentication.amr,
            "acr": str(authentication.acr),
            "auth_time": math.floor(authentication.at.timestamp()),
        }
        token = signed_compact(key.alg, key.kid, key.private, claims)
        return AccessToken(token=token, jti=jti, expires_in=ttl)

    def check(self, token: str) -> AccessClaims:
        """An active access token's claims, or InvalidToken (a subclass of Unauthenticated)."""
        now = self._clock.now()
        keys = self._keyring.verification_keys
        entry = self._cache.hit(token, keys, now.timestamp(), self._revocations)
        if entry is not None:
            return entry.claims
        claims = check_active(token, keys, self.policy, now, self._revocations)
        self._cache.remember(token, claims, keys)
        return claims


def seconds_until(when: datetime, now: datetime) -> int:
    return max(0, int((when - now).total_seconds()))
