"""Register/login answers, sessions, password change, /api/me, JWKS, metrics, headers, static."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

import jwt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.conftest import PASSWORD
from tests.edge.support import (
    CSRF,
    bearer,
    cookie_header,
    login,
    refresh,
    register_and_login,
    tokens_of,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_register_answers_201_and_a_second_time_409(edge, unique_email):
    email = unique_email()
    first = await edge.client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert first.status_code == 201
    assert set(first.json()) == {"user_id"}
    again = await edge.client.post(
        "/auth/register", json={"email": email.upper(), "password": PASSWORD}
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_a_weak_password_is_400_with_identitys_reason(edge, unique_email):
    response = await edge.client.post(
        "/auth/register", json={"email": unique_email(), "password": "short"}
    )
    assert response.status_code == 400
    assert response.json()["detail"]
    assert response.json()["code"] == "weak_password"


async def test_wrong_password_and_unknown_email_look_the_same(edge, unique_email):
    email = unique_email()
    await register_and_login(edge, email)
    wrong = await edge.client.post("/auth/login", json={"email": email, "password": "x" * 20})
    unknown = await edge.client.post(
        "/auth/login", json={"email": unique_email(), "password": "x" * 20}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.content == unknown.content
    assert "set-cookie" not in wrong.headers


async def test_repeated_failures_get_429_with_retry_after(edge, unique_email):
    email = unique_email()
    await register_and_login(edge, email)
    statuses = []
    for _ in range(10):
        response = await edge.client.post(
            "/auth/login", json={"email": email, "password": "wrong password, sorry"}
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.headers["content-type"] == "application/problem+json"
            break
    assert statuses[-1] == 429, statuses


async def test_api_me_accepts_a_valid_token_verified_offline(edge, signed_in):
    access, _ = signed_in
    response = await edge.client.get("/api/me", headers=bearer(access))
    assert response.status_code == 200
    claims = jwt.decode(access, options={"verify_signature": False})
    me = response.json()
    assert me["sub"] == claims["sub"]
    assert me["sid"] == claims["sid"]
    assert response.headers["cache-control"] == "no-store"


async def test_api_me_accepts_a_revoked_token_until_it_expires(edge, signed_in):
    """As edge_http/README.md says: /api/me verifies offline, so logging out (which revokes the
    session at identity) does not stop the access token there before it expires."""
    access, cookie = signed_in
    logout = await edge.client.post("/auth/logout", headers={**CSRF, **cookie_header(cookie)})
    assert logout.status_code == 204
    assert (await edge.client.get("/auth/sessions", headers=bearer(access))).status_code == 401
    assert (await edge.client.get("/api/me", headers=bearer(access))).status_code == 200


async def test_api_me_refuses_forged_tokens(edge, signed_in):
    access, _ = signed_in
    header, payload, signature = access.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered = b64(json.dumps({**claims, "sub": "someone-else"}).encode())
    none_header = b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    jwks = (await edge.client.get("/.well-known/jwks.json")).json()
    public_pem = jwt.PyJWK(jwks["keys"][0]).key.public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    kid = jwks["keys"][0]["kid"]
    hs_header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": kid}).encode())
    signing_input = f"{hs_header}.{payload}".encode()
    hs_signature = b64(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    forged = [
        f"{header}.{tampered}.{signature}",
        f"{none_header}.{payload}.",
        f"{none_header}.{payload}.{signature}",
        f"{header}.{payload}.",
        f"{header}.{payload}.{signature[:-4]}",
        f"{hs_header}.{payload}.{hs_signature}",
        f"{header}.{payload}.{b64(bytes(64))}",
    ]
    for token in forged:
        response = await edge.client.get("/api/me", headers=bearer(token))
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"].startswith("Bearer")
    # The refresh token is no access token either.
    _, refresh_token = signed_in
    assert (await edge.client.get("/api/me", headers=bearer(refresh_token))).status_code == 401
    assert (await edge.client.get("/api/me", headers=bearer(access))).status_code == 200


async def test_sessions_list_shows_both_sessions_and_marks_the_current_one(edge, unique_email):
    email = unique_email()
    agent = '<img src=x onerror="alert(1)"> Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0'
    first_access, first = await register_and_login(edge, email, headers={"User-Agent": agent})
    second_access, second = await login(edge, email)
    response = await edge.client.get("/auth/sessions", headers=bearer(second_access))
    assert response.status_code == 200
    sessions = {s["session_id"]: s for s in response.json()["sessions"]}
    assert len(sessions) == 2
    current = [s for s in sessions.values() if s["current"]]
    assert len(current) == 1
    other = next(s for s in sessions.values() if not s["current"])
    assert other["user_agent"] == agent  # stored as text; the page renders it with textContent
    assert other["client_ip"] == edge.client_ip
    assert other["active"] is True and other["status_text"] == "active"
    for session in sessions.values():
        assert first not in json.dumps(session) and second not in json.dumps(session)

    revoked = await edge.client.delete(
        f"/auth/sessions/{other['session_id']}", headers=bearer(second_access)
    )
    assert revoked.status_code == 204
    assert (await refresh(edge, first)).status_code == 401
    after = await edge.client.get("/auth/sessions", headers=bearer(second_access))
    ended = next(s for s in after.json()["sessions"] if s["session_id"] == other["session_id"])
    assert ended["active"] is False
    assert ended["status_text"].startswith("ended")
    assert ended["revoked_at"]


async def test_reuse_shows_up_as_suspected_theft_in_the_session_list(edge, unique_email):
    email = unique_email()
    _, stolen = await register_and_login(edge, email)
    successor = (await refresh(edge, stolen)).headers["set-cookie"].split(";")[0].split("=", 1)[1]
    await refresh(edge, successor)
    assert (await refresh(edge, stolen)).status_code == 401
    access, _ = await login(edge, email)
    sessions = (await edge.client.get("/auth/sessions", headers=bearer(access))).json()["sessions"]
    assert any(s["status_text"] == "ended: suspected token theft" for s in sessions)


async def test_revoking_an_unknown_or_malformed_session_id(edge, signed_in):
    access, _ = signed_in
    unknown = await edge.client.delete("/auth/sessions/does-not-exist", headers=bearer(access))
    assert unknown.status_code == 404
    weird = await edge.client.delete("/auth/sessions/" + "x" * 300, headers=bearer(access))
    assert weird.status_code == 404
    assert (await edge.client.delete("/auth/sessions/abc")).status_code == 401


async def test_password_change_ends_the_other_sessions(edge, unique_email):
    email = unique_email()
    _, other = await register_and_login(edge, email)
    access, mine = await login(edge, email)
    new_password = "a brand new passphrase for testing"
    response = await edge.client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=bearer(access),
    )
    assert response.status_code == 200, response.text
    assert response.json()["revoked_sessions"] >= 1
    assert (await refresh(edge, other)).status_code == 401
    assert (await refresh(edge, mine)).status_code == 200
    assert (
        await edge.client.post("/auth/password", json={}, headers=bearer(access))
    ).status_code == 400


async def test_jwks_is_cacheable_with_an_etag(edge):
    response = await edge.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys and all("d" not in key for key in keys)
    assert re.fullmatch(r"public, max-age=\d+", response.headers["cache-control"])
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    for validator in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = await edge.client.get(
            "/.well-known/jwks.json", headers={"If-None-Match": validator}
        )
        assert cached.status_code == 304, validator
        assert cached.content == b""
        assert cached.headers["etag"] == etag
    stale = await edge.client.get("/.well-known/jwks.json", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200


async def test_metrics_count_outcomes_without_personal_data(edge, unique_email):
    email = unique_email()
    access, token = await register_and_login(edge, email)
    await refresh(edge, token)
    await edge.client.post("/auth/refresh", headers=CSRF)
    text = (await edge.client.get("/metrics")).text
    assert 'edge_auth_outcomes_total{operation="login",outcome="success"}' in text
    assert 'operation="refresh",outcome="rotated"' in text
    assert 'route="/auth/refresh"' in text
    claims = jwt.decode(access, options={"verify_signature": False})
    for secret in (email, claims["sub"], claims["sid"], access, token, edge.client_ip, "127.0.0.1"):
        assert secret not in text


async def test_every_response_carries_the_security_headers(edge):
    for path in ("/", "/healthz", "/nope", "/auth-client.js", "/.well-known/jwks.json"):
        response = await edge.client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
    refused = await edge.client.post("/auth/refresh")
    assert refused.headers["x-content-type-options"] == "nosniff"


async def test_the_demo_page_has_a_strict_csp_and_no_inline_script(edge):
    response = await edge.client.get("/")
    assert response.headers["content-type"].startswith("text/html")
    csp = dict(
        (part.strip().split(" ", 1) + [""])[:2]
        for part in response.headers["content-security-policy"].split(";")
    )
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert "unsafe" not in response.headers["content-security-policy"]
    html = response.text
    for script in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in script
    assert all(
        not body.strip() for body in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
    )
    assert re.search(r"\son\w+\s*=", html) is None  # no inline handlers
    assert re.search(r"\sstyle\s*=", html) is None


async def test_a_revalidated_page_keeps_its_csp(edge):
    # Browsers merge a 304's headers into the cached page: a 304 with the JSON policy
    # ("default-src 'none'") would block every script and style after a reload.
    page = await edge.client.get("/")
    cached = await edge.client.get("/", headers={"If-None-Match": page.headers["etag"]})
    assert cached.status_code == 304
    assert cached.headers["content-security-policy"] == page.headers["content-security-policy"]


async def test_hsts_only_when_a_trusted_proxy_says_https(edge_identity):
    from tests.edge.support import running_edge

    async with running_edge(edge_identity) as edge:
        https = await edge.client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert https.headers["strict-transport-security"].startswith("max-age=31536000")
        plain = await edge.client.get("/healthz")
        assert "strict-transport-security" not in plain.headers
    async with running_edge(edge_identity, EDGE_TRUSTED_PROXIES="") as edge:
        spoofed = await edge.client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in spoofed.headers


async def test_static_files_have_types_and_etags(edge):
    script = await edge.client.get("/auth-client.js")
    assert script.headers["content-type"].startswith("text/javascript")
    # The bundle scripts/build-client makes ends with one export clause naming the module's API.
    assert re.search(r"^export \{[^}]*\bcreateAuthClient\b[^}]*\};$", script.text, re.M)
    cached = await edge.client.get(
        "/auth-client.js", headers={"If-None-Match": script.headers["etag"]}
    )
    assert cached.status_code == 304
    for path in ("/app.js", "/style.css", "/favicon.svg"):
        assert (await edge.client.get(path)).status_code == 200, path


async def test_healthz_and_readyz(edge):
    assert (await edge.client.get("/healthz")).json() == {"status": "ok"}
    assert (await edge.client.get("/readyz")).status_code == 200


async def test_token_answers_are_never_cached(edge, unique_email):
    email = unique_email()
    await edge.client.post("/auth/register", json={"email": email, "password": PASSWORD})
    response = await edge.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    tokens_of(response)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    logout = await edge.client.post(
        "/auth/logout", headers={**CSRF, **cookie_header("idrt_" + "A" * 43)}
    )
    assert logout.headers["cache-control"] == "no-store"
