"""Identity down, slow or restarted: the edge answers 503 in time and never clears the cookie."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections import Counter
from dataclasses import replace

import pytest

from edge_http.identity_answers import Jwks
from edge_http.identity_client import IdentityClient
from identity.app import IdentityApp
from identity.logs import JsonFormatter
from identity.v1 import identity_pb2 as pb
from tests.edge.support import (
    CSRF,
    Edge,
    bearer,
    cookie_header,
    edge_settings,
    refresh,
    refresh_cookie,
    register_and_login,
    running_edge,
    set_cookies,
)
from tests.helpers import sample_value


async def test_identity_stopped_then_restarted(start_identity, unique_email):
    identity = await start_identity("sqlite")
    async with running_edge(identity) as edge:
        access, token = await register_and_login(edge, unique_email())
        assert (await edge.client.get("/api/me", headers=bearer(access))).status_code == 200
        await identity.app.stop(grace=0)

        # Verified offline against the cached key set: /api/me does not need identity.
        assert (await edge.client.get("/api/me", headers=bearer(access))).status_code == 200

        response = await refresh(edge, token)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert set_cookies(response) == []
        login = await edge.client.post(
            "/auth/login", json={"email": "a@b.example", "password": "x"}
        )
        assert login.status_code == 503
        assert (await edge.client.get("/readyz")).status_code == 503
        assert (await edge.client.get("/healthz")).status_code == 200
        logout = await edge.client.post("/auth/logout", headers={**CSRF, **cookie_header(token)})
        assert logout.status_code == 503  # the session may live on at identity ...
        assert len(set_cookies(logout)) == 1  # ... but this browser is signed out
        assert set_cookies(logout)[0].endswith("Max-Age=0")

        # Same database, same port: the edge reconnects by itself and the cookie still works.
        port = int(identity.target.rsplit(":", 1)[1])
        restarted = IdentityApp(
            replace(identity.app.settings, grpc_listen=f"127.0.0.1:{port}"),
            clock=identity.app.clock,
        )
        await restarted.start()
        try:
            deadline = time.monotonic() + 10
            while (await edge.client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, "the edge did not reconnect"
                await asyncio.sleep(0.2)
            response = await refresh(edge, token)
            assert response.status_code == 200, response.text
            assert refresh_cookie(response) != token
        finally:
            await restarted.stop(grace=0)


async def test_api_me_is_503_when_no_key_set_was_ever_fetched(start_identity, unique_email):
    identity = await start_identity("sqlite")
    async with running_edge(identity) as edge:
        access, _ = await register_and_login(edge, unique_email())
    await identity.app.stop(grace=0)
    async with running_edge(identity) as edge:
        response = await edge.client.get("/api/me", headers=bearer(access))
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_hanging_identity_gets_503_within_the_deadline(edge_identity):
    # A TCP listener that never speaks HTTP/2: every call waits for its deadline.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    target = f"127.0.0.1:{silent.getsockname()[1]}"
    try:
        async with running_edge(
            edge_identity, EDGE_IDENTITY_TARGET=target, EDGE_GRPC_DEADLINE_SECONDS="0.5"
        ) as edge:
            started = time.monotonic()
            response = await refresh(edge, "idrt_" + "A" * 43)
            assert time.monotonic() - started < 3
            assert response.status_code == 503
            assert set_cookies(response) == []
    finally:
        silent.close()


async def test_a_wrong_edge_credential_never_clears_a_users_cookie(edge_identity, unique_email):
    async with running_edge(edge_identity) as edge:
        _, token = await register_and_login(edge, unique_email())
    async with running_edge(edge_identity, EDGE_IDENTITY_CREDENTIAL="wrong-secret") as edge:
        response = await refresh(edge, token)
        assert response.status_code == 500
        assert set_cookies(response) == []
    async with running_edge(edge_identity) as edge:
        assert (await refresh(edge, token)).status_code == 200


async def _refreshes_met(edge: Edge, status: str) -> int:
    """Refresh calls the edge has seen end with `status`, from its own /metrics."""
    metrics = (await edge.client.get("/metrics")).text
    return int(
        sample_value(
            metrics, "edge_identity_call_duration_seconds_count", method="Refresh", code=status
        )
    )


async def test_calls_a_stopping_identity_cancels_are_503_with_retry_after_and_keep_the_cookie(
    start_identity, unique_email
):
    """Issue 22: a stopping gRPC server cancels the calls that had arrived but not reached a
    handler, whatever the grace period. The edge must answer those as "try again" (503 with
    Retry-After, the cookie kept), never as a server error (they were 500s)."""
    identity = await start_identity("sqlite")
    async with running_edge(identity) as edge:
        _, token = await register_and_login(edge, unique_email())
        # One cookie, 40 refreshes at once: SQLite serialises them, so once the first is
        # answered the others wait at identity, where the stop below finds them.
        burst = [asyncio.ensure_future(refresh(edge, token)) for _ in range(40)]
        deadline = time.monotonic() + 10
        while not await _refreshes_met(edge, "OK"):
            assert time.monotonic() < deadline, "no refresh was answered"
            await asyncio.sleep(0.005)
        await identity.app.stop(grace=5)
        responses = await asyncio.gather(*burst)

        assert await _refreshes_met(edge, "CANCELLED") > 0, "identity cancelled nothing"
        failed = [r for r in responses if r.status_code != 200]
        assert failed
        for response in failed:
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert int(response.headers["retry-after"]) >= 1
            assert set_cookies(response) == []
        assert len({refresh_cookie(r) for r in responses if r.status_code == 200}) == 1


async def test_the_edges_line_for_a_failed_call_names_the_status_and_method_only(
    start_identity, unique_email, caplog: pytest.LogCaptureFixture
):
    identity = await start_identity("sqlite")
    async with running_edge(identity) as edge:
        _, token = await register_and_login(edge, unique_email())
        await identity.app.stop(grace=0)
        with caplog.at_level(logging.WARNING, logger="edge_http.identity_client"):
            assert (await refresh(edge, token)).status_code == 503
    (line,) = [
        JsonFormatter().format(r)
        for r in caplog.records
        if r.name == "edge_http.identity_client" and r.levelno == logging.WARNING
    ]
    parsed = json.loads(line)
    assert parsed["msg"] == "identity call failed"
    assert parsed["grpc_status"] == "UNAVAILABLE" and parsed["method"] == "Refresh", line
    assert token not in line and identity.credentials["edge"] not in line


async def test_the_edge_sends_no_new_call_to_a_draining_identity(start_identity):
    """Issue 22: the edge's channel follows grpc.health.v1 (identity.wire's service config), so
    a replica that drains (NOT_SERVING, still serving) gets no new calls while another serves.
    Each replica has its own database, hence its own key set: the JWKS ETag says who answered."""
    a, b = await start_identity("sqlite"), await start_identity("sqlite")
    etag_of = {
        Jwks.from_pb(await s.stub.GetJwks(pb.GetJwksRequest())).etag: name
        for name, s in (("a", a), ("b", b))
    }
    settings = edge_settings(a, 0, EDGE_IDENTITY_TARGET=f"ipv4:{a.target},{b.target}")
    client = IdentityClient(settings)

    async def answered_by(calls: int) -> Counter[str]:
        return Counter([etag_of[(await client.get_jwks()).etag] for _ in range(calls)])

    try:
        deadline = time.monotonic() + 10
        while set(await answered_by(10)) != {"a", "b"}:  # round-robin has both connected
            assert time.monotonic() < deadline, "the edge never reached both replicas"
        draining = asyncio.ensure_future(a.app.drain(10.0))
        while (await answered_by(10))["a"]:  # the health watch tells the edge within ms
            assert time.monotonic() < deadline, "the edge still sends calls to the draining one"
        assert await answered_by(40) == Counter(b=40)
        assert (await a.stub.GetJwks(pb.GetJwksRequest())).jwks_json  # still serving
        assert not draining.done()
        draining.cancel()
    finally:
        await client.aclose()
