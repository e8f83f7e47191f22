"""Issue 19, a refusal decided before any other work: while identity's password-hash queue is
known full, the edge answers logins itself (edge_http/hash_admission.py).

The rules with a stepped clock first, then through a real identity (one hash thread, no queue,
slow hashes) and a real edge: identity refuses one login, the edge the next, without calling."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest
from prometheus_client import REGISTRY

from edge_http.hash_admission import HashAdmission, ShedAtEdge
from edge_http.problems import IdentityCallError
from identity.wire import CODE_OVERLOADED
from tests.conftest import PASSWORD
from tests.edge.support import bearer, register_and_login, running_edge
from tests.helpers import sample_value, until_hashes_in_flight


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def overloaded(retry_after: int = 1) -> IdentityCallError:
    return IdentityCallError(grpc.StatusCode.RESOURCE_EXHAUSTED, "", retry_after, CODE_OVERLOADED)


def refuse(admission: HashAdmission, error: IdentityCallError) -> None:
    """One call taking a place and coming back with `error`."""
    with pytest.raises(IdentityCallError), admission.place():
        raise error


def hold(admission: HashAdmission, count: int) -> list[object]:
    """`count` calls in flight (their places taken and not yet given back: keep the list, a
    place collected as garbage is given back)."""
    places = [admission.place() for _ in range(count)]
    for place in places:
        place.__enter__()  # type: ignore[attr-defined]
    return places


def release(places: list[object]) -> None:
    for place in places:
        place.__exit__(None, None, None)  # type: ignore[attr-defined]


def test_without_a_refusal_from_identity_nothing_is_held_back():
    admission = HashAdmission(Clock())
    places = hold(admission, 500)
    assert admission.in_flight == 500
    release(places)
    assert admission.in_flight == 0


def test_after_overloaded_only_as_many_calls_as_identity_took_go_through():
    clock = Clock()
    admission = HashAdmission(clock)
    places = hold(admission, 4)
    refuse(admission, overloaded(retry_after=2))  # identity took the 4, refused a fifth
    with pytest.raises(ShedAtEdge) as shed:
        hold(admission, 1)
    assert shed.value.status == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert shed.value.code == CODE_OVERLOADED
    assert shed.value.retry_after == 2
    release(places[:1])  # one finished: its place is free again
    places += hold(admission, 1)
    with pytest.raises(ShedAtEdge):
        hold(admission, 1)
    clock.now += 1.5
    with pytest.raises(ShedAtEdge) as shed:
        hold(admission, 1)
    assert shed.value.retry_after == 1  # what is left of identity's Retry-After, rounded up


def test_after_the_retry_after_the_bound_goes_once_the_edge_uses_under_half_of_it():
    clock = Clock()
    admission = HashAdmission(clock)
    places = hold(admission, 8)
    refuse(admission, overloaded(retry_after=1))  # identity took the 8: bound 8
    release(places[:4])
    clock.now += 1.0
    places = places[4:] + hold(admission, 12)  # 4 in flight, not under half: bound 8 + 8
    with pytest.raises(ShedAtEdge):
        hold(admission, 1)
    release(places[:9])
    clock.now += 1.0
    places = places[9:] + hold(admission, 50)  # 7 in flight of 16: no bound any more
    release(places)


def test_still_at_the_bound_after_the_retry_after_it_grows_by_half_at_least_eight():
    clock = Clock()
    admission = HashAdmission(clock)
    places = hold(admission, 20)
    refuse(admission, overloaded(retry_after=1))  # identity took the 20: bound 20, at it
    clock.now += 1.0
    places += hold(admission, 10)  # 20 + 20 // 2 = 30 for the next second
    with pytest.raises(ShedAtEdge) as shed:
        hold(admission, 1)
    assert shed.value.retry_after == 1
    release(places[:1])
    places = places[1:]
    refuse(admission, overloaded(retry_after=1))  # the thirtieth: identity had no room for it
    with pytest.raises(ShedAtEdge):
        hold(admission, 1)  # bound 29 again, 29 in flight
    release(places)


def test_a_bound_learned_low_grows_back_quickly():
    """Learned while other callers filled identity's queue (other edges, other edge processes):
    this edge had one call in flight. While it stays at its bound, the bound grows by at least
    eight a period, by half once larger."""
    clock = Clock()
    admission = HashAdmission(clock)
    refuse(admission, overloaded(retry_after=1))  # bound 1
    places = hold(admission, 1)
    bounds = []
    for _ in range(7):
        clock.now += 1.0
        while True:
            try:
                places += hold(admission, 1)
            except ShedAtEdge:
                break
        bounds.append(admission.in_flight)
    assert bounds == [9, 17, 25, 37, 55, 82, 123]
    release(places)


def test_clients_trying_again_at_once_reach_identity_about_once_a_retry_after():
    """A storm that ignores Retry-After: identity is asked one call beyond its room per period,
    not one per attempt."""
    clock = Clock()
    admission = HashAdmission(clock)
    places = hold(admission, 4)
    refuse(admission, overloaded(retry_after=1))  # identity took 4 and keeps them busy
    sent = 0
    for _ in range(50):  # 50 periods; in each, 100 attempts before any answer comes back
        clock.now += 1.0
        attempts: list[object] = []
        for _ in range(100):
            with contextlib.suppress(ShedAtEdge):
                attempts += hold(admission, 1)
        sent += len(attempts)
        for place in attempts:  # identity has no more room: it refuses each
            error = overloaded(retry_after=1)
            place.__exit__(type(error), error, None)  # type: ignore[attr-defined]
    assert sent == 50 * 8  # the growth of each period, refused again; not the 100 attempts
    release(places)


def test_one_call_at_a_time_is_always_let_through():
    admission = HashAdmission(Clock())
    refuse(admission, overloaded())  # refused with nothing else in flight
    places = hold(admission, 1)
    with pytest.raises(ShedAtEdge):
        hold(admission, 1)
    release(places)


@pytest.mark.parametrize(
    "error",
    [
        # A throttled account or address: says nothing about anybody else's login.
        IdentityCallError(grpc.StatusCode.RESOURCE_EXHAUSTED, "", 30, "rate_limited"),
        IdentityCallError(grpc.StatusCode.RESOURCE_EXHAUSTED, "", 30, ""),
        IdentityCallError(grpc.StatusCode.UNAVAILABLE, "", 1, CODE_OVERLOADED),
        IdentityCallError(grpc.StatusCode.UNAUTHENTICATED),
    ],
)
def test_only_a_full_hash_queue_teaches_the_edge_to_hold_back(error):
    admission = HashAdmission(Clock())
    places = hold(admission, 2)
    refuse(admission, error)
    places += hold(admission, 50)
    release(places)


async def test_while_identity_is_full_the_edge_refuses_logins_without_calling_it(
    start_identity, unique_email
):
    s = await start_identity("sqlite", hash_workers=1, hash_queue=0, argon2_time_cost=30)
    email = unique_email()
    body = {"email": email, "password": PASSWORD}
    async with running_edge(s) as edge:
        created = await edge.client.post("/auth/register", json=body)
        assert created.status_code == 201, created.text
        busy = asyncio.ensure_future(edge.client.post("/auth/login", json=body))
        await until_hashes_in_flight(1)
        shed_at_identity = REGISTRY.get_sample_value("identity_password_hash_shed_total") or 0

        first = await edge.client.post("/auth/login", json=body)  # identity's refusal
        second = await edge.client.post("/auth/login", json=body)  # the edge's own
        after = REGISTRY.get_sample_value("identity_password_hash_shed_total") or 0
        assert after - shed_at_identity == 1  # identity saw the first only
        for refused in (first, second):
            assert refused.status_code == 429, refused.text
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["code"] == "rate_limited"
            assert refused.headers["x-content-type-options"] == "nosniff"
        metrics = (await edge.client.get("/metrics")).text
        shed = sample_value(metrics, "edge_auth_outcomes_total", operation="login", outcome="shed")
        assert shed == 1

        assert (await busy).status_code == 200
        # Its place free again, the next login goes to identity, which has room now.
        again = await edge.client.post("/auth/login", json=body)
        assert again.status_code == 200, again.text


# Every route whose call makes identity hash a password, with a body it accepts up to the call.
HASHING_ROUTES = {
    "register": ("/auth/register", {"email": "other@example.com", "password": PASSWORD}),
    "change_password": (
        "/auth/password",
        {"current_password": PASSWORD, "new_password": PASSWORD + "-new"},
    ),
    "password_reset": ("/auth/password-reset/confirm", {"token": "t" * 43, "password": PASSWORD}),
    "change_email": ("/auth/email", {"new_email": "new@example.com", "password": PASSWORD}),
    "totp_enroll": ("/auth/second-factor/totp", {"password": PASSWORD}),
}


async def test_every_call_that_hashes_is_held_back_with_logins(start_identity, unique_email):
    """They share identity's hash queue, so while it is known full the edge refuses each of
    them itself too (each counted as shed under its own operation), never calling identity."""
    s = await start_identity("sqlite", hash_workers=1, hash_queue=0, argon2_time_cost=30)
    email = unique_email()
    body = {"email": email, "password": PASSWORD}
    async with running_edge(s) as edge:
        access, _ = await register_and_login(edge, email)
        busy = asyncio.ensure_future(edge.client.post("/auth/login", json=body))
        await until_hashes_in_flight(1)
        shed_at_identity = REGISTRY.get_sample_value("identity_password_hash_shed_total") or 0
        first = await edge.client.post("/auth/login", json=body)  # identity's refusal
        assert first.status_code == 429, first.text

        for operation, (path, payload) in HASHING_ROUTES.items():
            refused = await edge.client.post(path, json=payload, headers=bearer(access))
            assert refused.status_code == 429, (operation, refused.text)
            assert refused.headers["retry-after"] == "1"
            metrics = (await edge.client.get("/metrics")).text
            shed = sample_value(
                metrics, "edge_auth_outcomes_total", operation=operation, outcome="shed"
            )
            assert shed == 1, operation
        after = REGISTRY.get_sample_value("identity_password_hash_shed_total") or 0
        assert after - shed_at_identity == 1  # identity saw the first login only
        assert (await busy).status_code == 200
