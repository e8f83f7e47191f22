"""The gRPC channels identity.verify opens to identity: balanced over every replica the target
names, following their health (identity.wire.HEALTH_CHECKED_ROUND_ROBIN), plaintext or TLS.

A target may name several replicas (`ipv4:10.0.0.1:50051,10.0.0.2:50051`, or a DNS name with
several addresses): calls go round-robin to the replicas whose grpc.health.v1 status is SERVING,
so a replica draining after SIGTERM gets no new call, as the edge does it.
"""

from __future__ import annotations

import grpc

from identity.wire import HEALTH_CHECKED_ROUND_ROBIN

OPTIONS = (("grpc.service_config", HEALTH_CHECKED_ROUND_ROBIN),)


def channel(target: str, credentials: grpc.ChannelCredentials | None) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(target, OPTIONS)
    return grpc.secure_channel(target, credentials, OPTIONS)


def aio_channel(target: str, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    if credentials is None:
        return grpc.aio.insecure_channel(target, OPTIONS)
    return grpc.aio.secure_channel(target, credentials, OPTIONS)
