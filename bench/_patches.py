"""Monkeypatches for bench.experiments, applied inside an identity process by bench.serve_counted
when BENCH_EXPERIMENTS names them. They exist only to measure a proposed change before it is
made for real in the file it belongs to; nothing in the product imports this module.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

DESCRIPTIONS = {
    "introspect_cache": "identity/services/tokens.py AccessTokens.check: answer a token seen "
    "before from identity.verify's jti-keyed ClaimsCache (exact string, same key, exp/nbf/iat "
    "and revocations re-checked on every hit)",
    "handler_cache": "identity/rpc/auth.py: memoise _wrap(handler, caller, name) instead of "
    "building a new RpcMethodHandler and closures on every call",
    "no_pre_ping": "identity/persistence/database.py: pool_pre_ping=False (no extra round trip "
    "per connection checkout)",
    "nice_hash": "identity/services/hashing.py: Argon2 pool threads at nice +10, so the event "
    "loop thread wins the CPU when both want it",
}


def introspect_cache() -> None:
    from identity.domain.token_rules import (
        ExpiredToken,
        NotYetValid,
        check_not_revoked,
        header_kid,
    )
    from identity.services import tokens
    from identity.verify.claims_cache import CachedClaims, ClaimsCache

    original = tokens.AccessTokens.check
    cache = ClaimsCache(4096)

    def check(self: Any, token: str) -> Any:
        keys = self._keyring.verification_keys
        entry = cache.lookup(token) if isinstance(token, str) else None
        if entry is not None and keys.get(entry.kid) == entry.key:
            claims = entry.claims
            now = self._clock.now().timestamp()
            leeway = self.policy.leeway.total_seconds()
            if now > claims.exp + leeway:
                raise ExpiredToken("token expired")
            if claims.nbf > now + leeway or claims.iat > now + leeway:
                raise NotYetValid("token not yet valid")
            check_not_revoked(claims, self._revocations)
            return claims
        claims = original(self, token)
        kid = header_kid(token)
        key = keys.get(kid) if kid else None
        if kid and key is not None:
            cache.store(CachedClaims(token, claims, kid, key, keys))
        return claims

    tokens.AccessTokens.check = check  # type: ignore[method-assign]


def handler_cache() -> None:
    from identity.rpc import auth

    original: Callable[..., Any] = auth._wrap
    memo: dict[tuple[Any, Any, str], Any] = {}

    def wrap(handler: Any, caller: Any, name: str) -> Any:
        key = (handler, caller, name)
        wrapped = memo.get(key)
        if wrapped is None:
            wrapped = memo[key] = original(handler, caller, name)
        return wrapped

    auth._wrap = wrap  # type: ignore[assignment]


def no_pre_ping() -> None:
    from identity.persistence import database

    original = database.create_async_engine

    def create(url: Any, **kwargs: Any) -> Any:
        kwargs.pop("pool_pre_ping", None)
        return original(url, **kwargs)

    database.create_async_engine = create  # type: ignore[assignment]


def nice_hash() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from identity.services import hashing

    def lower_priority() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:
            pass

    class NiceExecutor(ThreadPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("initializer", lower_priority)
            super().__init__(*args, **kwargs)

    hashing.ThreadPoolExecutor = NiceExecutor  # type: ignore[misc]


PATCHES: dict[str, Callable[[], None]] = {
    "introspect_cache": introspect_cache,
    "handler_cache": handler_cache,
    "no_pre_ping": no_pre_ping,
    "nice_hash": nice_hash,
}


def apply(names: str) -> None:
    for name in filter(None, (n.strip() for n in names.split(","))):
        PATCHES[name]()
