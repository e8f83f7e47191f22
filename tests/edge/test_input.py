"""Input the edge refuses before it reaches identity: 4xx problem+json, never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.edge.support import bearer

JSON = {"Content-Type": "application/json"}


def assert_problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()


@pytest.mark.parametrize(
    "content",
    [
        b"{bad json",
        b"",
        b"[]",
        b'"a string"',
        b"null",
        b"\xff\xfe\x00",
        b"[" * 50_000 + b"]" * 50_000,
        b'{"email": "a@example.com", "password": 1' + b"0" * 5000 + b"}",
    ],
)
async def test_malformed_json_is_400(edge, content):
    response = await edge.client.post("/auth/login", content=content, headers=JSON)
    if len(content) > edge.settings.max_body_bytes:
        assert_problem(response, 413)
    else:
        assert_problem(response, 400)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "a@example.com"},
        {"email": 1, "password": PASSWORD},
        {"email": ["a@example.com"], "password": PASSWORD},
        {"email": "a@example.com", "password": None},
        {"email": "a@example.com", "password": {"$ne": ""}},
        {"email": "a@example.com", "password": True},
        {"email": "a@example.com", "password": "x" * 5000},
        {"email": "a" * 400 + "@example.com", "password": PASSWORD},
    ],
)
@pytest.mark.parametrize("path", ["/auth/login", "/auth/register"])
async def test_wrong_types_and_sizes_are_400(edge, path, body):
    assert_problem(await edge.client.post(path, json=body), 400)


async def test_lone_surrogates_are_400_not_500(edge):
    content = b'{"email": "a@example.com", "password": "abc\\ud800defghijklmnop"}'
    assert_problem(await edge.client.post("/auth/login", content=content, headers=JSON), 400)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ],
)
async def test_only_json_bodies_are_accepted(edge, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    content = b'{"email": "a@example.com", "password": "correct horse battery staple"}'
    response = await edge.client.post("/auth/login", content=content, headers=headers)
    assert_problem(response, 415)


async def test_json_with_a_charset_parameter_is_fine(edge):
    response = await edge.client.post(
        "/auth/login",
        content=b'{"email": "nobody@example.com", "password": "correct horse battery staple"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert_problem(response, 401)


async def test_a_2_mb_body_is_413(edge):
    response = await edge.client.post("/auth/login", content=b"{" + b" " * 2_000_000, headers=JSON)
    assert_problem(response, 413)


async def test_a_chunked_body_without_content_length_is_cut_at_the_limit(edge):
    async def chunks():
        yield b'{"email": "a@example.com", "password": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    response = await edge.client.post("/auth/login", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


async def test_a_small_chunked_body_is_read(edge):
    async def chunks():
        yield b'{"email": "nobody@example.com", '
        yield b'"password": "correct horse battery staple"}'

    response = await edge.client.post("/auth/login", content=chunks(), headers=JSON)
    assert_problem(response, 401)


async def test_extra_fields_are_ignored(edge, unique_email):
    email = unique_email()
    body = {"email": email, "password": PASSWORD, "role": "admin", "user_id": "chosen"}
    created = await edge.client.post("/auth/register", json=body)
    assert created.status_code == 201
    assert created.json()["user_id"] != "chosen"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer a b",
        "Bearer a.b",
        "Bearer a.b.c.d",
        "Bearer \tabc",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer " + "a" * 70_000,
        "Bearer é.é.é",
    ],
)
async def test_bad_authorization_headers_are_401(edge, authorization):
    headers = {"Authorization": authorization.encode("utf-8")}
    for path in ("/api/me", "/auth/sessions"):
        response = await edge.client.get(path, headers=headers)
        assert response.status_code in (401, 431, 400), (path, response.status_code)
        assert response.status_code != 500


async def test_bearer_scheme_is_case_insensitive(edge, signed_in):
    access, _ = signed_in
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = await edge.client.get("/api/me", headers={"Authorization": f"{scheme} {access}"})
        assert response.status_code == 200, scheme


async def test_tokens_are_accepted_only_in_the_authorization_header(edge, signed_in):
    access, _ = signed_in
    assert_problem(await edge.client.get(f"/api/me?access_token={access}"), 401)
    assert_problem(await edge.client.get(f"/auth/sessions?access_token={access}"), 401)
    form = await edge.client.post("/auth/logout-all", data={"access_token": access})
    assert_problem(form, 401)
    assert (await edge.client.get("/api/me", headers=bearer(access))).status_code == 200


async def test_unknown_paths_are_problem_404(edge):
    assert_problem(await edge.client.get("/nope"), 404)
    assert_problem(await edge.client.delete("/auth/sessions/../../x"), 404)
