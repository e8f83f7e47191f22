"""The refresh hint: a script-readable cookie set and cleared with the refresh cookie (DESIGN §13).

tests/edge/support.py's `set_cookies` checks the pairing on every answer of every edge test;
these tests spell out each answer once.
"""

from __future__ import annotations

from tests.conftest import PASSWORD
from tests.edge.support import CSRF, HINT, bearer, cookie_header, refresh, refresh_cookie

_CLEARED_HINT = f"{HINT}=; Secure; SameSite=Strict; Path=/; Max-Age=0"


def hint_lines(response) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{HINT}=")]


def max_age(line: str) -> str:
    return line.rpartition("; Max-Age=")[2]


async def test_login_and_refresh_set_the_hint_with_the_refresh_cookies_lifetime(edge, unique_email):
    email = unique_email()
    await edge.client.post("/auth/register", json={"email": email, "password": PASSWORD})
    login = await edge.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    for response in (login, await refresh(edge, refresh_cookie(login))):
        assert response.status_code == 200, response.text
        refresh_line, hint = response.headers.get_list("set-cookie")
        # Readable by the page (no HttpOnly), on every path, holding nothing but "1".
        assert hint == f"{HINT}=1; Secure; SameSite=Strict; Path=/; Max-Age={max_age(refresh_line)}"
        assert int(max_age(hint)) > 0


async def test_every_answer_that_clears_the_refresh_cookie_clears_the_hint(edge, signed_in):
    access, token = signed_in
    assert hint_lines(await refresh(edge, "idrt_" + "A" * 43)) == [_CLEARED_HINT]
    assert hint_lines(await edge.client.post("/auth/refresh", headers=CSRF)) == [_CLEARED_HINT]
    everywhere = await edge.client.post("/auth/logout-all", headers=bearer(access))
    assert everywhere.status_code == 204
    assert hint_lines(everywhere) == [_CLEARED_HINT]
    logout = await edge.client.post("/auth/logout", headers={**CSRF, **cookie_header(token)})
    assert logout.status_code == 204
    assert hint_lines(logout) == [_CLEARED_HINT]
