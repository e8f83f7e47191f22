"""AV-10: migrations run from empty to head on both databases; a lower schema is refused."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from identity.app import IdentityApp
from identity.domain.errors import ConfigurationError
from identity.persistence.database import current_revision, head_revision, migrate
from identity.persistence.tables import metadata
from tests.conftest import settings_for


async def _url(backend, pg, tmp_path):
    return (
        await pg.create_database()
        if backend == "postgres"
        else f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_migrations_build_exactly_the_declared_schema(backend, pg, tmp_path):
    url = await _url(backend, pg, tmp_path)
    app = IdentityApp(settings_for(url))
    try:
        await migrate(app.engine, url)
        assert await current_revision(app.engine) == head_revision()
        async with app.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            columns = {
                t: await conn.run_sync(
                    lambda c, t=t: {col["name"] for col in inspect(c).get_columns(t)}
                )
                for t in metadata.tables
            }
        assert set(metadata.tables) <= tables
        for name, table in metadata.tables.items():
            assert columns[name] == {c.name for c in table.columns}, name
        await migrate(app.engine, url)  # idempotent at head
    finally:
        await app.engine.dispose()
        app.hashing.close()
        if backend == "postgres":
            await pg.drop_database(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_service_refuses_a_schema_below_head_unless_told_to_migrate(
    backend, pg, tmp_path
):
    url = await _url(backend, pg, tmp_path)
    app = IdentityApp(settings_for(url, migrate=False))
    try:
        with pytest.raises(ConfigurationError, match="identity migrate"):
            await app.start()
    finally:
        await app.engine.dispose()
        app.hashing.close()
        if backend == "postgres":
            await pg.drop_database(url)
