"""Issue 22, deploys: identity restarted with SIGTERM under load answers no user with an error.

Real `identity serve` processes on one PostgreSQL database behind one real edge; browsers
refresh and log in through the edge while a service introspects their access tokens with
identity.verify's Introspector, whose channel follows health (identity.wire's
HEALTH_CHECKED_ROUND_ROBIN). A replica that gets SIGTERM says NOT_SERVING for
IDENTITY_DRAIN_PERIOD while it still serves, then stops.
The load is bounded in calls and time, and stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import grpc
import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from identity.verify import Introspector
from tests.conftest import PASSWORD, remember
from tests.faults.chains import Chain, check_chains
from tests.faults.cluster import Cluster, User, cookie_set_by, running_cluster
from tests.faults.processes import ServeProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

USERS = 6
MAX_CALLS = 6000  # over the whole load: refreshes, logins and introspections together
THINK = 0.02  # seconds between one user's calls
SPIKERS = 16  # users of the burst of refreshes each SIGTERM lands in ...
SPIKE_INTROSPECTIONS = 150  # ... with this many introspections
SPIKE_LEAD = 0.02  # seconds from the start of the burst to the SIGTERM


@dataclass
class Load:
    """What the load met. `failures` are the edge's non-2xx answers."""

    answers: Counter[int] = field(default_factory=Counter)
    failures: list[httpx.Response] = field(default_factory=list)
    logins: list[Chain] = field(default_factory=list)
    introspected: int = 0
    introspect_errors: list[str] = field(default_factory=list)
    calls: int = 0

    def note(self, response: httpx.Response) -> None:
        self.answers[response.status_code] += 1
        if not 200 <= response.status_code < 300:
            self.failures.append(response)


@dataclass
class Service:
    """An internal service introspecting tokens with identity.verify's Introspector, whose
    channel goes to every replica the target names and follows their health."""

    cluster: Cluster
    load: Load
    introspector: Introspector

    async def introspect(self, user: User) -> None:
        try:
            answer = await self.introspector.introspect(user.access_token)
        except grpc.aio.AioRpcError as error:
            self.load.introspect_errors.append(f"{error.code().name}: {error.details()}")
            return
        assert answer.active, user.email
        self.load.introspected += 1


@asynccontextmanager
async def service_of(cluster: Cluster, load: Load) -> AsyncIterator[Service]:
    target = "ipv4:" + ",".join(r.target for r in cluster.replicas)
    introspector = Introspector(target, credential=cluster.credentials["service"], timeout=5)
    try:
        yield Service(cluster, load, introspector)
    finally:
        await introspector.close()


async def browse(
    cluster: Cluster, service: Service, users: list[User], load: Load, stop: asyncio.Event
) -> None:
    """Refresh + login + introspection until `stop` or MAX_CALLS. A failed refresh keeps the
    cookie (the browser still holds it) and the next call sends it again."""

    def going() -> bool:
        load.calls += 1
        return not stop.is_set() and load.calls <= MAX_CALLS

    async def refreshes(user: User) -> None:
        while going():
            response = await cluster.refresh(user)
            load.note(response)
            if response.status_code == 200:
                user.cookie = cookie_set_by(response)
                user.access_token = response.json()["access_token"]
            await asyncio.sleep(THINK)

    async def logins() -> None:
        i = 0
        while going():
            user = users[i % len(users)]
            i += 1
            response = await cluster.edge.post(
                "/auth/login",
                json={"email": user.email, "password": PASSWORD},
                headers={"X-Forwarded-For": user.ip},
            )
            load.note(response)
            if response.status_code == 200:
                access = response.json()["access_token"]
                remember(access)
                sid = jwt.decode(access, options={"verify_signature": False})["sid"]
                load.logins.append(Chain(user.email, cookie_set_by(response), sid))
            await asyncio.sleep(0.25)  # Argon2: a few logins a second is plenty

    async def introspections() -> None:
        i = 0
        while going():
            await service.introspect(users[i % len(users)])
            i += 1
            await asyncio.sleep(THINK)

    await asyncio.gather(*(refreshes(u) for u in users), logins(), introspections())


async def sign_ups(cluster: Cluster, count: int) -> list[User]:
    """`count` users, four at a time: more would overflow the hash pool's queue (429)."""
    users: list[User] = []
    while len(users) < count:
        batch = min(4, count - len(users))
        users += await asyncio.gather(*(cluster.sign_up() for _ in range(batch)))
    return users


async def spike(service: Service, spikers: list[User], users: list[User]) -> None:
    """A burst of traffic: one refresh per spiker through the edge, and introspections."""
    cluster, load = service.cluster, service.load
    introspections = (
        service.introspect(users[i % len(users)]) for i in range(SPIKE_INTROSPECTIONS)
    )
    answers = asyncio.gather(*introspections)
    responses = await asyncio.gather(*(cluster.refresh(u) for u in spikers))
    await answers
    for user, response in zip(spikers, responses, strict=True):
        load.note(response)
        if response.status_code == 200:
            user.cookie = cookie_set_by(response)


