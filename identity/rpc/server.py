"""The gRPC server: our services, health, reflection (v1 and v1alpha), limits and TLS."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from identity.config import Settings
from identity.rpc.reflection import enable_reflection
from identity.v1 import admin_pb2, admin_pb2_grpc, identity_pb2, identity_pb2_grpc

SERVICE_NAMES = (
    identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["IdentityAdmin"].full_name,
)


def server_options(settings: Settings, reuse_port: bool = False) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ("grpc.max_metadata_size", 16 * 1024),
        # Keepalive (gRPC doc/keepalive.md): clients may ping at most every 30 s without calls;
        # two strikes and the connection gets GOAWAY ENHANCE_YOUR_CALM ("too_many_pings").
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.max_connection_idle_ms", 15 * 60_000),
        # Workers of one `identity serve --workers N` bind the same port; a lone server does
        # not, so that a second one started on its port fails instead of taking half the calls.
        ("grpc.so_reuseport", int(reuse_port)),
    ]


class _GenericOnly:
    """Takes what a generated `add_*Servicer_to_server` registers and keeps only its generic
    handler (a lookup by method name), dropping the "registered method" copy.

    grpc.aio's server keeps one pending request per registered method and, for every call it
    accepts, waits on all of them again (`asyncio.wait`, twice per call over ~21 futures in the
    profile: a done-callback added to and removed from each). With generic handlers only it
    waits on one (bench/findings.md, "Where a rotation's CPU went next").
    """

    def __init__(self) -> None:
        self.handlers: list[grpc.GenericRpcHandler] = []

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self.handlers.extend(handlers)

    def add_registered_method_handlers(self, _service: str, _handlers: object) -> None:
        pass


def build_server(
    settings: Settings,
    servicer: identity_pb2_grpc.IdentityServiceServicer,
    admin: admin_pb2_grpc.IdentityAdminServicer,
    interceptors: Sequence[grpc.aio.ServerInterceptor],
    health_servicer: health.aio.HealthServicer,
    reuse_port: bool = False,
) -> tuple[grpc.aio.Server, int]:
    # A bound on the calls in flight (each holds a task and its buffers): a flood beyond it is
    # refused with RESOURCE_EXHAUSTED at once rather than queued. grpc.aio's limiter stopped
    # counting after the first refusals before grpc/grpc#41532; the test sends three waves.
    server = grpc.aio.server(
        interceptors=list(interceptors),
        options=server_options(settings, reuse_port),
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    generic = _GenericOnly()
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, generic)
    admin_pb2_grpc.add_IdentityAdminServicer_to_server(admin, generic)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, generic)  # type: ignore[arg-type]
    server.add_generic_rpc_handlers(generic.handlers)
    # Reflection stays on so operators can use grpcurl without proto files (README, "Decisions").
    enable_reflection(
        server, (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    )
    if settings.tls_cert is not None and settings.tls_key is not None:
        client_ca = settings.tls_client_ca.read_bytes() if settings.tls_client_ca else None
        credentials = grpc.ssl_server_credentials(
            [(settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )
        port = server.add_secure_port(settings.grpc_listen, credentials)
    else:
        port = server.add_insecure_port(settings.grpc_listen)
    if port == 0:
        raise OSError(f"cannot bind gRPC to {settings.grpc_listen}")
    return server, port
