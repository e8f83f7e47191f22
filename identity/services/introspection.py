"""Token introspection (RFC 7662) and the revocation feed (WatchRevocations) for other services.

Introspecting reads only memory: the published keys and the revocation state that events keep
current. Only access tokens can be active. A refresh token (or anything else) is `active: false`
without a lookup: refresh tokens live in the browser's cookie and the edge, no service has a
reason to hold one, and answering for them would make Introspect a database-backed oracle that
tells a `service` credential whether a stolen or guessed refresh token still works (DESIGN §4:
active is the access-token rule, and the hot path touches no database).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from identity import metrics
from identity.domain.clock import Clock
from identity.domain.token_rules import InvalidToken
from identity.ports import RevocationEvent, UnitOfWorkFactory
from identity.services.revocation_cache import RevocationCache, Subscription
from identity.services.tokens import AccessTokens

log = logging.getLogger(__name__)

ACCESS_TOKEN = "access_token"
HEARTBEAT = "heartbeat"
REPLAY_PAGE = 1000


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
        )


class RevocationFeed:
    """WatchRevocations: the logged events after a cursor, then live ones, each exactly once and
    in cursor order, so a client resuming after the highest cursor it saw misses nothing.

    The subscription is taken *before* the log is read, so an event committed during the replay
    is in the log, in the subscription, or both (then skipped: its cursor is not above `last`).
    Cursors become visible in order (RevocationLog.append), so a live event right after `last`
    is sent as is; after a hole (a rolled-back id, or two local commits published out of order)
    the log is read again from `last` to fill it.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cache: RevocationCache,
        clock: Clock,
        heartbeat: timedelta,
        queue_limit: int = 10_000,
    ) -> None:
        self._uow = uow
        self._cache = cache
        self._clock = clock
        self._heartbeat = heartbeat.total_seconds()
        self._queue_limit = queue_limit  # live events a slow client may fall behind by

    async def watch(self, after_cursor: int) -> AsyncIterator[RevocationEvent]:
        """Yields events and, when idle for the heartbeat interval, heartbeats (cursor 0).
        Ends when the server shuts down; the caller resumes from the last cursor it saw."""
        last = max(0, after_cursor)
        subscription = self._cache.subscribe(self._queue_limit)
        replay = True
        try:
            while True:
                if replay:
                    async for event in self._replay(last):
                        last = event.cursor
                        yield event
                    replay = False
                live = await self._next_live(subscription, last)
                if subscription.overflowed:  # fell behind and was dropped: subscribe, re-read
                    self._cache.unsubscribe(subscription)
                    subscription = self._cache.subscribe(self._queue_limit)
                    replay = True
                elif subscription.closed:
                    return
                elif live is None:
                    now = self._clock.now()
                    yield RevocationEvent(0, HEARTBEAT, now, now)
                elif live.cursor == last + 1:
                    last = live.cursor
                    yield live
                else:
                    replay = True  # a hole before `live`: the log fills it, in order
        finally:
            self._cache.unsubscribe(subscription)

    async def _next_live(self, subscription: Subscription, last: int) -> RevocationEvent | None:
        """The next event above `last` (None: heartbeat due, overflowed or closed)."""
        while not (subscription.overflowed or subscription.closed):
            live = await subscription.get(self._heartbeat)
            if live is None or live.cursor > last:
                return live
        return None

    async def _replay(self, after: int) -> AsyncIterator[RevocationEvent]:
        cursor = after
        while True:
            async with self._uow() as uow:
                page = await uow.revocations.since(cursor, None, self._clock.now(), REPLAY_PAGE)
            for event in page:
                cursor = event.cursor
                yield event
            if len(page) < REPLAY_PAGE:
                return
