"""Verified claims kept by `jti`, so a token seen again skips the signature check.

Used by identity.verify's Verifier and by identity's own token check (Introspect and the
user-authenticated RPCs): one cache, no I/O; the rules it re-checks are token_rules' own.

Why `jti` and never the token string (DESIGN §4): PyJWT, and JOSE in general, can read several
encodings of one signed token (a padded segment, an ECDSA (r, n-s) signature). A deny list or
cache keyed by the string lets a re-encoded token dodge it; one keyed by `jti` does not.

A hit needs all of:
- an entry under the token's `jti`, and the presented string *identical* to the one that was
  verified (any other encoding, or the same claims with another or a stripped signature, is a
  miss and goes through the full check, which then replaces the entry);
- the key that verified it still published, unchanged, under its `kid`;
- and, checked again on every hit: `exp` (and `nbf`/`iat`) against the clock with the leeway,
  and the revocation view (session, `jti`, user not-before).

The `jti` is read from the payload without a full JSON parse; it is only an index: what decides
a hit is the exact string comparison, so a crafted payload can at worst cause a miss.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from identity.domain.errors import ExpiredToken
from identity.domain.jose import VerificationKey, b64decode, verified_kid
from identity.domain.token_rules import (
    AccessClaims,
    RevocationView,
    check_not_revoked,
    check_times,
)

DEFAULT_CACHE_SIZE = 4096
_JTI_MARK = b'"jti":"'
_NESTED = frozenset({dict, list})


class CachedClaims:
    __slots__ = ("token", "claims", "kid", "key", "keyset", "shared", "_nested")

    def __init__(
        self,
        token: str,
        claims: AccessClaims,
        kid: str,
        key: VerificationKey,
        keyset: Mapping[str, VerificationKey],
    ) -> None:
        payload = claims.raw
        flat = _NESTED.isdisjoint(map(type, payload.values()))  # JSON: only these two nest
        self.token = token
        self.claims = claims
        self.kid = kid
        self.key = key
        self.keyset = keyset
        # Only immutable values (the usual case): one read-only view serves every caller; the
        # payload dict behind it is reachable only through views (the Verifier never hands out
        # AccessClaims). Nested values are copied in and, on every hit, out, so a caller that
        # mutates what it was handed cannot change what the next caller reads.
        self.shared: Mapping[str, Any] | None = MappingProxyType(payload) if flat else None
        self._nested: dict[str, Any] | None = None if flat else copy.deepcopy(dict(payload))

    def result(self) -> Mapping[str, Any]:
        """The claims for one caller: read-only, and nothing in them shared if mutable."""
        if self.shared is not None:
            return self.shared
        return MappingProxyType(copy.deepcopy(self._nested or {}))


class ClaimsCache:
    """A bounded map jti → CachedClaims; the oldest insertion goes first. Thread-safe."""

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise ValueError("size must be positive")
        self._size = size
        # OrderedDict: evicting the oldest stays O(1) (a dict's first live slot is found by a
        # scan past every deleted one).
        self._entries: OrderedDict[str, CachedClaims] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def hit(
        self,
        token: str,
        keys: Mapping[str, VerificationKey],
        current: float,
        leeway: float,
        revocations: RevocationView | None,
    ) -> CachedClaims | None:
        """The entry for this exact string when its key is still published unchanged, after
        checking exp/nbf/iat against `current` (a POSIX time) and the revocation view again;
        None on a miss. Raises ExpiredToken, NotYetValid or RevokedToken as the full check would.
        """
        # The entry verified for exactly this string (the hint is only an index).
        entry = self._entries.get(jti_hint(token)) if type(token) is str else None  # type: ignore[arg-type]
        if entry is None or entry.token != token:
            return None
        if keys is not entry.keyset:
            if keys.get(entry.kid) != entry.key:  # the key was withdrawn or replaced
                self.discard(entry)
                return None
            entry.keyset = keys
        claims = entry.claims
        try:
            check_times(claims.exp, claims.nbf, claims.iat, current, leeway)
        except ExpiredToken:
            self.discard(entry)  # it never comes back
            raise
        if revocations is not None:
            check_not_revoked(claims, revocations)
        return entry

    def remember(
        self, token: str, claims: AccessClaims, keys: Mapping[str, VerificationKey]
    ) -> CachedClaims | None:
        """Keep claims that `keys` just verified for `token`; None when its key is not known
        (never cache a guess)."""
        kid = verified_kid(token)
        key = None if kid is None else keys.get(kid)
        if kid is None or key is None:
            return None
        entry = CachedClaims(token, claims, kid, key, keys)
        self.store(entry)
        return entry

    def store(self, entry: CachedClaims) -> None:
        with self._lock:
            entries = self._entries
            entries[entry.claims.jti] = entry
            entries.move_to_end(entry.claims.jti)
            while len(entries) > self._size:
                entries.popitem(last=False)

    def discard(self, entry: CachedClaims) -> None:
        with self._lock:
            if self._entries.get(entry.claims.jti) is entry:
                del self._entries[entry.claims.jti]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def jti_hint(token: str) -> str | None:
    """The `jti` of the payload segment, read cheaply; None when it cannot be found that way.

    identity writes `jti` first, so the first 44 characters (33 octets) of the payload usually
    hold `{"jti":"…"` whole and the rest is not decoded (this runs on every cache hit); any
    other order falls back to decoding the whole segment. The fast path does not look for the
    segment's end first: 44 characters that run past it decode to something else or fail,
    and a wrong hint is only a miss."""
    start = token.find(".") + 1
    head = b64decode(token[start : start + _PREFIX])
    if head is not None and head[:_JTI_FIRST_LEN] == _JTI_FIRST:
        close = head.find(b'"', _JTI_FIRST_LEN)
        if close > 0:
            return _text(head[_JTI_FIRST_LEN:close])
    end = token.find(".", start)
    payload = b64decode(token[start:end]) if end > start else None
    if payload is None:
        return None
    first = payload.find(_JTI_MARK)
    if first < 0:
        return None
    first += len(_JTI_MARK)
    close = payload.find(b'"', first)
    return None if close < 0 else _text(payload[first:close])


_PREFIX = 44  # a multiple of 4, so it decodes on its own
_JTI_FIRST = b'{"jti":"'
_JTI_FIRST_LEN = len(_JTI_FIRST)


def _text(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None
