"""Translate driver errors into domain errors, once."""

from __future__ import annotations

import logging

from asyncpg import exceptions as pg_exc
from sqlalchemy import exc as sa_exc

from identity.domain.errors import AlreadyExists, IdentityError, Unavailable

log = logging.getLogger(__name__)

# SQLSTATE classes meaning "the database cannot serve us now" rather than "the query is wrong":
# 08 connection exception, 53 insufficient resources (too many connections), 57 operator
# intervention (shutdown, statement timeout), 58 system error; 55000 is what PostgreSQL says
# when a database does not accept connections.
_UNAVAILABLE_STATES = ("08", "53", "57", "58", "55000")


def _closed_connection(error: BaseException) -> bool:
    """asyncpg's word for a connection that cannot serve: closed (InterfaceError), or left
    mid-operation by an interrupted statement (InternalClientError: "another operation is in
    progress"; SQLAlchemy reports the same as its InterfaceError)."""
    if isinstance(error, pg_exc.InternalClientError):
        return True
    # Not its ValueErrors (wrong arguments, a bad configuration): a bug, not an outage.
    return isinstance(error, pg_exc.InterfaceError) and not isinstance(error, ValueError)


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 6:
        chain.append(current)
        current = getattr(current, "orig", None) or current.__cause__
    return chain


def _sqlstate(chain: list[BaseException]) -> str | None:
    for candidate in chain:
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def translate(error: BaseException) -> IdentityError | None:
    """The domain error a database failure stands for, or None to let it propagate."""
    if isinstance(error, sa_exc.IntegrityError):
        return AlreadyExists("already exists")
    chain = _causes(error)
    state = _sqlstate(chain)
    unavailable = (
        isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError)
        # asyncpg's own, from the statements it sends directly (persistence/prepared.py), or
        # under the dialect's class, from a checkout outside a Connection (uow.PgRotation).
        or any(_closed_connection(c) for c in chain)
        or (isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated)
        or (state is not None and state.startswith(_UNAVAILABLE_STATES))
        or any(isinstance(c, OSError | TimeoutError) for c in chain)
    )
    if unavailable:
        log.warning("database unavailable", extra={"reason": state or type(chain[-1]).__name__})
        return Unavailable()
    return None
