"""Follow identity's WatchRevocations stream to refuse revoked tokens offline.

    follower = RevocationFollower("identity:50051", credential=SERVICE_SECRET)
    await follower.start()
    verifier = Verifier(..., revocations=follower, max_staleness=5.0)

The follower is a RevocationView kept in memory. It knows its staleness: the seconds since it
last heard from identity (events and heartbeats alike). A Verifier given `max_staleness` refuses
every token (StaleRevocations) once the follower is staler than that, or asks Introspect instead
when given an `introspector`: a verifier cut off from revocations fails closed, never open. Give
the follower the Verifier's `clock` when it has one: the follower forgets revocations by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time

import grpc

from identity.domain.clock import Clock, SystemClock
from identity.domain.revoked_set import RevokedSet
from identity.domain.token_rules import MAX_LEEWAY
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc
from identity.verify import channels
from identity.wire import MD_AUTHORIZATION

log = logging.getLogger(__name__)

HEARTBEAT = "heartbeat"


class RevocationFollower(RevokedSet):
    def __init__(
        self,
        target: str,
        *,
        credential: str,
        channel_credentials: grpc.ChannelCredentials | None = None,
        reconnect_delay: float = 0.5,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self._clock: Clock = clock or SystemClock()
        self._target = target
        self._metadata = ((MD_AUTHORIZATION, f"Bearer {credential}"),)
        self._channel_credentials = channel_credentials
        self._reconnect_delay = reconnect_delay
        self.cursor = 0
        self._last_heard: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._pruned_at = 0.0

    def __repr__(self) -> str:  # never the credential
        return f"RevocationFollower({self._target!r}, cursor={self.cursor})"

    async def start(self, wait: float = 5.0) -> None:
        """Start following; waits (up to `wait` seconds) until identity has been heard once."""
        self._task = asyncio.create_task(self._follow())
        deadline = time.monotonic() + wait
        while self._last_heard is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def staleness(self) -> float:
        """Seconds since identity was last heard from (infinite before the first word)."""
        return math.inf if self._last_heard is None else time.monotonic() - self._last_heard

    async def _follow(self) -> None:
        while True:
            channel = channels.aio_channel(self._target, self._channel_credentials)
            try:
                stub = identity_pb2_grpc.IdentityServiceStub(channel)
                stream = stub.WatchRevocations(
                    pb.WatchRevocationsRequest(after_cursor=self.cursor), metadata=self._metadata
                )
                async for event in stream:
                    self._apply(event)
            except grpc.aio.AioRpcError as error:
                log.warning("revocation feed interrupted", extra={"outcome": error.code().name})
            finally:
                await channel.close()
            await asyncio.sleep(self._reconnect_delay)  # resume from the cursor

    def _apply(self, event: pb.RevocationEvent) -> None:
        self._last_heard = time.monotonic()
        if event.kind == HEARTBEAT:
            return
        self.revoke(
            event.kind,
            event.forget_after.ToSeconds() if event.HasField("forget_after") else math.inf,
            session_id=event.session_id,
            user_id=event.user_id,
            not_before=event.not_before.ToSeconds() if event.HasField("not_before") else None,
            jti=event.jti,
        )
        self.cursor = max(self.cursor, event.cursor)
        self._prune(self._clock.now().timestamp())

    def _prune(self, now: float) -> None:
        if now - self._pruned_at < 60:
            return  # now and then, not on every event
        self._pruned_at = now
        # Identity's forget-after is the token lifetime plus *its* leeway; a verifier may allow
        # up to MAX_LEEWAY past exp, and its clock may run ahead of identity's. Forgetting only
        # MAX_LEEWAY later keeps a revoked token refused for as long as any verifier could
        # still take it as unexpired.
        self.forget_expired(now - MAX_LEEWAY.total_seconds())
