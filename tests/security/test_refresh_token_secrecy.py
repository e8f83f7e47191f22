"""RT-01/RT-02/SL-10: refresh tokens are random, prefixed, and never stored in the clear."""

from __future__ import annotations

import base64
import re

from sqlalchemy import text

from identity.persistence.tables import metadata
from tests.helpers import refresh, register_and_login


async def test_refresh_tokens_are_prefixed_random_and_never_jwt_shaped(
    identity_server, unique_email
):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    seen = {tokens.refresh_token}
    current = tokens.refresh_token
    for _ in range(50):
        current = (await refresh(s, current)).refresh_token
        seen.add(current)
    assert len(seen) == 51
    for token in seen:
        assert re.fullmatch(r"idrt_[A-Za-z0-9_-]{43}", token)
        assert len(base64.urlsafe_b64decode(token[5:] + "=")) == 32
        assert not token.startswith("eyJ")


async def test_a_dump_of_every_table_holds_no_refresh_token_nor_private_key(
    identity_server, unique_email
):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    rotated = await refresh(s, tokens.refresh_token)
    dump = bytearray()
    async with s.app.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(text(f"SELECT * FROM {table.name}")):
                for value in row:
                    dump += value if isinstance(value, bytes | memoryview) else str(value).encode()
                    dump += b"\n"
    for token in (tokens.refresh_token, rotated.refresh_token):
        body = token[5:]
        raw = base64.urlsafe_b64decode(body + "=")
        assert token.encode() not in dump
        assert body.encode() not in dump
        assert raw not in dump
    assert b"-----BEGIN" not in dump and b'"d":' not in dump
    assert tokens.access_token.encode() not in dump
