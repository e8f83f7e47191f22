"""Issue 19, login overload queues and never sheds too early: up to the hash queue a call waits
for a hash thread; beyond it the refusal comes at once, before any database work."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sqlalchemy import event

from identity.domain.errors import Overloaded
from identity.domain.hash_params import DEFAULT_HASH_QUEUE, Argon2Params
from identity.domain.refresh import ClientInfo
from identity.services.hashing import PasswordHashing
from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD
from tests.helpers import error_of, login, until_hashes_in_flight

WORKERS = 1


@pytest.fixture
async def hashing():
    pool = PasswordHashing(Argon2Params(), workers=WORKERS, max_waiting=3)
    yield pool
    pool.close()


async def test_the_default_queue_holds_64_concurrent_logins_per_process():
    assert DEFAULT_HASH_QUEUE >= 64
    pool = PasswordHashing(Argon2Params(), workers=1)
    try:
        stored = await pool.hash(PASSWORD)
        results = await asyncio.gather(*(pool.verify(stored, PASSWORD) for _ in range(65)))
    finally:
        pool.close()
    assert results == [True] * 65


async def test_below_the_bound_every_call_waits_for_a_thread_and_succeeds(hashing):
    stored = await hashing.hash(PASSWORD)
    # One running and three waiting: the bound, reached but not passed.
    results = await asyncio.gather(*(hashing.verify(stored, PASSWORD) for _ in range(WORKERS + 3)))
    assert results == [True] * (WORKERS + 3)


async def test_beyond_the_bound_a_call_is_refused_at_once(hashing):
    stored = await hashing.hash(PASSWORD)
    waiting = [asyncio.ensure_future(hashing.verify(stored, PASSWORD)) for _ in range(WORKERS + 3)]
    await asyncio.sleep(0)  # each has taken its place
    with pytest.raises(Overloaded) as refused:
        await hashing.verify(stored, PASSWORD)
    # At once: decided without the event loop running a step, so nothing queued has finished.
    assert not any(task.done() for task in waiting)
    assert refused.value.retry_after == 1
    assert await asyncio.gather(*waiting) == [True] * (WORKERS + 3)
    assert await hashing.verify(stored, PASSWORD)  # places free again


async def test_hashes_inside_an_admission_use_its_place(hashing):
    stored = await hashing.hash(PASSWORD)
    release = asyncio.Event()

    async def hold() -> None:
        with hashing.admission():
            await release.wait()

    holders = [asyncio.ensure_future(hold()) for _ in range(WORKERS + 2)]
    await asyncio.sleep(0)
    with hashing.admission():  # the last place: the hashes below run in it, none is refused
        assert await hashing.verify(stored, PASSWORD)
        assert await hashing.hash(PASSWORD)
        with hashing.admission():  # nested: the same place
            assert await hashing.verify(stored, PASSWORD)
    holders.append(asyncio.ensure_future(hold()))  # another task takes the last place
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):
        await hashing.verify(stored, PASSWORD)
    release.set()
    await asyncio.gather(*holders)


async def test_a_login_beyond_the_queue_is_refused_before_any_database_work(
    start_identity, unique_email
):
    s = await start_identity("sqlite", hash_workers=1, hash_queue=0, argon2_time_cost=30)
    email = unique_email()
    await s.stub.Register(pb.RegisterRequest(email=email, password=PASSWORD), metadata=s.md())
    statements: list[str] = []
    event.listen(
        s.app.engine.sync_engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *args: statements.append(statement),
    )
    client = ClientInfo(ip="198.18.0.1", user_agent="test")
    holder = asyncio.ensure_future(s.app.accounts.login(email, PASSWORD, "", client))
    await asyncio.sleep(0)  # the holder took the only place and is waiting for its reads
    before = len(statements)
    with pytest.raises(Overloaded):
        await s.app.accounts.login(unique_email(), PASSWORD, "", client)
    assert len(statements) == before, statements[before:]
    await holder
    # Through gRPC: RESOURCE_EXHAUSTED with the retry delay in trailing metadata.
    busy = asyncio.ensure_future(login(s, email))
    await until_hashes_in_flight(1)
    refused = await error_of(
        s.stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=s.md())
    )
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ("retry-after", "1") in tuple(refused.trailing_metadata() or ())
    await busy


async def test_concurrent_logins_up_to_the_queue_all_succeed(start_identity, unique_email):
    """Zero refusals below the bound: one hash thread, a queue of 8, nine logins at once."""
    s = await start_identity("sqlite", hash_workers=1, hash_queue=8)
    emails = [unique_email() for _ in range(9)]
    for email in emails:
        await s.stub.Register(pb.RegisterRequest(email=email, password=PASSWORD), metadata=s.md())
    answers = await asyncio.gather(*(login(s, email) for email in emails))
    assert all(answer.access_token for answer in answers)