async def restart(
    service: Service, replica: ServeProcess, spikers: list[User], users: list[User]
) -> float:
    """The deploy step of docs/OPERATIONS.md: SIGTERM, start again, wait for SERVING, then until
    the callers are back on it (its own /metrics counts their calls). The SIGTERM lands in a
    burst of calls: some have reached the replica and wait for their turn, and it must still
    answer them (they would be CANCELLED by a stop without drain). Returns the seconds from
    SIGTERM to exit."""
    burst = asyncio.create_task(spike(service, spikers, users))
    await asyncio.sleep(SPIKE_LEAD)
    sent = time.monotonic()
    replica.terminate()
    await burst
    await asyncio.to_thread(replica.exited)
    drained = time.monotonic() - sent
    await replica.start()
    deadline = time.monotonic() + 20
    while not await replica.serving():
        assert time.monotonic() < deadline, "the replica never said SERVING"
        await asyncio.sleep(0.1)
    while True:
        served = await replica.rpc_counts()
        if served.get("Refresh", 0) and served.get("Introspect", 0):
            return drained
        assert time.monotonic() < deadline, f"callers did not come back: {served}"
        assert service.load.calls < MAX_CALLS, "the call budget ran out before the restart ended"
        await asyncio.sleep(0.1)


@pytest.fixture
async def two_replicas(pg) -> AsyncIterator[Cluster]:
    async with running_cluster(pg, 2) as cluster:
        yield cluster


async def test_a_rolling_restart_under_load_answers_every_call(two_replicas):
    """Each replica in turn: SIGTERM, restart, SERVING, callers back. Not one non-2xx at the
    edge, not one failed Introspect; then every session has exactly one live token."""
    cluster = two_replicas
    users, spikers = await sign_ups(cluster, USERS), await sign_ups(cluster, SPIKERS)
    load = Load()
    stop = asyncio.Event()
    drains: list[float] = []
    started = time.monotonic()
    async with service_of(cluster, load) as service:
        running = asyncio.create_task(browse(cluster, service, users, load, stop))
        try:
            await asyncio.sleep(0.5)
            for replica in cluster.replicas:
                drains.append(await restart(service, replica, spikers, users))
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await running
    took = time.monotonic() - started

    assert load.calls < MAX_CALLS, "the budget ran out: the load ended before the restarts did"
    assert not load.failures, [(r.status_code, r.text) for r in load.failures]
    assert not load.introspect_errors, load.introspect_errors
    assert load.answers[200] > 100 and load.logins and load.introspected > 100, (load.answers,)
    sessions = [u.chain for u in users + spikers] + load.logins
    await check_chains(cluster.url, sessions, holds_live_token=True)
    print(
        f"rolling restart of {len(drains)} replicas in {took:.1f} s: "
        f"{sum(load.answers.values())} edge answers {dict(load.answers)}, "
        f"{len(load.logins)} logins, {load.introspected} introspections, 0 errors; "
        f"SIGTERM to exit: {', '.join(f'{d:.2f} s' for d in drains)}"
    )


@pytest.fixture
async def one_replica(pg, request) -> AsyncIterator[Cluster]:
    async with running_cluster(pg, 1, drain_period=request.param) as cluster:
        yield cluster


@pytest.mark.parametrize("one_replica", [1, 0], ids=["drained", "no-drain"], indirect=True)
async def test_a_lone_replica_restarted_under_load_answers_only_503_with_retry_after(
    one_replica,
):
    """Nobody else can serve: while it restarts, users get 503 with Retry-After and keep their
    cookie, never a 500 (with IDENTITY_DRAIN_PERIOD=0 too, when the stop meets calls in
    flight), and each refreshes with the cookie it kept once the replica is back."""
    cluster = one_replica
    (replica,) = cluster.replicas
    users, spikers = await sign_ups(cluster, USERS), await sign_ups(cluster, SPIKERS)
    load = Load()
    stop = asyncio.Event()
    async with service_of(cluster, load) as service:
        running = asyncio.create_task(browse(cluster, service, users, load, stop))
        try:
            await asyncio.sleep(0.5)
            await restart(service, replica, spikers, users)
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await running

    assert load.failures, "no call failed: the restart was not felt"
    for failure in load.failures:
        assert failure.status_code == 503, failure.text
        assert failure.headers["content-type"].startswith("application/problem+json")
        assert int(failure.headers["retry-after"]) >= 1
        assert "set-cookie" not in failure.headers, failure.headers.get_list("set-cookie")
    for user in users + spikers:  # the cookie each kept still works
        response = await cluster.refresh(user)
        assert response.status_code == 200, response.text
        user.cookie = cookie_set_by(response)
    sessions = [u.chain for u in users + spikers] + load.logins
    await check_chains(cluster.url, sessions, holds_live_token=True)
    met = await identity_statuses(cluster)
    print(f"lone replica: edge answers {dict(load.answers)}; identity statuses met: {met}")


async def identity_statuses(cluster: Cluster) -> dict[str, int]:
    """The gRPC statuses the edge met from identity, from the edge's own /metrics."""
    text = (await cluster.edge.get("/metrics")).text
    met: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "edge_identity_call_duration_seconds_count":
                met[sample.labels["code"]] += int(sample.value)
    return dict(met)
