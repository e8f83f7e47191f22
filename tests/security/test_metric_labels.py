"""Checklist SL-09: identity's metric labels carry outcomes, causes, kinds, method names and
credential names; never an email, a user or session id, a token or an address."""

from __future__ import annotations

import ipaddress
import re

from prometheus_client import REGISTRY

from identity.v1 import admin_pb2 as apb
from identity.v1 import identity_pb2 as pb
from tests.helpers import refresh, register_and_login, status_of
from tests.introspection.support import claims_of, introspect

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_TOKENISH = re.compile(r"[A-Za-z0-9_.-]{32,}")  # tokens and secrets are longer


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


async def test_no_label_value_identifies_a_person_or_carries_a_secret(
    identity_server, unique_email
):
    s = identity_server
    email = unique_email()
    tokens = await register_and_login(s, email)
    wrong = pb.LoginRequest(email=email, password="not the right one at all")
    await status_of(s.stub.Login(wrong, metadata=s.md()))
    await refresh(s, tokens.refresh_token)
    await introspect(s, tokens.access_token)
    await s.admin_stub.RevokeAccessToken(
        apb.RevokeAccessTokenRequest(jti=claims_of(tokens.access_token)["jti"], reason="t"),
        metadata=s.md("admin"),
    )

    seen = {}
    for metric in REGISTRY.collect():
        if not metric.name.startswith("identity_"):
            continue
        for sample in metric.samples:
            for name, value in sample.labels.items():
                seen.setdefault((metric.name, name), set()).add(value)
    assert ("identity_logins", "outcome") in seen, sorted(seen)
    assert ("identity_introspections", "caller") in seen, sorted(seen)
    forbidden = {email, tokens.user_id, tokens.session_id, "203.0.113.7"}
    for (metric, label), values in seen.items():
        for value in values:
            assert value not in forbidden, (metric, label, value)
            assert "@" not in value and not _UUID.search(value), (metric, label, value)
            assert not _is_address(value), (metric, label, value)
            if label != "le":  # histogram bucket bounds are numbers
                assert not _TOKENISH.fullmatch(value), (metric, label, value)
