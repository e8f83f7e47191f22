"""The refresh cookie: attributes, rotation, grace replay, reuse, concurrency, logout."""

from __future__ import annotations

import asyncio
import re

from identity.domain.clock import FixedClock
from tests.conftest import PASSWORD
from tests.edge.support import (
    COOKIE,
    CSRF,
    bearer,
    cookie_header,
    login,
    refresh,
    refresh_cookie,
    register_and_login,
    running_edge,
    set_cookies,
    tokens_of,
)

_COOKIE_RE = re.compile(
    rf"{COOKIE}=(idrt_[A-Za-z0-9_-]+); HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=(\d+)"
)
_CLEARED = f"{COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=0"


def assert_no_store(response):
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


async def test_login_sets_exactly_one_cookie_with_every_attribute(edge, unique_email):
    email = unique_email()
    await edge.client.post("/auth/register", json={"email": email, "password": PASSWORD})
    response = await edge.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200
    (header,) = set_cookies(response)
    match = _COOKIE_RE.fullmatch(header)
    assert match, header
    assert "domain" not in header.lower()
    assert 0 < int(match.group(2)) <= 30 * 86400
    assert len(header.split(";", 1)[0]) <= 4096
    assert_no_store(response)
    body = tokens_of(response)
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert match.group(1) not in response.text


async def test_refresh_rotates_the_cookie_and_returns_a_new_access_token(edge, signed_in):
    access, token = signed_in
    response = await refresh(edge, token)
    assert response.status_code == 200, response.text
    successor = refresh_cookie(response)
    assert successor != token
    assert _COOKIE_RE.fullmatch(set_cookies(response)[0])
    assert tokens_of(response)["access_token"] != access
    assert successor not in response.text
    assert_no_store(response)
    # The successor works in turn.
    assert (await refresh(edge, successor)).status_code == 200


async def test_replaying_the_old_cookie_within_grace_returns_the_same_successor(edge, signed_in):
    _, token = signed_in
    first = await refresh(edge, token)
    replay = await refresh(edge, token)
    assert first.status_code == replay.status_code == 200
    assert refresh_cookie(replay) == refresh_cookie(first)
    assert _COOKIE_RE.fullmatch(set_cookies(replay)[0])
    assert tokens_of(replay)["access_token"] != tokens_of(first)["access_token"]


async def test_old_cookie_after_its_successor_was_used_is_reuse_and_clears_the_cookie(
    edge, signed_in
):
    _, token = signed_in
    successor = refresh_cookie(await refresh(edge, token))
    newest = refresh_cookie(await refresh(edge, successor))
    reused = await refresh(edge, token)
    assert reused.status_code == 401
    assert reused.headers["content-type"] == "application/problem+json"
    assert set_cookies(reused) == [_CLEARED]
    assert_no_store(reused)
    # Reuse revoked the whole session: the newest token is dead too.
    assert (await refresh(edge, newest)).status_code == 401


async def test_eight_concurrent_refreshes_with_one_cookie_all_get_one_successor(edge, signed_in):
    _, token = signed_in
    responses = await asyncio.gather(*(refresh(edge, token) for _ in range(8)))
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    successors = {refresh_cookie(r) for r in responses}
    assert len(successors) == 1
    (successor,) = successors
    assert (await refresh(edge, successor)).status_code == 200


async def test_unknown_and_malformed_cookies_get_the_same_401_and_are_cleared(edge):
    bodies = set()
    for value in [
        "",
        "idrt_" + "A" * 43,
        "x" * 5000,
        "not-base64url!",
        '"idrt_quoted"',
        "idrt_a,b",
        "idrt_%00",
        "eyJhbGciOiJFUzI1NiJ9.e30.sig",
    ]:
        response = await edge.client.post(
            "/auth/refresh", headers={**CSRF, "Cookie": f"{COOKIE}={value}"}
        )
        assert response.status_code == 401, (value, response.text)
        assert set_cookies(response) == [_CLEARED], value
        bodies.add(response.content)
    assert len(bodies) == 1


