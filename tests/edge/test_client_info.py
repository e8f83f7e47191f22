"""Which address the edge forwards as the client's: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection

from edge_http.client_info import clean_user_agent, client_ip, is_https
from tests.edge.support import bearer, login, register_and_login

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


def test_without_trusted_proxies_the_peer_is_the_client():
    assert client_ip("10.1.1.1", ["203.0.113.9"], ()) == "10.1.1.1"


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored():
    assert client_ip("198.51.100.7", ["203.0.113.9"], PROXIES) == "198.51.100.7"


def test_the_rightmost_untrusted_hop_is_the_client():
    forwarded = ["192.0.2.66, 203.0.113.9", "10.2.2.2"]
    assert client_ip("10.1.1.1", forwarded, PROXIES) == "203.0.113.9"


def test_only_trusted_hops_means_the_leftmost():
    assert client_ip("10.1.1.1", ["10.3.3.3, 10.2.2.2"], PROXIES) == "10.3.3.3"


def test_garbage_hops_stop_the_walk():
    assert client_ip("10.1.1.1", ["<script>, 10.2.2.2"], PROXIES) == "10.2.2.2"
    assert client_ip("::1", ["[2001:db8::1]:4711"], PROXIES) == "2001:db8::1"


def connection(scheme: str, peer: str, proto: str | None = None) -> HTTPConnection:
    headers = [(b"x-forwarded-proto", proto.encode())] if proto else []
    return HTTPConnection(
        {"type": "http", "scheme": scheme, "client": (peer, 4711), "headers": headers}
    )


def test_https_is_the_servers_own_scheme_or_a_trusted_proxys_word():
    assert is_https(connection("https", "198.51.100.7"), ())
    assert not is_https(connection("http", "198.51.100.7"), PROXIES)
    assert is_https(connection("http", "10.1.1.1", "http, https"), PROXIES)
    assert not is_https(connection("http", "198.51.100.7", "https"), PROXIES)  # not a proxy
    assert not is_https(connection("http", "10.1.1.1", "https, http"), PROXIES)


def test_user_agents_become_printable_ascii_of_bounded_length():
    assert clean_user_agent("Mozilla/5.0 \u00e9\u202e\x1b[31m") == "Mozilla/5.0 ???[31m"
    assert len(clean_user_agent("x" * 10_000)) == 512


async def test_an_exotic_user_agent_reaches_identity_cleaned(edge, unique_email):
    email = unique_email()
    agent = "Browser/1.0 \u00e9\u4e2d\u6587 " + "z" * 1000
    await register_and_login(edge, email, headers={"User-Agent": agent.encode("utf-8")})
    access, _ = await login(edge, email)
    sessions = (await edge.client.get("/auth/sessions", headers=bearer(access))).json()["sessions"]
    agents = {s["user_agent"] for s in sessions}
    assert any(a.startswith("Browser/1.0 ") and len(a) <= 512 and a.isascii() for a in agents)
