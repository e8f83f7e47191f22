"""The soak's virtual users: each loops over whole sessions through the edge and gRPC, from
login to a revocation that must hold (the steps are listed in bench.soak), counting every
outcome in a Tally.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc
import grpc.aio
import httpx

from bench.refresh import COOKIE, refresh_cookie
from bench.soak_figures import Tally
from bench.stack import PASSWORD, IdentityStack, metadata
from identity.v1 import admin_pb2, admin_pb2_grpc, identity_pb2_grpc
from identity.v1 import identity_pb2 as pb

T = TypeVar("T")

CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "auth-client"
RPC_TIMEOUT = 10.0
REVOKE_KINDS = ("logout_edge", "revoke_session", "revoke_user")


class Unexpected(Exception):
    """An outcome the soak did not expect; its message is the error kind."""


@dataclass
class Settings:
    duration: float
    interval: float
    users: int
    refreshes: int
    think: float
    login_rate: float
    max_ops: int
    tracemalloc: bool = False
    name: str = "soak"


class LoginGate:
    """At most `rate` logins start per second, over all virtual users."""

    def __init__(self, rate: float) -> None:
        self._gap = 1.0 / rate
        self._next = time.monotonic()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(self._next + self._gap, time.monotonic())


class Soak:
    def __init__(
        self,
        stack: IdentityStack,
        client: httpx.AsyncClient,
        channel: grpc.aio.Channel,
        settings: Settings,
        began: float,
    ) -> None:
        self.client = client
        self.origin = str(client.base_url).rstrip("/")
        self.identity = identity_pb2_grpc.IdentityServiceStub(channel)
        self.admin = admin_pb2_grpc.IdentityAdminStub(channel)
        self.service_md = metadata(stack.credentials["service"])
        self.admin_md = metadata(stack.credentials["admin"])
        self.settings = settings
        self.began = began
        self.stop_at = began + settings.duration
        self.gate = LoginGate(settings.login_rate)
        self.tally = Tally()
        self.revoke_turn = 0

    def running(self) -> bool:
        return time.monotonic() < self.stop_at and self.tally.total < self.settings.max_ops

    async def timed(self, kind: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.monotonic()
        try:
            result = await call()
        except grpc.aio.AioRpcError as exc:
            raise Unexpected(f"{kind}:{exc.code().name}") from exc
        except httpx.HTTPError as exc:
            raise Unexpected(f"{kind}:{type(exc).__name__}") from exc
        self.tally.op(kind, started - self.began, time.monotonic() - started)
        return result

    def _headers(self, cookie: str | None = None) -> dict[str, str]:
        headers = {CSRF_HEADER: CSRF_VALUE, "Origin": self.origin}
        if cookie is not None:
            headers["Cookie"] = f"{COOKIE}={cookie}"
        return headers

    async def login(self, email: str) -> tuple[str, str]:
        answer = await self.timed(
            "login",
            lambda: self.client.post(
                "/auth/login",
                json={"email": email, "password": PASSWORD},
                headers=self._headers(),
            ),
        )
        if answer.status_code != 200:
            raise Unexpected(f"login:http_{answer.status_code}")
        return answer.json()["access_token"], refresh_cookie(answer)

    async def refresh(self, cookie: str, kind: str = "refresh") -> httpx.Response:
        return await self.timed(
            kind, lambda: self.client.post("/auth/refresh", headers=self._headers(cookie))
        )

    async def introspect(self, token: str, kind: str) -> pb.IntrospectResponse:
        answer: pb.IntrospectResponse = await self.timed(
            kind,
            lambda: self.identity.Introspect(
                pb.IntrospectRequest(token=token), metadata=self.service_md, timeout=RPC_TIMEOUT
            ),
        )
        return answer

    async def think(self) -> None:
        # ±50 % jitter so the users drift apart instead of marching in step.
        await asyncio.sleep(self.settings.think * random.uniform(0.5, 1.5))

    async def cycle(self, email: str) -> None:
        await self.gate.wait()
        if not self.running():
            return
        access, cookie = await self.login(email)
        info = await self.introspect(access, "introspect_access")
        if not info.active:
            raise Unexpected("introspect_access:inactive_before_revoke")
        sid, sub = info.sid, info.sub
        for _ in range(self.settings.refreshes):
            await self.think()
            if not self.running():
                return
            answer = await self.refresh(cookie)
            if answer.status_code != 200:
                raise Unexpected(f"refresh:http_{answer.status_code}")
            access, cookie = answer.json()["access_token"], refresh_cookie(answer)
            info = await self.introspect(access, "introspect_access")
            if not info.active or info.sid != sid:
                raise Unexpected("introspect_access:inactive_before_revoke")
        await self.think()
        info = await self.introspect(cookie, "introspect_refresh")
        if info.active:
            raise Unexpected("introspect_refresh:active")
        await self.think()
        if not self.running():
            return
        how = REVOKE_KINDS[self.revoke_turn % len(REVOKE_KINDS)]
        self.revoke_turn += 1
        await self.revoke(how, cookie, sid, sub)
        await self.think()
        # The revocation must hold: refusals here are the expected outcome.
        info = await self.introspect(access, "introspect_access_after_revoke")
        if info.active:
            raise Unexpected("introspect_access_after_revoke:still_active")
        self.tally.refused("introspect_access_after_revoke")
        answer = await self.refresh(cookie, "refresh_after_revoke")
        if answer.status_code != 401:
            raise Unexpected(f"refresh_after_revoke:http_{answer.status_code}")
        self.tally.refused("refresh_after_revoke")
        self.tally.cycles += 1

    async def revoke(self, how: str, cookie: str, sid: str, sub: str) -> None:
        if how == "logout_edge":
            answer = await self.timed(
                how, lambda: self.client.post("/auth/logout", headers=self._headers(cookie))
            )
            if answer.status_code != 204:
                raise Unexpected(f"{how}:http_{answer.status_code}")
        elif how == "revoke_session":
            ended: admin_pb2.RevokeSessionResponse = await self.timed(
                how,
                lambda: self.admin.RevokeSession(
                    admin_pb2.RevokeSessionRequest(session_id=sid, reason="soak"),
                    metadata=self.admin_md,
                    timeout=RPC_TIMEOUT,
                ),
            )
            if not ended.revoked:
                raise Unexpected(f"{how}:not_revoked")
        else:
            many: admin_pb2.RevokeUserSessionsResponse = await self.timed(
                how,
                lambda: self.admin.RevokeUserSessions(
                    admin_pb2.RevokeUserSessionsRequest(user_id=sub, reason="soak"),
                    metadata=self.admin_md,
                    timeout=RPC_TIMEOUT,
                ),
            )
            if many.revoked_sessions < 1:
                raise Unexpected(f"{how}:none_revoked")

    async def user(self, email: str) -> None:
        while self.running():
            try:
                await self.cycle(email)
            except Unexpected as exc:
                cause = exc.__cause__
                self.tally.error(str(exc), f"{type(cause).__name__}: {cause}" if cause else "")
                await asyncio.sleep(0.5)  # no tight loop on a failing server
            except Exception as exc:  # a bug of the soak itself, or a malformed answer
                kind = f"other:{type(exc).__name__}"
                self.tally.error(kind, str(exc))
                await asyncio.sleep(0.5)
            await self.think()
