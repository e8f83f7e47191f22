"""Issue 7: schemathesis against a live edge (uvicorn on a real port) backed by a real identity.

The description is the one the edge serves at /openapi.json (edge_http/openapi.json). Every
operation gets generated requests, valid and invalid ("positive" and "negative" in schemathesis's
terms), first anonymous, then with a real signed-in user's access token and refresh cookie for the
operations those unlock. Each answer must

- never be a 5xx;
- have a documented status, content type, headers and body (schemathesis's conformance checks);
- leave nothing half-written: identity's database (a fresh one for this test) gains a user only
  with a 201 from register, a session only with a 200 from login, and a revoked session only
  with a 2xx of an operation that ends sessions;
- not echo the password it was sent.

A deterministic walk through a whole session (register ... logout) then checks the success
answers the generated requests rarely reach, and GET /openapi.json, which schemathesis leaves out
when it loads the description from that very URL. Hypothesis runs derandomized with a fixed
number of examples, so CI sees the same requests every time.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyotp
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from tests.conftest import BACKENDS, PASSWORD, Running, StartIdentity, remember
from tests.edge.support import COOKIE, CSRF, Edge, bearer, running_edge

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Examples per operation and generation mode: with the signed-in pass about 470 requests and
# 10 s per backend on 2 cores. (150 examples, not derandomized: 3,700 requests, nothing found.)
EXAMPLES = 15
SIGNED_IN_EXAMPLES = 15
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the failure shows its curl command
    suppress_health_check=list(HealthCheck),
)
ENDS_SESSIONS = {
    "POST /auth/logout",
    "POST /auth/logout-all",
    "POST /auth/password",
    "DELETE /auth/sessions/{session_id}",
    "DELETE /auth/second-factor/totp",
    "POST /auth/second-factor/recovery-codes",
}
# Operations that open a session when they answer 200.
OPENS_SESSIONS = {"POST /auth/login", "POST /auth/login/second-factor"}
BEARER = {
    "GET /auth/sessions",
    "GET /api/me",
    "GET /api/me/sensitive",
    "DELETE /auth/sessions/{session_id}",
    "POST /auth/password",
    "POST /auth/logout-all",
    "GET /auth/second-factor",
    "POST /auth/second-factor/totp",
    "POST /auth/second-factor/totp/confirm",
    "DELETE /auth/second-factor/totp",
    "POST /auth/second-factor/recovery-codes",
    "POST /auth/step-up",
}
# The signed-in pass, in this order: reads first, then what rotates or ends the session.
SIGNED_IN = [
    "GET /auth/sessions",
    "GET /api/me",
    "GET /api/me/sensitive",
    "GET /auth/second-factor",
    "POST /auth/second-factor/totp/confirm",
    "POST /auth/step-up",
    "POST /auth/second-factor/recovery-codes",
    "DELETE /auth/second-factor/totp",
    "POST /auth/refresh",
    "DELETE /auth/sessions/{session_id}",
    "POST /auth/password",
    "POST /auth/logout-all",
    "POST /auth/logout",
]


@dataclass(frozen=True)
class DbState:
    users: int
    sessions: int
    revoked: int


@dataclass
class Account:
    email: str
    password: str
    access_token: str = ""
    refresh_token: str = ""


@dataclass
class Fuzz:
    """Sends the cases and checks each answer; runs in a worker thread (requests is blocking)."""

    edge: Edge
    identity: Running
    loop: asyncio.AbstractEventLoop
    session: requests.Session = field(default_factory=requests.Session)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    _ips: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def db_state(self) -> DbState:
        """identity's database, read on the test's event loop (where identity runs)."""

        async def read() -> DbState:
            async with self.identity.app.engine.connect() as conn:
                users = (await conn.execute(text("SELECT count(*) FROM users"))).scalar_one()
                sessions = (await conn.execute(text("SELECT count(*) FROM sessions"))).scalar_one()
                revoked = (
                    await conn.execute(
                        text("SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL")
                    )
                ).scalar_one()
            return DbState(users, sessions, revoked)

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(timeout=30)

    def send(self, case: Case) -> Any:
        """One request, every check; returns schemathesis's response."""
        before = self.db_state()
        # The edge trusts 127.0.0.1 as a proxy (tests/edge/support.py): a new client address per
        # request keeps identity's per-IP login throttle from answering everything with 429.
        n = next(self._ips)
        forwarded = {"X-Forwarded-For": f"198.19.{n // 250 % 250}.{n % 250 + 1}"}
        self.session.cookies.clear()
        response = case.call_and_validate(
            base_url=self.edge.url,
            session=self.session,
            headers=forwarded,
            checks=CHECKS,
            timeout=30,
        )
        label = case.operation.label
        self.statuses[(label, response.status_code)] += 1
        if label in ("POST /auth/login", "POST /auth/refresh") and "access_token" in answer_json(
            response
        ):
            # Real tokens for the run-wide secret scan (generated passwords are not: they can be
            # anything, a path included, and would show up in logs by chance).
            remember(
                response.json()["access_token"], cookie_value(response.headers["set-cookie"][0])
            )
        after = self.db_state()
        # Only a 2xx of an operation that ends sessions may revoke one.
        ended = label in ENDS_SESSIONS and 200 <= response.status_code < 300
        expected = DbState(
            before.users + (label == "POST /auth/register" and response.status_code == 201),
            before.sessions + (label in OPENS_SESSIONS and "access_token" in answer_json(response)),
            max(before.revoked, after.revoked) if ended else before.revoked,
        )
        if after != expected:
            raise AssertionError(
                f"{label} answered {response.status_code} but the database went from {before} "
                f"to {after}: something was half-written\n{case.as_curl_command()}"
            )
        body = case.body if isinstance(case.body, dict) else {}
        for name in ("password", "current_password", "new_password"):
            secret = body.get(name)
            if response.status_code >= 400 and isinstance(secret, str) and len(secret) >= 8:
                assert secret not in response.content.decode("utf-8", "replace"), (
                    f"{label} echoed the {name} in its {response.status_code} answer"
                )
        return response

    def run(
        self,
        strategy: Any,
        examples: int,
        prepare: Callable[[Case], None] = lambda case: None,
        follow: Callable[[Case, Any], None] = lambda case, response: None,
    ) -> None:
        @settings(FUZZ, max_examples=examples)
        @given(case=strategy)
        def fuzz(case: Case) -> None:
            prepare(case)
            follow(case, self.send(case))

        fuzz()


