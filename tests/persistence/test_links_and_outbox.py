"""The link-token store and the mail outbox, on PostgreSQL and SQLite: single use, voiding,
expiry, claims that never hand one mail to two senders, bodies erased once delivered."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from identity.domain.links import LinkLifetimes, LinkPurpose, new_link
from identity.persistence.database import create_engine, migrate
from identity.persistence.uow import SqlUnitOfWorkFactory

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LIFETIMES = LinkLifetimes()


@pytest.fixture(params=["sqlite", "postgres"])
async def uow(request, pg, tmp_path):
    if request.param == "postgres":
        url = await pg.create_database()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    engine = create_engine(url)
    await migrate(engine, url)
    yield SqlUnitOfWorkFactory(engine)
    await engine.dispose()
    if request.param == "postgres":
        await pg.drop_database(url)


async def _user(uow, email="a@example.com") -> str:
    user_id = str(uuid.uuid4())
    async with uow() as u:
        await u.users.add(user_id, email, email, "x", NOW)
        await u.commit()
    return user_id


async def _add_link(uow, user_id, purpose=LinkPurpose.RESET_PASSWORD, now=NOW):
    link = new_link(purpose, now, LIFETIMES)
    async with uow() as u:
        await u.links.add(link, user_id, "a@example.com", now)
        await u.commit()
    return link


async def test_a_link_token_is_consumed_once(uow):
    user_id = await _user(uow)
    link = await _add_link(uow, user_id)
    async with uow() as u:
        assert (await u.links.find(link.digest, link.purpose, NOW)).user_id == user_id
        first = await u.links.consume(link.digest, link.purpose, NOW)
        second = await u.links.consume(link.digest, link.purpose, NOW)
        await u.commit()
    assert first is not None and first.user_id == user_id
    assert second is None


async def test_a_newer_link_voids_the_older_of_its_purpose_only(uow):
    user_id = await _user(uow)
    old = await _add_link(uow, user_id)
    verify = await _add_link(uow, user_id, LinkPurpose.VERIFY_EMAIL)
    new = await _add_link(uow, user_id)
    async with uow() as u:
        assert await u.links.find(old.digest, old.purpose, NOW) is None
        assert await u.links.find(new.digest, new.purpose, NOW) is not None
        assert await u.links.find(verify.digest, verify.purpose, NOW) is not None


async def test_an_expired_or_other_purpose_link_is_not_found(uow):
    user_id = await _user(uow)
    link = await _add_link(uow, user_id)
    later = NOW + LIFETIMES.reset + timedelta(seconds=1)
    async with uow() as u:
        assert await u.links.consume(link.digest, link.purpose, later) is None
        assert await u.links.consume(link.digest, LinkPurpose.VERIFY_EMAIL, NOW) is None
        assert await u.links.consume(link.digest, link.purpose, NOW) is not None


async def _mail(uow, n=1):
    ids = []
    async with uow() as u:
        for _ in range(n):
            mail_id = str(uuid.uuid4())
            await u.outbox.add(mail_id, "reset_password", "a@example.com", b"sealed", NOW)
            ids.append(mail_id)
        await u.commit()
    return ids


async def _claim(uow, now=NOW, limit=10):
    async with uow() as u:
        claimed = await u.outbox.claim(now, timedelta(seconds=60), limit)
        await u.commit()
    return claimed


async def test_a_claimed_mail_is_hidden_until_its_lease_ends(uow):
    [mail_id] = await _mail(uow)
    [claimed] = await _claim(uow)
    assert (claimed.mail_id, claimed.tries, claimed.body_enc) == (mail_id, 1, b"sealed")
    assert await _claim(uow, NOW + timedelta(seconds=30)) == []
    [again] = await _claim(uow, NOW + timedelta(seconds=61))
    assert again.tries == 2


async def test_sent_and_given_up_mails_lose_their_bodies(uow):
    sent, failed, waiting = await _mail(uow, 3)
    await _claim(uow)
    async with uow() as u:
        await u.outbox.sent(sent, NOW)
        await u.outbox.give_up(failed, NOW, "smtp said no")
        await u.outbox.retry(waiting, NOW, "try later")
        await u.commit()
    async with uow() as u:
        assert await u.outbox.pending() == 1
        listed = {e.mail_id: e for e in await u.outbox.undelivered(10)}
        bodies = await u._conn.exec_driver_sql("SELECT id, body_enc FROM mail_outbox")
        bodies = {row[0]: row[1] for row in bodies}
    assert set(listed) == {failed, waiting}
    assert all(e.body_enc is None for e in listed.values())
    assert listed[failed].failed_at is not None and listed[failed].last_error == "smtp said no"
    assert bodies[sent] is None and bodies[failed] is None and bodies[waiting] is not None


async def test_concurrent_claims_never_share_a_mail(uow):
    ids = await _mail(uow, 40)
    batches = await asyncio.gather(*(_claim(uow, limit=7) for _ in range(8)))
    claimed = [e.mail_id for batch in batches for e in batch]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) == set(ids)
