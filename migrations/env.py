"""Alembic environment (async), after alembic's templates/async/env.py."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from identity.persistence.tables import metadata

config = context.config
target_metadata = metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as conn:
        await conn.run_sync(do_run_migrations)
        await conn.commit()
    await engine.dispose()


# The service passes its own (sync-facing) connection in from AsyncConnection.run_sync;
# the plain `alembic` command line has none and opens an engine here.
_connection = config.attributes.get("connection")
if context.is_offline_mode():
    run_migrations_offline()
elif _connection is not None:
    do_run_migrations(_connection)
else:
    asyncio.run(run_async_migrations())