async def test_refresh_without_a_cookie_is_401(edge):
    response = await edge.client.post("/auth/refresh", headers=CSRF)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_two_refresh_cookies_are_refused_without_touching_either(edge, signed_in):
    _, token = signed_in
    planted = "idrt_" + "B" * 43
    for cookie in (f"{COOKIE}={planted}; {COOKIE}={token}", f"{COOKIE}={token}; {COOKIE}={token}"):
        response = await edge.client.post("/auth/refresh", headers={**CSRF, "Cookie": cookie})
        assert response.status_code == 400
        assert set_cookies(response) == []
    logout = await edge.client.post("/auth/logout", headers={**CSRF, "Cookie": cookie})
    assert logout.status_code == 400
    assert (await refresh(edge, token)).status_code == 200


async def test_other_cookies_beside_the_refresh_cookie_are_fine(edge, signed_in):
    _, token = signed_in
    response = await edge.client.post(
        "/auth/refresh", headers={**CSRF, "Cookie": f"theme=dark; {COOKIE}={token}; lang=en"}
    )
    assert response.status_code == 200


async def test_logout_ends_the_session_and_clears_the_cookie(edge, signed_in):
    access, token = signed_in
    response = await edge.client.post("/auth/logout", headers={**CSRF, **cookie_header(token)})
    assert response.status_code == 204
    assert set_cookies(response) == [_CLEARED]
    assert_no_store(response)
    assert (await refresh(edge, token)).status_code == 401


async def test_logout_succeeds_without_or_with_an_invalid_cookie(edge):
    for headers in (CSRF, {**CSRF, **cookie_header("idrt_nonsense")}):
        response = await edge.client.post("/auth/logout", headers=headers)
        assert response.status_code == 204
        assert set_cookies(response) == [_CLEARED]


async def test_logout_all_ends_every_session_of_the_user(edge, unique_email):
    email = unique_email()
    access, first = await register_and_login(edge, email)
    _, second = await login(edge, email)
    response = await edge.client.post("/auth/logout-all", headers=bearer(access))
    assert response.status_code == 204
    assert set_cookies(response) == [_CLEARED]
    assert (await refresh(edge, first)).status_code == 401
    assert (await refresh(edge, second)).status_code == 401


async def test_login_with_a_planted_cookie_opens_a_new_session(edge, signed_in, unique_email):
    _, planted = signed_in
    email = unique_email()
    await register_and_login(edge, email)
    access, token = await login(edge, email, headers=cookie_header(planted))
    assert token != planted
    assert (await refresh(edge, planted)).status_code == 200  # untouched, still its own session


async def test_an_access_token_as_the_refresh_cookie_is_refused_and_changes_nothing(
    edge, signed_in
):
    """Checklist RT-11: the two tokens are not interchangeable, and presenting the wrong one
    neither rotates nor revokes anything."""
    access, token = signed_in
    response = await refresh(edge, access)
    assert response.status_code == 401
    assert access not in response.text

    assert (await edge.client.get("/api/me", headers=bearer(access))).status_code == 200
    rotated = await refresh(edge, token)  # still the live, unused token of a live session
    assert rotated.status_code == 200, rotated.text


async def test_every_dead_refresh_token_gets_the_one_answer(start_identity, unique_email):
    """Checklist RT-10: unknown, expired, revoked (logout) and reused refresh tokens all get the
    same 401 and byte-identical problem body, so the answer tells an attacker nothing about
    which kind of token they hold. (Latency parity is a measurement, not a test here.)"""
    clock = FixedClock()
    identity = await start_identity("sqlite", clock=clock)
    async with running_edge(identity) as edge:
        expiring = (await register_and_login(edge, unique_email()))[1]
        clock.advance(15 * 86400)  # beyond the 14-day idle lifetime
        _, logged_out = await register_and_login(edge, unique_email())
        await edge.client.post("/auth/logout", headers={**CSRF, **cookie_header(logged_out)})
        _, reused = await register_and_login(edge, unique_email())
        successor = refresh_cookie(await refresh(edge, reused))
        refresh_cookie(await refresh(edge, successor))  # the successor is used: reused is stale
        clock.advance(60)  # past the grace window

        answers = {}
        for kind, token in {
            "unknown": "idrt_" + "A" * 43,
            "expired": expiring,
            "revoked": logged_out,
            "reused": reused,
        }.items():
            response = await refresh(edge, token)
            assert response.status_code == 401, (kind, response.text)
            assert set_cookies(response) == [_CLEARED], kind
            answers[kind] = response.content
        assert len(set(answers.values())) == 1, answers
