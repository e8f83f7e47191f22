"""The kit's view of a deployment: the edge over HTTP (cookie handled by hand, since the refresh
cookie is Secure and the edge may be plain HTTP in a lab) and identity over gRPC."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

import grpc
import httpx

from edge_http.wire import REFRESH_COOKIE
from identity.v1 import admin_pb2, admin_pb2_grpc, identity_pb2, identity_pb2_grpc
from identity.wire import MD_AUTHORIZATION

_COOKIE_RE = re.compile(rf"^{re.escape(REFRESH_COOKIE)}=([^;]*)(.*)$", re.IGNORECASE)


class Failed(Exception):
    """A property does not hold; the message says which part."""


class NotChecked(Exception):
    """This deployment gives the kit no way to check the property; the message says what is
    missing. Reported on its own line, never counted as passed."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


@dataclass(frozen=True)
class SetCookie:
    value: str
    attributes: dict[str, str]


def refresh_set_cookies(response: httpx.Response) -> list[SetCookie]:
    found = []
    for header in response.headers.get_list("set-cookie"):
        match = _COOKIE_RE.match(header)
        if match:
            attributes = {}
            for part in match.group(2).split(";"):
                name, _, value = part.strip().partition("=")
                if name:
                    attributes[name.lower()] = value
            found.append(SetCookie(match.group(1), attributes))
    return found


@dataclass
class Deployment:
    edge: str
    grpc_target: str
    service_credential: str | None = None
    admin_credential: str | None = None
    http: httpx.AsyncClient = field(init=False)
    channel: grpc.aio.Channel = field(init=False)

    def __post_init__(self) -> None:
        self.edge = self.edge.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.edge, timeout=10.0, follow_redirects=False)
        self.channel = grpc.aio.insecure_channel(self.grpc_target)

    @property
    def headers(self) -> dict[str, str]:
        return {
            "origin": self.edge,
            "x-requested-with": "conformance",
            "content-type": "application/json",
        }

    async def post(
        self,
        path: str,
        *,
        cookie: str | None = None,
        json: object = None,
        headers: dict[str, str] | None = None,
        bearer: str | None = None,
    ) -> httpx.Response:
        sent = dict(self.headers if headers is None else headers)
        if cookie is not None:
            sent["cookie"] = f"{REFRESH_COOKIE}={cookie}"
        if bearer is not None:
            sent["authorization"] = f"Bearer {bearer}"
        return await self.http.post(path, json=json, headers=sent)

    async def refresh(self, cookie: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.post("/auth/refresh", cookie=cookie, headers=headers)

    def _md(self, secret: str | None, role: str) -> tuple[tuple[str, str], ...]:
        if not secret:
            raise Failed(f"needs a {role} credential (--credentials-file)")
        return ((MD_AUTHORIZATION, f"Bearer {secret}"),)

    async def introspect(self, token: str) -> identity_pb2.IntrospectResponse:
        stub = identity_pb2_grpc.IdentityServiceStub(self.channel)
        md = self._md(self.service_credential or self.admin_credential, "service")
        answer: identity_pb2.IntrospectResponse = await stub.Introspect(
            identity_pb2.IntrospectRequest(token=token), metadata=md, timeout=5
        )
        return answer

    async def admin(self, method: str, request: object) -> object:
        stub = admin_pb2_grpc.IdentityAdminStub(self.channel)
        return await getattr(stub, method)(
            request, metadata=self._md(self.admin_credential, "admin"), timeout=10
        )

    async def cleanup(self, user_id: str | None, access_token: str | None) -> None:
        if access_token:
            await self.post("/auth/logout-all", bearer=access_token)
        if user_id and self.admin_credential:
            await self.admin(
                "LockUser",
                admin_pb2.LockUserRequest(user_id=user_id, reason="conformance kit cleanup"),
            )

    async def close(self) -> None:
        await self.http.aclose()
        await self.channel.close()


async def gather_refreshes(deployment: Deployment, cookie: str, count: int) -> list[httpx.Response]:
    return list(await asyncio.gather(*(deployment.refresh(cookie) for _ in range(count))))
