"""CSRF defences of the cookie endpoints, method and path variants, and CORS."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.edge.support import CSRF, cookie_header, refresh, refresh_cookie, set_cookies

FOREIGN_ORIGINS = [
    "https://evil.example",
    "https://app.example.com.evil.test",
    "https://evilapp.example.com",
    "null",
]


def look_alikes(origin: str) -> list[str]:
    """Prefix/suffix/scheme/port variants of our own origin."""
    host_port = origin.removeprefix("http://")
    return [
        f"{origin}.evil.test",
        f"{origin}x",
        f"https://{host_port}",
        f"http://evil{host_port}",
        f"{origin}/",
        f"{origin}:1",
        origin.upper(),
    ]


async def assert_still_usable(edge, token):
    """A proper refresh after the refusals works: the refusals consumed nothing."""
    response = await refresh(edge, token)
    assert response.status_code == 200, response.text
    assert refresh_cookie(response) != token


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
async def test_cookie_endpoints_without_the_custom_header_are_refused(edge, signed_in, path):
    _, token = signed_in
    for headers in ({}, {"X-Requested-With": ""}):
        response = await edge.client.post(path, headers={**cookie_header(token), **headers})
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert set_cookies(response) == []
    await assert_still_usable(edge, token)


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
async def test_cookie_endpoints_refuse_foreign_origins(edge, signed_in, path):
    _, token = signed_in
    for origin in FOREIGN_ORIGINS + look_alikes(edge.origin):
        response = await edge.client.post(
            path, headers={**CSRF, **cookie_header(token), "Origin": origin}
        )
        assert response.status_code == 403, origin
        assert set_cookies(response) == []
    await assert_still_usable(edge, token)


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
async def test_cookie_endpoints_refuse_cross_site_fetch_metadata(edge, signed_in, path):
    _, token = signed_in
    for site in ("cross-site", "Cross-Site"):
        response = await edge.client.post(
            path,
            headers={**CSRF, **cookie_header(token), "Origin": edge.origin, "Sec-Fetch-Site": site},
        )
        assert response.status_code == 403
        assert set_cookies(response) == []
    await assert_still_usable(edge, token)


async def test_both_spellings_of_the_own_origin_are_allowed(edge, signed_in):
    _, token = signed_in
    port = edge.settings.listen_port
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        response = await refresh(edge, token, Origin=origin, **{"Sec-Fetch-Site": "same-origin"})
        assert response.status_code == 200, origin
        token = refresh_cookie(response)


async def test_login_and_register_check_origin(edge, unique_email):
    email = unique_email()
    body = {"email": email, "password": PASSWORD}
    for path in ("/auth/register", "/auth/login"):
        for origin in FOREIGN_ORIGINS:
            response = await edge.client.post(path, json=body, headers={"Origin": origin})
            assert response.status_code == 403, (path, origin)
            assert set_cookies(response) == []
    # Nothing was registered by the refused calls.
    created = await edge.client.post("/auth/register", json=body, headers={"Origin": edge.origin})
    assert created.status_code == 201


@pytest.mark.parametrize(
    "path", ["/auth/login", "/auth/refresh", "/auth/logout", "/auth/logout-all", "/auth/register"]
)
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "TRACE", "PATCH", "DELETE"])
async def test_other_methods_on_post_endpoints_are_405(edge, path, method):
    response = await edge.client.request(
        method, path, headers={**CSRF, **cookie_header("idrt_" + "A" * 43)}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert set_cookies(response) == []


async def test_a_get_on_refresh_consumes_nothing(edge, signed_in):
    _, token = signed_in
    for method in ("GET", "HEAD", "PUT"):
        response = await edge.client.request(
            method, "/auth/refresh", headers={**CSRF, **cookie_header(token)}
        )
        assert response.status_code == 405
    await assert_still_usable(edge, token)


async def test_path_variants_never_reach_the_refresh_handler_without_the_checks(edge, signed_in):
    _, token = signed_in
    for path in (
        "/auth/refresh/",
        "/AUTH/refresh",
        "/auth//refresh",
        "/Auth/Refresh",
        "//auth/refresh",
    ):
        response = await edge.client.post(path, headers=cookie_header(token))
        assert response.status_code in (404, 405), path
        assert set_cookies(response) == []
    # A query string reaches the handler, which still checks the header.
    response = await edge.client.post("/auth/refresh?x=1", headers=cookie_header(token))
    assert response.status_code == 403
    await assert_still_usable(edge, token)


async def test_preflight_from_an_allowed_origin_echoes_it_with_credentials(edge):
    response = await edge.client.options(
        "/auth/refresh",
        headers={
            "Origin": edge.origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-requested-with, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == edge.origin
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "x-requested-with" in response.headers["access-control-allow-headers"]
    assert "Origin" in response.headers["vary"]


async def test_preflight_from_other_origins_is_refused(edge):
    for origin in FOREIGN_ORIGINS + look_alikes(edge.origin):
        response = await edge.client.options(
            "/auth/refresh",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert response.status_code == 403, origin
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-credentials" not in response.headers


async def test_preflight_asking_for_an_unlisted_header_is_refused(edge):
    response = await edge.client.options(
        "/auth/login",
        headers={
            "Origin": edge.origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-something-else",
        },
    )
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


async def test_simple_responses_echo_only_allowed_origins_and_never_a_star(edge):
    allowed = await edge.client.get("/healthz", headers={"Origin": edge.origin})
    assert allowed.headers["access-control-allow-origin"] == edge.origin
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in allowed.headers["vary"]
    foreign = await edge.client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers
    assert "access-control-allow-credentials" not in foreign.headers
    assert "Origin" in foreign.headers["vary"]


async def test_configured_origins_replace_the_default(edge_identity):
    from tests.edge.support import running_edge

    async with running_edge(edge_identity, EDGE_ALLOWED_ORIGINS="https://app.example.com") as e:
        response = await e.client.options(
            "/auth/login",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
        )
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        own = await e.client.post("/auth/logout", headers={**CSRF, "Origin": e.origin})
        assert own.status_code == 403
