"""Introspect runs no database statement (DESIGN §4, IR-09): not for access tokens, not for a
flood of tokens under random `kid`s (issue 7: no fetch or lookup per request), and not for
refresh tokens or strings shaped like one (they are never active: nothing to look up)."""

from __future__ import annotations

import base64
import json
import os

from prometheus_client import REGISTRY
from sqlalchemy import event

from identity.rpc.auth import current_caller
from identity.v1 import identity_pb2 as pb
from tests.helpers import register_and_login
from tests.introspection.support import claims_of, introspect, revoke_jti


async def test_a_thousand_introspections_run_no_sql_and_are_counted_per_caller(
    identity_server, unique_email
):
    s = identity_server
    live = await register_and_login(s, unique_email())
    revoked = await register_and_login(s, unique_email())
    await revoke_jti(s, claims_of(revoked.access_token)["jti"])
    header, payload, _ = live.access_token.split(".")
    tokens = [
        live.access_token,
        revoked.access_token,
        f"{header}.{payload}.{base64.urlsafe_b64encode(os.urandom(64)).decode().rstrip('=')}",
        "random-" + os.urandom(16).hex(),
        live.refresh_token,
        "idrt_" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
    ]
    in_rpcs: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        # Only statements made while serving an RPC: the background poller and key maintenance
        # run on their own schedule and are no part of the introspection path.
        if current_caller() is not None:
            in_rpcs.append(statement)

    def inactive_count() -> float:
        labels = {"active": "false", "caller": "test-service"}  # the credential's name
        return REGISTRY.get_sample_value("identity_introspections_total", labels) or 0.0

    engine = s.app.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        await s.stub.ListMySessions(  # the counter works: this RPC does query
            pb.ListMySessionsRequest(access_token=live.access_token), metadata=s.md()
        )
        assert in_rpcs, "statements made inside an RPC are seen"
        in_rpcs.clear()
        before = inactive_count()

        answers = [await introspect(s, tokens[i % len(tokens)]) for i in range(1000)]
        # A flood of tokens, each under a kid never seen: no key lookup may reach the database.
        answers += [await introspect(s, random_kid(live.access_token)) for _ in range(250)]
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert in_rpcs == []
    # What an alert on token scanning reads (docs/OPERATIONS.md): this credential's misses.
    assert inactive_count() - before == sum(not a.active for a in answers)
    assert sum(a.active for a in answers) == len(range(0, 1000, len(tokens)))  # the live AT only


def random_kid(token: str) -> str:
    """`token` with its header's kid replaced by a random one (signature left as it was)."""
    header, payload, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    fields["kid"] = os.urandom(12).hex()
    encoded = base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")
    return f"{encoded}.{payload}.{signature}"
