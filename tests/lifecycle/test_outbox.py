"""The mail outbox: an SMTP outage never holds a request up, mail arrives once SMTP is back,
two replicas send each mail exactly once, a mail that cannot be delivered is given up visibly,
and no table or database file ever holds a link token in plaintext."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import asyncpg
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.engine import make_url

from identity.app import IdentityApp
from identity.config import Settings
from identity.domain.smtp_url import SmtpUrl
from identity.v1 import admin_pb2 as apb
from tests.conftest import Running, make_channel, settings_for
from tests.helpers import register_and_login
from tests.lifecycle.support import request_reset
from tests.mail import MailCatcher, free_port


async def test_an_smtp_outage_answers_at_once_and_mail_arrives_when_smtp_returns(
    start_identity, unique_email
):
    catcher = MailCatcher()  # not started: SMTP is down
    s = await start_identity("sqlite", smtp_url=catcher.url)
    email = unique_email()
    await register_and_login(s, email)
    started = time.perf_counter()
    await request_reset(s, email)
    assert time.perf_counter() - started < 0.5
    listed = apb.ListUndeliveredMailRequest()
    for _ in range(100):  # until a delivery has failed
        mails = (await s.admin_stub.ListUndeliveredMail(listed, metadata=s.md("admin"))).mails
        if any(m.kind == "reset_password" and m.tries >= 1 and m.last_error for m in mails):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("no failed delivery was recorded")
    assert {m.status for m in mails} == {"pending"}
    catcher.start()
    try:
        mail = await catcher.wait(email, "reset your password", timeout=15)
        assert mail.link()[0] == "reset-password"
    finally:
        catcher.stop()


async def test_a_mail_that_cannot_be_delivered_is_given_up_visibly(start_identity, unique_email):
    dead = SmtpUrl.parse(f"smtp://127.0.0.1:{free_port()}")
    s = await start_identity("sqlite", smtp_url=dead, mail_max_tries=2)
    email = unique_email()
    before = REGISTRY.get_sample_value("identity_mail_failed_total", {"kind": "verify_email"}) or 0
    await register_and_login(s, email)
    listed = apb.ListUndeliveredMailRequest(limit=10)
    for _ in range(100):
        mails = (await s.admin_stub.ListUndeliveredMail(listed, metadata=s.md("admin"))).mails
        if mails and mails[0].status == "failed":
            break
        await asyncio.sleep(0.05)
    [mail] = mails
    assert (mail.status, mail.tries, mail.kind) == ("failed", 2, "verify_email")
    assert mail.last_error.startswith(("SMTPConnect", "OSError", "ConnectionRefused"))
    after = REGISTRY.get_sample_value("identity_mail_failed_total", {"kind": "verify_email"})
    assert after == before + 1
    async with s.app.engine.connect() as conn:
        bodies = (await conn.execute(text("SELECT body_enc FROM mail_outbox"))).scalars().all()
    assert bodies == [None]


async def test_two_replicas_on_one_postgresql_send_each_mail_exactly_once(
    start_identity, pg, catcher, unique_email
):
    first = await start_identity("postgres", smtp_url=catcher.url)
    # A second replica on the same database (so the same credentials), its own sender.
    app = IdentityApp(settings_for(first.app.settings.database_url, smtp_url=catcher.url))
    port = await app.start()
    channel = make_channel(f"127.0.0.1:{port}")
    second = Running(app, f"127.0.0.1:{port}", first.credentials, channel, "postgres")
    try:
        emails = [unique_email() for _ in range(12)]
        for n, email in enumerate(emails):
            s = (first, second)[n % 2]
            await register_and_login(s, email)
            await request_reset(s, email)
        for email in emails:
            await catcher.wait(email, "reset your password")
        await asyncio.sleep(2.5)  # a poll of each sender after the last delivery
        for email in emails:
            subjects = Counter(m.subject for m in catcher.to(email))
            assert sorted(subjects.values()) == [1, 1], (email, subjects)
        sent = [await _sent_count(s) for s in (first, second)]
        assert sent[0] == sent[1] == 24
    finally:
        await channel.close()
        await app.stop(grace=0.5)


async def _sent_count(s) -> int:
    async with s.app.engine.connect() as conn:
        query = text("SELECT count(*) FROM mail_outbox WHERE sent_at IS NOT NULL")
        return int((await conn.execute(query)).scalar_one())


async def test_no_table_or_database_file_holds_a_link_token(
    start_identity, pg, catcher, unique_email
):
    found_tokens = []
    for backend in ("sqlite", "postgres"):
        s = await start_identity(backend, smtp_url=catcher.url)
        email = unique_email()
        await register_and_login(s, email)
        await request_reset(s, email)
        for subject in ("verify your email", "reset your password"):
            _, token = (await catcher.wait(email, subject)).link()
            found_tokens.append(token)
            secret = token.split("_", 1)[1]
            dump = await _raw_dump(s.app.settings)
            assert secret.encode() not in dump, (backend, subject)
            assert token.encode() not in dump
    assert len(found_tokens) == 4


async def _raw_dump(settings: Settings) -> bytes:
    """Every row of every table as raw text (PostgreSQL), or the database files (SQLite)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    conn = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        parts = []
        for row in tables:
            rows = await conn.fetch(f'SELECT t::text AS line FROM "{row["tablename"]}" AS t')
            parts.extend(r["line"] for r in rows)
        return "\n".join(parts).encode()
    finally:
        await conn.close()