def answer_json(response: Any) -> dict[str, Any]:
    """A 200's JSON object (login's may be a second-factor ticket instead of tokens), else {}."""
    if response.status_code != 200:
        return {}
    body = response.json()
    return body if isinstance(body, dict) else {}


def has_invalid_input(operation: Any) -> bool:
    """A GET without credentials takes nothing but free-form headers: nothing to negate."""
    return operation.method.upper() != "GET" or "security" in operation.definition.raw


def anonymous_pass(fuzz: Fuzz, schema: Any) -> None:
    def allowed_origin_half_the_time(case: Case) -> None:
        # A generated Origin is never an allowed one, so every request sending one would stop at
        # the CSRF check (403); half of them (chosen by the value: deterministic) get through.
        origin = case.headers.get("Origin")
        if isinstance(origin, str) and len(origin) % 2 == 0:
            case.headers["Origin"] = fuzz.edge.origin

    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [GenerationMode.POSITIVE]
        if has_invalid_input(operation):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            strategy = operation.as_strategy(generation_mode=mode)
            fuzz.run(strategy, EXAMPLES, allowed_origin_half_the_time)


def signed_in_pass(fuzz: Fuzz, schema: Any, account: Account) -> None:
    """Valid generated requests carrying the user's real access token and refresh cookie."""

    def with_credentials(case: Case) -> None:
        if "Origin" in case.headers:
            case.headers["Origin"] = fuzz.edge.origin
        if case.operation.label in BEARER:
            case.headers["Authorization"] = f"Bearer {account.access_token}"
        else:
            case.cookies = {COOKIE: account.refresh_token}

    def follow_rotation(case: Case, response: Any) -> None:
        if case.operation.label == "POST /auth/refresh" and response.status_code == 200:
            account.access_token = response.json()["access_token"]
            account.refresh_token = cookie_value(response.headers["set-cookie"][0])

    for label in SIGNED_IN:
        method, path = label.split(" ", 1)
        strategy = schema[path][method].as_strategy(generation_mode=GenerationMode.POSITIVE)
        fuzz.run(strategy, SIGNED_IN_EXAMPLES, with_credentials, follow_rotation)


