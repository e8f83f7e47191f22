"""Caller authentication and authorisation for every RPC, in one server interceptor.

The interceptor also parses request bytes itself, so a message that does not decode is an
INVALID_ARGUMENT for the caller rather than an INTERNAL error inside gRPC.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError

from identity import metrics
from identity.domain.refresh import ClientInfo
from identity.rpc.errors import Context
from identity.services.service_accounts import Caller, CallerDirectory, Role
from identity.wire import (
    MAX_CLIENT_IP,
    MAX_CLIENT_USER_AGENT,
    MAX_CREDENTIAL_LENGTH,
    MD_AUTHORIZATION,
    MD_CLIENT_IP,
    MD_CLIENT_USER_AGENT,
    MD_SERVICE_CREDENTIAL_REFUSED,
)

log = logging.getLogger(__name__)

_SERVICE = "/identity.v1.IdentityService/"
_ADMIN = "/identity.v1.IdentityAdmin/"
PUBLIC_METHODS = frozenset({_SERVICE + "GetJwks"})
ROLES: dict[str, frozenset[Role]] = {
    **{
        _SERVICE + name: frozenset({Role.EDGE})
        for name in (
            "Register",
            "Login",
            "Refresh",
            "Logout",
            "ListMySessions",
            "RevokeMySession",
            "ChangePassword",
            "RequestPasswordReset",
            "ResetPassword",
            "VerifyEmail",
            "ResendVerification",
            "ChangeEmail",
            "ConfirmEmailChange",
            "CompleteLogin",
            "BeginTotpEnrollment",
            "ConfirmTotpEnrollment",
            "StepUp",
            "GetSecondFactor",
            "RegenerateRecoveryCodes",
            "DisableTotp",
        )
    },
    _SERVICE + "Introspect": frozenset({Role.SERVICE, Role.ADMIN}),
    _SERVICE + "WatchRevocations": frozenset({Role.SERVICE, Role.ADMIN}),
}

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
_MAX_WRAPPED = 4096
CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)


def allowed_roles(method: str) -> frozenset[Role]:
    if method.startswith(_ADMIN):
        return frozenset({Role.ADMIN})
    return ROLES.get(method, frozenset())


def current_caller() -> Caller | None:
    return CALLER.get()


def client_info(context: Context) -> ClientInfo:
    """The end user's address and agent: from the edge's metadata, else the TCP peer."""
    caller = CALLER.get()
    metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
    if caller is not None and caller.role is Role.EDGE and metadata.get(MD_CLIENT_IP):
        return ClientInfo(
            _clean(metadata[MD_CLIENT_IP], MAX_CLIENT_IP),
            _clean(metadata.get(MD_CLIENT_USER_AGENT, ""), MAX_CLIENT_USER_AGENT),
        )
    peer = context.peer() or ""
    # "ipv4:127.0.0.1:5555" / "ipv6:[::1]:5555"
    host = peer.split(":", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return ClientInfo(
        _clean(host, MAX_CLIENT_IP), _clean(metadata.get("user-agent", ""), MAX_CLIENT_USER_AGENT)
    )


def _clean(value: str, limit: int) -> str:
    value = value[:limit]
    if value.isprintable():  # nearly always: the edge sends printable ASCII
        return value
    return "".join(c if c.isprintable() else "?" for c in value)


def bearer_secret(metadata: Any) -> str | None:
    values = [v for k, v in (metadata or ()) if k == MD_AUTHORIZATION]
    if len(values) != 1 or not isinstance(values[0], str) or len(values[0]) > MAX_CREDENTIAL_LENGTH:
        return None
    scheme, _, secret = values[0].partition(" ")
    if (
        scheme.lower() != "bearer" or not secret or " " in secret
    ):  # RFC 9110 §11.1: scheme is case-insensitive
        return None
    return secret


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        directory: CallerDirectory,
        on_denied: Callable[[str, Caller | None, str], Awaitable[None]] | None = None,
    ) -> None:
        self._directory = directory
        self._on_denied = on_denied
        # The wrapped handler of each (method, caller), built once: a call only looks it up.
        # Bounded by the methods times the service credentials; cleared if it ever grows past
        # _MAX_WRAPPED (credentials created and revoked over a long life).
        self._wrapped: dict[tuple[str, Caller | None], tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = details.method
        handler = await continuation(details)
        if handler is None or not method.startswith(("/identity.v1.",)):
            return handler  # health, reflection, or unknown (gRPC answers UNIMPLEMENTED)
        caller: Caller | None = None
        if method not in PUBLIC_METHODS:
            secret = bearer_secret(details.invocation_metadata)
            caller = await self._directory.identify(secret) if secret else None
            if caller is None:
                await self._denied(method, None, "unauthenticated")
                # Flagged so that no caller mistakes it for a verdict on an end user's token.
                return _abort(
                    handler,
                    grpc.StatusCode.UNAUTHENTICATED,
                    "missing or invalid service credential",
                    ((MD_SERVICE_CREDENTIAL_REFUSED, "true"),),
                )
            if caller.role not in allowed_roles(method):
                await self._denied(method, caller, "permission_denied")
                return _abort(
                    handler,
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"role {caller.role.value!r} may not call this method",
                )
        key = (method, caller)
        cached = self._wrapped.get(key)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = _wrap(handler, caller, method.rsplit("/", 1)[-1])
        if len(self._wrapped) >= _MAX_WRAPPED:
            self._wrapped.clear()
        self._wrapped[key] = (handler, wrapped)
        return wrapped

    async def _denied(self, method: str, caller: Caller | None, outcome: str) -> None:
        log.info(
            "rpc denied",
            extra={"method": method, "caller": caller.name if caller else None, "outcome": outcome},
        )
        if self._on_denied is not None:
            await self._on_denied(method, caller, outcome)


def _parse(handler: Handler, raw: bytes) -> Any:
    deserialize: Any = handler.request_deserializer
    try:
        return deserialize(raw)
    except (DecodeError, ValueError, TypeError, RecursionError):
        return None


def _wrap(handler: Handler, caller: Caller | None, name: str) -> Handler:
    if handler.unary_unary is not None:
        unary: Any = handler.unary_unary
        latency = metrics.RPC_LATENCY.labels(name)

        async def unary_behavior(raw: bytes, context: Context) -> Any:
            request = _parse(handler, raw)
            if request is None:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, "request message does not decode"
                )
            token = CALLER.set(caller)
            started = time.perf_counter()
            try:
                return await unary(request, context)
            finally:
                CALLER.reset(token)
                latency.observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            unary_behavior,
            request_deserializer=None,
            response_serializer=handler.response_serializer,
        )
    assert handler.unary_stream is not None, "only unary and server-streaming methods exist"
    stream: Any = handler.unary_stream

    async def stream_behavior(raw: bytes, context: Context) -> AsyncIterator[Any]:
        request = _parse(handler, raw)
        if request is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "request message does not decode")
        token = CALLER.set(caller)
        try:
            async for item in stream(request, context):
                yield item
        finally:
            CALLER.reset(token)

    return grpc.unary_stream_rpc_method_handler(
        stream_behavior, request_deserializer=None, response_serializer=handler.response_serializer
    )


def _abort(
    handler: Handler,
    code: grpc.StatusCode,
    message: str,
    trailing: tuple[tuple[str, str], ...] = (),
) -> Handler:
    if handler.unary_stream is not None:

        async def abort_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            await context.abort(code, message, trailing)
            yield  # pragma: no cover - makes this an async generator

        return grpc.unary_stream_rpc_method_handler(abort_stream)

    async def abort_unary(request: Any, context: Context) -> Any:
        await context.abort(code, message, trailing)

    return grpc.unary_unary_rpc_method_handler(abort_unary)
