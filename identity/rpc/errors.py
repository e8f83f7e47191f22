"""The one table from domain errors to gRPC status codes, and the context manager applying it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc

from identity.domain.errors import (
    AlreadyExists,
    ConfigurationError,
    IdentityError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from identity.wire import MD_ERROR_CODE, MD_RETRY_AFTER

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]

STATUS: dict[type[IdentityError], grpc.StatusCode] = {
    IdentityError: grpc.StatusCode.INTERNAL,
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    ConfigurationError: grpc.StatusCode.FAILED_PRECONDITION,
}

INTERNAL_MESSAGE = "internal error"


def status_for(error: IdentityError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return grpc.StatusCode.INTERNAL


@asynccontextmanager
async def grpc_errors(context: Context) -> AsyncIterator[None]:
    """Turn a domain error into its status and public message; anything else into INTERNAL
    with a fixed text (the exception goes to the log, never to the caller)."""
    try:
        yield
    except IdentityError as error:
        metadata: tuple[tuple[str, str], ...] = ((MD_ERROR_CODE, error.code),)
        if isinstance(error, RateLimited):
            metadata += ((MD_RETRY_AFTER, str(error.retry_after)),)
        await context.abort(status_for(error), error.message, metadata)
    except grpc.aio.AbortError:
        raise
    except Exception:
        log.exception("unexpected error in a gRPC handler")
        await context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)
