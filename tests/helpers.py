"""Small test helpers over the real gRPC API."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD, Running, remember


async def register_and_login(
    s: Running, email: str, password: str = PASSWORD, **md: str
) -> pb.TokenResponse:
    await s.stub.Register(pb.RegisterRequest(email=email, password=password), metadata=s.md())
    return await login(s, email, password, **md)


async def login(s: Running, email: str, password: str = PASSWORD, **md: str) -> pb.TokenResponse:
    remember(password)
    tokens = await s.stub.Login(
        pb.LoginRequest(email=email, password=password), metadata=s.md(**md)
    )
    remember(tokens.access_token, tokens.refresh_token)
    return tokens


async def refresh(s: Running, token: str, **md: str) -> pb.TokenResponse:
    answer = await s.stub.Refresh(pb.RefreshRequest(refresh_token=token), metadata=s.md(**md))
    remember(answer.access_token, answer.refresh_token)
    return answer


async def status_of(call: object) -> grpc.StatusCode:
    """The status code a call ends with (OK if it returns)."""
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def error_of(call: object) -> grpc.aio.AioRpcError:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the call succeeded")


def change_password(
    s: Running, access_token: str, current: str, new: str = "an entirely new passphrase, long"
) -> Any:
    """The ChangePassword call (awaitable) of the user holding `access_token`."""
    return s.stub.ChangePassword(
        pb.ChangePasswordRequest(
            access_token=access_token, current_password=current, new_password=new
        ),
        metadata=s.md(),
    )


def sample_value(exposition: str, name: str, **labels: str) -> float:
    """One sample of a Prometheus text exposition (a server's /metrics), 0 when absent."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


async def until_hashes_in_flight(count: int, timeout: float = 60.0) -> None:
    """Until identity's hash pool holds `count` hashes, running or queued (its own gauge); fails
    with the gauge's value after `timeout` rather than waiting for ever."""
    deadline = time.monotonic() + timeout
    while (seen := REGISTRY.get_sample_value("identity_password_hashes_in_flight") or 0) < count:
        assert time.monotonic() < deadline, f"hashes in flight stayed at {seen}, not {count}"
        await asyncio.sleep(0.005)


class ShiftedClock:
    """The system clock plus an offset tests can grow (shared by identity and the edge)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
