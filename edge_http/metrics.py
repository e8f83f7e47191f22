"""Prometheus metrics of the edge. Labels carry outcomes only: never emails, ids, tokens or IPs."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from identity.workers import MULTIPROC_DIR

__all__ = ["CONTENT_TYPE_LATEST", "EdgeMetrics"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class EdgeMetrics:
    """One registry per edge, so several edges (tests) can live in one process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "edge_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "edge_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["route"],
            registry=self.registry,
        )
        self.auth_outcomes = Counter(
            "edge_auth_outcomes",
            "Outcomes of auth operations (login, refresh, logout, ...).",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.identity_calls = Histogram(
            "edge_identity_call_duration_seconds",
            "gRPC calls to identity by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )

    def outcome(self, operation: str, outcome: str) -> None:
        self.auth_outcomes.labels(operation=operation, outcome=outcome).inc()

    def identity_call(self, method: str, code: str, seconds: float) -> None:
        self.identity_calls.labels(method=method, code=code).observe(seconds)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        # Methods and statuses come from clients: keep the label sets bounded.
        method = method if method in _METHODS else "OTHER"
        shown = str(status) if 100 <= status <= 599 else "other"
        self.requests.labels(route=route, method=method, status=shown).inc()
        self.request_seconds.labels(route=route).observe(seconds)

    def render(self) -> bytes:
        """This edge's metrics; under `edge-http serve --workers N`, those of every worker
        (each writes its samples to the shared folder: identity/workers.py)."""
        directory = os.environ.get(MULTIPROC_DIR)
        if directory is None:
            return generate_latest(self.registry)
        everyone = CollectorRegistry()
        MultiProcessCollector(everyone, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(everyone)
