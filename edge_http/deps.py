"""What the route handlers share: settings, the identity client, metrics and the verifier."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from edge_http.client_info import ClientContext, client_context
from edge_http.config import EdgeSettings
from edge_http.identity_client import IdentityClient, channel_credentials
from edge_http.metrics import EdgeMetrics
from identity.verify import GrpcJwksSource, Verifier


@dataclass(frozen=True)
class EdgeDeps:
    settings: EdgeSettings
    identity: IdentityClient
    metrics: EdgeMetrics
    verifier: Verifier

    def client(self, conn: HTTPConnection) -> ClientContext:
        return client_context(conn, self.settings.trusted_proxies)


class RouteGroup:
    """A group of routes: what its handlers reach, named once."""

    def __init__(self, deps: EdgeDeps) -> None:
        self._deps = deps
        self._identity = deps.identity
        self._origins = deps.settings.allowed_origins
        self._max_body = deps.settings.max_body_bytes


def default_verifier(settings: EdgeSettings) -> Verifier:
    """Verifies access tokens offline against identity's GetJwks (public, no credential)."""
    source = GrpcJwksSource(
        settings.identity_target,
        timeout=settings.grpc_deadline_seconds,
        credentials=channel_credentials(settings),
    )
    return Verifier(issuer=settings.issuer, audience=settings.audience, jwks_source=source)
