"""Every IdentityAdmin method refuses callers without an admin credential, and every call, refused
or allowed, leaves exactly one audit event naming the caller (GA-03, GA-09)."""

from __future__ import annotations

import uuid

import grpc
import pytest

from identity.v1 import admin_pb2 as apb
from tests.introspection.support import audit_events, code_of

REQUESTS = {
    "ListUserSessions": apb.ListUserSessionsRequest(email="nobody@example.com"),
    "RevokeSession": apb.RevokeSessionRequest(session_id="no-such-session"),
    "RevokeUserSessions": apb.RevokeUserSessionsRequest(email="nobody@example.com"),
    "RevokeAccessToken": apb.RevokeAccessTokenRequest(jti="jti-from-the-authz-test"),
    "RotateSigningKey": apb.RotateSigningKeyRequest(alg="not-an-alg"),
    "ListSigningKeys": apb.ListSigningKeysRequest(),
    "LockUser": apb.LockUserRequest(email="nobody@example.com"),
    "UnlockUser": apb.UnlockUserRequest(email="nobody@example.com"),
    "ListAuditEvents": apb.ListAuditEventsRequest(limit=1),
    "GetUser": apb.GetUserRequest(email="nobody@example.com"),
    "SendPasswordReset": apb.SendPasswordResetRequest(email="nobody@example.com"),
    "MarkEmailVerified": apb.MarkEmailVerifiedRequest(email="nobody@example.com"),
    "ListUndeliveredMail": apb.ListUndeliveredMailRequest(limit=1),
    "ResetSecondFactor": apb.ResetSecondFactorRequest(email="nobody@example.com"),
}
# What an admin gets for the requests above (they name nothing that exists, or are invalid).
ADMIN_OUTCOME = {
    "ListUserSessions": (grpc.StatusCode.NOT_FOUND, "not_found"),
    "RevokeSession": (grpc.StatusCode.NOT_FOUND, "not_found"),
    "RevokeUserSessions": (grpc.StatusCode.NOT_FOUND, "not_found"),
    "RevokeAccessToken": (grpc.StatusCode.OK, "ok"),
    "RotateSigningKey": (grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument"),
    "ListSigningKeys": (grpc.StatusCode.OK, "ok"),
    "LockUser": (grpc.StatusCode.NOT_FOUND, "not_found"),
    "UnlockUser": (grpc.StatusCode.NOT_FOUND, "not_found"),
    "ListAuditEvents": (grpc.StatusCode.OK, "ok"),
    "GetUser": (grpc.StatusCode.NOT_FOUND, "not_found"),
    "SendPasswordReset": (grpc.StatusCode.NOT_FOUND, "not_found"),
    "MarkEmailVerified": (grpc.StatusCode.NOT_FOUND, "not_found"),
    "ListUndeliveredMail": (grpc.StatusCode.OK, "ok"),
    "ResetSecondFactor": (grpc.StatusCode.NOT_FOUND, "not_found"),
}
FOREIGN_SECRET = "idsk_" + "A" * 43  # well-formed, belongs to nobody


def test_the_table_covers_every_admin_method():
    service = apb.DESCRIPTOR.services_by_name["IdentityAdmin"]
    assert set(REQUESTS) == set(ADMIN_OUTCOME) == {m.name for m in service.methods}


def call(s, method: str, metadata):
    return getattr(s.admin_stub, method)(REQUESTS[method], metadata=metadata)


async def stored(s, method: str) -> list:
    """The audit events of one admin method, straight from the database (reading them through
    ListAuditEvents would add events of its own)."""
    async with s.app.uow() as uow:
        return list(await uow.audit.list(None, f"admin.{method}", 1000, None))


async def after(s, method: str, before: list) -> list:
    seen = {e.id for e in before}
    return [e for e in await stored(s, method) if e.id not in seen]


@pytest.mark.parametrize("method", sorted(REQUESTS))
async def test_refused_callers_are_refused_and_audited_once_each(identity_server, method):
    s = identity_server
    callers = [
        ((), grpc.StatusCode.UNAUTHENTICATED, "anonymous", "unauthenticated"),
        (
            (("authorization", f"Bearer {FOREIGN_SECRET}"),),
            grpc.StatusCode.UNAUTHENTICATED,
            "anonymous",
            "unauthenticated",
        ),
        (s.md("edge"), grpc.StatusCode.PERMISSION_DENIED, "test-edge", "permission_denied"),
        (s.md("service"), grpc.StatusCode.PERMISSION_DENIED, "test-service", "permission_denied"),
    ]
    for metadata, code, actor, outcome in callers:
        before = await stored(s, method)
        assert await code_of(call(s, method, metadata)) == code
        added = await after(s, method, before)
        assert [(e.actor, e.outcome) for e in added] == [(actor, outcome)], (method, actor)


@pytest.mark.parametrize("method", sorted(REQUESTS))
async def test_an_admin_call_is_audited_once_with_its_caller_and_outcome(identity_server, method):
    s = identity_server
    code, outcome = ADMIN_OUTCOME[method]
    before = await stored(s, method)
    assert await code_of(call(s, method, s.md("admin"))) == code
    added = await after(s, method, before)
    assert [(e.actor, e.outcome) for e in added] == [("test-admin", outcome)]
    assert set(added[0].detail) >= {"peer", "reason"}


async def test_refused_calls_are_readable_through_list_audit_events(identity_server):
    s = identity_server
    assert await code_of(call(s, "LockUser", s.md("edge"))) == grpc.StatusCode.PERMISSION_DENIED
    events = await audit_events(s, kind="admin.LockUser")
    assert (events[0].actor, events[0].outcome) == ("test-edge", "permission_denied")


async def test_each_caller_of_a_method_is_named_even_between_calls_of_another(identity_server):
    """identity builds the handler of a (method, caller) once and reuses it: the audit must
    still name whoever called, when two admins and an edge take turns on the same methods."""
    s = identity_server
    name = f"second-admin-{uuid.uuid4().hex[:8]}"
    other = (("authorization", f"Bearer {await s.app.create_credential('admin', name)}"),)
    turns = [
        (s.md("admin"), grpc.StatusCode.OK, "test-admin", "ok"),
        (other, grpc.StatusCode.OK, name, "ok"),
        (s.md("edge"), grpc.StatusCode.PERMISSION_DENIED, "test-edge", "permission_denied"),
        (s.md("admin"), grpc.StatusCode.OK, "test-admin", "ok"),
        (other, grpc.StatusCode.OK, name, "ok"),
    ]
    for metadata, code, actor, outcome in turns:
        before = await stored(s, "ListSigningKeys")
        assert await code_of(call(s, "ListSigningKeys", metadata)) == code
        added = await after(s, "ListSigningKeys", before)
        assert [(e.actor, e.outcome) for e in added] == [(actor, outcome)]