def cookie_value(set_cookie: str) -> str:
    name, _, rest = set_cookie.partition("=")
    assert name == COOKIE, set_cookie
    return rest.split(";", 1)[0]


async def sign_in(edge: Edge, account: Account) -> None:
    remember(account.password)
    created = await edge.client.post(
        "/auth/register", json={"email": account.email, "password": account.password}
    )
    assert created.status_code == 201, created.text
    answer = await edge.client.post(
        "/auth/login", json={"email": account.email, "password": account.password}
    )
    assert answer.status_code == 200, answer.text
    account.access_token = answer.json()["access_token"]
    account.refresh_token = cookie_value(answer.headers["set-cookie"])
    remember(account.access_token, account.refresh_token)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_generated_requests_get_documented_answers_and_write_nothing_half(
    start_identity: StartIdentity, backend: str
) -> None:
    # A database of its own: every user and session in it comes from this test's requests.
    identity = await start_identity(backend)
    async with running_edge(identity) as edge:
        schema = await asyncio.to_thread(schemathesis.openapi.from_url, f"{edge.url}/openapi.json")
        fuzz = Fuzz(edge, identity, asyncio.get_running_loop())
        try:
            await asyncio.to_thread(anonymous_pass, fuzz, schema)
            account = Account("fuzzed-user@example.com", PASSWORD + " for the fuzz")
            await sign_in(edge, account)
            await asyncio.to_thread(signed_in_pass, fuzz, schema, account)
        finally:
            fuzz.session.close()
    sent = sum(fuzz.statuses.values())
    print(f"schemathesis {schemathesis.__version__}: {sent} requests", dict(fuzz.statuses))
    # The generators must reach past the edge's own checks, or the run proves little.
    reached = {status for (_, status) in fuzz.statuses}
    assert {200, 201, 204, 304, 400, 401, 403, 404} <= reached, reached
    assert fuzz.statuses[("POST /auth/refresh", 200)] > 0
    assert fuzz.statuses[("GET /auth/sessions", 200)] > 0


Call = Callable[..., Any]


async def described_calls(edge: Edge) -> Call:
    """`call(label, status, **case parts)`: one request validated against the served description."""
    schema = await asyncio.to_thread(schemathesis.openapi.from_url, f"{edge.url}/openapi.json")

    async def call(label: str, status: int, **parts: Any) -> Any:
        method, path = label.split(" ", 1)
        case = schema[path][method].Case(**parts)
        response = await asyncio.to_thread(
            case.call_and_validate, base_url=edge.url, checks=CHECKS, timeout=30
        )
        assert response.status_code == status, (label, response.status_code, response.content)
        return response

    return call


