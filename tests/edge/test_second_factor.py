"""Issue 20 at the edge: the second factor's endpoints against a real identity.

Login answers a ticket (no cookie) for an account with a factor; the second step sets the
cookie and its hint like login and checks `Origin` like login; the Bearer endpoints need the
token; bodies are bounded before identity sees them; identity's "step-up required" is a 403
`step_up_required`; /api/me/sensitive answers the RFC 9470 challenge. Identity and the edge's
verifier share a clock the tests move, so "five minutes later" and "the next TOTP step" take
no waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import jwt
import pyotp
import pytest

from identity.verify import GrpcJwksSource, Verifier
from tests.conftest import PASSWORD, Running, StartIdentity, remember
from tests.edge.support import (
    CSRF,
    Edge,
    bearer,
    cookie_header,
    refresh_cookie,
    register_and_login,
    running_edge,
    set_cookies,
    tokens_of,
)
from tests.helpers import ShiftedClock

STEP_UP_MAX_AGE = 300


@pytest.fixture(scope="module")
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="module")
async def mfa_identity(start_shared_identity: StartIdentity, clock: ShiftedClock) -> Running:
    return await start_shared_identity("sqlite", clock=clock)


@pytest.fixture
async def edge(mfa_identity: Running, clock: ShiftedClock) -> AsyncIterator[Edge]:
    verifier = Verifier(
        issuer=mfa_identity.app.settings.issuer,
        audience=mfa_identity.app.settings.audience,
        jwks_source=GrpcJwksSource(mfa_identity.target),
        clock=clock,
    )
    async with running_edge(mfa_identity, verifier=verifier) as running:
        yield running


@dataclass
class Enrolled:
    email: str
    access_token: str
    refresh_cookie: str
    totp: pyotp.TOTP
    recovery_codes: list[str]


def claims(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def enrol(edge: Edge, clock: ShiftedClock, email: str) -> Enrolled:
    """A user with TOTP on, through the edge: password, secret, first code, recovery codes."""
    token, cookie = await register_and_login(edge, email)
    begun = await edge.client.post(
        "/auth/second-factor/totp", json={"password": PASSWORD}, headers=bearer(token)
    )
    assert begun.status_code == 200, begun.text
    assert begun.headers["cache-control"] == "no-store"
    enrollment = begun.json()
    remember(enrollment["secret"], enrollment["otpauth_uri"])
    assert enrollment["otpauth_uri"].startswith("otpauth://totp/")
    assert enrollment["qr_svg"].lstrip().startswith(("<?xml", "<svg"))
    totp = pyotp.TOTP(enrollment["secret"])
    confirmed = await edge.client.post(
        "/auth/second-factor/totp/confirm",
        json={"code": totp.at(clock.now())},
        headers=bearer(token),
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.headers["cache-control"] == "no-store"
    body = tokens_of(confirmed)
    remember(*body["recovery_codes"])
    assert len(body["recovery_codes"]) == 10
    assert claims(body["access_token"])["acr"] == "aal2"
    clock.advance(30)  # the next TOTP step: the code just used never works again
    return Enrolled(email, body["access_token"], cookie, totp, body["recovery_codes"])


async def ticket_for(edge: Edge, email: str) -> str:
    answer = await edge.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.json()["second_factor_required"] is True
    remember(answer.json()["mfa_ticket"])
    return str(answer.json()["mfa_ticket"])


@pytest.fixture
async def enrolled(edge: Edge, clock: ShiftedClock, unique_email: Callable[[], str]) -> Enrolled:
    return await enrol(edge, clock, unique_email())


async def test_login_answers_a_ticket_and_no_cookie_when_a_second_factor_is_on(
    edge: Edge, enrolled: Enrolled
) -> None:
    answer = await edge.client.post(
        "/auth/login", json={"email": enrolled.email, "password": PASSWORD}
    )
    assert answer.status_code == 200
    body = answer.json()
    remember(body["mfa_ticket"])
    assert set(body) == {"second_factor_required", "mfa_ticket", "mfa_ticket_expires_in"}
    assert body["second_factor_required"] is True
    assert body["mfa_ticket"].startswith("idmt_")
    assert 0 < body["mfa_ticket_expires_in"] <= 300
    assert "access_token" not in body
    assert answer.headers.get_list("set-cookie") == []
    assert answer.headers["cache-control"] == "no-store"


async def test_the_second_step_sets_the_cookie_and_hint_like_login(
    edge: Edge, clock: ShiftedClock, enrolled: Enrolled
) -> None:
    ticket = await ticket_for(edge, enrolled.email)
    done = await edge.client.post(
        "/auth/login/second-factor",
        json={"mfa_ticket": ticket, "code": enrolled.totp.at(clock.now())},
        headers={"Origin": edge.origin},
    )
    assert done.status_code == 200, done.text
    assert done.headers["cache-control"] == "no-store"
    body = tokens_of(done)
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert claims(body["access_token"])["acr"] == "aal2"
    assert claims(body["access_token"])["amr"] == ["pwd", "otp"]
    cookie = refresh_cookie(done)  # exactly one refresh cookie, with its hint (set_cookies)
    rotated = await edge.client.post("/auth/refresh", headers={**CSRF, **cookie_header(cookie)})
    assert rotated.status_code == 200
    assert claims(tokens_of(rotated)["access_token"])["acr"] == "aal2"
    refresh_cookie(rotated)
    # The ticket was single use.
    again = await edge.client.post(
        "/auth/login/second-factor",
        json={"mfa_ticket": ticket, "code": enrolled.recovery_codes[0]},
    )
    assert again.status_code == 401
    assert set_cookies(again) == []


async def test_a_wrong_code_is_one_401_and_sets_no_cookie(edge: Edge, enrolled: Enrolled) -> None:
    ticket = await ticket_for(edge, enrolled.email)
    wrong = await edge.client.post(
        "/auth/login/second-factor", json={"mfa_ticket": ticket, "code": "000000"}
    )
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    assert wrong.json()["code"] == "unauthenticated"
    assert set_cookies(wrong) == []
    # A recovery code still completes the same ticket, once.
    done = await edge.client.post(
        "/auth/login/second-factor",
        json={"mfa_ticket": ticket, "code": enrolled.recovery_codes[0].upper()},
    )
    assert done.status_code == 200, done.text
    refresh_cookie(done)


async def test_the_second_step_checks_origin_before_it_spends_the_ticket(
    edge: Edge, clock: ShiftedClock, enrolled: Enrolled
) -> None:
    ticket = await ticket_for(edge, enrolled.email)
    body = {"mfa_ticket": ticket, "code": enrolled.totp.at(clock.now())}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = await edge.client.post("/auth/login/second-factor", json=body, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["code"] == "csrf_refused"
        assert set_cookies(refused) == []
    done = await edge.client.post("/auth/login/second-factor", json=body)
    assert done.status_code == 200, done.text
    refresh_cookie(done)


async def test_codes_and_tickets_are_bounded_before_identity_sees_them(
    edge: Edge, enrolled: Enrolled
) -> None:
    ticket = await ticket_for(edge, enrolled.email)
    code = enrolled.recovery_codes[1]
    for body, detail in (
        ({"mfa_ticket": ticket, "code": code + " " * 64}, "code is too long"),
        ({"mfa_ticket": ticket + "A" * 128, "code": code}, "mfa_ticket is too long"),
        ({"mfa_ticket": ticket, "code": 123456}, "code must be a string"),
        ({"code": code}, "mfa_ticket must be a string"),
    ):
        refused = await edge.client.post("/auth/login/second-factor", json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["code"] == "invalid_request"
        assert refused.json()["detail"] == detail  # the edge's own text: identity never saw it
    for path in ("/auth/step-up", "/auth/second-factor/totp/confirm"):
        long = await edge.client.post(
            path, json={"code": "1" * 65}, headers=bearer(enrolled.access_token)
        )
        assert long.status_code == 400, long.text
        assert long.json()["detail"] == "code is too long"
    # Nothing above reached identity: neither the ticket nor the code was spent or counted.
    done = await edge.client.post(
        "/auth/login/second-factor", json={"mfa_ticket": ticket, "code": code}
    )
    assert done.status_code == 200, done.text
    refresh_cookie(done)


BEARER_CALLS = [
    ("GET", "/auth/second-factor", None),
    ("POST", "/auth/second-factor/totp", {"password": PASSWORD}),
    ("POST", "/auth/second-factor/totp/confirm", {"code": "123456"}),
    ("DELETE", "/auth/second-factor/totp", None),
    ("POST", "/auth/second-factor/recovery-codes", None),
    ("POST", "/auth/step-up", {"code": "123456"}),
    ("GET", "/api/me/sensitive", None),
]


@pytest.mark.parametrize(("method", "path", "body"), BEARER_CALLS)
async def test_the_bearer_endpoints_need_the_token(
    edge: Edge, method: str, path: str, body: dict[str, str] | None
) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        answer = await edge.client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json()["code"] == "unauthenticated"


@pytest.mark.parametrize(("method", "path", "body"), BEARER_CALLS[1:6])
async def test_the_changing_bearer_endpoints_check_origin(
    edge: Edge, signed_in: tuple[str, str], method: str, path: str, body: dict[str, str] | None
) -> None:
    token, _ = signed_in
    headers = {**bearer(token), "Origin": "https://evil.example"}
    answer = await edge.client.request(method, path, json=body, headers=headers)
    assert answer.status_code == 403
    assert answer.json()["code"] == "csrf_refused"


async def test_changing_the_factor_needs_a_recent_step_up(
    edge: Edge, clock: ShiftedClock, enrolled: Enrolled, unique_email: Callable[[], str]
) -> None:
    token = enrolled.access_token
    state = await edge.client.get("/auth/second-factor", headers=bearer(token))
    assert state.status_code == 200
    assert state.json()["totp_enabled"] is True
    assert state.json()["recovery_codes_left"] == 10
    assert state.json()["acr"] == "aal2"
    clock.advance(STEP_UP_MAX_AGE + 1)
    for method, path in (
        ("POST", "/auth/second-factor/recovery-codes"),
        ("DELETE", "/auth/second-factor/totp"),
    ):
        refused = await edge.client.request(method, path, headers=bearer(token))
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "step_up_required"
    stepped = await edge.client.post(
        "/auth/step-up", json={"code": enrolled.totp.at(clock.now())}, headers=bearer(token)
    )
    assert stepped.status_code == 200, stepped.text
    assert stepped.headers["cache-control"] == "no-store"
    assert stepped.headers.get_list("set-cookie") == []
    token = tokens_of(stepped)["access_token"]
    assert set(stepped.json()) == {"access_token", "token_type", "expires_in"}
    codes = await edge.client.post("/auth/second-factor/recovery-codes", headers=bearer(token))
    assert codes.status_code == 200, codes.text
    remember(*codes.json()["recovery_codes"])
    assert len(set(codes.json()["recovery_codes"]) - set(enrolled.recovery_codes)) == 10
    # Like a password change, the change ends the access tokens issued before it (those of its
    # own second live on: iat has whole seconds) and every other session; this session's cookie
    # lives on, and a refresh keeps its step-up.
    rotated = await edge.client.post(
        "/auth/refresh", headers={**CSRF, **cookie_header(enrolled.refresh_cookie)}
    )
    assert rotated.status_code == 200, rotated.text
    refresh_cookie(rotated)
    token = tokens_of(rotated)["access_token"]
    off = await edge.client.delete("/auth/second-factor/totp", headers=bearer(token))
    assert off.status_code == 204
    # Without a factor, login signs in at once again.
    plain = await edge.client.post(
        "/auth/login", json={"email": enrolled.email, "password": PASSWORD}
    )
    assert plain.status_code == 200
    assert "access_token" in tokens_of(plain)
    refresh_cookie(plain)


async def test_the_sensitive_resource_answers_the_rfc_9470_challenge(
    edge: Edge, clock: ShiftedClock, enrolled: Enrolled, signed_in: tuple[str, str]
) -> None:
    weak, _ = signed_in  # a user without a second factor: aal1
    refused = await edge.client.get("/api/me/sensitive", headers=bearer(weak))
    assert refused.status_code == 401
    assert refused.json()["code"] == "insufficient_user_authentication"
    assert refused.headers["www-authenticate"] == (
        'Bearer error="insufficient_user_authentication", '
        'error_description="A different authentication level is required", '
        'acr_values="aal2", max_age=300'
    )
    assert (await edge.client.get("/api/me", headers=bearer(weak))).status_code == 200

    granted = await edge.client.get("/api/me/sensitive", headers=bearer(enrolled.access_token))
    assert granted.status_code == 200, granted.text
    assert granted.json()["acr"] == "aal2"
    assert granted.headers["cache-control"] == "no-store"

    clock.advance(STEP_UP_MAX_AGE + 1)
    stepped = await edge.client.post(
        "/auth/step-up",
        json={"code": enrolled.totp.at(clock.now())},
        headers=bearer(enrolled.access_token),
    )
    assert stepped.status_code == 200, stepped.text
    fresh = tokens_of(stepped)["access_token"]
    clock.advance(STEP_UP_MAX_AGE + 1)  # past the demanded age, within the token's lifetime
    stale = await edge.client.get("/api/me/sensitive", headers=bearer(fresh))
    assert stale.status_code == 401
    assert "More recent authentication is required" in stale.headers["www-authenticate"]
    assert 'error="insufficient_user_authentication"' in stale.headers["www-authenticate"]


async def test_a_wrong_step_up_code_is_401_and_the_token_stays_valid(
    edge: Edge, enrolled: Enrolled
) -> None:
    wrong = await edge.client.post(
        "/auth/step-up", json={"code": "000000"}, headers=bearer(enrolled.access_token)
    )
    assert wrong.status_code == 401
    me = await edge.client.get("/api/me", headers=bearer(enrolled.access_token))
    assert me.status_code == 200
