"""Ask identity's Introspect whether a token is active: the revocation-exact check."""

from __future__ import annotations

import grpc

from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc


class Introspector:
    """Asks identity's Introspect (role `service`): the revocation-exact fallback."""

    def __init__(self, target: str, *, credential: str, timeout: float = 2.0) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = identity_pb2_grpc.IdentityServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {credential}"),)
        self._timeout = timeout

    async def active(self, token: str) -> bool:
        answer = await self._stub.Introspect(
            pb.IntrospectRequest(token=token, token_type_hint="access_token"),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return bool(answer.active)

    async def close(self) -> None:
        await self._channel.close()
