"""identity.v1.IdentityAdmin: the operator API (see docs/OPERATIONS.md).

The interceptor admits `admin` credentials only (and audits the refusals); each method here
names the caller and the method for the audit event, calls one use case, and encodes.
"""

from __future__ import annotations

import json
from typing import Protocol

from identity.domain.clock import Clock
from identity.domain.keys import KeyRecord
from identity.ports import AuditRecord, OutboxEntry
from identity.rpc import convert
from identity.rpc.auth import client_info, current_caller
from identity.rpc.errors import Context, grpc_errors
from identity.services.admin import AdminCall, Administration, UserRef
from identity.v1 import admin_pb2 as apb
from identity.v1 import admin_pb2_grpc
from identity.v1 import identity_pb2 as pb


class AdminServicer(admin_pb2_grpc.IdentityAdminServicer):
    def __init__(self, admin: Administration, clock: Clock) -> None:
        self._admin = admin
        self._clock = clock

    async def ListUserSessions(
        self, request: apb.ListUserSessionsRequest, context: Context
    ) -> pb.ListSessionsResponse:
        async with grpc_errors(context):
            views = await self._admin.list_user_sessions(
                _call("ListUserSessions", context), _user(request), request.include_ended
            )
        now = self._clock.now()
        return pb.ListSessionsResponse(sessions=[convert.session(v, now) for v in views])

    async def RevokeSession(
        self, request: apb.RevokeSessionRequest, context: Context
    ) -> apb.RevokeSessionResponse:
        async with grpc_errors(context):
            revoked = await self._admin.revoke_session(
                _call("RevokeSession", context, request.reason), request.session_id
            )
        return apb.RevokeSessionResponse(revoked=revoked)

    async def RevokeUserSessions(
        self, request: apb.RevokeUserSessionsRequest, context: Context
    ) -> apb.RevokeUserSessionsResponse:
        async with grpc_errors(context):
            ended = await self._admin.revoke_user_sessions(
                _call("RevokeUserSessions", context, request.reason), _user(request)
            )
        return apb.RevokeUserSessionsResponse(revoked_sessions=ended)

    async def RevokeAccessToken(
        self, request: apb.RevokeAccessTokenRequest, context: Context
    ) -> apb.RevokeAccessTokenResponse:
        async with grpc_errors(context):
            await self._admin.revoke_access_token(
                _call("RevokeAccessToken", context, request.reason), request.jti
            )
        return apb.RevokeAccessTokenResponse()

    async def RotateSigningKey(
        self, request: apb.RotateSigningKeyRequest, context: Context
    ) -> apb.RotateSigningKeyResponse:
        async with grpc_errors(context):
            record = await self._admin.rotate_signing_key(
                _call("RotateSigningKey", context, request.reason), request.alg
            )
        return apb.RotateSigningKeyResponse(key=_key(record))

    async def ListSigningKeys(
        self, request: apb.ListSigningKeysRequest, context: Context
    ) -> apb.ListSigningKeysResponse:
        async with grpc_errors(context):
            records = await self._admin.list_signing_keys(_call("ListSigningKeys", context))
        return apb.ListSigningKeysResponse(keys=[_key(r) for r in records])

    async def LockUser(
        self, request: apb.LockUserRequest, context: Context
    ) -> apb.LockUserResponse:
        async with grpc_errors(context):
            ended = await self._admin.lock_user(
                _call("LockUser", context, request.reason), _user(request)
            )
        return apb.LockUserResponse(revoked_sessions=ended)

    async def UnlockUser(
        self, request: apb.UnlockUserRequest, context: Context
    ) -> apb.UnlockUserResponse:
        async with grpc_errors(context):
            await self._admin.unlock_user(
                _call("UnlockUser", context, request.reason), _user(request)
            )
        return apb.UnlockUserResponse()

    async def ListAuditEvents(
        self, request: apb.ListAuditEventsRequest, context: Context
    ) -> apb.ListAuditEventsResponse:
        async with grpc_errors(context):
            records = await self._admin.list_audit_events(
                _call("ListAuditEvents", context),
                _user(request),
                request.kind,
                request.limit,
                request.before_id,
            )
        return apb.ListAuditEventsResponse(events=[_audit_event(r) for r in records])

    async def GetUser(self, request: apb.GetUserRequest, context: Context) -> apb.User:
        async with grpc_errors(context):
            summary = await self._admin.get_user(_call("GetUser", context), _user(request))
        user = summary.user
        return apb.User(
            user_id=user.user_id,
            email=user.email,
            email_verified=user.email_verified,
            locked=user.locked_at is not None,
            created_at=convert.timestamp(user.created_at),
            last_login_at=convert.timestamp(summary.last_login_at),
            second_factor_enabled=user.second_factor_enabled,
        )

    async def ResetSecondFactor(
        self, request: apb.ResetSecondFactorRequest, context: Context
    ) -> apb.ResetSecondFactorResponse:
        async with grpc_errors(context):
            had, ended = await self._admin.reset_second_factor(
                _call("ResetSecondFactor", context, request.reason), _user(request)
            )
        return apb.ResetSecondFactorResponse(had_second_factor=had, revoked_sessions=ended)

    async def SendPasswordReset(
        self, request: apb.SendPasswordResetRequest, context: Context
    ) -> apb.SendPasswordResetResponse:
        async with grpc_errors(context):
            await self._admin.send_password_reset(
                _call("SendPasswordReset", context, request.reason), _user(request)
            )
        return apb.SendPasswordResetResponse()

    async def MarkEmailVerified(
        self, request: apb.MarkEmailVerifiedRequest, context: Context
    ) -> apb.MarkEmailVerifiedResponse:
        async with grpc_errors(context):
            await self._admin.mark_email_verified(
                _call("MarkEmailVerified", context, request.reason), _user(request)
            )
        return apb.MarkEmailVerifiedResponse()

    async def ListUndeliveredMail(
        self, request: apb.ListUndeliveredMailRequest, context: Context
    ) -> apb.ListUndeliveredMailResponse:
        async with grpc_errors(context):
            entries = await self._admin.list_undelivered_mail(
                _call("ListUndeliveredMail", context), request.limit
            )
        return apb.ListUndeliveredMailResponse(mails=[_mail(e) for e in entries])


