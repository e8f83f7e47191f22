"""Issue 7, replicas: three `identity serve` processes on one PostgreSQL behind one edge.

The edge's identity target names all three (`ipv4:127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`), so
gRPC's round-robin spreads its calls over them; each replica's own /metrics shows which of them
answered. Every process, port and database is real; nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from identity.app import IdentityApp
from identity.persistence.keys import KEY_ROTATION_LOCK
from identity.v1 import admin_pb2, admin_pb2_grpc, identity_pb2_grpc
from identity.v1 import identity_pb2 as pb
from tests.conftest import settings_for
from tests.faults.chains import check_chains
from tests.faults.cluster import COOKIE, CSRF, Cluster, User, cookie_set_by, running_cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REPLICAS = 3


@pytest.fixture(scope="module")
async def cluster(pg) -> AsyncIterator[Cluster]:
    """Shared by the tests that leave every replica running."""
    async with running_cluster(pg, REPLICAS) as running:
        yield running


@pytest.fixture
async def own_cluster(pg) -> AsyncIterator[Cluster]:
    """For a test that kills a replica."""
    async with running_cluster(pg, REPLICAS) as running:
        yield running


async def test_concurrent_refreshes_of_one_token_across_replicas_yield_one_successor(cluster):
    user = await cluster.sign_up()
    before = await cluster.calls("Refresh")
    responses = await asyncio.gather(*(cluster.refresh(user) for _ in range(18)))
    served = [b - a for a, b in zip(before, await cluster.calls("Refresh"), strict=True)]
    assert sum(served) == 18 and all(served), f"calls per replica: {served}"

    assert [r.status_code for r in responses] == [200] * 18, [r.text for r in responses]
    successors = {cookie_set_by(r) for r in responses}
    assert len(successors) == 1, f"{len(successors)} different refresh tokens issued"
    (user.cookie,) = successors
    # The database agrees: one live token, the successor every response carried; no incident.
    await check_chains(cluster.url, [user.chain], holds_live_token=True)
    # And the session goes on: the successor rotates.
    following = await cluster.refresh(user)
    assert following.status_code == 200, following.text
    assert cookie_set_by(following) != user.cookie
    print(f"18 concurrent refreshes of one token, per replica: {served}")


async def test_a_revocation_through_one_replica_is_honoured_by_the_others_within_a_second(
    cluster,
):
    channels = [grpc.aio.insecure_channel(r.target) for r in cluster.replicas]
    services = [identity_pb2_grpc.IdentityServiceStub(c) for c in channels]
    admins = [admin_pb2_grpc.IdentityAdminStub(c) for c in channels]
    service_md = cluster.md("service")

    async def active(i: int, token: str) -> bool:
        answer = await services[i].Introspect(
            pb.IntrospectRequest(token=token), metadata=service_md
        )
        return bool(answer.active)

    async def inactive_after(i: int, token: str, since: float) -> float:
        """Seconds from `since` until replica i calls the token inactive (bounded poll)."""
        deadline = since + 10
        while await active(i, token):
            assert time.monotonic() < deadline, f"replica {i} never saw the revocation"
            await asyncio.sleep(0.005)
        return time.monotonic() - since

    delays: dict[str, float] = {}
    try:
        for revoking in range(REPLICAS):
            user = await cluster.sign_up()
            others = [i for i in range(REPLICAS) if i != revoking]
            assert all([await active(i, user.access_token) for i in range(REPLICAS)])
            since = time.monotonic()
            answer = await admins[revoking].RevokeSession(
                admin_pb2.RevokeSessionRequest(session_id=user.session_id, reason="test"),
                metadata=cluster.md("admin"),
            )
            assert answer.revoked
            assert not await active(revoking, user.access_token)
            seen = await asyncio.gather(
                *(inactive_after(i, user.access_token, since) for i in others)
            )
            delays.update({f"{revoking}->{i}": d for i, d in zip(others, seen, strict=True)})

        # A logout through the edge, which lands on whichever replica round-robin picks.
        user = await cluster.sign_up()
        since = time.monotonic()
        logout = await cluster.edge.post(
            "/auth/logout",
            headers={**CSRF, "X-Forwarded-For": user.ip, "Cookie": f"{COOKIE}={user.cookie}"},
        )
        assert logout.status_code == 204, logout.text
        seen = await asyncio.gather(
            *(inactive_after(i, user.access_token, since) for i in range(REPLICAS))
        )
        delays.update({f"edge->{i}": d for i, d in enumerate(seen)})
    finally:
        for channel in channels:
            await channel.close()

    shown = ", ".join(f"{k}: {v * 1000:.0f} ms" for k, v in delays.items())
    assert max(delays.values()) < 1.0, f"revocation reached the other replicas late: {shown}"
    print(f"revocation delays across replicas: {shown}")


async def test_a_replica_killed_mid_load_costs_only_its_in_flight_calls(own_cluster):
    """Eight users refresh their own chains through the edge in a loop; one replica is frozen
    (SIGSTOP) for half a second, so that round-robin surely has calls waiting on it, then
    killed (SIGKILL). A bare SIGKILL could land when nothing is in flight on it, and then the
    "503 keeps the cookie" half would go untested."""
    cluster = own_cluster
    users = list(await asyncio.gather(*(cluster.sign_up() for _ in range(8))))
    victim, survivors = cluster.replicas[0], cluster.replicas[1:]
    stop = asyncio.Event()
    killed_at = float("inf")  # monotonic time once the killed process is gone
    sent_after_kill: dict[str, int] = {u.email: 0 for u in users}
    failed_after_kill: list[str] = []

    async def browse(user: User) -> None:
        """Refresh in a loop, like a tab that keeps its session warm; a 503 keeps the cookie
        (the browser still holds it) and the next call retries with it."""
        while not stop.is_set():
            sent = time.monotonic()
            response = await cluster.refresh(user)
            if response.status_code == 200:
                user.cookie = cookie_set_by(response)
            else:
                user.failures.append(response)
                if sent > killed_at:
                    failed_after_kill.append(user.email)
            if sent > killed_at:
                sent_after_kill[user.email] += 1

    load = [asyncio.create_task(browse(u)) for u in users]
    try:
        await asyncio.sleep(0.5)
        served_before = await victim.rpc_counts()
        assert served_before.get("Refresh", 0) > 0, "the victim was not in the rotation"
        # Frozen first, so that calls are surely in flight on it when SIGKILL lands: round-robin
        # keeps handing it calls, which hang until the kill.
        victim.freeze()
        await asyncio.sleep(0.5)
        await asyncio.to_thread(victim.kill)
        killed_at = time.monotonic()
        before = await asyncio.gather(*(s.rpc_counts() for s in survivors))
        await asyncio.sleep(1.0)
        after = await asyncio.gather(*(s.rpc_counts() for s in survivors))
    finally:
        stop.set()
        await asyncio.gather(*load)

    failures = [f for u in users for f in u.failures]
    assert 0 < len(failures) <= len(users), f"{len(failures)} failed calls for {len(users)} users"
    for failure in failures:
        assert failure.status_code == 503, failure.text
        assert failure.headers["content-type"].startswith("application/problem+json")
        # An outage is no verdict on the token: the cookie is kept, not cleared.
        assert "set-cookie" not in failure.headers, failure.headers.get_list("set-cookie")
    assert not failed_after_kill, f"calls sent after the kill failed: {failed_after_kill}"
    assert all(sent_after_kill.values()), f"users idle after the kill: {sent_after_kill}"
    gained = [a.get("Refresh", 0) - b.get("Refresh", 0) for a, b in zip(after, before, strict=True)]
    assert all(gained), f"refreshes per surviving replica after the kill: {gained}"
    print(
        f"victim served {served_before['Refresh']} refreshes; {len(failures)} failed calls"
        f" for {len(users)} users; the survivors then served {gained}"
    )
    await check_chains(cluster.url, [u.chain for u in users], holds_live_token=True)


async def test_replicas_booting_together_on_an_empty_database_all_start(pg):
    """The replicas that lose the race for the key lock wait for the winner's first key
    instead of refusing to start (they once exited with "no current signing key")."""
    url = await pg.create_database()
    holder = await asyncpg.connect(pg.dsn.rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1])
    app = IdentityApp(settings_for(url))
    try:
        # Another replica holds the key lock and has not committed its first key yet.
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("SELECT pg_advisory_xact_lock($1)", KEY_ROTATION_LOCK)
        starting = asyncio.create_task(app.start())
        await asyncio.sleep(1.0)
        assert not starting.done(), starting.exception() if starting.done() else None
        await transaction.rollback()  # the lock is free: this replica makes the key itself
        port = await asyncio.wait_for(starting, 10)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        jwks = await identity_pb2_grpc.IdentityServiceStub(channel).GetJwks(pb.GetJwksRequest())
        await channel.close()
        assert '"kid"' in jwks.jwks_json
    finally:
        await holder.close()
        await app.stop(grace=0.5)
        await pg.drop_database(url)
