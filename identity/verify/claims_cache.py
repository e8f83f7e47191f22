"""Claims of tokens already verified, kept under the exact token string: a token seen again
is answered with a dictionary lookup and a few comparisons instead of a signature check.

Used by identity.verify's Verifier and by identity's own token check (Introspect and the
user-authenticated RPCs): one cache, no I/O; the rules it re-checks are token_rules' own.

Why the exact string may be the key (DESIGN §4): PyJWT, and JOSE in general, can read several
encodings of one signed token (a padded segment, an ECDSA (r, n-s) signature). A *deny list* keyed
by the string would let a re-encoded token dodge it; this cache only *answers* for a string it
verified in full, and every answer re-checks what may have changed since, by the claims:
- the key that verified it still published, unchanged, under its `kid`;
- `exp` (and `nbf`/`iat`) against the clock, with the leeway;
- the revocation view: session (`sid`), `jti`, the user's not-before.
Another encoding of a cached token is a miss, is verified in full (and then cached too, under its
own string), and is refused by the same revocation checks. The cache holds at most `size`
entries, the oldest insertion going first, so re-encodings cannot grow it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from identity.domain.errors import ExpiredToken
from identity.domain.jose import VerificationKey, verified_kid
from identity.domain.token_rules import (
    AccessClaims,
    RevocationView,
    check_not_revoked,
    check_times,
    valid_window,
)
from identity.verify.readonly import read_only_claims

DEFAULT_CACHE_SIZE = 4096


class CachedClaims:
    __slots__ = ("claims", "kid", "key", "keyset", "shared", "valid_from", "valid_to")

    def __init__(
        self,
        claims: AccessClaims,
        kid: str,
        key: VerificationKey,
        keyset: Mapping[str, VerificationKey],
        leeway: float,
    ) -> None:
        self.claims = claims
        self.kid = kid
        self.key = key
        self.keyset = keyset
        # Inside this window a hit needs no call to check_times (whose rule it is).
        self.valid_from, self.valid_to = valid_window(claims.exp, claims.nbf, claims.iat, leeway)
        # Read-only all the way down (lists and objects frozen once, here), so one view serves
        # every caller: what one caller is handed, none can change for the next.
        self.shared: Mapping[str, Any] = read_only_claims(claims.raw)


class ClaimsCache:
    """A bounded map token string -> CachedClaims; the oldest insertion goes first.
    Thread-safe: writes take a lock, a hit reads one dict entry."""

    def __init__(self, size: int, leeway: float) -> None:
        if size <= 0:
            raise ValueError("size must be positive")
        self._size = size
        self._leeway = leeway
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
        revocations: RevocationView | None,
    ) -> CachedClaims | None:
        """The entry for this exact string when its key is still published unchanged, after
        checking the times against `current` (a POSIX time) and the revocation view again;
        None on a miss. Raises ExpiredToken, NotYetValid or RevokedToken as the full check would.
        Every call with a cached token ends here, so it is kept to plain comparisons."""
        try:
            entry = self._entries.get(token)
        except TypeError:  # unhashable: not a token this cache could hold
            return None
        if entry is None:
            return None
        if keys is not entry.keyset:
            if keys.get(entry.kid) != entry.key:  # the key was withdrawn or replaced
                self._discard(token, entry)
                return None
            entry.keyset = keys
        if not entry.valid_from <= current <= entry.valid_to:
            claims = entry.claims
            try:
                check_times(claims.exp, claims.nbf, claims.iat, current, self._leeway)
            except ExpiredToken:
                self._discard(token, entry)  # it never comes back
                raise
        if revocations is not None:
            check_not_revoked(entry.claims, revocations)
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
        entry = CachedClaims(claims, kid, key, keys, self._leeway)
        with self._lock:
            entries = self._entries
            entries[token] = entry
            entries.move_to_end(token)
            while len(entries) > self._size:
                entries.popitem(last=False)
        return entry

    def _discard(self, token: str, entry: CachedClaims) -> None:
        with self._lock:
            if self._entries.get(token) is entry:
                del self._entries[token]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
