"""One coroutine per promised property. Each raises Failed with the part that broke."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from identity.conformance.client import (
    Deployment,
    Failed,
    expect,
    gather_refreshes,
    refresh_set_cookies,
)
from identity.domain.clock import FixedClock
from identity.mail_catcher import MailCatcher
from identity.v1 import admin_pb2
from identity.verify import HttpJwksSource, Verifier


@dataclass
class Session:
    """The throwaway user the kit signs up, and its current refresh cookie."""

    email: str
    password: str
    cookie: str = ""
    access_token: str = ""
    user_id: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Options:
    concurrency: int = 8
    wait_grace: float | None = None  # seconds; None skips the wait and checks reuse by successor
    mail: MailCatcher | None = None  # the deployment's mail (--smtp-capture), for mail_checks


Check = Callable[[Deployment, Session, Options], Awaitable[str]]


async def login(d: Deployment, s: Session) -> None:
    answer = await d.post("/auth/login", json={"email": s.email, "password": s.password})
    expect(answer.status_code == 200, f"login answered {answer.status_code}")
    cookies = refresh_set_cookies(answer)
    expect(len(cookies) == 1, f"login set {len(cookies)} refresh cookies")
    s.cookie, s.access_token = cookies[0].value, answer.json()["access_token"]
    s.user_id = str(jwt.decode(s.access_token, options={"verify_signature": False})["sub"])


async def refreshed(d: Deployment, cookie: str) -> str:
    answer = await d.refresh(cookie)
    expect(answer.status_code == 200, f"refresh answered {answer.status_code}")
    cookies = refresh_set_cookies(answer)
    expect(len(cookies) == 1, "refresh did not set exactly one refresh cookie")
    return cookies[0].value


async def cookie_flags(d: Deployment, s: Session, o: Options) -> str:
    answer = await d.post("/auth/login", json={"email": s.email, "password": s.password})
    expect(answer.status_code == 200, f"login answered {answer.status_code}")
    cookies = refresh_set_cookies(answer)
    expect(len(cookies) == 1, f"login set {len(cookies)} __Secure-refresh_token cookies, not 1")
    cookie = cookies[0]
    a = cookie.attributes
    for flag in ("httponly", "secure"):
        expect(flag in a, f"cookie lacks {flag}")
    expect(a.get("samesite", "").lower() == "strict", "cookie is not SameSite=Strict")
    expect(a.get("path") == "/auth", f"cookie Path is {a.get('path')!r}, not /auth")
    expect("domain" not in a, "cookie has a Domain attribute")
    expect(int(a.get("max-age", "0")) > 0, "cookie has no positive Max-Age")
    body = answer.json()
    expect(set(body) >= {"access_token", "token_type", "expires_in"}, "token body incomplete")
    expect(cookie.value not in answer.text, "the refresh token appears in the body")
    expect("no-store" in answer.headers.get("cache-control", ""), "token response is cacheable")
    s.cookie, s.access_token = cookie.value, body["access_token"]
    s.user_id = str(jwt.decode(s.access_token, options={"verify_signature": False})["sub"])
    return "HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age; no Domain; no-store"


async def csrf_refusals(d: Deployment, s: Session, o: Options) -> str:
    base = {"content-type": "application/json"}
    attempts = {
        "no X-Requested-With": {**base, "origin": d.edge},
        "foreign Origin": {**base, "origin": "https://evil.example", "x-requested-with": "x"},
        "Sec-Fetch-Site: cross-site": {
            **base,
            "x-requested-with": "x",
            "sec-fetch-site": "cross-site",
        },
    }
    before = await _last_used(d, s)
    for name, headers in attempts.items():
        answer = await d.refresh(s.cookie, headers=headers)
        expect(answer.status_code == 403, f"{name}: answered {answer.status_code}, not 403")
    if before is not None:
        expect(await _last_used(d, s) == before, "a refused request consumed the refresh token")
    s.cookie = await refreshed(d, s.cookie)
    return "missing header, foreign Origin, cross-site fetch: 403, token untouched"


async def _last_used(d: Deployment, s: Session) -> int | None:
    """When the session last rotated, to the nanosecond, as identity records it (admin
    credential; None without one). A rotation moves it; a refused request must not. (Introspect
    cannot tell: a refresh token is never active there.)"""
    if not d.admin_credential:
        return None
    sid = jwt.decode(s.access_token, options={"verify_signature": False})["sid"]
    answer: Any = await d.admin(
        "ListUserSessions", admin_pb2.ListUserSessionsRequest(user_id=s.user_id)
    )
    return next(
        (int(x.last_used_at.ToNanoseconds()) for x in answer.sessions if x.session_id == sid), None
    )


async def rotation(d: Deployment, s: Session, o: Options) -> str:
    new = await refreshed(d, s.cookie)
    expect(new != s.cookie, "refresh returned the same refresh token")
    s.cookie = new
    return "each refresh sets a new refresh token"


async def lost_response(d: Deployment, s: Session, o: Options) -> str:
    old = s.cookie
    successor = await refreshed(d, old)  # pretend this answer never arrived
    again = await refreshed(d, old)
    expect(again == successor, "the retry inside the grace window got a different refresh token")
    s.cookie = await refreshed(d, again)
    return "a retried refresh inside the grace window gets the same successor"


async def concurrent_refreshes(d: Deployment, s: Session, o: Options) -> str:
    answers = await gather_refreshes(d, s.cookie, o.concurrency)
    expect(
        all(a.status_code == 200 for a in answers), f"statuses {[a.status_code for a in answers]}"
    )
    successors = {c.value for a in answers for c in refresh_set_cookies(a)}
    expect(len(successors) == 1, f"{len(successors)} different successors")
    s.cookie = await refreshed(d, successors.pop())
    return f"{o.concurrency} concurrent refreshes, one successor, which refreshes again"


async def reuse_revokes(d: Deployment, s: Session, o: Options) -> str:
    first = s.cookie
    second = await refreshed(d, first)
    if o.wait_grace is not None:
        await asyncio.sleep(o.wait_grace + 1)
        how = f"replayed {o.wait_grace + 1:.0f} s later"
    else:
        await refreshed(d, second)
        how = "replayed after its successor was used"
    answer = await d.refresh(first)
    expect(answer.status_code == 401, f"reuse answered {answer.status_code}, not 401")
    cleared = refresh_set_cookies(answer)
    expect(
        bool(cleared) and cleared[0].attributes.get("max-age") == "0",
        "reuse did not clear the cookie",
    )
    dead = await d.refresh(second)
    expect(dead.status_code == 401, "the session survived the reuse")
    await login(d, s)  # a fresh session for the checks that follow
    return f"{how}: 401, cookie cleared, the whole session revoked"


async def key_rotation_with_cached_jwks(d: Deployment, s: Session, o: Options) -> str:
    iss = jwt.decode(s.access_token, options={"verify_signature": False})["iss"]
    aud = jwt.decode(s.access_token, options={"verify_signature": False})["aud"]
    verifier = Verifier(
        issuer=iss,
        audience=aud if isinstance(aud, str) else aud[0],
        jwks_source=HttpJwksSource(f"{d.edge}/.well-known/jwks.json"),
    )
    await verifier.averify(s.access_token)  # caches the JWKS
    rotated = await d.admin(
        "RotateSigningKey", admin_pb2.RotateSigningKeyRequest(reason="conformance kit")
    )
    new_kid = rotated.key.kid  # type: ignore[attr-defined]
    await login(d, s)
    kid = jwt.get_unverified_header(s.access_token)["kid"]
    expect(kid != new_kid, "the new key signed before a JWKS cache lifetime passed")
    await verifier.averify(s.access_token)
    fresh = (await d.http.get("/.well-known/jwks.json")).json()
    expect(new_kid in {k["kid"] for k in fresh["keys"]}, "the new key is not published")
    return (
        "new key published at once, signs only after the cache lifetime; cached verifier unaffected"
    )


async def revocation_reaches_introspection(d: Deployment, s: Session, o: Options) -> str:
    expect((await d.introspect(s.access_token)).active, "a fresh access token is inactive")
    answer = await d.post("/auth/logout", cookie=s.cookie)
    expect(answer.status_code == 204, f"logout answered {answer.status_code}")
    started = time.monotonic()
    while (await d.introspect(s.access_token)).active:
        expect(time.monotonic() - started < 1.0, "still active 1 s after logout")
        await asyncio.sleep(0.02)
    took = (time.monotonic() - started) * 1000
    await login(d, s)
    return f"inactive {took:.0f} ms after logout"


async def clock_skew(d: Deployment, s: Session, o: Options) -> str:
    claims = jwt.decode(s.access_token, options={"verify_signature": False})
    source = HttpJwksSource(f"{d.edge}/.well-known/jwks.json")
    for skew in (-60, 60):
        clock = FixedClock(datetime.now(UTC) + timedelta(seconds=skew))
        verifier = Verifier(
            issuer=claims["iss"], audience=claims["aud"], jwks_source=source, clock=clock, leeway=60
        )
        await verifier.averify(s.access_token)
    return "a verifier with leeway 60 accepts tokens with its clock 60 s off either way"


CHECKS: dict[str, Check] = {
    "cookie_flags": cookie_flags,
    "csrf_refusals": csrf_refusals,
    "rotation": rotation,
    "lost_response": lost_response,
    "concurrent_refreshes": concurrent_refreshes,
    "reuse_revokes": reuse_revokes,
    "key_rotation_with_cached_jwks": key_rotation_with_cached_jwks,
    "revocation_reaches_introspection": revocation_reaches_introspection,
    "clock_skew": clock_skew,
}


def throwaway_user() -> Session:
    tag = os.urandom(6).hex()
    return Session(
        email=f"conformance-{tag}@example.invalid",
        password=f"conformance kit {os.urandom(12).hex()}",
    )


__all__ = ["CHECKS", "Failed", "Options", "Session", "throwaway_user"]
