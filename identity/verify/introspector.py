"""Ask identity's Introspect whether a token is active: the revocation-exact check."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import grpc

from identity.domain.clock import Clock, SystemClock
from identity.domain.errors import InvalidToken
from identity.domain.token_rules import check_authentication
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc
from identity.verify import channels
from identity.wire import MD_AUTHORIZATION

# The RFC 7662 members Introspect may answer, each set only when the token is active.
_OPTIONAL = tuple(
    field.name
    for field in pb.IntrospectResponse.DESCRIPTOR.fields
    if field.has_presence and field.name != "active"
)


class Introspector:
    """Asks identity's Introspect (role `service`): the revocation-exact fallback.

    `verify` is the revocation-exact counterpart of `Verifier.verify`, demands included: one
    call to identity per request. `clock` times the `max_auth_age` demand."""

    def __init__(
        self,
        target: str,
        *,
        credential: str,
        timeout: float = 2.0,
        clock: Clock | None = None,
        channel_credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        # Over every replica `target` names, following their health (identity.verify.channels).
        self._channel = channels.aio_channel(target, channel_credentials)
        self._stub = identity_pb2_grpc.IdentityServiceStub(self._channel)
        self._metadata = ((MD_AUTHORIZATION, f"Bearer {credential}"),)
        self._timeout = timeout
        self._clock: Clock = clock or SystemClock()

    async def introspect(self, token: str) -> pb.IntrospectResponse:
        """Introspect's answer as it is. Raises grpc.aio.AioRpcError when identity cannot be
        asked."""
        answer: pb.IntrospectResponse = await self._stub.Introspect(
            pb.IntrospectRequest(token=token, token_type_hint="access_token"),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return answer

    async def active(self, token: str) -> bool:
        return bool((await self.introspect(token)).active)

    async def verify(
        self, token: str, *, acr: str | None = None, max_auth_age: float | None = None
    ) -> Mapping[str, Any]:
        """The active token's members (RFC 7662; `amr` a list) read-only, after the demands of
        `Verifier.verify` (the same rule, token_rules.check_authentication). Raises InvalidToken
        when identity says inactive (expired, revoked, forged alike: Introspect says no more),
        InsufficientAuthentication or AuthenticationTooOld when a demand is not met, and
        grpc.aio.AioRpcError when identity cannot be asked."""
        answer = await self.introspect(token)
        if not answer.active:
            raise InvalidToken("introspection says inactive")
        members: dict[str, Any] = {"active": True}
        members.update((name, getattr(answer, name)) for name in _OPTIONAL if answer.HasField(name))
        if answer.amr:
            members["amr"] = list(answer.amr)
        if acr is not None or max_auth_age is not None:
            check_authentication(
                members.get("acr"),
                members.get("auth_time"),
                acr=acr,
                max_auth_age=max_auth_age,
                now=self._clock.now().timestamp(),
            )
        return MappingProxyType(members)

    async def close(self) -> None:
        await self._channel.close()
