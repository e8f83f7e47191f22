"""Helpers for the introspection, revocation-feed and admin tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import jwt

from identity.v1 import admin_pb2 as apb
from identity.v1 import identity_pb2 as pb
from tests.conftest import Running

_FIELDS = pb.IntrospectResponse.DESCRIPTOR.fields
OPTIONAL_MEMBERS = [f.name for f in _FIELDS if f.name != "active" and f.has_presence]
LIST_MEMBERS = [f.name for f in _FIELDS if f.is_repeated]


async def introspect(s: Running, token: str, hint: str = "", role: str = "service") -> Any:
    return await s.stub.Introspect(
        pb.IntrospectRequest(token=token, token_type_hint=hint), metadata=s.md(role)
    )


async def is_active(s: Running, token: str) -> bool:
    return bool((await introspect(s, token)).active)


async def refresh_refused(s: Running, refresh_token: str) -> bool:
    """The session behind a refresh token is over: Refresh answers UNAUTHENTICATED. (Introspect
    never says anything of refresh tokens.)"""
    call = s.stub.Refresh(pb.RefreshRequest(refresh_token=refresh_token), metadata=s.md())
    return await code_of(call) == grpc.StatusCode.UNAUTHENTICATED


def assert_only_inactive(answer: Any) -> None:
    """RFC 7662 §2.2: an inactive token gets `active: false` and nothing else."""
    assert answer.active is False
    # Only `active` is set: no optional member has presence and no list has an entry.
    assert [name for name in OPTIONAL_MEMBERS if answer.HasField(name)] == []
    assert [name for name in LIST_MEMBERS if len(getattr(answer, name))] == []
    assert answer.SerializeToString() == b""


def claims_of(access_token: str) -> dict[str, Any]:
    return jwt.decode(access_token, options={"verify_signature": False})


async def until_inactive(s: Running, token: str, timeout: float = 1.0) -> float:
    """Seconds until `token` introspects inactive on `s`; fails after `timeout`."""
    started = time.monotonic()
    while True:
        if not await is_active(s, token):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"token still active after {timeout} s")
        await asyncio.sleep(0.002)


async def revoke_jti(s: Running, jti: str, reason: str = "test") -> None:
    await s.admin_stub.RevokeAccessToken(
        apb.RevokeAccessTokenRequest(jti=jti, reason=reason), metadata=s.md("admin")
    )


async def audit_events(s: Running, **filters: Any) -> list[Any]:
    answer = await s.admin_stub.ListAuditEvents(
        apb.ListAuditEventsRequest(limit=1000, **filters), metadata=s.md("admin")
    )
    return list(answer.events)


async def code_of(call: Any) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


class Watch:
    """A WatchRevocations stream read with timeouts."""

    def __init__(self, s: Running, after_cursor: int = 0, role: str = "service") -> None:
        self.call = s.stub.WatchRevocations(
            pb.WatchRevocationsRequest(after_cursor=after_cursor), metadata=s.md(role)
        )

    async def next(self, timeout: float = 5.0) -> Any:
        item = await asyncio.wait_for(self.call.read(), timeout)
        assert item is not grpc.aio.EOF, "the stream ended"
        return item

    async def events_until_heartbeat(self, timeout: float = 5.0) -> list[Any]:
        """Revocation events up to the first heartbeat (the replay, when nothing else happens)."""
        events = []
        while True:
            item = await self.next(timeout)
            if item.kind == "heartbeat":
                return events
            events.append(item)

    async def next_event(self, timeout: float = 5.0) -> Any:
        """The next revocation event, skipping heartbeats."""
        deadline = time.monotonic() + timeout
        while True:
            item = await self.next(max(0.01, deadline - time.monotonic()))
            if item.kind != "heartbeat":
                return item

    def cancel(self) -> None:
        self.call.cancel()