async def test_a_whole_session_gets_the_documented_answers(edge: Edge) -> None:
    """The success answers of every operation, once each, against the served description."""
    call = await described_calls(edge)

    email, password = "whole-session@example.com", PASSWORD + " whole session"
    new_password = password + " changed"
    remember(password, new_password)
    credentials = {"email": email, "password": password}
    await call("POST /auth/register", 201, body=credentials, headers={"Origin": edge.origin})
    await call("POST /auth/register", 409, body=credentials)
    first = (await call("POST /auth/login", 200, body=credentials)).json()
    second = await call("POST /auth/login", 200, body=credentials)
    token = second.json()["access_token"]
    cookie = cookie_value(second.headers["set-cookie"][0])
    remember(first["access_token"], token, cookie)
    sessions = (await call("GET /auth/sessions", 200, headers=bearer(token))).json()["sessions"]
    await call("GET /api/me", 200, headers=bearer(token))
    jwks = await call("GET /.well-known/jwks.json", 200)
    await call(
        "GET /.well-known/jwks.json", 304, headers={"If-None-Match": jwks.headers["etag"][0]}
    )
    refreshed = await call("POST /auth/refresh", 200, headers=CSRF, cookies={COOKIE: cookie})
    token = refreshed.json()["access_token"]
    cookie = cookie_value(refreshed.headers["set-cookie"][0])
    remember(token, cookie)
    await call("POST /auth/refresh", 401, headers=CSRF)
    other = next(s["session_id"] for s in sessions if not s["current"])
    await call(
        "DELETE /auth/sessions/{session_id}",
        204,
        headers=bearer(token),
        path_parameters={"session_id": other},
    )
    await call(
        "POST /auth/password",
        200,
        headers=bearer(token),
        body={"current_password": password, "new_password": new_password},
    )
    # The change ends the access tokens issued before it; this session's cookie lives on.
    refreshed = await call("POST /auth/refresh", 200, headers=CSRF, cookies={COOKIE: cookie})
    token = refreshed.json()["access_token"]
    cookie = cookie_value(refreshed.headers["set-cookie"][0])
    remember(token, cookie)
    await call("POST /auth/logout-all", 204, headers=bearer(token))
    await call("POST /auth/logout", 204, headers=CSRF, cookies={COOKIE: cookie})
    for label in ("GET /healthz", "GET /readyz", "GET /metrics"):
        await call(label, 200)
    static = ("/", "/auth-client.js", "/app.js", "/account-mail.js", "/second-factor.js")
    for path in (*static, "/style.css", "/favicon.svg", "/openapi.json"):
        page = await call(f"GET {path}", 200)
        await call(f"GET {path}", 304, headers={"If-None-Match": page.headers["etag"][0]})


async def test_the_second_factor_gets_the_documented_answers(edge: Edge) -> None:
    """Enrolment, the login's second step, step-up and the protected changes: each success
    answer, and the refusals only they have, against the served description."""
    call = await described_calls(edge)
    email, password = "second-factor@example.com", PASSWORD + " second factor"
    remember(password)
    credentials = {"email": email, "password": password}
    await call("POST /auth/register", 201, body=credentials)
    token = (await call("POST /auth/login", 200, body=credentials)).json()["access_token"]
    remember(token)
    await call("GET /api/me/sensitive", 401, headers=bearer(token))  # aal1: the challenge
    await call("GET /auth/second-factor", 200, headers=bearer(token))
    await call("DELETE /auth/second-factor/totp", 404, headers=bearer(token))
    enrolment = await call(
        "POST /auth/second-factor/totp", 200, headers=bearer(token), body={"password": password}
    )
    secret = enrolment.json()["secret"]
    remember(secret)
    confirmed = await call(
        "POST /auth/second-factor/totp/confirm",
        200,
        headers=bearer(token),
        body={"code": pyotp.TOTP(secret).now()},
    )
    codes = confirmed.json()["recovery_codes"]
    token = confirmed.json()["access_token"]
    remember(token, *codes)
    await call(
        "POST /auth/second-factor/totp", 409, headers=bearer(token), body={"password": password}
    )
    await call("GET /api/me/sensitive", 200, headers=bearer(token))
    ticket = (await call("POST /auth/login", 200, body=credentials)).json()["mfa_ticket"]
    remember(ticket)
    await call("POST /auth/login/second-factor", 401, body={"mfa_ticket": ticket, "code": "000000"})
    done = await call(
        "POST /auth/login/second-factor", 200, body={"mfa_ticket": ticket, "code": codes[0]}
    )
    token = done.json()["access_token"]
    cookie = cookie_value(done.headers["set-cookie"][0])
    remember(token, cookie)
    stepped = await call("POST /auth/step-up", 200, headers=bearer(token), body={"code": codes[1]})
    token = stepped.json()["access_token"]
    remember(token)
    fresh = await call("POST /auth/second-factor/recovery-codes", 200, headers=bearer(token))
    remember(*fresh.json()["recovery_codes"])
    # The change ended the access tokens issued before it (those of its own second live on: a
    # token's iat has whole seconds); the session's cookie lives on.
    refreshed = await call("POST /auth/refresh", 200, headers=CSRF, cookies={COOKIE: cookie})
    token = refreshed.json()["access_token"]
    remember(token, cookie_value(refreshed.headers["set-cookie"][0]))
    await call("DELETE /auth/second-factor/totp", 204, headers=bearer(token))
