"""Nothing of a TOTP secret, a recovery code or an MFA ticket in the logs, in error answers, or
in the raw database (the SQLite file's bytes; every row of every PostgreSQL table)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from identity.persistence.tables import metadata
from identity.v1 import identity_pb2 as pb
from tests.conftest import ERROR_CAPTURE, LOG_CAPTURE
from tests.helpers import refresh
from tests.second_factor.support import (
    SEEN,
    SEEN_BYTES,
    complete,
    completed,
    enrol,
    keep,
    step_up,
    ticket,
)


async def exercise(m, email: str) -> None:
    """Every path that handles a secret: enrol, both kinds of code, wrong codes, step-up,
    regeneration, a ticket left pending."""
    user = await enrol(m, email)
    session = await completed(m, await ticket(m, email), m.code(user.secret))
    await completed(m, await ticket(m, email), user.recovery_codes[0])
    try:
        await complete(m, await ticket(m, email), user.recovery_codes[0])
    except Exception:
        pass
    m.next_step()
    fresh = await step_up(m, session.access_token, m.code(user.secret))
    codes = await m.s.stub.RegenerateRecoveryCodes(
        pb.RegenerateRecoveryCodesRequest(access_token=fresh.access_token), metadata=m.s.md()
    )
    keep(*codes.recovery_codes, *(c.replace("-", "") for c in codes.recovery_codes))
    await refresh(m.s, session.refresh_token)
    await ticket(m, email)  # left pending in the table


def secrets() -> tuple[list[str], list[bytes]]:
    texts = sorted(SEEN | {s.upper() for s in SEEN})
    return texts, sorted(SEEN_BYTES) + [t.encode() for t in texts]


async def raw_database(m) -> bytes:
    if m.s.backend == "sqlite":
        path = Path(m.s.app.engine.url.database or "")
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    dump = []
    async with m.s.app.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(text(f"SELECT * FROM {table.name}")):
                for value in row:
                    dump.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(dump)


async def test_no_second_factor_secret_in_logs_errors_or_the_database(mfa, unique_email):
    m = mfa
    await exercise(m, unique_email())
    texts, raw = secrets()
    assert len(texts) >= 20
    logs = "\n".join(LOG_CAPTURE.lines)
    assert [t for t in texts if t in logs] == []
    errors = "\n".join(ERROR_CAPTURE.errors)
    assert [t for t in texts if t in errors] == []
    database = await raw_database(m)
    assert len(database) > 2_000
    assert [r for r in raw if r in database] == []