class _NamesUser(Protocol):
    """A request naming a user by `user_id` or `email`."""

    user_id: str
    email: str


def _user(request: _NamesUser) -> UserRef:
    return UserRef(user_id=request.user_id, email=request.email)


def _call(method: str, context: Context, reason: str = "") -> AdminCall:
    caller = current_caller()
    return AdminCall(
        actor=caller.name if caller else "anonymous",
        method=method,
        reason=reason,
        peer=client_info(context).ip,
    )


def _key(record: KeyRecord) -> apb.SigningKey:
    return apb.SigningKey(
        kid=record.kid,
        alg=record.alg,
        state=record.state.value,
        created_at=convert.timestamp(record.created_at),
        activates_at=convert.timestamp(record.activates_at),
        retired_at=convert.timestamp(record.retired_at),
        unpublish_at=convert.timestamp(record.unpublish_at),
    )


def _audit_event(record: AuditRecord) -> apb.AuditEvent:
    return apb.AuditEvent(
        id=record.id,
        at=convert.timestamp(record.at),
        kind=record.kind,
        actor=record.actor,
        user_id=record.user_id or "",
        session_id=record.session_id or "",
        outcome=record.outcome,
        detail_json=json.dumps(record.detail, sort_keys=True, default=str),
    )


def _mail(entry: OutboxEntry) -> apb.UndeliveredMail:
    return apb.UndeliveredMail(
        mail_id=entry.mail_id,
        kind=entry.kind,
        recipient=entry.recipient,
        status="failed" if entry.failed_at is not None else "pending",
        tries=entry.tries,
        last_error=entry.last_error or "",
        created_at=convert.timestamp(entry.created_at),
        next_attempt_at=convert.timestamp(entry.next_attempt_at),
    )
