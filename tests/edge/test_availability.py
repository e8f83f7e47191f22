"""Identity down, slow or restarted: the edge answers 503 in time and never clears the cookie."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace

from identity.app import IdentityApp
from tests.edge.support import (
    CSRF,
    bearer,
    cookie_header,
    refresh,
    refresh_cookie,
    register_and_login,
    running_edge,
    set_cookies,
)


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
