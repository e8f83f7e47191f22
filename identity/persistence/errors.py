"""Translate driver errors into domain errors, once."""

from __future__ import annotations

import logging

from sqlalchemy import exc as sa_exc

from identity.domain.errors import AlreadyExists, IdentityError, Unavailable

log = logging.getLogger(__name__)


def translate(error: BaseException) -> IdentityError | None:
    """The domain error a database failure stands for, or None to let it propagate."""
    if isinstance(error, sa_exc.IntegrityError):
        return AlreadyExists("already exists")
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        log.warning(
            "database unavailable: %s",
            type(error.orig if hasattr(error, "orig") else error).__name__,
        )
        return Unavailable()
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return Unavailable()
    if isinstance(error, ConnectionError | OSError | TimeoutError):
        return Unavailable()
    return None
