"""The JWK Set from the identity service's GetJwks RPC, which needs no credential."""

from __future__ import annotations

import grpc
import grpc.aio

from identity.v1 import identity_pb2 as pb
from identity.verify import channels
from identity.verify.sources import DEFAULT_FETCH_TIMEOUT, FetchedJwks, JwksFetchError

_GET_JWKS = "/identity.v1.IdentityService/GetJwks"


class GrpcJwksSource:
    """Call GetJwks on `target` (e.g. "127.0.0.1:50051"); TLS when `credentials` is given.

    A channel is opened per fetch: fetches are rare (cache lifetime, cooldown), and a
    `grpc.aio` channel belongs to one event loop.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_FETCH_TIMEOUT,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        if not target:
            raise ValueError("target must name a gRPC server")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.target = target
        self._timeout = timeout
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"GrpcJwksSource({self.target!r})"

    def fetch(self, etag: str | None) -> FetchedJwks:
        with channels.channel(self.target, self._credentials) as channel:
            call = channel.unary_unary(
                _GET_JWKS,
                request_serializer=pb.GetJwksRequest.SerializeToString,
                response_deserializer=pb.GetJwksResponse.FromString,
            )
            try:
                response: pb.GetJwksResponse = call(pb.GetJwksRequest(), timeout=self._timeout)
            except grpc.RpcError as exc:
                raise JwksFetchError(f"GetJwks failed: {_status(exc)}") from exc
        return _fetched(response, etag)

    async def afetch(self, etag: str | None) -> FetchedJwks:
        channel = channels.aio_channel(self.target, self._credentials)
        async with channel:
            call = channel.unary_unary(
                _GET_JWKS,
                request_serializer=pb.GetJwksRequest.SerializeToString,
                response_deserializer=pb.GetJwksResponse.FromString,
            )
            try:
                response: pb.GetJwksResponse = await call(
                    pb.GetJwksRequest(), timeout=self._timeout
                )
            except grpc.RpcError as exc:
                raise JwksFetchError(f"GetJwks failed: {_status(exc)}") from exc
        return _fetched(response, etag)


def _status(exc: grpc.RpcError) -> str:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    return code.name if code is not None else type(exc).__name__


def _fetched(response: pb.GetJwksResponse, etag: str | None) -> FetchedJwks:
    max_age = float(response.max_age_seconds) if response.max_age_seconds > 0 else None
    if etag and response.etag == etag:
        return FetchedJwks(None, max_age, etag)
    return FetchedJwks(response.jwks_json, max_age, response.etag or None)
