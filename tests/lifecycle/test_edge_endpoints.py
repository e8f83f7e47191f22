"""The edge's lifecycle endpoints (DESIGN §12) over real sockets, in front of an identity that
mails through a real SMTP server, on PostgreSQL and SQLite."""

from __future__ import annotations

import time

import pytest

from tests.conftest import PASSWORD, remember
from tests.edge.support import COOKIE, bearer, refresh, register_and_login, running_edge
from tests.lifecycle.support import NEW_PASSWORD

PROBLEM = "application/problem+json"


@pytest.fixture
async def edge(mailing):
    async with running_edge(mailing) as running:
        yield running


async def _reset_token(edge, catcher, email, after=0):
    answer = await edge.client.post("/auth/password-reset", json={"email": email})
    assert answer.status_code == 202 and answer.content == b""
    assert answer.headers["cache-control"] == "no-store"
    mail = await catcher.wait(email, "reset your password", after=after)
    return mail.link()[1]


async def test_reset_end_to_end_through_the_edge(edge, catcher, unique_email):
    email = unique_email()
    _, cookie = await register_and_login(edge, email)
    token = await _reset_token(edge, catcher, email)
    confirm = await edge.client.post(
        "/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert confirm.status_code == 204 and "set-cookie" not in confirm.headers  # not signed in
    assert confirm.headers["cache-control"] == "no-store"
    # The old session's refresh cookie died with the reset.
    assert (await refresh(edge, cookie)).status_code == 401
    old = await edge.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    new = await edge.client.post("/auth/login", json={"email": email, "password": NEW_PASSWORD})
    assert new.status_code == 200
    again = await edge.client.post(
        "/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD + "!"}
    )
    assert again.status_code == 400 and again.headers["content-type"] == PROBLEM
    assert again.json()["detail"] == "invalid or expired link"
    assert again.json()["code"] == "invalid_link"


async def test_the_reset_request_answers_alike_for_known_and_unknown_addresses(
    edge, catcher, unique_email
):
    known, unknown = unique_email(), unique_email()
    await register_and_login(edge, known)
    answers, times = {}, {"known": [], "unknown": []}
    for _ in range(3):
        for name, email in (("known", known), ("unknown", unknown)):
            started = time.perf_counter()
            answer = await edge.client.post("/auth/password-reset", json={"email": email})
            times[name].append(time.perf_counter() - started)
            answers[name] = (answer.status_code, answer.content, dict(answer.headers))
    for headers in (answers["known"][2], answers["unknown"][2]):
        headers.pop("date", None)
    assert answers["known"] == answers["unknown"]
    # Comparable time: no hash, no SMTP on either path; the known one writes two rows more.
    assert abs(sorted(times["known"])[1] - sorted(times["unknown"])[1]) < 0.1
    await catcher.wait(known, "reset your password")
    await catcher.none_for(unknown, 0.5)


async def test_verify_and_resend_through_the_edge(edge, catcher, unique_email):
    email = unique_email()
    access, _ = await register_and_login(edge, email)
    resend = await edge.client.post("/auth/verify-email/resend", headers=bearer(access))
    assert resend.status_code == 202
    unauthenticated = await edge.client.post("/auth/verify-email/resend")
    assert unauthenticated.status_code == 401
    _, token = (await catcher.wait(email, "verify your email", after=1)).link()
    verified = await edge.client.post("/auth/verify-email", json={"token": token})
    assert verified.status_code == 204
    bad = await edge.client.post("/auth/verify-email", json={"token": token})
    assert bad.status_code == 400 and bad.json()["detail"] == "invalid or expired link"
    assert bad.json()["code"] == "invalid_link"


async def test_email_change_through_the_edge(edge, catcher, unique_email):
    old, new = unique_email(), unique_email()
    access, _ = await register_and_login(edge, old)
    asked = await edge.client.post(
        "/auth/email", json={"new_email": new, "password": PASSWORD}, headers=bearer(access)
    )
    assert asked.status_code == 202
    _, token = (await catcher.wait(new, "confirm your new email")).link()
    confirmed = await edge.client.post("/auth/email/confirm", json={"token": token})
    assert confirmed.status_code == 204
    await catcher.wait(old, "email address was changed")
    logged_in = await edge.client.post("/auth/login", json={"email": new, "password": PASSWORD})
    assert logged_in.status_code == 200
    remember(logged_in.json()["access_token"])


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/password-reset", {"email": 7}),
        ("/auth/password-reset", {"email": "a" * 400 + "@example.com"}),
        ("/auth/password-reset", {}),
        ("/auth/password-reset/confirm", {"token": "idpr_x", "password": ["no"]}),
        ("/auth/password-reset/confirm", {"token": "idpr_" + "A" * 500, "password": "x" * 20}),
        ("/auth/password-reset/confirm", {"token": None, "password": "long enough password"}),
        ("/auth/password-reset/confirm", {"token": "not a token", "password": "x" * 20}),
        ("/auth/verify-email", {"token": {"$ne": ""}}),
        ("/auth/verify-email", {"token": "idev_" + "A" * 43}),
        ("/auth/email/confirm", {"token": "idpr_" + "A" * 43}),
        ("/auth/email/confirm", {"token": "x" * 5000}),
    ],
)
async def test_bad_input_is_a_400_problem_and_writes_nothing(edge, mailing, path, body):
    from tests.lifecycle.support import row_counts

    before = await row_counts(mailing)
    answer = await edge.client.post(path, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["cache-control"] == "no-store"
    assert await row_counts(mailing) == before


@pytest.mark.parametrize(
    "path",
    [
        "/auth/password-reset",
        "/auth/password-reset/confirm",
        "/auth/verify-email",
        "/auth/verify-email/resend",
        "/auth/email",
        "/auth/email/confirm",
    ],
)
async def test_a_foreign_origin_is_refused_before_anything_happens(edge, path):
    answer = await edge.client.post(
        path, json={"email": "a@example.com"}, headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403
    assert answer.headers["content-type"] == PROBLEM


async def test_an_oversized_body_is_refused(edge):
    answer = await edge.client.post(
        "/auth/password-reset",
        content=b'{"email": "' + b"a" * 20000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 413


async def test_throttled_reset_requests_get_429_with_retry_after(edge, unique_email):
    email = unique_email()
    statuses = []
    for _ in range(6):
        answer = await edge.client.post("/auth/password-reset", json={"email": email})
        statuses.append(answer.status_code)
    assert statuses[:4] == [202] * 4 and statuses[-1] == 429
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.headers["content-type"] == PROBLEM


async def test_required_mode_registration_is_202_for_new_and_taken_addresses(
    start_identity, catcher, unique_email
):
    s = await start_identity("sqlite", smtp_url=catcher.url, email_verification="required")
    email = unique_email()
    async with running_edge(s) as edge:
        body = {"email": email, "password": PASSWORD}
        new = await edge.client.post("/auth/register", json=body)
        taken = await edge.client.post("/auth/register", json=body)
        assert new.status_code == taken.status_code == 202
        assert new.json() == taken.json() == {"verification_required": True}
        assert COOKIE not in new.headers.get("set-cookie", "")
        refused = await edge.client.post("/auth/login", json=body)
        assert refused.status_code == 403
        assert refused.json()["code"] == "email_not_verified"
        _, token = (await catcher.wait(email, "verify your email")).link()
        assert (
            await edge.client.post("/auth/verify-email", json={"token": token})
        ).status_code == 204
        assert (await edge.client.post("/auth/login", json=body)).status_code == 200


async def test_registrations_are_throttled_per_client_ip(start_identity, unique_email):
    s = await start_identity("sqlite", registrations_per_ip=3)
    async with running_edge(s) as edge:
        statuses = []
        for _ in range(5):
            body = {"email": unique_email(), "password": PASSWORD}
            statuses.append((await edge.client.post("/auth/register", json=body)).status_code)
        assert statuses[:4] == [201] * 4 and statuses[4] == 429
